-- The link tables' foreign keys to `events` and `companies` give way to checks made once
-- per statement.
--
-- A foreign key checks each inserted row on its own: a lookup of the row it names (and a
-- lock on it) per link row. An import writes about two link rows per event, so the keys
-- of `event_companies` (to `events` and to `companies`) and the key of
-- `event_partnerships` to `events` were about a tenth of its writing backend's time
-- (profiled; bench/RESULTS.md, seventh round).
--
-- The keys to `events` re-proved what the writer guarantees: link rows are written only
-- by the statement right after their event's row, in the same transaction, for an event
-- the write holds locked (the list-change notes already rely on links changing only with
-- their event). They go as `event_tags`' key went; the statement triggers that remove a
-- deleted or truncated event's tag rows remove its link rows too (only tombstones are
-- deleted, and a tombstone has none left by then).
--
-- The key to `companies` guards against a real race, a company deleted while a write
-- links an event to it, so it is replaced by its equal, set-based: the insert's statement
-- locks every company it names at once (KEY SHARE, the lock the key's own check takes)
-- and refuses the statement if one is gone; a company's delete is refused while a link
-- row names it (its id never changes: `bump_version` keeps it). The two meet on the
-- company's row lock: a delete waits for the linking transaction and then sees its
-- links, or the linking statement waits for the delete and then finds the company gone.
-- Both refusals carry SQLSTATE 23503, as the key's did, so callers tell them apart as
-- before.
-- `event_partnerships`' key to `partnerships` stays: a deal's deletion cascades through
-- it, and an event names a deal far less often than a company.

alter table event_companies drop constraint event_companies_event_id_fkey;
alter table event_companies drop constraint event_companies_company_id_fkey;
alter table event_partnerships drop constraint event_partnerships_event_id_fkey;

create function check_linked_companies() returns trigger
language plpgsql as $$
declare
    named uuid[] := array(select distinct n.company_id from new_rows n);
    locked uuid[];
    missing uuid;
begin
    locked := array(select c.id from companies c where c.id = any(named) for key share of c);
    if cardinality(locked) < cardinality(named) then
        select m into missing from unnest(named) m where m <> all(locked) limit 1;
        raise exception 'insert or update on table "event_companies" violates the check of its company'
            using errcode = 'foreign_key_violation',
                  detail = format('Key (company_id)=(%s) is not present in table "companies".', missing),
                  table = 'event_companies',
                  constraint = 'event_companies_company_check';
    end if;
    return null;
end
$$;

create trigger event_companies_check_inserted
    after insert on event_companies
    referencing new table as new_rows
    for each statement execute function check_linked_companies();

create trigger event_companies_check_updated
    after update on event_companies
    referencing new table as new_rows
    for each statement execute function check_linked_companies();

-- Runs after the delete has locked the company's row, so a transaction that locked it
-- to link an event has committed or rolled back by then, and this statement, with a
-- snapshot of its own, sees the links it made.
create function refuse_linked_company_delete() returns trigger
language plpgsql as $$
begin
    if exists (select 1 from event_companies l where l.company_id = old.id) then
        raise exception 'delete on table "companies" violates the check of "event_companies"'
            using errcode = 'foreign_key_violation',
                  detail = format('Key (id)=(%s) is still referenced from table "event_companies".', old.id),
                  table = 'companies',
                  constraint = 'event_companies_company_check';
    end if;
    return old;
end
$$;

create trigger companies_refuse_linked_delete
    before delete on companies
    for each row execute function refuse_linked_company_delete();

-- The cascades of the keys to `events`, once per statement: the triggers that dropped a
-- deleted or truncated event's tag rows drop its link rows too, and are named for both.
alter function drop_deleted_event_tags() rename to drop_deleted_event_rows;
alter function drop_truncated_event_tags() rename to drop_truncated_event_rows;
alter trigger events_drop_deleted_tags on events rename to events_drop_deleted_rows;
alter trigger events_drop_truncated_tags on events rename to events_drop_truncated_rows;

create or replace function drop_deleted_event_rows() returns trigger
language plpgsql as $$
begin
    delete from event_tags where event_id in (select id from old_rows);
    delete from event_companies where event_id in (select id from old_rows);
    delete from event_partnerships where event_id in (select id from old_rows);
    return null;
end
$$;

create or replace function drop_truncated_event_rows() returns trigger
language plpgsql as $$
begin
    truncate event_tags, event_companies, event_partnerships;
    return null;
exception when object_in_use then
    -- The same TRUNCATE names some of them too, and has already emptied those.
    delete from event_tags;
    delete from event_companies;
    delete from event_partnerships;
    return null;
end
$$;
