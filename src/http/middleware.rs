//! The middleware every request passes through, and the problem+json fallbacks.

use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Instrument;

use super::AppState;
use crate::error::{ApiError, FailureReport};
use crate::model::Scope;

/// The request id header, set or propagated on every request.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The span every request's logs carry: method, route template (never the raw path,
/// which holds ids), and the request id.
pub(super) fn request_span(req: &Request) -> tracing::Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("request", method = %req.method(), route, request_id)
}

/// CORS for the configured origins (`*` for any); none configured, no CORS headers.
pub(super) fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                header::IF_NONE_MATCH,
                HeaderName::from_static("idempotency-key"),
                REQUEST_ID,
            ])
            .expose_headers([
                header::ETAG,
                header::LOCATION,
                header::LINK,
                header::RETRY_AFTER,
                super::events::NEXT_UPDATED_SINCE,
                super::rate_limit::RATELIMIT_LIMIT,
                super::rate_limit::RATELIMIT_REMAINING,
                super::rate_limit::RATELIMIT_RESET,
                REQUEST_ID,
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// Reads are public unless `READ_REQUIRES_TOKEN` is set; then they need `read`.
pub(super) async fn read_guard(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if app.config.read_requires_token
        && matches!(*req.method(), Method::GET | Method::HEAD)
        && let Err(error) = super::extract::authorize(req.headers(), &app, Scope::Read).await
    {
        return error.into_response();
    }
    next.run(req).await
}

/// Runs the rest of the request on its own task and waits for it.
///
/// A request future can be dropped at any await: the client disconnects, or the
/// timeout below fires. Dropped in the middle of a database round trip, it can hand
/// the pool a connection that is still inside `BEGIN` (sqlx 0.8.4 to 0.9.0; the fix is
/// not released) or half-way through reading a reply, and the next, unrelated request
/// then fails on it. A spawned task is not cancelled when its handle is dropped, so
/// every statement runs to its end (bounded by `statement_timeout`). A panic in a
/// handler also ends here, as a 500 problem rather than a dropped connection.
pub(super) async fn run_detached(req: Request, next: Next) -> Response {
    // The task carries the request's span, so what it logs names the request.
    match tokio::spawn(next.run(req).in_current_span()).await {
        Ok(response) => response,
        Err(error) => {
            ApiError::Internal(anyhow::anyhow!("request task failed: {error}")).into_response()
        }
    }
}

/// Abandons a request that takes longer than `REQUEST_TIMEOUT_SECS`; the work itself
/// finishes on its own task (`run_detached`), so nothing is left half-done.
/// A long poll (`wait`) gets its wait on top; an import has `IMPORT_TIMEOUT_SECS`.
pub(super) async fn timeout(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let budget = if super::import::is_import(req.method(), req.uri()) {
        app.config.import_timeout()
    } else {
        app.config.request_timeout() + super::events::requested_wait(req.uri())
    };
    match tokio::time::timeout(budget, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

pub(super) async fn no_route(uri: Uri) -> ApiError {
    ApiError::RouteNotFound(crate::model::fields::truncate(uri.path(), 200))
}

pub(super) async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}

/// Logs a failed request once, with the cause chain its error left in the response
/// (see [`ApiError`]), inside the request's span so the line carries its request id.
/// A 500 is an error; a 503 (database unreachable, timeout) a warning, since the
/// service recovers from it by itself. Client errors (4xx) are the client's to see,
/// not the operator's, and are not logged here.
pub(super) async fn log_failures(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    if let Some(report) = response.extensions().get::<FailureReport>() {
        let status = response.status().as_u16();
        if response.status() == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(status, error = %report.0, "request failed");
        } else {
            tracing::warn!(status, error = %report.0, "request failed");
        }
    }
    response
}
