-- Tag counters that writers of a popular tag do not queue on.
--
-- Each event write used to update the `tag_stats` row of every tag it touched, holding
-- that row's lock until it committed: every writer of events tagged, say, `ai` waited
-- for the one before it to finish committing, so no two of them could share a disk
-- flush. Instead a write now appends its +1/-1 per tag to `tag_stats_pending` (no row
-- is shared, no lock is held), and the service folds the pending rows into `tag_stats`
-- every second. A read adds what is still pending, in the same statement, so counts
-- are exact at any moment, whether or not a server is folding.

create table tag_stats_pending (
    id     bigint generated always as identity primary key,
    tag    text collate "C" not null,
    delta  integer not null      -- 0: the tag's events moved (their newest date may have)
);

-- Replaces the function of the tag_stats migration: the same event_tags upkeep, and a
-- pending row per touched tag instead of a counter update.
create or replace function sync_event_tags() returns trigger
language plpgsql as $$
declare
    old_tags text[] := '{}';
    new_tags text[] := '{}';
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
    insert into tag_stats_pending (tag, delta)
    select t, (t = any(new_tags))::int - (t = any(old_tags))::int
    from (select distinct unnest(old_tags || new_tags) as t) touched;
    return null;
end
$$;

-- Moves the committed pending rows into the counters, in one statement (a reader sees
-- them either pending or counted, never both), and drops counters that reached zero.
-- `latest` is re-read from event_tags' key for each touched tag, in the same snapshot
-- as the rows taken. One folder at a time across every server (the others skip the
-- round), so a tag without a counter row always folds to a count of zero or more.
-- Returns how many tags it updated.
create function fold_tag_stats() returns integer
language plpgsql as $$
declare
    folded integer;
begin
    if not pg_try_advisory_xact_lock(hashtext('fold_tag_stats')) then
        return 0;
    end if;
    with taken as (
        delete from tag_stats_pending returning tag, delta
    ), summed as (
        select t.tag, sum(t.delta)::bigint as delta,
               (select max(e.occurred_on) from event_tags e where e.tag = t.tag) as latest
        from taken t group by t.tag
    ), updated as (
        update tag_stats s set events = s.events + m.delta, latest = m.latest
        from summed m where s.tag = m.tag
        returning s.tag
    ), inserted as (
        insert into tag_stats (tag, events, latest)
        select m.tag, m.delta, m.latest from summed m
        where not exists (select 1 from updated u where u.tag = m.tag)
        returning tag
    )
    select (select count(*) from updated) + (select count(*) from inserted) into folded;
    if folded > 0 then
        delete from tag_stats where events = 0;
    end if;
    return folded;
end
$$;
