//! The OpenAPI 3.1 document (`/openapi.json`) and the interactive docs page (`/docs`).
//!
//! The document is generated from the router: every route is registered with
//! `routes!`, which adds its handler's `#[utoipa::path]` to the document, so a routed
//! handler cannot be missing from it. This module adds only what the routes do not
//! say: the info block, the tags, the problem schema and the conventions every
//! operation shares ([`conventions`]). The docs page's scripts and styles are
//! embedded in the binary, so it works with no internet.

mod conventions;
pub mod schemas;

use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use crate::model::list::audit::AuditedResource;
use crate::model::list::sort::EventSortParam;
use crate::model::webhook::WebhookMessage;
use schemas::Problem;

/// The parts of the document no route declares.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Industry Events API",
        description = "What happens in an industry, the companies involved and the deals that tie them \
                       together. The reference record: *Amazon completes $4 billion investment in Anthropic* \
                       (2024-03-27). Reads are public (unless the server requires a `read` token); writes \
                       need `Authorization: Bearer <token>` with the `write` scope. Every error is \
                       `application/problem+json` (RFC 9457).",
        license(name = "MIT OR Apache-2.0")
    ),
    // Types that only query parameters use are not collected from the routes.
    components(schemas(Problem, EventSortParam, AuditedResource, WebhookMessage)),
    tags(
        (name = "events", description = "What happened."),
        (name = "companies", description = "Who took part."),
        (name = "partnerships", description = "The deals between them."),
        (name = "tags", description = "Tags by use."),
        (name = "feeds", description = "Atom and JSON Feed for feed readers."),
        (name = "audit", description = "Who changed what."),
        (name = "webhooks", description = "Signed HTTP POSTs to your endpoint when records change \
            (admin scope). Each message is `{type, timestamp, data}` (schema `WebhookMessage`), sent as \
            `application/json` with the Standard Webhooks headers `webhook-id` (the same on every \
            attempt), `webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256 of \
            \"<id>.<timestamp>.<body>\">`, space-separated during a secret rotation). 2xx is success; \
            anything else is retried on `WEBHOOK_RETRY_SCHEDULE`; 410 disables the subscription."),
        (name = "operations", description = "Health, readiness, metrics, this document.")
    )
)]
struct ApiDoc;

/// The document for a set of routes: theirs, with the shared parts and conventions.
pub fn document_of(routes: OpenApiRouter<AppState>) -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    document.merge(routes.into_openapi());
    conventions::Conventions.modify(&mut document);
    document
}

/// The service's document as JSON, built once.
pub fn document() -> &'static [u8] {
    static JSON: OnceLock<Vec<u8>> = OnceLock::new();
    JSON.get_or_init(|| {
        document_of(super::documented_routes())
            .to_json()
            .map(String::into_bytes)
            .unwrap_or_default()
    })
}

/// `GET /openapi.json`: the OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json", body = Object))
)]
async fn openapi_json() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        document(),
    )
        .into_response()
}

/// The document's own route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// `/docs`: Swagger UI, its scripts and styles embedded in the binary.
pub fn docs() -> Router {
    swagger_ui_dist::generate_routes(swagger_ui_dist::ApiDefinition {
        uri_prefix: "/docs",
        api_definition: swagger_ui_dist::OpenApiSource::Uri("/openapi.json"),
        title: Some("Industry Events API"),
    })
}
