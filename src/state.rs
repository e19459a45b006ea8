//! What every handler shares.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::config::ServeConfig;

/// Shared state, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The connection pool.
    pub db: PgPool,
    /// The server's configuration.
    pub config: Arc<ServeConfig>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}

impl AppState {
    /// State for `db` and `config`, sharing the process's metrics recorder.
    pub fn new(db: PgPool, config: ServeConfig) -> Self {
        Self {
            db,
            config: Arc::new(config),
            metrics: crate::http::metrics::handle(),
        }
    }
}
