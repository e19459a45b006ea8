-- Events, their tags, and API tokens.

-- Every update bumps `version` and `updated_at` here, so no code path can forget to,
-- and the identity columns cannot be rewritten.
create function bump_version() returns trigger
language plpgsql as $$
begin
    new.id := old.id;
    new.created_at := old.created_at;
    new.version := old.version + 1;
    new.updated_at := now();
    return new;
end
$$;

create table events (
    id              uuid primary key,                 -- v7: time-ordered, a good tie-breaker
    slug            text not null check (length(slug) <= 100),
    title           text not null check (length(title) <= 300),
    occurred_on     date not null,
    category        text not null check (category in
                        ('industry', 'funding', 'policy', 'research', 'product', 'legal', 'other')),
    significance    smallint not null check (significance between 0 and 3), -- minor..landmark
    summary         text not null default '',
    what_happened   text not null default '',
    why_it_matters  text not null default '',
    tags            text[] not null default '{}',     -- kept for output; filtered via event_tags
    sources         jsonb not null default '[]',
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    version         bigint not null default 1,
    deleted_at      timestamptz,                      -- set: a tombstone for updated_since polls
    search          tsvector generated always as (
                        setweight(to_tsvector('english', title), 'A')
                        || setweight(to_tsvector('english', summary), 'B')
                        || setweight(to_tsvector('english', what_happened), 'C')
                        || setweight(to_tsvector('english', why_it_matters), 'C')
                    ) stored
);

comment on column events.deleted_at is
    'Deleted events stay as tombstones so incremental polls (updated_since) learn of deletions.';

-- Slugs are unique among live events only, so a deleted event's slug can be reused.
create unique index events_slug_key on events (slug) where deleted_at is null;

-- One index per keyset order; each ends with id, the tie-breaker, and is scanned in
-- either direction.
create index events_occurred_on_idx on events (occurred_on, id) where deleted_at is null;
create index events_title_idx on events (title, id) where deleted_at is null;
create index events_significance_idx on events (significance, id) where deleted_at is null;
-- updated_since polls see tombstones too, so this one is not partial.
create index events_updated_at_idx on events (updated_at, id);
-- any_tag / exclude_tag / extra tags, and the tombstone-inclusive polls.
create index events_tags_idx on events using gin (tags);
create index events_search_idx on events using gin (search) where deleted_at is null;

create trigger events_bump_version
    before update on events
    for each row execute function bump_version();

-- "Latest events tagged X" is the hottest query. Walking this table's primary key
-- answers it with an index-only scan whatever the tag's frequency, where a GIN index
-- on the array degrades for common tags and under generic plans.
create table event_tags (
    tag          text collate "C" not null,   -- C collation: prefix LIKE can use the index
    occurred_on  date not null,
    event_id     uuid not null references events (id) on delete cascade,
    primary key (tag, occurred_on, event_id)
);
create index event_tags_event_id_idx on event_tags (event_id);

-- Keeps event_tags equal to the tags of live events.
create function sync_event_tags() returns trigger
language plpgsql as $$
begin
    if tg_op = 'UPDATE' then
        if new.tags = old.tags
           and new.occurred_on = old.occurred_on
           and new.deleted_at is not distinct from old.deleted_at then
            return null;
        end if;
        delete from event_tags where event_id = new.id;
    end if;
    if new.deleted_at is null then
        insert into event_tags (tag, occurred_on, event_id)
        select distinct t, new.occurred_on, new.id from unnest(new.tags) as t;
    end if;
    return null;
end
$$;

create trigger events_sync_tags
    after insert or update on events
    for each row execute function sync_event_tags();

create table api_tokens (
    id            uuid primary key,
    name          text not null check (length(name) between 1 and 100),
    scope         text not null check (scope in ('read', 'write', 'admin')),
    token_hash    bytea not null unique,          -- SHA-256 of the secret; the secret is never stored
    created_at    timestamptz not null default now(),
    last_used_at  timestamptz,
    expires_at    timestamptz,
    revoked_at    timestamptz
);
-- A name names one live token; revoked ones keep their row for the record.
create unique index api_tokens_name_key on api_tokens (name) where revoked_at is null;
