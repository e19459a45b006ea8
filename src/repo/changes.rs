//! Whether a list can have changed since a snapshot (see the `list_changes` migration):
//! every committing write notes the scopes it touched, keyed by its transaction id, and
//! a snapshot tells which transactions it saw.

use std::time::Duration;

use sqlx::PgExecutor;

use crate::error::ApiError;
use crate::model::ListScope;

/// How long notes are kept; a snapshot older than this cannot be checked.
pub const NOTES_KEPT_FOR: Duration = Duration::from_secs(600);

/// A PostgreSQL snapshot (`pg_current_snapshot()` as text): which transactions had
/// committed when it was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot(String);

#[cfg(test)]
impl Snapshot {
    /// A snapshot with this text, for unit tests of what holds snapshots.
    pub(crate) fn for_test(text: &str) -> Self {
        Self(text.to_owned())
    }
}

impl Snapshot {
    /// PostgreSQL's text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The current snapshot: anything read after this is at least as new.
pub async fn snapshot(db: impl PgExecutor<'_>) -> Result<Snapshot, ApiError> {
    Ok(Snapshot(
        sqlx::query_scalar("select pg_current_snapshot()::text")
            .fetch_one(db)
            .await?,
    ))
}

/// Whether a transaction that `since` did not see has since committed a change in one
/// of `scopes` (or a TRUNCATE), and the current snapshot, in one statement. A snapshot
/// that may not have seen a transaction whose notes are already purged (its xmin is not
/// above the newest such transaction) counts as changed: its answer cannot be checked.
pub async fn changed_since(
    db: impl PgExecutor<'_>,
    since: &Snapshot,
    scopes: &[ListScope],
) -> Result<(bool, Snapshot), ApiError> {
    let mut keys: Vec<String> = scopes.iter().map(ListScope::key).collect();
    keys.push("*".to_owned());
    let (changed, now): (bool, String) = sqlx::query_as(
        "select pg_snapshot_xmin($1::pg_snapshot) <= p.newest \
                or exists (select 1 from list_changes c \
                           where c.scope = any($2) \
                             and c.xid >= pg_snapshot_xmin($1::pg_snapshot) \
                             and not pg_visible_in_snapshot(c.xid, $1::pg_snapshot)), \
                pg_current_snapshot()::text \
         from list_changes_purged p",
    )
    .bind(&since.0)
    .bind(keys)
    .fetch_one(db)
    .await?;
    Ok((changed, Snapshot(now)))
}

/// Forgets notes older than [`NOTES_KEPT_FOR`] and keeps the newest transaction id
/// among them (a note is written when its statement runs, so a long transaction's
/// notes can be old by the time it commits); returns how many went.
pub async fn purge(db: impl PgExecutor<'_>) -> Result<u64, ApiError> {
    let gone: Option<i64> = sqlx::query_scalar(
        "with gone as (delete from list_changes \
                       where at < now() - make_interval(secs => $1) returning xid) \
         update list_changes_purged \
            set newest = greatest(newest, (select max(xid) from gone)) \
          where exists (select 1 from gone) \
         returning (select count(*) from gone)",
    )
    .bind(NOTES_KEPT_FOR.as_secs_f64())
    .fetch_optional(db)
    .await?;
    Ok(gone.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
}
