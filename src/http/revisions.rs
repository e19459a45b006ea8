//! `GET /v1/{events,companies,partnerships}/{ref}/revisions`: every version of a
//! record, newest first, readable by id after the record is deleted (ending with its
//! `delete` entry: who deleted it, and what it was).

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::RefPath;
use super::list_cache::conditional_list_on;
use super::openapi::schemas::{RefParam, page};
use super::{AppState, resolve, respond};
use crate::error::ApiError;
use crate::model::ListScope;
use crate::model::{Ref, ResourceKind};
use crate::repo;
use crate::repo::audit::Revision;

page!(
    RevisionPage,
    Revision,
    "Every version of a record (one page)."
);

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(event_revisions))
        .routes(routes!(company_revisions))
        .routes(routes!(partnership_revisions))
}

/// The revisions of the record of `kind` the path names: by id whether or not it still
/// exists, by slug only while it does (a deleted record's slug may name another now).
async fn revisions(
    app: &AppState,
    kind: ResourceKind,
    path: &RefPath,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let reads = app.reads(headers);
    conditional_list_on(app, reads.db, headers, uri, &[ListScope::of(kind)], async {
        let id = match path.parse(kind)? {
            Ref::Id(id) => id,
            Ref::Slug(_) => resolve::path_id(reads.db, kind, path).await?,
        };
        let revisions = repo::audit::revisions(reads.db, kind, id).await?;
        if revisions.is_empty() {
            return Err(ApiError::not_found(kind, &path.0));
        }
        respond::whole(app, headers, uri, &revisions)
    })
    .await
}

/// `GET /v1/events/{ref}/revisions`: every version, newest first.
#[utoipa::path(get, path = "/v1/events/{ref}/revisions", tag = "events", params(RefParam),
    responses((status = 200, description = "Every version of the event, newest first (by id, also after it is deleted).", body = RevisionPage),
        (status = 304, description = "Unchanged.")))]
async fn event_revisions(
    State(app): State<AppState>,
    path: RefPath,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    revisions(&app, ResourceKind::Event, &path, &uri, &headers).await
}

/// `GET /v1/companies/{ref}/revisions`.
#[utoipa::path(get, path = "/v1/companies/{ref}/revisions", tag = "companies", params(RefParam),
    responses((status = 200, description = "Every version of the company, newest first (by id, also after it is deleted).", body = RevisionPage),
        (status = 304, description = "Unchanged.")))]
async fn company_revisions(
    State(app): State<AppState>,
    path: RefPath,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    revisions(&app, ResourceKind::Company, &path, &uri, &headers).await
}

/// `GET /v1/partnerships/{ref}/revisions`.
#[utoipa::path(get, path = "/v1/partnerships/{ref}/revisions", tag = "partnerships", params(RefParam),
    responses((status = 200, description = "Every version of the partnership, newest first (by id, also after it is deleted).", body = RevisionPage),
        (status = 304, description = "Unchanged.")))]
async fn partnership_revisions(
    State(app): State<AppState>,
    path: RefPath,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    revisions(&app, ResourceKind::Partnership, &path, &uri, &headers).await
}
