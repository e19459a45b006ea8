-- Webhooks: subscriptions, the messages a change produces for them (written in the
-- change's own transaction: the outbox), and the attempts to deliver each message (the
-- queue and the delivery log in one table).

create table webhook_subscriptions (
    id                    uuid primary key,
    url                   text not null,
    -- `event.created`, ... or `*`.
    types                 text[] not null,
    -- Event filters, with company refs resolved to ids at registration.
    filter                jsonb not null default '{}',
    filter_company_ids    uuid[] not null default '{}',
    description           text not null default '',
    status                text not null default 'active' check (status in ('active', 'disabled')),
    disabled_reason       text,
    -- Signing secrets, sealed with WEBHOOK_SECRET_KEY (nonce followed by ciphertext);
    -- the previous one keeps signing until `previous_secret_until` after a rotation.
    secret                bytea not null,
    previous_secret       bytea,
    previous_secret_until timestamptz,
    -- When the current run of failures began (null after a success): the clock of
    -- WEBHOOK_DISABLE_AFTER_SECS.
    failing_since         timestamptz,
    last_success_at       timestamptz,
    created_at            timestamptz not null default now(),
    updated_at            timestamptz not null default now(),
    version               bigint not null default 1
);
create index webhook_subscriptions_active_idx on webhook_subscriptions (id) where status = 'active';

create table webhook_messages (
    -- Sent as `webhook-id: msg_<hex>`, the same on every attempt.
    id              uuid primary key,
    subscription_id uuid not null references webhook_subscriptions (id) on delete cascade,
    type            text not null,
    -- The exact bytes every attempt sends (and signs).
    body            text not null,
    created_at      timestamptz not null default now()
);
create index webhook_messages_subscription_idx on webhook_messages (subscription_id);
create index webhook_messages_created_at_idx on webhook_messages (created_at);

create table webhook_deliveries (
    -- Time-ordered (v7): the delivery log reads newest first by id.
    id              uuid primary key,
    message_id      uuid not null references webhook_messages (id) on delete cascade,
    subscription_id uuid not null references webhook_subscriptions (id) on delete cascade,
    attempt         integer not null check (attempt >= 1),
    status          text not null default 'pending' check (status in ('pending', 'succeeded', 'failed')),
    -- A pending attempt is made at or after `due_at`, by the instance that claims it; a
    -- claim lapses at `claimed_until`, so a crashed instance's attempts are made again.
    due_at          timestamptz not null,
    claimed_by      uuid,
    claimed_until   timestamptz,
    -- Filled in when the attempt has been made.
    at              timestamptz not null default now(),
    response_status integer,
    error           text,
    latency_ms      integer,
    -- After a failure: when the next attempt is due (null when there is none).
    next_attempt_at timestamptz,
    unique (message_id, attempt)
);
-- The claim reads each subscription's pending attempts, oldest due first; the backlog
-- metric reads all due ones.
create index webhook_deliveries_pending_idx on webhook_deliveries (subscription_id, due_at) where status = 'pending';
create index webhook_deliveries_due_idx on webhook_deliveries (due_at) where status = 'pending';
-- What each endpoint has in flight (the claim's per-endpoint bound): the claimed rows
-- only, not an endpoint's whole backlog.
create index webhook_deliveries_claimed_idx on webhook_deliveries (subscription_id)
    where status = 'pending' and claimed_by is not null;
create index webhook_deliveries_log_idx on webhook_deliveries (subscription_id, id desc);
create index webhook_deliveries_message_idx on webhook_deliveries (message_id, attempt desc);
