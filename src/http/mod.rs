//! The HTTP layer: routes, middleware, and the problem+json fallbacks.

pub mod audit;
pub mod companies;
pub mod events;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod list_cache;
pub mod metrics;
pub mod openapi;
pub mod partnerships;
pub mod rate_limit;
pub mod respond;
pub mod tags;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::model::Scope;
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole service as one router, ready for `axum::serve` or `oneshot` in tests.
pub fn app(state: AppState) -> Router {
    let config = state.config.clone();
    let api = Router::new()
        .merge(events::routes())
        .merge(companies::routes())
        .merge(tags::routes())
        .merge(partnerships::routes())
        .merge(audit::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), read_guard));

    // The docs page is stateless; the layers below apply to it like any route.
    let mut router = Router::new()
        .merge(api)
        .merge(health::routes())
        .merge(openapi::routes())
        .route("/metrics", get(metrics::render))
        .with_state(state.clone())
        .merge(openapi::docs())
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(middleware::from_fn(run_detached))
        .layer(middleware::from_fn_with_state(state.clone(), timeout))
        // Outside the timeout and the detached task, so a refused request costs neither;
        // inside metrics, request ids and CORS, so a 429 is counted, traceable and
        // readable by a browser. It skips health, readiness and metrics itself.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            rate_limit::limit,
        ))
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn(metrics::track));
    if let Some(cors) = cors_layer(&config.cors_allowed_origins) {
        router = router.layer(cors);
    }
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(TraceLayer::new_for_http().make_span_with(request_span))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(SetResponseHeaderLayer::overriding(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            )),
    )
}

/// The span every request's logs carry: method, route template (never the raw path,
/// which holds ids), and the request id.
fn request_span(req: &Request) -> tracing::Span {
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
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
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
                events::NEXT_UPDATED_SINCE,
                rate_limit::RATELIMIT_LIMIT,
                rate_limit::RATELIMIT_REMAINING,
                rate_limit::RATELIMIT_RESET,
                REQUEST_ID,
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// Reads are public unless `READ_REQUIRES_TOKEN` is set; then they need `read`.
async fn read_guard(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if app.config.read_requires_token
        && matches!(*req.method(), Method::GET | Method::HEAD)
        && let Err(error) = extract::authorize(req.headers(), &app, Scope::Read).await
    {
        return error.into_response();
    }
    next.run(req).await
}

/// Runs the rest of the request on its own task and waits for it.
///
/// A request future can be dropped at any await: the client disconnects, or the
/// timeout below fires. Dropped in the middle of a database round trip, it can hand
/// the pool a connection that is still inside `BEGIN` (sqlx 0.8.4 to 0.9.0, see
/// PITFALLS.md) or half-way through reading a reply, and the next, unrelated request
/// then fails on it. A spawned task is not cancelled when its handle is dropped, so
/// every statement runs to its end (bounded by `statement_timeout`). A panic in a
/// handler also ends here, as a 500 problem rather than a dropped connection.
async fn run_detached(req: Request, next: Next) -> Response {
    match tokio::spawn(next.run(req)).await {
        Ok(response) => response,
        Err(error) => {
            ApiError::Internal(anyhow::anyhow!("request task failed: {error}")).into_response()
        }
    }
}

/// Abandons a request that takes longer than `REQUEST_TIMEOUT_SECS`; the work itself
/// finishes on its own task (`run_detached`), so nothing is left half-done.
async fn timeout(State(app): State<AppState>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(app.config.request_timeout(), next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

async fn no_route(uri: Uri) -> ApiError {
    ApiError::RouteNotFound(crate::model::fields::truncate(uri.path(), 200))
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}
