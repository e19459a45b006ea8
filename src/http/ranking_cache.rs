//! Relevance rankings kept while the content they rank is unchanged.
//!
//! A best-match-first list must score every event the query matches before it can
//! return the first twenty: for a broad query that is thousands of rows, tens to hundreds
//! of milliseconds, however small the page. The scores change only when an event does,
//! so each server keeps the rankings it computed (ids and scores, a few kilobytes each)
//! for the content version (`repo::changes`) it read before computing them, the way a
//! search engine's request cache lives until the next refresh. The page itself is still
//! read fresh, by id, so a hit costs about what a page by tag costs.
//!
//! Concurrent requests for the same ranking wait for the one computing it instead of
//! each scoring every match (a dashboard wall opening at once, a retry storm).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::OnceCell;

use crate::error::ApiError;
use crate::repo::events::Ranked;

/// At most this many rankings are kept per content version...
const MAX_ENTRIES: usize = 1024;
/// ...and only for requests whose path and query fit in this many bytes, so the cache
/// holds at most a few megabytes (a ranking is at most 101 ids and scores).
const MAX_KEY_BYTES: usize = 1024;

/// One ranking, computed at most once.
type Slot = Arc<OnceCell<Arc<[Ranked]>>>;

/// The rankings this server computed at the newest content version it has seen.
#[derive(Default)]
pub struct RankingCache {
    generation: Mutex<Generation>,
}

#[derive(Default)]
struct Generation {
    version: i64,
    slots: HashMap<String, Slot>,
}

impl RankingCache {
    /// The ranking for `key` at content `version`: the one already computed at that
    /// version, the one being computed (waited for), or a new one from `rank`, kept
    /// for later requests. `version` must have been read before `rank` runs, so what is
    /// kept is at least as new as the version it is kept for. A failed `rank` keeps
    /// nothing; the next request tries again.
    pub async fn get_or_rank<F, Fut>(
        &self,
        version: i64,
        key: &str,
        rank: F,
    ) -> Result<Arc<[Ranked]>, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<Ranked>, ApiError>>,
    {
        let Some(slot) = self.slot(version, key) else {
            metrics::counter!("ranking_cache_misses_total").increment(1);
            return rank().await.map(Arc::from);
        };
        if let Some(ranking) = slot.get() {
            metrics::counter!("ranking_cache_hits_total").increment(1);
            return Ok(ranking.clone());
        }
        metrics::counter!("ranking_cache_misses_total").increment(1);
        slot.get_or_try_init(|| async { rank().await.map(Arc::from) })
            .await
            .cloned()
    }

    /// The slot for `key` at `version`; `None` when the ranking cannot be kept (an
    /// older version than the newest seen, a long key, a full cache).
    fn slot(&self, version: i64, key: &str) -> Option<Slot> {
        if key.len() > MAX_KEY_BYTES {
            return None;
        }
        let mut generation = self.lock();
        if version > generation.version {
            generation.version = version;
            generation.slots.clear();
        }
        if version < generation.version {
            return None;
        }
        if let Some(slot) = generation.slots.get(key) {
            return Some(slot.clone());
        }
        if generation.slots.len() >= MAX_ENTRIES {
            return None;
        }
        let slot = Slot::default();
        generation.slots.insert(key.to_owned(), slot.clone());
        Some(slot)
    }

    fn lock(&self) -> MutexGuard<'_, Generation> {
        // The critical sections cannot panic half-way; a poisoned lock is still sound.
        self.generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use uuid::Uuid;

    use super::*;

    fn ranking(n: u8) -> Vec<Ranked> {
        vec![Ranked {
            id: Uuid::from_bytes([n; 16]),
            rank: f32::from(n),
        }]
    }

    #[tokio::test]
    async fn a_ranking_is_computed_once_per_version_and_key() {
        let cache = RankingCache::default();
        let runs = AtomicUsize::new(0);
        let rank = |n| {
            runs.fetch_add(1, Ordering::SeqCst);
            async move { Ok(ranking(n)) }
        };
        let first = cache.get_or_rank(1, "/q=a", || rank(1)).await.unwrap();
        let again = cache.get_or_rank(1, "/q=a", || rank(2)).await.unwrap();
        assert_eq!(&*again, &*first, "kept");
        let other = cache.get_or_rank(1, "/q=b", || rank(3)).await.unwrap();
        assert_eq!(&*other, ranking(3).as_slice());
        let newer = cache.get_or_rank(2, "/q=a", || rank(4)).await.unwrap();
        assert_eq!(&*newer, ranking(4).as_slice(), "a new version ranks again");
        let older = cache.get_or_rank(1, "/q=a", || rank(5)).await.unwrap();
        assert_eq!(
            &*older,
            ranking(5).as_slice(),
            "an older version is not kept"
        );
        assert_eq!(
            &*cache.get_or_rank(2, "/q=a", || rank(6)).await.unwrap(),
            ranking(4).as_slice()
        );
        assert_eq!(runs.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn concurrent_requests_wait_for_one_computation() {
        let cache = Arc::new(RankingCache::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let cache = cache.clone();
                let runs = runs.clone();
                tokio::spawn(async move {
                    cache
                        .get_or_rank(1, "/q=a", || async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok(ranking(7))
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(&*task.await.unwrap().unwrap(), ranking(7).as_slice());
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failure_keeps_nothing_and_bounds_hold() {
        let cache = RankingCache::default();
        let failed = cache
            .get_or_rank(1, "/q=a", || async {
                Err(ApiError::Internal(anyhow::anyhow!("database gone")))
            })
            .await;
        assert!(failed.is_err());
        let retried = cache
            .get_or_rank(1, "/q=a", || async { Ok(ranking(1)) })
            .await
            .unwrap();
        assert_eq!(&*retried, ranking(1).as_slice());

        assert!(cache.slot(1, &"x".repeat(MAX_KEY_BYTES + 1)).is_none());
        for i in 0..MAX_ENTRIES + 10 {
            cache.slot(1, &format!("/q={i}"));
        }
        assert_eq!(cache.lock().slots.len(), MAX_ENTRIES);
    }
}
