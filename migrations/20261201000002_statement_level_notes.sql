-- Bookkeeping once per statement instead of once per row.
--
-- An import writes 250 events (and their links) in one statement, but two triggers
-- still ran once per row: the list-change note (a deferred row trigger on every event
-- and link row, each inserting its scopes at commit) and the tag upkeep of inserted
-- events (a row trigger inserting that event's tag rows and pending counts). Together
-- they were two thirds of an event insert's cost without its search vector. Both now
-- run once per statement over the statement's transition tables.
--
-- List-change notes are therefore written when the statement runs, not at commit, so
-- `at` is no longer the commit time and the purge can no longer reason from it alone:
-- a transaction that ran longer than the notes are kept could lose its notes right
-- after committing, while a snapshot taken before it committed is still remembered.
-- So the purge now also records the newest transaction whose notes it deleted, and a
-- snapshot that may not have seen that transaction (its xmin is not above it) counts
-- as changed: it rebuilds, never answers from a stale list.

create table list_changes_purged (
    id      boolean primary key default true check (id),   -- exactly one row
    newest  xid8 not null    -- the newest transaction id whose notes were purged
);
insert into list_changes_purged (newest) values ('0');

-- Notes the scopes of the rows one statement inserted, updated or deleted (replacing
-- `note_list_change` and its row triggers, dropped below). A trigger with transition
-- tables fires for one kind of statement only, so each table has three triggers, and
-- each reads the tables its kind has: `new_rows` (inserted or updated) and `old_rows`
-- (updated or deleted).
create function note_changed_rows() returns trigger
language plpgsql as $$
declare
    changed boolean := false;  -- whether the statement changed any row at all
    tags text[] := '{}';       -- events: their tags, before and after
    linked uuid[] := '{}';     -- link rows: the events they belong to
begin
    if tg_op in ('INSERT', 'UPDATE') then
        changed := exists (select 1 from new_rows);
        if tg_table_name = 'events' then
            tags := array(select unnest(n.tags) from new_rows n);
        elsif tg_table_name in ('event_companies', 'event_partnerships') then
            linked := array(select n.event_id from new_rows n);
        end if;
    end if;
    if tg_op in ('UPDATE', 'DELETE') then
        changed := changed or exists (select 1 from old_rows);
        if tg_table_name = 'events' then
            tags := tags || array(select unnest(o.tags) from old_rows o);
        elsif tg_table_name in ('event_companies', 'event_partnerships') then
            linked := linked || array(select o.event_id from old_rows o);
        end if;
    end if;
    if not changed then
        return null;
    end if;
    if linked <> '{}' then
        tags := array(select unnest(e.tags) from events e where e.id = any(linked));
    end if;
    insert into list_changes (scope)
    select case
               when tg_table_name in ('events', 'event_companies', 'event_partnerships') then 'event'
               when tg_table_name = 'companies' then 'company'
               else 'partnership'
           end
    union
    select distinct 'event-tag:' || t from unnest(tags) t
    on conflict do nothing;
    return null;
end
$$;

do $$
declare
    t text;
begin
    foreach t in array array['events', 'companies', 'partnerships', 'event_companies',
                             'event_partnerships', 'partnership_parties', 'partnership_tranches'] loop
        execute format('drop trigger %I on %I', t || '_list_change', t);
        execute format(
            'create trigger %I after insert on %I referencing new table as new_rows
             for each statement execute function note_changed_rows()',
            t || '_list_insert', t);
        execute format(
            'create trigger %I after update on %I referencing old table as old_rows new table as new_rows
             for each statement execute function note_changed_rows()',
            t || '_list_update', t);
        execute format(
            'create trigger %I after delete on %I referencing old table as old_rows
             for each statement execute function note_changed_rows()',
            t || '_list_delete', t);
    end loop;
end
$$;
drop function note_list_change();

-- Inserted events get their tag rows and pending counts in one go (one pending row per
-- tag and statement, not per tag and event); updates keep the row trigger, which
-- compares each row's tags before and after.
drop trigger events_sync_tags on events;
create trigger events_sync_tags
    after update on events
    for each row execute function sync_event_tags();

create function sync_inserted_event_tags() returns trigger
language plpgsql as $$
begin
    with tagged as (
        select distinct t as tag, n.occurred_on, n.id
        from new_rows n, unnest(n.tags) t
        where n.deleted_at is null
    ), stored as (
        insert into event_tags (tag, occurred_on, event_id)
        select tag, occurred_on, id from tagged
    )
    insert into tag_stats_pending (tag, delta)
    select tag, count(*) from tagged group by tag;
    return null;
end
$$;

create trigger events_sync_inserted_tags
    after insert on events
    referencing new table as new_rows
    for each statement execute function sync_inserted_event_tags();

-- `event_tags` is kept by these triggers alone, so its foreign key to `events` only
-- re-checked what they guarantee, at a tenth of an event insert's cost (one lookup per
-- tag row). It goes; a deleted or truncated event's tag rows are removed here instead
-- of by the key's cascade (tombstones, the only events deleted, have none left by then).
alter table event_tags drop constraint event_tags_event_id_fkey;

create function drop_deleted_event_tags() returns trigger
language plpgsql as $$
begin
    delete from event_tags where event_id in (select id from old_rows);
    return null;
end
$$;

create trigger events_drop_deleted_tags
    after delete on events
    referencing old table as old_rows
    for each statement execute function drop_deleted_event_tags();

create function drop_truncated_event_tags() returns trigger
language plpgsql as $$
begin
    truncate event_tags;
    return null;
exception when object_in_use then
    -- The same TRUNCATE names event_tags too, and has already emptied it.
    delete from event_tags;
    return null;
end
$$;

create trigger events_drop_truncated_tags
    after truncate on events
    for each statement execute function drop_truncated_event_tags();
