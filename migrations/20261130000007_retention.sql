-- Dating positions. A position is a snapshot of transaction ids, which carry no time;
-- this clock keeps, every minute, the id of a transaction and when it started. A
-- position was taken before time T if a transaction that started no later than T has
-- an id the position had not yet reached (at or above its xmax): so the horizon of
-- TOMBSTONE_RETENTION_DAYS is a transaction id, the newest on the clock at or before
-- it, and a position below it is too old to poll from (its deletions may be gone).
create table xid_clock (
    xid xid8 primary key,
    at  timestamptz not null
);
create index xid_clock_at_idx on xid_clock (at);
comment on table xid_clock is
    'A transaction id and when its transaction started, about every minute: dates positions for the tombstone horizon.';
insert into xid_clock (xid, at) values (pg_current_xact_id(), now());

-- The purge of old tombstones reads them by time (old audit rows by `audit_log_at_idx`).
create index events_deleted_at_idx on events (deleted_at) where deleted_at is not null;
