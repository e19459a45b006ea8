//! `POST` with an `Idempotency-Key`: a retry with the same key and body gets the first
//! answer and creates nothing; the same key with another body is a 422.

use std::future::Future;
use std::pin::Pin;

use axum::http::{HeaderMap, HeaderName};
use axum::response::Response;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use super::AppState;
use super::respond;
use crate::error::ApiError;
use crate::model::{FieldError, ResourceKind};
use crate::repo::audit::Actor;
use crate::repo::idempotency::{self, Claim, StoredAnswer};

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// A boxed future borrowing the transaction, so the create runs inside it.
pub type InTx<'c> = Pin<Box<dyn Future<Output = Result<StoredAnswer, ApiError>> + Send + 'c>>;

/// The request's `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub fn key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(&IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::BadRequest(
            "send one `Idempotency-Key` header, not several".into(),
        ));
    }
    let text = value
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::BadRequest(
                "`Idempotency-Key` must be 1 to 255 visible ASCII characters".into(),
            )
        })?;
    Ok(Some(text.to_owned()))
}

/// The identity of a JSON `POST` to `collection` for its key: the route and the body.
pub fn request_hash(collection: &str, body: &Value) -> Vec<u8> {
    // serde_json objects are ordered maps, so this text is canonical: the same body with
    // its fields in another order hashes the same.
    let canonical = serde_json::to_vec(body).unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(b"POST ");
    hasher.update(collection.as_bytes());
    hasher.update(b"\n");
    hasher.update(&canonical);
    hasher.finalize().to_vec()
}

/// Claims `key` for the request inside the caller's transaction: `None` on first use
/// (do the work, then [`idempotency::complete`] in the same transaction); the stored
/// answer for a retry of an answered request; a 422 when the key was used for another
/// request. A retry that arrives while the first is still running waits on the key's
/// row, then replays.
pub async fn claim(
    conn: &mut PgConnection,
    token: &str,
    key: &str,
    request_hash: &[u8],
) -> Result<Option<StoredAnswer>, ApiError> {
    match idempotency::claim(conn, token, key, request_hash).await? {
        Claim::Fresh => Ok(None),
        Claim::Replay(stored) => Ok(Some(stored)),
        Claim::Mismatch => Err(ApiError::Validation(vec![FieldError::new(
            "Idempotency-Key",
            "was already used with a different request; use a new key for a new request",
        )])),
    }
}

/// Runs a create in one transaction with its key: first use stores the answer with
/// the resource; a retry replays it; a different request under the key is a 422.
pub async fn create<F>(
    app: &AppState,
    actor: &Actor,
    headers: &HeaderMap,
    kind: ResourceKind,
    body: &Value,
    work: F,
) -> Result<Response, ApiError>
where
    F: for<'c> FnOnce(&'c mut PgConnection) -> InTx<'c>,
{
    let key = key(headers)?;
    let mut tx = app.db.begin().await?;
    if let Some(key) = &key {
        let hash = request_hash(kind.collection(), body);
        if let Some(stored) = claim(&mut tx, &actor.token, key, &hash).await? {
            return Ok(respond::replay(stored, true));
        }
    }
    let answer = work(&mut tx).await?;
    if let Some(key) = &key {
        idempotency::complete(&mut tx, &actor.token, key, &answer).await?;
    }
    tx.commit().await?;
    Ok(respond::replay(answer, false))
}

/// What a request whose body is known only once it has been read whole (an import)
/// does with its key, at the end of its work and inside its transaction: on first use
/// the answer is stored with the work (`None`: send it); a retry of an answered request
/// gets the stored answer (`Some`: roll the work back and send that); a different
/// request under the key is a 422. A retry that arrives while the first is still
/// running waits on the key's row, then replays.
pub async fn settle_streamed(
    conn: &mut PgConnection,
    actor: &Actor,
    key: &str,
    request_hash: &[u8],
    answer: &StoredAnswer,
) -> Result<Option<StoredAnswer>, ApiError> {
    let stored = claim(&mut *conn, &actor.token, key, request_hash).await?;
    if stored.is_none() {
        idempotency::complete(conn, &actor.token, key, answer).await?;
    }
    Ok(stored)
}
