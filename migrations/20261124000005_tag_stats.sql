-- GET /v1/tags answers from counters kept up to date by the write path, instead of
-- aggregating event_tags on every read (33 ms at 100,000 events, and growing).

create table tag_stats (
    tag     text collate "C" primary key,            -- C collation: prefix LIKE uses the key
    events  bigint not null check (events >= 0),    -- live events carrying the tag
    latest  date                                    -- their newest occurred_on
);
-- "Most used first": a top-N walk of this index.
create index tag_stats_rank_idx on tag_stats (events desc, tag);

insert into tag_stats (tag, events, latest)
select tag, count(*), max(occurred_on) from event_tags group by tag;

-- Replaces the function of the first migration: it also keeps tag_stats. Every tag the
-- change touches is adjusted in one pass in sorted order, so concurrent writers lock
-- counters in the same order and cannot deadlock. Each counter row is locked first and
-- only then recomputed, in a new statement: under READ COMMITTED that statement's
-- snapshot is taken after the lock is granted, so it sees what the writer it waited
-- for committed. `latest` is re-read from event_tags' primary key (one index probe),
-- which stays right when an event moves to another day or leaves the tag.
create or replace function sync_event_tags() returns trigger
language plpgsql as $$
declare
    old_tags text[] := '{}';
    new_tags text[] := '{}';
    affected text;
    delta int;
begin
    if tg_op = 'UPDATE' then
        if new.tags = old.tags
           and new.occurred_on = old.occurred_on
           and new.deleted_at is not distinct from old.deleted_at then
            return null;
        end if;
        if old.deleted_at is null then
            old_tags := old.tags;
        end if;
        delete from event_tags where event_id = new.id;
    end if;
    if new.deleted_at is null then
        new_tags := new.tags;
        insert into event_tags (tag, occurred_on, event_id)
        select distinct t, new.occurred_on, new.id from unnest(new.tags) as t;
    end if;
    for affected in
        select distinct t from unnest(old_tags || new_tags) as t order by t
    loop
        delta := (affected = any(new_tags))::int - (affected = any(old_tags))::int;
        insert into tag_stats (tag, events, latest) values (affected, 0, null)
        on conflict (tag) do nothing;
        perform 1 from tag_stats where tag = affected for update;
        update tag_stats
        set events = events + delta,
            latest = (select max(occurred_on) from event_tags where tag = affected)
        where tag = affected;
    end loop;
    delete from tag_stats
    where tag = any(old_tags || new_tags) and events = 0;
    return null;
end
$$;
