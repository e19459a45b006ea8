//! Idempotency keys: the first answer to a POST, stored with the resource it created.

use sqlx::{PgConnection, PgPool};

use crate::error::ApiError;

/// How long a key is remembered.
pub const KEY_LIFETIME: &str = "24 hours";

/// A stored answer, replayed byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Vec<u8>,
    /// The `Location` header.
    pub location: Option<String>,
    /// The `ETag` header.
    pub etag: Option<String>,
}

/// What a key says about this request.
#[derive(Debug)]
pub enum Claim {
    /// First use: this transaction now holds the key; do the work, then `complete`.
    Fresh,
    /// A retry of an answered request: send the stored answer, change nothing.
    Replay(StoredAnswer),
    /// The key was used for a different request.
    Mismatch,
}

/// Claims `key` for `token` inside the caller's transaction. A concurrent request with
/// the same key waits here (on the primary key) until the first commits or rolls back,
/// so one key creates one resource.
pub async fn claim(
    conn: &mut PgConnection,
    token: &str,
    key: &str,
    request_hash: &[u8],
) -> Result<Claim, ApiError> {
    sqlx::query(
        "delete from idempotency_keys where token = $1 and key = $2 \
         and created_at < now() - $3::interval",
    )
    .bind(token)
    .bind(key)
    .bind(KEY_LIFETIME)
    .execute(&mut *conn)
    .await?;
    let taken = sqlx::query(
        "insert into idempotency_keys (token, key, request_hash, status, body) \
         values ($1, $2, $3, 0, '') on conflict (token, key) do nothing",
    )
    .bind(token)
    .bind(key)
    .bind(request_hash)
    .execute(&mut *conn)
    .await?;
    if taken.rows_affected() == 1 {
        return Ok(Claim::Fresh);
    }
    let (hash, status, body, location, etag): (
        Vec<u8>,
        i16,
        Vec<u8>,
        Option<String>,
        Option<String>,
    ) = sqlx::query_as(
        "select request_hash, status, body, location, etag from idempotency_keys \
             where token = $1 and key = $2",
    )
    .bind(token)
    .bind(key)
    .fetch_one(&mut *conn)
    .await?;
    if hash != request_hash {
        return Ok(Claim::Mismatch);
    }
    Ok(Claim::Replay(StoredAnswer {
        status: u16::try_from(status).unwrap_or(500),
        body,
        location,
        etag,
    }))
}

/// Stores the answer for a key claimed in this transaction.
pub async fn complete(
    conn: &mut PgConnection,
    token: &str,
    key: &str,
    answer: &StoredAnswer,
) -> Result<(), ApiError> {
    sqlx::query(
        "update idempotency_keys set status = $3, body = $4, location = $5, etag = $6 \
         where token = $1 and key = $2",
    )
    .bind(token)
    .bind(key)
    .bind(i16::try_from(answer.status).unwrap_or(500))
    .bind(&answer.body)
    .bind(answer.location.as_deref())
    .bind(answer.etag.as_deref())
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets keys older than [`KEY_LIFETIME`]; returns how many.
pub async fn purge_expired(db: &PgPool) -> Result<u64, ApiError> {
    let done = sqlx::query("delete from idempotency_keys where created_at < now() - $1::interval")
        .bind(KEY_LIFETIME)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
