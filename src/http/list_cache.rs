//! Conditional list requests answered without building the page.
//!
//! A list's `ETag` is a hash of its content, so checking `If-None-Match` the plain way
//! means building the page. Instead each server remembers, for the lists it answered,
//! the `ETag` each had at a content version (`repo::changes`). While the version has not
//! moved, no write has committed, so the same request would produce the same `ETag`,
//! and a matching `If-None-Match` is a 304 after reading one row.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;

use super::extract::if_none_match;
use super::{AppState, respond};
use crate::error::ApiError;
use crate::repo;

/// At most this many lists are remembered per content version...
const MAX_ENTRIES: usize = 4096;
/// ...and only those whose path and query fit in this many bytes, so a flood of
/// distinct URLs costs at most a few megabytes (it then only makes polls build pages).
const MAX_KEY_BYTES: usize = 1024;

/// The `ETag`s of the lists this server answered at the newest content version it has
/// seen.
#[derive(Default)]
pub struct ListCache {
    generation: Mutex<Generation>,
}

#[derive(Default)]
struct Generation {
    version: i64,
    etags: HashMap<String, String>,
}

impl ListCache {
    /// The `ETag` the list at `key` had at `version`, if it was answered then.
    fn etag(&self, version: i64, key: &str) -> Option<String> {
        let generation = self.lock();
        (generation.version == version)
            .then(|| generation.etags.get(key).cloned())
            .flatten()
    }

    /// Records that the list at `key` had `etag` when the content version read
    /// `version` before the list was built. A newer version forgets every older entry;
    /// an older one is ignored.
    fn remember(&self, version: i64, key: String, etag: String) {
        if key.len() > MAX_KEY_BYTES {
            return;
        }
        let mut generation = self.lock();
        if version > generation.version {
            generation.version = version;
            generation.etags.clear();
        }
        if version == generation.version && generation.etags.len() < MAX_ENTRIES {
            generation.etags.insert(key, etag);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generation> {
        // The critical sections cannot panic half-way; a poisoned lock is still sound.
        self.generation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Answers a list request, using the cache when it carries `If-None-Match`.
///
/// The content version is read before `build` runs, so the `ETag` remembered for it is
/// that of a page at least as new; a write committing in between moves the version and
/// only makes the next poll build the page again.
pub async fn conditional_list(
    app: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    build: impl Future<Output = Result<Response, ApiError>>,
) -> Result<Response, ApiError> {
    if !headers.contains_key(header::IF_NONE_MATCH) {
        return build.await;
    }
    let version = repo::changes::content_version(&app.db).await?;
    let key = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    if let Some(etag) = app.lists.etag(version, &key)
        && if_none_match(headers, &etag)
    {
        metrics::counter!("list_cache_hits_total").increment(1);
        return Ok(respond::list_not_modified(&etag));
    }
    metrics::counter!("list_cache_misses_total").increment(1);
    let response = build.await?;
    if matches!(response.status(), StatusCode::OK | StatusCode::NOT_MODIFIED)
        && let Some(etag) = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
    {
        app.lists.remember(version, key, etag.to_owned());
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_holds_only_for_the_version_it_was_built_at() {
        let cache = ListCache::default();
        cache.remember(3, "/v1/events?tag=ai".into(), "W/\"a\"".into());
        assert_eq!(
            cache.etag(3, "/v1/events?tag=ai").as_deref(),
            Some("W/\"a\"")
        );
        assert_eq!(cache.etag(4, "/v1/events?tag=ai"), None);
        assert_eq!(cache.etag(3, "/v1/events?tag=other"), None);
    }

    #[test]
    fn a_newer_version_forgets_older_entries_and_an_older_one_is_ignored() {
        let cache = ListCache::default();
        cache.remember(3, "/a".into(), "W/\"a\"".into());
        cache.remember(5, "/b".into(), "W/\"b\"".into());
        assert_eq!(cache.etag(3, "/a"), None);
        cache.remember(4, "/a".into(), "W/\"stale\"".into());
        assert_eq!(cache.etag(4, "/a"), None);
        assert_eq!(cache.etag(5, "/a"), None);
        assert_eq!(cache.etag(5, "/b").as_deref(), Some("W/\"b\""));
    }

    #[test]
    fn size_is_bounded_by_entries_and_key_length() {
        let cache = ListCache::default();
        cache.remember(1, "x".repeat(MAX_KEY_BYTES + 1), "W/\"long\"".into());
        assert_eq!(cache.etag(1, &"x".repeat(MAX_KEY_BYTES + 1)), None);
        for i in 0..MAX_ENTRIES + 10 {
            cache.remember(1, format!("/l{i}"), "W/\"e\"".into());
        }
        assert_eq!(cache.lock().etags.len(), MAX_ENTRIES);
    }
}
