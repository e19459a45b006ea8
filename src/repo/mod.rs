//! The repository layer: every SQL statement of the service lives here.

pub mod events;
pub mod health;
pub mod tags;
pub mod tokens;

use std::future::Future;

use anyhow::anyhow;

use crate::error::ApiError;

/// Runs a write on its own task and waits for it.
///
/// A request future can be dropped at any await (client gone, timeout); if that
/// happens inside `BEGIN`, sqlx 0.8.4+ may return a connection to the pool that is
/// still inside a transaction (see PITFALLS.md). A spawned task is not cancelled when
/// its `JoinHandle` is dropped, so the transaction always commits or rolls back.
pub async fn detached<T, F>(work: F) -> Result<T, ApiError>
where
    F: Future<Output = Result<T, ApiError>> + Send + 'static,
    T: Send + 'static,
{
    tokio::spawn(work)
        .await
        .map_err(|e| ApiError::Internal(anyhow!(e).context("write task failed")))?
}

/// Whether `error` is a unique violation of `constraint`.
pub(crate) fn is_unique_violation(error: &sqlx::Error, constraint: &str) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if db.is_unique_violation() && db.constraint() == Some(constraint))
}
