//! Relevance rankings kept while the content they rank is unchanged.
//!
//! A best-match-first list must score every event the query matches before it can
//! return the first twenty: for a broad query that is thousands of rows, tens to hundreds
//! of milliseconds, however small the page. The scores change only when a matching
//! event does, so each server keeps the rankings it computed (ids and scores, a few
//! kilobytes each) with the snapshot taken before computing them, the way a search
//! engine's request cache lives until the next refresh, and checks the change notes
//! (`repo::changes`) before reusing one. The page itself is still read fresh, by id, so
//! a reuse costs about what a page by tag costs.
//!
//! Concurrent requests for the same ranking share one computation instead of each
//! scoring every match (a dashboard wall opening at once, a retry storm): a request
//! joins a computation only if no write to its scopes committed since that
//! computation's snapshot, so no one is handed a ranking older than their request.

use std::future::Future;
use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::OnceCell;

use super::snapshot_cache::{Checked, SnapshotCache};
use crate::error::ApiError;
use crate::model::ListScope;
use crate::repo::events::Ranked;

/// At most this many rankings are kept (a ranking is at most 101 ids and scores, so a
/// few megabytes in all).
const CAPACITY: usize = 1024;

/// One ranking, computed at most once.
type Slot = Arc<OnceCell<Arc<[Ranked]>>>;

/// The rankings this server computed, each with its snapshot.
pub struct RankingCache(SnapshotCache<Slot>);

impl Default for RankingCache {
    fn default() -> Self {
        Self(SnapshotCache::new(CAPACITY))
    }
}

impl RankingCache {
    /// The ranking for `key`, whose list shows `scopes`: the one kept (or being
    /// computed) if nothing in `scopes` changed since its snapshot, else a new one from
    /// `rank`, kept for later requests. A failed `rank` keeps nothing; the next request
    /// tries again.
    pub async fn get_or_rank<F, Fut>(
        &self,
        db: &PgPool,
        key: &str,
        scopes: &[ListScope],
        rank: F,
    ) -> Result<Arc<[Ranked]>, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<Ranked>, ApiError>>,
    {
        let snapshot = match self.0.check(db, key, scopes).await? {
            Checked::Valid { value: slot, .. } => return compute(&slot, rank).await,
            Checked::Stale(snapshot) => snapshot,
        };
        let slot = self.0.insert(key, snapshot, Slot::default());
        compute(&slot, rank).await
    }
}

/// The slot's ranking, computing it unless it is there or under way.
async fn compute<F, Fut>(slot: &Slot, rank: F) -> Result<Arc<[Ranked]>, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Vec<Ranked>, ApiError>>,
{
    if let Some(ranking) = slot.get() {
        metrics::counter!("ranking_cache_hits_total").increment(1);
        return Ok(ranking.clone());
    }
    metrics::counter!("ranking_cache_misses_total").increment(1);
    slot.get_or_try_init(|| async { rank().await.map(Arc::from) })
        .await
        .cloned()
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
    async fn concurrent_requests_share_one_computation() {
        let slot = Slot::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let slot = slot.clone();
                let runs = runs.clone();
                tokio::spawn(async move {
                    compute(&slot, || async move {
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
    async fn a_failure_keeps_nothing() {
        let slot = Slot::default();
        let failed = compute(&slot, || async {
            Err(ApiError::Internal(anyhow::anyhow!("database gone")))
        })
        .await;
        assert!(failed.is_err());
        let retried = compute(&slot, || async { Ok(ranking(1)) }).await.unwrap();
        assert_eq!(&*retried, ranking(1).as_slice());
        let kept = compute(&slot, || async { Ok(ranking(2)) }).await.unwrap();
        assert_eq!(&*kept, ranking(1).as_slice());
    }
}
