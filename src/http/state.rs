//! What every handler shares.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use super::list_cache::ListCache;
use super::live::Live;
use super::ranking_cache::RankingCache;
use super::rate_limit::ClientRateLimiter;
use crate::config::ServeConfig;
use crate::db::replicas::Replicas;
use crate::webhook::Webhooks;
use crate::webhook::guard::{Resolver, SystemResolver};

/// Shared state: one pointer, because every middleware layer and handler clones it
/// for every request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Shared {
    /// The connection pool.
    pub db: PgPool,
    /// The pool for statements whose generic plan is always right
    /// (see [`crate::db::fixed_plan_pool`]).
    pub fixed_plans: PgPool,
    /// The server's configuration.
    pub config: Arc<ServeConfig>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Per-client request allowances; `None` when `RATE_LIMIT_RPS` is 0.
    pub rate_limiter: Option<Arc<ClientRateLimiter>>,
    /// The `ETag`s of lists answered, each with the snapshot it was built after.
    pub lists: Arc<ListCache>,
    /// Relevance rankings, each with the snapshot it was computed after.
    pub rankings: Arc<RankingCache>,
    /// Streams, long polls and the signals between instances.
    pub live: Arc<Live>,
    /// The tombstone horizon: how old a position may be.
    pub horizon: Arc<super::retention::Horizon>,
    /// The webhook sender (its loop runs in `serve`; handlers check URLs with it).
    pub webhooks: Arc<Webhooks>,
    /// Streaming replicas for reads (`DATABASE_READ_URL`), if any.
    pub replicas: Option<Arc<Replicas>>,
}

impl AppState {
    /// Says that a write has committed: streams and long polls look, and webhook
    /// delivery claims the messages it wrote.
    pub fn wrote(&self) {
        self.live.wrote();
        self.webhooks.wake();
    }

    /// State for `db` and `config`, sharing the process's metrics recorder; the rate
    /// limiter is built from the config (each state gets its own allowances).
    pub fn new(db: PgPool, config: ServeConfig) -> Self {
        Self::with_resolver(db, config, Arc::new(SystemResolver))
    }

    /// As [`Self::new`], with webhook hosts resolved by `resolver` (tests answer
    /// what they need).
    pub fn with_resolver(db: PgPool, config: ServeConfig, resolver: Arc<dyn Resolver>) -> Self {
        Self::build(db, config, resolver, None)
    }

    /// As [`Self::new`], with reads spread over `replicas`.
    pub fn with_replicas(db: PgPool, config: ServeConfig, replicas: Arc<Replicas>) -> Self {
        Self::build(db, config, Arc::new(SystemResolver), Some(replicas))
    }

    fn build(
        db: PgPool,
        config: ServeConfig,
        resolver: Arc<dyn Resolver>,
        replicas: Option<Arc<Replicas>>,
    ) -> Self {
        Self(Arc::new(Shared {
            replicas,
            webhooks: Arc::new(Webhooks::new(&config, resolver)),
            fixed_plans: crate::db::fixed_plan_pool(&db),
            live: Arc::new(Live::new(
                db.clone(),
                config.stream_catch_up(),
                usize::try_from(config.stream_max_replay).unwrap_or(usize::MAX),
            )),
            db,
            rate_limiter: ClientRateLimiter::from_config(&config).map(Arc::new),
            horizon: Arc::new(super::retention::Horizon::new(
                config.tombstone_retention_days,
            )),

            config: Arc::new(config),
            metrics: super::metrics::handle(),
            lists: Arc::default(),
            rankings: Arc::default(),
        }))
    }
}
