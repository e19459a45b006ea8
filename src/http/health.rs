//! `/healthz` (the process is alive) and `/readyz` (it can serve: database reachable,
//! migrations applied).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::repo;
use crate::state::AppState;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    if repo::health::ready(&app.db).await? {
        Ok(Json(json!({ "status": "ready" })))
    } else {
        Err(ApiError::NotReady(
            "database migrations are not applied yet",
        ))
    }
}
