-- Which lists a committed write can have changed, without a row every writer queues on.
--
-- The single `content_version` row went up by one at every commit, so every writing
-- transaction waited for the one before it to finish committing (no two commits could
-- share a disk flush), and any write made every cached list stale. Instead, each
-- committing transaction adds one row per *scope* it touched: `event` (any event),
-- `event-tag:<tag>` (an event that has or had that tag), `company`, `partnership`, or
-- `*` (a TRUNCATE: everything). Rows are keyed by the writing transaction's id, so
-- writers insert side by side and never wait for each other.
--
-- A server that answered a list remembers the snapshot (`pg_current_snapshot()`) it
-- took before building it. The list can only have changed if a transaction that the
-- snapshot did not see as committed has since committed a row for one of the list's
-- scopes: one probe of this table's key, which also covers transactions that were
-- running when the snapshot was taken and committed later (out of order).

drop trigger if exists events_content_version on events;
drop trigger if exists companies_content_version on companies;
drop trigger if exists partnerships_content_version on partnerships;
drop trigger if exists event_companies_content_version on event_companies;
drop trigger if exists event_partnerships_content_version on event_partnerships;
drop trigger if exists partnership_parties_content_version on partnership_parties;
drop trigger if exists partnership_tranches_content_version on partnership_tranches;
drop trigger if exists events_content_version_truncate on events;
drop trigger if exists companies_content_version_truncate on companies;
drop trigger if exists partnerships_content_version_truncate on partnerships;
drop trigger if exists event_companies_content_version_truncate on event_companies;
drop trigger if exists event_partnerships_content_version_truncate on event_partnerships;
drop trigger if exists partnership_parties_content_version_truncate on partnership_parties;
drop trigger if exists partnership_tranches_content_version_truncate on partnership_tranches;
drop function if exists bump_content_version();
drop table if exists content_version;

create table list_changes (
    scope  text collate "C" not null,
    xid    xid8 not null default pg_current_xact_id(),
    -- When the writing transaction committed (the row is written as it commits), so
    -- old rows can be purged once no remembered snapshot can predate them.
    at     timestamptz not null default clock_timestamp(),
    primary key (scope, xid)
);
create index list_changes_at_idx on list_changes (at);

-- Notes the scopes of one changed row. Runs at commit (a deferred constraint trigger),
-- so `at` is the commit time; a transaction notes each scope once.
create function note_list_change() returns trigger
language plpgsql as $$
declare
    scopes text[];
    tags text[] := '{}';
begin
    if tg_table_name = 'events' then
        if tg_op in ('INSERT', 'UPDATE') then
            tags := tags || new.tags;
        end if;
        if tg_op in ('UPDATE', 'DELETE') then
            tags := tags || old.tags;
        end if;
        scopes := array['event'] || array(select distinct 'event-tag:' || t from unnest(tags) t);
    elsif tg_table_name in ('event_companies', 'event_partnerships') then
        scopes := array['event'] || array(
            select 'event-tag:' || t
            from events e, unnest(e.tags) t
            where e.id = case when tg_op = 'DELETE' then old.event_id else new.event_id end);
    elsif tg_table_name = 'companies' then
        scopes := array['company'];
    else
        scopes := array['partnership'];
    end if;
    insert into list_changes (scope) select unnest(scopes) on conflict do nothing;
    return null;
end
$$;

create function note_list_truncate() returns trigger
language plpgsql as $$
begin
    insert into list_changes (scope) values ('*') on conflict do nothing;
    return null;
end
$$;

do $$
declare
    t text;
begin
    foreach t in array array['events', 'companies', 'partnerships', 'event_companies',
                             'event_partnerships', 'partnership_parties', 'partnership_tranches'] loop
        execute format(
            'create constraint trigger %I after insert or update or delete on %I
             deferrable initially deferred for each row execute function note_list_change()',
            t || '_list_change', t);
        execute format(
            'create trigger %I after truncate on %I
             for each statement execute function note_list_truncate()',
            t || '_list_truncate', t);
    end loop;
end
$$;
