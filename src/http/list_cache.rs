//! Conditional list requests answered without building the page.
//!
//! A list's `ETag` is a hash of its content, so checking `If-None-Match` the plain way
//! means building the page. Instead each server remembers, for the lists it answered,
//! the `ETag` each had and the database snapshot taken before it was built. While no
//! write to the list's scopes has committed unseen by that snapshot, the same request
//! would produce the same `ETag`, and a matching `If-None-Match` is a 304 after one
//! probe of the change notes (`repo::changes`). Writes to other scopes (events with
//! other tags, for a list by tag) leave it alone.

use std::future::Future;

use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;

use super::extract::if_none_match;
use super::snapshot_cache::{Checked, SnapshotCache};
use super::{AppState, respond};
use crate::error::ApiError;
use crate::model::ListScope;

/// At most this many lists are remembered.
const CAPACITY: usize = 4096;

/// The `ETag`s of the lists this server answered, each with its snapshot.
pub struct ListCache(SnapshotCache<String>);

impl Default for ListCache {
    fn default() -> Self {
        Self(SnapshotCache::new(CAPACITY))
    }
}

/// The request's path and query: what identifies a list.
pub fn request_key(uri: &Uri) -> &str {
    uri.path_and_query()
        .map_or_else(|| uri.path(), |p| p.as_str())
}

/// Answers a list request, using the cache when it carries `If-None-Match`. `scopes`
/// are what the list can show (see [`ListScope`]); `build` reads the page from `db`
/// (the primary or a replica).
///
/// The snapshot is taken before `build` runs, so the `ETag` remembered with it is that
/// of a page at least as new; a write committing in between only makes the next poll
/// build the page again. It is taken on the copy the page is read from, so a page read
/// from a replica that was behind is never vouched for by the primary's snapshot.
pub async fn conditional_list_on(
    app: &AppState,
    db: &sqlx::PgPool,
    headers: &HeaderMap,
    uri: &Uri,
    scopes: &[ListScope],
    build: impl Future<Output = Result<Response, ApiError>>,
) -> Result<Response, ApiError> {
    if !headers.contains_key(header::IF_NONE_MATCH) {
        return build.await;
    }
    let key = request_key(uri);
    let snapshot = match app.lists.0.check(db, key, scopes).await? {
        Checked::Valid { value: etag, .. } if if_none_match(headers, &etag) => {
            metrics::counter!("list_cache_hits_total").increment(1);
            return Ok(respond::list_not_modified(&etag));
        }
        Checked::Valid { snapshot, .. } | Checked::Stale(snapshot) => snapshot,
    };
    metrics::counter!("list_cache_misses_total").increment(1);
    let response = build.await?;
    if matches!(response.status(), StatusCode::OK | StatusCode::NOT_MODIFIED)
        && let Some(etag) = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
    {
        app.lists.0.insert(key, snapshot, etag.to_owned());
    }
    Ok(response)
}
