-- Every write leaves an audit row in its own transaction, holding the resource as it
-- stood after the change: the audit trail and the revisions of a record are one table.
create table audit_log (
    id           bigint generated always as identity primary key,
    at           timestamptz not null default now(),
    token        text not null,                  -- the token's name, never the secret
    action       text not null check (action in ('create', 'update', 'delete')),
    resource     text not null check (resource in ('event', 'company', 'partnership')),
    resource_id  uuid not null,
    version      bigint not null,
    request_id   text,
    data         jsonb not null                   -- the full representation at `version`
);
-- A record's revisions, newest first.
create index audit_log_resource_idx on audit_log (resource, resource_id, version desc, id desc);
-- GET /v1/audit: newest first, keyset on (at, id); `since` is a range on it.
create index audit_log_at_idx on audit_log (at, id);
create index audit_log_token_idx on audit_log (token, at, id);

-- Idempotency-Key: the first answer to a POST, kept 24 hours. The key row is written in
-- the same transaction as the resource, so a retry finds either both or neither, and
-- a concurrent retry waits on the primary key until the first one commits.
create table idempotency_keys (
    token         text not null,                 -- keys are per client: names never collide
    key           text not null check (length(key) between 1 and 255),
    request_hash  bytea not null,                -- SHA-256 of method, path and body
    status        smallint not null,
    body          bytea not null,
    location      text,
    etag          text,
    created_at    timestamptz not null default now(),
    primary key (token, key)
);
-- The sweep of expired keys.
create index idempotency_keys_created_at_idx on idempotency_keys (created_at);
