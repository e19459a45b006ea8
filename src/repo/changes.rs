//! The content version: a marker that moves whenever anything a list shows changes
//! (see the `content_version` migration).

use sqlx::PgExecutor;

use crate::error::ApiError;

/// The committed content version: if two reads return the same number, no write that a
/// list could show committed between them.
pub async fn content_version(db: impl PgExecutor<'_>) -> Result<i64, ApiError> {
    Ok(sqlx::query_scalar("select version from content_version")
        .fetch_one(db)
        .await?)
}
