//! The polling watermark: where the next incremental poll (`updated_since`) must start
//! so that it misses nothing, computed at most once per `max_age` per server.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::error::ApiError;

/// The time from which the next incremental poll must ask so that it misses nothing:
/// now, or the start of the oldest transaction still in progress.
///
/// A row's `updated_at` is its transaction's start, and a slow transaction can commit
/// rows older than rows already seen. Every transaction still running when this runs
/// started at or after the watermark, so its rows will carry an `updated_at` at or after
/// it; every row before it is committed, and visible to any statement whose snapshot
/// is taken later. This reads the sessions of the service's own role; writers under
/// other roles are not seen.
pub async fn compute(db: impl PgExecutor<'_>) -> Result<DateTime<Utc>, ApiError> {
    Ok(sqlx::query_scalar(
        "select least(statement_timestamp(), coalesce(min(xact_start), statement_timestamp())) \
         from pg_stat_activity \
         where datname = current_database() and xact_start is not null and pid <> pg_backend_pid()",
    )
    .fetch_one(db)
    .await?)
}

/// A watermark reused for a short time.
///
/// Reuse is sound because a watermark only ever gets more conservative with age: what
/// [`compute`] guarantees for statements after it ran holds for every later statement
/// too. An older one makes a poll fetch a few changes again, which the poll recipe
/// already tolerates, and spares a statement a page when many clients poll.
pub struct Watermarks {
    max_age: Duration,
    latest: Mutex<Option<(Instant, DateTime<Utc>)>>,
}

impl Watermarks {
    /// Reuses each computed watermark for `max_age` (zero: never).
    pub fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            latest: Mutex::new(None),
        }
    }

    /// A watermark that is safe for any statement run after this returns.
    pub async fn get(&self, db: impl PgExecutor<'_>) -> Result<DateTime<Utc>, ApiError> {
        if let Some((at, watermark)) = *self.lock()
            && at.elapsed() < self.max_age
        {
            return Ok(watermark);
        }
        let started = Instant::now();
        let watermark = compute(db).await?;
        let mut latest = self.lock();
        // Concurrent computations race; keep the one started last (the newest).
        if latest.is_none_or(|(at, _)| at < started) {
            *latest = Some((started, watermark));
        }
        Ok(watermark)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, DateTime<Utc>)>> {
        // Only plain assignments happen under the lock; a poisoned one is still sound.
        self.latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
