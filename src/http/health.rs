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

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process is alive.", body = Object, example = json!({"status": "ok"}))))]
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "Ready: database reachable, migrations applied.", body = Object, example = json!({"status": "ready"})),
    (status = 503, description = "Not ready.", body = crate::http::openapi::Problem, content_type = "application/problem+json")))]
async fn readyz(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    if repo::health::ready(&app.db).await? {
        Ok(Json(json!({ "status": "ready" })))
    } else {
        Err(ApiError::NotReady(
            "database migrations are not applied yet",
        ))
    }
}
