//! SQL for API tokens. Only SHA-256 hashes of secrets are stored or compared.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::is_unique_violation;
use crate::error::ApiError;
use crate::model::Scope;

/// A token as `tokens list` shows it: never the secret.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenInfo {
    /// The unique name.
    pub name: String,
    /// `read`, `write` or `admin`.
    pub scope: String,
    /// When it was minted.
    pub created_at: DateTime<Utc>,
    /// When it last authorised a request (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Who a request's token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name.
    pub name: String,
    /// Its scope.
    pub scope: Scope,
}

/// Stores a new token's hash; 409 when a live token has the name.
pub async fn create(
    db: &PgPool,
    name: &str,
    scope: Scope,
    hash: &[u8],
    expires_at: Option<DateTime<Utc>>,
) -> Result<(), ApiError> {
    sqlx::query(
        "insert into api_tokens (id, name, scope, token_hash, expires_at) values ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(scope.as_str())
    .bind(hash)
    .bind(expires_at)
    .execute(db)
    .await
    .map_err(|e| {
        if is_unique_violation(&e, "api_tokens_name_key") {
            ApiError::Conflict(format!("a token named `{name}` already exists"))
        } else {
            e.into()
        }
    })?;
    Ok(())
}

/// Live (unrevoked) tokens, oldest first.
pub async fn list(db: &PgPool) -> Result<Vec<TokenInfo>, ApiError> {
    Ok(sqlx::query_as::<_, TokenInfo>(
        "select name, scope, created_at, last_used_at, expires_at from api_tokens \
         where revoked_at is null order by created_at, name",
    )
    .fetch_all(db)
    .await?)
}

/// Revokes the live token named `name`; `false` when there is none.
pub async fn revoke(db: &PgPool, name: &str) -> Result<bool, ApiError> {
    let done = sqlx::query(
        "update api_tokens set revoked_at = now() where name = $1 and revoked_at is null",
    )
    .bind(name)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The owner of a live, unexpired token with this hash, noting its use. `last_used_at`
/// is written at most once a minute per token so reads do not turn into writes.
pub async fn authenticate(db: &PgPool, hash: &[u8]) -> Result<Option<Principal>, ApiError> {
    let row: Option<(Uuid, String, String, bool)> = sqlx::query_as(
        "select id, name, scope, coalesce(last_used_at < now() - interval '1 minute', true) \
         from api_tokens \
         where token_hash = $1 and revoked_at is null and (expires_at is null or expires_at > now())",
    )
    .bind(hash)
    .fetch_optional(db)
    .await?;
    let Some((id, name, scope, stale)) = row else {
        return Ok(None);
    };
    if stale {
        sqlx::query("update api_tokens set last_used_at = now() where id = $1")
            .bind(id)
            .execute(db)
            .await?;
    }
    let scope = scope
        .parse::<Scope>()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    Ok(Some(Principal { name, scope }))
}
