//! Positions in SQL: which rows a position has not seen, and the database's origin
//! (see [`crate::model::position`]).

use sqlx::postgres::PgRow;
use sqlx::{PgExecutor, Postgres, QueryBuilder, Row};

use crate::error::ApiError;
use crate::model::position::{Position, Snapshot};
use anyhow::anyhow;

/// The origin written into this database's positions.
pub async fn origin(db: impl PgExecutor<'_>) -> Result<String, ApiError> {
    Ok(
        sqlx::query_scalar("select origin from position_origin limit 1")
            .fetch_one(db)
            .await?,
    )
}

/// The current snapshot: a position at it has seen every change committed so far.
pub async fn current(db: impl PgExecutor<'_>) -> Result<Snapshot, ApiError> {
    let text = super::changes::snapshot(db).await?;
    Ok(Snapshot::parse(text.as_str())
        .ok_or_else(|| anyhow!("`{}` is not a snapshot", text.as_str()))?)
}

/// Wraps a statement so it always returns a row carrying the statement's own snapshot
/// (`snapshot_now`), even when it matches nothing: a position read this way is exactly
/// what the rows beside it show, at no extra round trip. The wrapped statement must
/// have a `LIMIT`, so it is never flattened; a join `on true` can only be a nested loop,
/// whose rows come out in the subquery's order.
pub const WITH_SNAPSHOT_HEAD: &str = "select pg_current_snapshot()::text as snapshot_now, p.* \
     from (values (1)) as one left join lateral (";
/// The end of [`WITH_SNAPSHOT_HEAD`].
pub const WITH_SNAPSHOT_TAIL: &str = ") as p on true";

/// The snapshot of a statement wrapped by [`WITH_SNAPSHOT_HEAD`], and its rows (the
/// wrapped statement's; `id` null on the one row of an empty result).
pub fn split_snapshot(
    rows: &[PgRow],
) -> Result<(Snapshot, impl Iterator<Item = &PgRow>), ApiError> {
    let first = rows
        .first()
        .ok_or_else(|| anyhow!("a statement wrapped for its snapshot returned no row"))?;
    let matched = rows.iter().filter(|row| {
        row.try_get::<Option<uuid::Uuid>, _>("id")
            .ok()
            .flatten()
            .is_some()
    });
    Ok((snapshot_of(first)?, matched))
}

/// The snapshot a row of a statement wrapped by [`WITH_SNAPSHOT_HEAD`] carries.
pub fn snapshot_of(row: &PgRow) -> Result<Snapshot, ApiError> {
    let text: String = row.try_get("snapshot_now")?;
    Ok(Snapshot::parse(&text).ok_or_else(|| anyhow!("`{text}` is not a snapshot"))?)
}

/// Pushes ` and <the row e was written by a transaction `since` did not see>`. Every
/// such row's transaction is at or after the snapshot's xmin, which is what makes the
/// `(xid, id)` index serve it.
pub fn push_unseen_by(qb: &mut QueryBuilder<Postgres>, since: &Position) {
    let seen = since.seen.to_string();
    qb.push(" and e.xid >= pg_snapshot_xmin(")
        .push_bind(seen.clone())
        .push("::pg_snapshot) and not (pg_visible_in_snapshot(e.xid, ")
        .push_bind(seen)
        .push("::pg_snapshot)");
    if let Some(walk) = &since.walk {
        qb.push(" or (pg_visible_in_snapshot(e.xid, ")
            .push_bind(walk.upto.to_string())
            .push("::pg_snapshot) and (e.xid, e.id) <= (")
            .push_bind(walk.last.0.to_string())
            .push("::xid8, ")
            .push_bind(walk.last.1)
            .push("))");
    }
    qb.push(")");
}
