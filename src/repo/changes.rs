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
/// of `scopes` (or a TRUNCATE), and the current snapshot, in one statement.
pub async fn changed_since(
    db: impl PgExecutor<'_>,
    since: &Snapshot,
    scopes: &[ListScope],
) -> Result<(bool, Snapshot), ApiError> {
    let mut keys: Vec<String> = scopes.iter().map(ListScope::key).collect();
    keys.push("*".to_owned());
    let (changed, now): (bool, String) = sqlx::query_as(
        "select exists (select 1 from list_changes c \
                        where c.scope = any($2) \
                          and c.xid >= pg_snapshot_xmin($1::pg_snapshot) \
                          and not pg_visible_in_snapshot(c.xid, $1::pg_snapshot)), \
                pg_current_snapshot()::text",
    )
    .bind(&since.0)
    .bind(keys)
    .fetch_one(db)
    .await?;
    Ok((changed, Snapshot(now)))
}

/// Forgets notes older than [`NOTES_KEPT_FOR`]; returns how many.
pub async fn purge(db: impl PgExecutor<'_>) -> Result<u64, ApiError> {
    Ok(
        sqlx::query("delete from list_changes where at < now() - make_interval(secs => $1)")
            .bind(NOTES_KEPT_FOR.as_secs_f64())
            .execute(db)
            .await?
            .rows_affected(),
    )
}
