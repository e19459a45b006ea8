//! `/v1/tags`: tags with their usage.

use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::list_cache::conditional_list_on;
use super::openapi::schemas::page;
use super::{AppState, respond};
use crate::error::ApiError;
use crate::model::ListScope;
use crate::model::TagFilter;
use crate::model::list::params::QueryParams;
use crate::model::list::tags::TagListParams;
use crate::repo;
use crate::repo::tags::TagUsage;

page!(
    TagPage,
    TagUsage,
    "Tags by use (one page: `next_cursor` is always null)."
);

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(super::timeline::tag_timeline))
}

/// `GET /v1/tags`: most used first; `prefix` narrows.
#[utoipa::path(get, path = "/v1/tags", tag = "tags", params(TagListParams),
    responses((status = 200, description = "Tags, most used first.", body = TagPage, headers(("ETag" = String))),
        (status = 304, description = "Unchanged.")))]
async fn list(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(query.as_deref(), TagFilter::PARAMS)?;
    let filter = TagFilter::from_params(&params)?;
    // One page, always: a replica may answer.
    let reads = app.reads(&headers);
    conditional_list_on(
        &app,
        reads.db,
        &headers,
        &uri,
        &[ListScope::Events],
        async {
            let tags = repo::tags::list(reads.db, &filter).await?;
            respond::whole(&app, &headers, &uri, &tags)
        },
    )
    .await
}
