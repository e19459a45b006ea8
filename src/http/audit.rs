//! `GET /v1/audit` (admin scope) and the revisions of a record.

use axum::Router;
use axum::extract::{FromRequestParts, OriginalUri, RawQuery, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;

use super::extract::{RefPath, authorize};
use super::list_cache::conditional_list;
use super::partnerships::path_company;
use super::respond;
use crate::error::ApiError;
use crate::model::audit::AuditFilter;
use crate::model::params::QueryParams;
use crate::model::{Ref, Scope};
use crate::repo;
use crate::repo::graph::{self, Target};
use crate::state::AppState;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/audit", get(list))
        .route("/v1/events/{ref}/revisions", get(event_revisions))
        .route("/v1/companies/{ref}/revisions", get(company_revisions))
        .route(
            "/v1/partnerships/{ref}/revisions",
            get(partnership_revisions),
        )
}

/// A request made with an `admin` token.
pub struct AdminOnly;

impl FromRequestParts<AppState> for AdminOnly {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authorize(&parts.headers, state, Scope::Admin)
            .await
            .map(|_| Self)
    }
}

/// `GET /v1/audit`: every write, newest first; filters `resource`, `token`, `since`.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(crate::http::openapi::AuditListParams),
    responses((status = 200, description = "Every write, newest first (admin scope).", body = crate::http::openapi::AuditPage),
        (status = 304, description = "Unchanged.")))]
async fn list(
    State(app): State<AppState>,
    _admin: AdminOnly,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    conditional_list(&app, &headers, &uri, async {
        let params = QueryParams::parse(query.as_deref(), AuditFilter::PARAMS)?;
        let filter = AuditFilter::from_params(&params)?;
        let page = repo::audit::list(&app.db, &filter).await?;
        let base = respond::base_url(app.config.public_url.as_deref(), &headers);
        respond::list(
            &headers,
            &uri,
            &base,
            &page.items,
            page.next.map(|c| c.encode()),
        )
    })
    .await
}

async fn revisions(
    app: &AppState,
    resource: &'static str,
    id: uuid::Uuid,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let revisions = repo::audit::revisions(&app.db, resource, id).await?;
    let base = respond::base_url(app.config.public_url.as_deref(), headers);
    respond::list(headers, uri, &base, &revisions, None)
}

/// `GET /v1/events/{ref}/revisions`: every version, newest first.
#[utoipa::path(get, path = "/v1/events/{ref}/revisions", tag = "events", params(("ref" = String, Path, description = "The id (UUID) or the slug.")),
    responses((status = 200, description = "Every version of the event, newest first.", body = crate::http::openapi::RevisionPage),
        (status = 304, description = "Unchanged.")))]
async fn event_revisions(
    State(app): State<AppState>,
    path: RefPath,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    conditional_list(&app, &headers, &uri, async {
        let reference = path.parse("event")?;
        let event = repo::events::find(&app.db, &reference)
            .await?
            .ok_or_else(|| ApiError::not_found("event", &path.0))?;
        revisions(&app, "event", event.id, &uri, &headers).await
    })
    .await
}

/// `GET /v1/companies/{ref}/revisions`.
#[utoipa::path(get, path = "/v1/companies/{ref}/revisions", tag = "companies", params(("ref" = String, Path, description = "The id (UUID) or the slug.")),
    responses((status = 200, description = "Every version of the company, newest first.", body = crate::http::openapi::RevisionPage),
        (status = 304, description = "Unchanged.")))]
async fn company_revisions(
    State(app): State<AppState>,
    path: RefPath,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    conditional_list(&app, &headers, &uri, async {
        let id = path_company(&app, &path).await?;
        revisions(&app, "company", id, &uri, &headers).await
    })
    .await
}

/// `GET /v1/partnerships/{ref}/revisions`.
#[utoipa::path(get, path = "/v1/partnerships/{ref}/revisions", tag = "partnerships", params(("ref" = String, Path, description = "The id (UUID) or the slug.")),
    responses((status = 200, description = "Every version of the partnership, newest first.", body = crate::http::openapi::RevisionPage),
        (status = 304, description = "Unchanged.")))]
async fn partnership_revisions(
    State(app): State<AppState>,
    path: RefPath,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    conditional_list(&app, &headers, &uri, async {
        let reference: Ref = path.parse("partnership")?;
        let id = graph::lookup(&app.db, Target::Partnerships, &[&reference])
            .await?
            .pop()
            .flatten()
            .ok_or_else(|| ApiError::not_found("partnership", &path.0))?;
        revisions(&app, "partnership", id, &uri, &headers).await
    })
    .await
}
