-- Positions: which changes a client has seen, exactly, whatever order transactions
-- commit in.
--
-- A position is a PostgreSQL snapshot (`pg_current_snapshot()`): the set of
-- transactions it saw as committed. Each event row keeps the id of the transaction that
-- wrote it last (`xid`), so "changed since a position" is "written by a transaction the
-- position did not see", which also catches a transaction that was running when the
-- position was taken and commits later. Rows written before this migration keep
-- xid 1, which every snapshot sees.
alter table events add column xid xid8 not null default '1';
alter table events alter column xid set default pg_current_xact_id();
-- Changes since a position: transactions at or after its xmin.
create index events_xid_idx on events (xid, id);

create function stamp_event_xid() returns trigger
language plpgsql as $$
begin
    new.xid := pg_current_xact_id();
    return new;
end
$$;
create trigger events_stamp_xid
    before update on events
    for each row execute function stamp_event_xid();

-- The audit row of a write carries its transaction too, so the state of an event as a
-- position saw it (its latest revision that position saw) can be read back: a stream
-- tells "left the filter" from "was never in it" by that state.
alter table audit_log add column xid xid8 not null default '1';
alter table audit_log alter column xid set default pg_current_xact_id();

-- Names the database positions belong to, so a position from another database (or a
-- restored one) is recognised as foreign instead of being misread. A replica copies it.
create table position_origin (
    origin  text primary key check (origin ~ '^[0-9a-f]{8}$')
);
insert into position_origin
    select substr(replace(gen_random_uuid()::text, '-', ''), 1, 8);
