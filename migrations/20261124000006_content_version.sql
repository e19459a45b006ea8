-- A cheap change marker for conditional list requests.
--
-- Every transaction that changes what a list can show (events, companies, deals and the
-- links between them; tags, counts, revisions and the audit trail change only with
-- them) adds one to `content_version.version` as it commits. A server that answered a
-- list when the marker read N may answer the same list's `If-None-Match` with a 304 as
-- long as the marker still reads N: no such transaction has committed since, so the list
-- cannot have changed. Reading the marker is a read of a one-row table (one page),
-- instead of building the page again to hash it.

create table content_version (
    id       boolean primary key default true check (id),   -- exactly one row
    version  bigint not null
);
insert into content_version (version) values (0);

-- Runs once per transaction, at commit (a deferred constraint trigger), so the row is
-- locked only while the transaction commits: writers queue on it for the shortest time,
-- and always last, after every other lock they take, so it cannot deadlock with them.
create function bump_content_version() returns trigger
language plpgsql as $$
begin
    if current_setting('industry_events.content_bumped', true) = 'on' then
        return null;
    end if;
    -- Transaction-local: reset at commit or rollback.
    perform set_config('industry_events.content_bumped', 'on', true);
    update content_version set version = version + 1;
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
             deferrable initially deferred for each row execute function bump_content_version()',
            t || '_content_version', t);
        execute format(
            'create trigger %I after truncate on %I
             for each statement execute function bump_content_version()',
            t || '_content_version_truncate', t);
    end loop;
end
$$;
