//! The HTTP layer: routes, middleware, and what handlers share.
//!
//! Every route is registered through `utoipa_axum`'s `routes!`, which also puts the
//! handler's `#[utoipa::path]` into the OpenAPI document: [`documented_routes`] is the
//! one list of routes, and both the router and the document are built from it.

pub mod audit;
pub mod chart;
pub mod client;
pub mod companies;
pub mod consistency;
pub mod event_stream;
pub mod events;
pub mod export;
pub mod extract;
pub mod feeds;
pub mod health;
pub mod idempotency;
pub mod import;
pub mod list_cache;
pub mod live;
pub mod metrics;
mod middleware;
pub mod openapi;
pub mod pages;
pub mod partnerships;
pub mod ranking_cache;
pub mod rate_limit;
pub mod records;
pub mod redis_limit;
pub mod resolve;
pub mod respond;
pub mod retention;
pub mod revisions;
pub mod server;
pub mod snapshot_cache;
pub mod state;
pub mod tags;
pub mod timeline;
pub mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::middleware::{from_fn, from_fn_with_state};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

pub use middleware::REQUEST_ID;
pub use state::AppState;

/// The routes of the API's resources: reads here need a `read` token when
/// `READ_REQUIRES_TOKEN` is set.
fn resource_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(events::routes())
        .merge(companies::routes())
        .merge(partnerships::routes())
        .merge(revisions::routes())
        .merge(tags::routes())
        .merge(feeds::routes())
        .merge(audit::routes())
        .merge(webhooks::routes())
}

/// The operational routes: health, readiness, metrics and the document itself.
fn operation_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(health::routes())
        .merge(metrics::routes())
        .merge(openapi::routes())
}

/// Every route the service serves except the docs page's assets, each with its
/// OpenAPI operation.
pub fn documented_routes() -> OpenApiRouter<AppState> {
    resource_routes().merge(operation_routes())
}

/// The whole service as one router, ready to serve or to drive with `oneshot` in tests.
pub fn app(state: AppState) -> Router {
    let config = state.config.clone();
    let (resources, _) = resource_routes().split_for_parts();
    let (operations, _) = operation_routes().split_for_parts();
    let resources = resources
        .merge(pages::routes())
        .route_layer(from_fn_with_state(state.clone(), middleware::read_guard));

    // The docs page is stateless; the layers below apply to it like any route.
    let mut router = Router::new()
        .merge(resources)
        .merge(operations)
        .with_state(state.clone())
        .merge(openapi::docs())
        .merge(pages::asset_routes())
        .fallback(middleware::no_route)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        // Inside the detached task: a write that completes after its client left still
        // answers in full.
        .layer(from_fn_with_state(state.clone(), consistency::stamp))
        .layer(from_fn(middleware::run_detached))
        .layer(from_fn_with_state(state.clone(), middleware::timeout))
        // Outside the timeout and the detached task, so a refused request costs neither;
        // inside metrics, request ids and CORS, so a 429 is counted, traceable and
        // readable by a browser. It skips health, readiness and metrics itself.
        .layer(from_fn_with_state(state.clone(), rate_limit::limit))
        .layer(CompressionLayer::new())
        .layer(from_fn(metrics::track))
        // Inside the request span (so each line carries the request id), outside
        // everything that can fail.
        .layer(from_fn(middleware::log_failures));
    if let Some(cors) = middleware::cors_layer(&config.cors_allowed_origins) {
        router = router.layer(cors);
    }
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(middleware::request_span)
                    // Failures are logged once, with their cause, by `log_failures`.
                    .on_failure(()),
            )
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(SetResponseHeaderLayer::overriding(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            )),
    )
}
