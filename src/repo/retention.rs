//! Bounded history: the transaction clock that dates positions, and the purge of
//! tombstones and audit rows past their retention.

use sqlx::{Connection, PgPool};

use crate::error::ApiError;

/// Notes the current transaction's id and start time on the clock (any instance may;
/// each note is its own transaction, so ids never collide).
pub async fn tick_clock(db: &PgPool) -> Result<u64, ApiError> {
    Ok(sqlx::query(
        "insert into xid_clock (xid, at) values (pg_current_xact_id(), now()) \
         on conflict do nothing",
    )
    .execute(db)
    .await?
    .rows_affected())
}

/// The tombstone horizon as a transaction id: the newest on the clock that started at
/// or before `days` ago (0 when there is none: no position is too old). A position
/// whose `xmax` is at or below it was taken before the horizon.
pub async fn horizon_xid(db: &PgPool, days: u32) -> Result<u64, ApiError> {
    let xid: Option<String> = sqlx::query_scalar(
        "select max(xid)::text from xid_clock where at <= now() - make_interval(days => $1)",
    )
    .bind(i32::try_from(days).unwrap_or(i32::MAX))
    .fetch_one(db)
    .await?;
    Ok(xid.and_then(|x| x.parse().ok()).unwrap_or(0))
}

/// Deletes tombstones older than `tombstone_days`, audit rows older than `audit_days`
/// (0: none; never younger than the tombstones, whose streams' history they are), and
/// the clock's notes that no longer date anything; by one instance at a time (the
/// others skip the round). Returns how many rows went.
pub async fn purge(db: &PgPool, tombstone_days: u32, audit_days: u32) -> Result<u64, ApiError> {
    let tombstone_days = i32::try_from(tombstone_days).unwrap_or(i32::MAX);
    let mut conn = db.acquire().await?;
    let mut tx = conn.begin().await?;
    let ours: bool = sqlx::query_scalar("select pg_try_advisory_xact_lock(hashtext('retention'))")
        .fetch_one(&mut *tx)
        .await?;
    if !ours {
        return Ok(0);
    }
    let mut gone = sqlx::query(
        "delete from events \
         where deleted_at is not null and deleted_at < now() - make_interval(days => $1)",
    )
    .bind(tombstone_days)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if audit_days > 0 {
        let audit_days = i32::try_from(audit_days)
            .unwrap_or(i32::MAX)
            .max(tombstone_days);
        gone += sqlx::query("delete from audit_log where at < now() - make_interval(days => $1)")
            .bind(audit_days)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    // The newest note at or before the horizon still dates positions; older ones do not.
    gone += sqlx::query(
        "delete from xid_clock where at < (select max(at) from xid_clock \
                                            where at <= now() - make_interval(days => $1))",
    )
    .bind(tombstone_days)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(gone)
}
