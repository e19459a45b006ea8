//! `/v1/tags`: tags with their usage.

use axum::Router;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;

use super::list_cache::conditional_list;
use super::respond;
use crate::error::ApiError;
use crate::model::TagFilter;
use crate::model::params::QueryParams;
use crate::repo;
use crate::state::AppState;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/tags", get(list))
}

/// `GET /v1/tags`: most used first; `prefix` narrows.
#[utoipa::path(get, path = "/v1/tags", tag = "tags", params(crate::http::openapi::TagListParams),
    responses((status = 200, description = "Tags, most used first.", body = crate::http::openapi::TagPage, headers(("ETag" = String))),
        (status = 304, description = "Unchanged.")))]
async fn list(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    conditional_list(&app, &headers, &uri, async {
        let params = QueryParams::parse(query.as_deref(), TagFilter::PARAMS)?;
        let filter = TagFilter::from_params(&params)?;
        let tags = repo::tags::list(&app.db, &filter).await?;
        let base = respond::base_url(app.config.public_url.as_deref(), &headers);
        respond::list(&headers, &uri, &base, &tags, None)
    })
    .await
}
