//! Extractors whose rejections are problem+json, and request-header helpers.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::Value;

use super::AppState;
use super::client::bearer_token;
use crate::auth::hash_token;
use crate::error::ApiError;
use crate::model::{Precondition, Ref, ResourceKind, Scope};
use crate::repo;
use crate::repo::audit::Actor;
use crate::repo::tokens::Principal;

/// A JSON request body (`application/json` or any `+json` type such as
/// `application/merge-patch+json`), parsed but not yet validated.
pub struct JsonBody(pub Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "the request body must be JSON (`application/json` or `application/merge-patch+json`)",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge {
                    limit: state.config.max_body_bytes,
                }
            } else {
                ApiError::BadRequest("the request body could not be read".into())
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::BadRequest("the request body is empty".into()));
        }
        let value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::BadRequest(format!("the request body is not valid JSON: {e}"))
        })?;
        Ok(Self(value))
    }
}

/// Whether the content type is JSON: `application/json` or `application/*+json`.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The `{ref}` segment of a path, as text; a segment that is not valid UTF-8 is a 400.
pub struct RefPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RefPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(raw)| Self(raw))
            .map_err(|_| ApiError::BadRequest("the path is not valid percent-encoded UTF-8".into()))
    }
}

impl RefPath {
    /// The id or slug; anything that can be neither is a 404 without a query.
    pub fn parse(&self, kind: ResourceKind) -> Result<Ref, ApiError> {
        Ref::parse(&self.0).ok_or_else(|| ApiError::NotFound {
            kind,
            reference: crate::model::fields::truncate(&self.0, 100),
        })
    }
}

/// A request authorised to write (a `write` or `admin` token), as the audit trail
/// names it: the token's name and the request's id.
pub struct Writer(pub Actor);

impl FromRequestParts<AppState> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = authorize(&parts.headers, state, Scope::Write).await?;
        Ok(Self(Actor {
            token: principal.name,
            request_id: parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }))
    }
}

/// Checks the bearer token of a request against the scope it needs.
pub async fn authorize(
    headers: &HeaderMap,
    state: &AppState,
    needed: Scope,
) -> Result<Principal, ApiError> {
    if !headers.contains_key(header::AUTHORIZATION) {
        return Err(ApiError::Unauthorized(
            "this request needs an `Authorization: Bearer <token>` header",
        ));
    }
    let token = bearer_token(headers).ok_or(ApiError::Unauthorized(
        "the `Authorization` header must be `Bearer <token>`",
    ))?;
    let principal = repo::tokens::authenticate(&state.db, &hash_token(token))
        .await?
        .ok_or(ApiError::Unauthorized(
            "the token is unknown, revoked or expired",
        ))?;
    if !principal.scope.allows(needed) {
        return Err(ApiError::Forbidden {
            needed: needed.as_str(),
        });
    }
    Ok(principal)
}

/// The `If-Match` precondition of a write.
pub fn if_match(headers: &HeaderMap) -> Precondition {
    let tags = entity_tags(headers, header::IF_MATCH);
    if tags.is_empty() {
        Precondition::None
    } else {
        Precondition::Matches(tags)
    }
}

/// Whether `If-None-Match` matches `etag` under the weak comparison (RFC 9110 13.1.2).
pub fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    let weak = |t: &str| t.trim_start_matches("W/").to_owned();
    entity_tags(headers, header::IF_NONE_MATCH)
        .iter()
        .any(|t| t == "*" || weak(t) == weak(etag))
}

/// The entity tags of a conditional header, across repeated headers and lists.
fn entity_tags(headers: &HeaderMap, name: header::HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}
