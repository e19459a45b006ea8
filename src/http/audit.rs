//! `GET /v1/audit` (admin scope): every write, newest first.

use axum::extract::{FromRequestParts, OriginalUri, RawQuery, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::authorize;
use super::list_cache::conditional_list_on;
use super::openapi::schemas::page;
use super::{AppState, respond};
use crate::error::ApiError;
use crate::model::ListScope;
use crate::model::Scope;
use crate::model::list::audit::{AuditFilter, AuditListParams};
use crate::model::list::params::QueryParams;
use crate::repo;
use crate::repo::audit::AuditEntry;

page!(AuditPage, AuditEntry, "A page of the audit trail.");

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// A request made with an `admin` token; holds the token's name.
pub struct AdminOnly(pub String);

impl FromRequestParts<AppState> for AdminOnly {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authorize(&parts.headers, state, Scope::Admin)
            .await
            .map(|principal| Self(principal.name))
    }
}

/// `GET /v1/audit`: every write, newest first; filters `resource`, `token`, `since`.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditListParams),
    responses((status = 200, description = "Every write, newest first (admin scope).", body = AuditPage),
        (status = 304, description = "Unchanged.")))]
async fn list(
    State(app): State<AppState>,
    _admin: AdminOnly,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(query.as_deref(), AuditFilter::PARAMS)?;
    let filter = AuditFilter::from_params(&params)?;
    let reads = app.list_reads(&headers, filter.cursor.is_none());
    conditional_list_on(&app, reads.db, &headers, &uri, &ListScope::all(), async {
        let page = repo::audit::list(reads.db, &filter).await?;
        respond::page(&app, &headers, &uri, &page)
    })
    .await
}
