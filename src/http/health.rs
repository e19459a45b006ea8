//! `/healthz` (the process is alive) and `/readyz` (it can serve: database reachable,
//! migrations applied, not shutting down).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use crate::error::ApiError;
use crate::repo;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process is alive.", body = Object, example = json!({"status": "ok"}))))]
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "Ready: database reachable, migrations applied.", body = Object, example = json!({"status": "ready"})),
    (status = 503, description = "Not ready: the database is unreachable, migrations are not applied, or the server is shutting down.", body = super::openapi::schemas::Problem, content_type = "application/problem+json")))]
async fn readyz(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    // Shutting down: a load balancer should send new requests elsewhere while the ones
    // in flight finish.
    if app.live.is_stopping() {
        return Err(ApiError::NotReady(
            "shutting down: finishing the requests in flight",
        ));
    }
    if repo::health::ready(&app.db).await? {
        Ok(Json(json!({ "status": "ready" })))
    } else {
        Err(ApiError::NotReady(
            "database migrations are not applied yet",
        ))
    }
}
