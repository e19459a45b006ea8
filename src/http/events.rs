//! `/v1/events`: the list, one event, and writes.

use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::extract::{JsonBody, RefPath, Writer};
use super::list_cache::{conditional_list, request_key};
use super::openapi::schemas::{IdempotencyParam, IfMatchParam, RefParam, page};
use super::{AppState, records, resolve, respond};
use crate::error::ApiError;
use crate::model::list::events::{EVENT_LIST_PARAMS, EventListParams};
use crate::model::list::params::QueryParams;
use crate::model::{
    Event, EventFilter, EventInput, EventListItem, EventSort, ListScope, ResourceKind,
};
use crate::repo;
use crate::repo::events::Events;

/// Where the next incremental poll should start: pass it as `updated_since`.
pub const NEXT_UPDATED_SINCE: HeaderName = HeaderName::from_static("next-updated-since");

page!(
    EventPage,
    EventListItem,
    "A page of events (with tombstones for `updated_since`)."
);

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, patch, delete))
        .routes(routes!(list_for_company))
}

/// `GET /v1/events`: filtered, sorted, keyset-paged.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventListParams),
    responses(
        (status = 200, description = "A page; `Link: rel=\"next\"` when there is a next page.", body = EventPage,
         headers(("ETag" = String, description = "From the page's content."), ("Link" = String, description = "The next page."), ("Next-Updated-Since" = String, description = "Pass as `updated_since` in the next poll: nothing committed out of order is missed."))),
        (status = 304, description = "Unchanged (`If-None-Match`).")))]
async fn list(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(query.as_deref(), EVENT_LIST_PARAMS)?;
    let filter = EventFilter::from_params(&params)?;
    if filter.role.is_some() && filter.companies.is_empty() {
        return Err(ApiError::bad_param(
            "role",
            "needs `company`: the role a company took part in",
        ));
    }
    let scopes = ListScope::of_events(&filter);
    conditional_list(
        &app,
        &headers,
        &uri,
        &scopes,
        list_page(&app, &filter, &scopes, Vec::new(), &uri, &headers),
    )
    .await
}

/// `GET /v1/companies/{ref}/events`: the company's events; every event filter applies.
#[utoipa::path(get, path = "/v1/companies/{ref}/events", tag = "events",
    params(RefParam, EventListParams),
    responses((status = 200, description = "The company's events.", body = EventPage),
        (status = 304, description = "Unchanged (`If-None-Match`).")))]
async fn list_for_company(
    State(app): State<AppState>,
    path: RefPath,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(query.as_deref(), EVENT_LIST_PARAMS)?;
    let filter = EventFilter::from_params(&params)?;
    // The path names a company: renaming it can make the path stop resolving.
    let mut scopes = ListScope::of_events(&filter);
    scopes.push(ListScope::Companies);
    conditional_list(&app, &headers, &uri, &scopes, async {
        let company = resolve::path_id(&app, ResourceKind::Company, &path).await?;
        list_page(&app, &filter, &scopes, vec![company], &uri, &headers).await
    })
    .await
}

/// Resolves the filter's companies (an unknown one is a 400 naming `company`), then
/// answers one page.
async fn list_page(
    app: &AppState,
    filter: &EventFilter,
    scopes: &[ListScope],
    mut company_ids: Vec<Uuid>,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    for reference in &filter.companies {
        company_ids
            .push(resolve::param_id(app, ResourceKind::Company, reference, "company").await?);
    }
    // Before the page's snapshot is taken: see `repo::watermark::compute`.
    let watermark = app.watermarks.get(&app.db).await?;
    let page = if filter.sort == EventSort::Relevance && filter.updated_since.is_none() {
        let ranking = app
            .rankings
            .get_or_rank(&app.db, request_key(uri), scopes, || {
                repo::events::rank(
                    &app.db,
                    filter,
                    &company_ids,
                    app.config.search_rank_candidates,
                )
            })
            .await?;
        repo::events::ranked_page(&app.db, filter, &ranking).await?
    } else {
        repo::events::list(&app.db, &app.fixed_plans, filter, &company_ids).await?
    };
    let mut response = respond::page(app, headers, uri, &page)?;
    if response.status() != StatusCode::OK {
        return Ok(response);
    }
    // Outside the body (and so the ETag): it moves with time even when the list does not.
    // One microsecond earlier because `updated_since` is exclusive.
    let next_since = (watermark - chrono::Duration::microseconds(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    if let Ok(value) = HeaderValue::from_str(&next_since) {
        response.headers_mut().insert(NEXT_UPDATED_SINCE, value);
    }
    Ok(response)
}

/// `GET /v1/events/{ref}`.
#[utoipa::path(get, path = "/v1/events/{ref}", tag = "events", params(RefParam),
    responses((status = 200, description = "The event.", body = Event,
        headers(("ETag" = String, description = "From its version."), ("Last-Modified" = String))),
        (status = 304, description = "Unchanged (`If-None-Match` / `If-Modified-Since`).")))]
async fn get_one(
    State(app): State<AppState>,
    path: RefPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    records::get_one::<Events>(&app, &path, &headers).await
}

/// `POST /v1/events`: 201 with `Location` and `ETag`.
#[utoipa::path(post, path = "/v1/events", tag = "events", params(IdempotencyParam),
    request_body(content = EventInput, content_type = "application/json"),
    responses((status = 201, description = "Created.", body = Event,
        headers(("Location" = String), ("ETag" = String)))))]
async fn create(
    State(app): State<AppState>,
    Writer(actor): Writer,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    records::create::<Events>(&app, actor, &headers, body).await
}

/// `PATCH /v1/events/{ref}`: JSON Merge Patch, honouring `If-Match`.
#[utoipa::path(patch, path = "/v1/events/{ref}", tag = "events", params(RefParam, IfMatchParam),
    responses((status = 200, description = "Changed.", body = Event, headers(("ETag" = String)))))]
async fn patch(
    State(app): State<AppState>,
    path: RefPath,
    Writer(actor): Writer,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    records::patch::<Events>(&app, &path, actor, &headers, body).await
}

/// `DELETE /v1/events/{ref}`: 204, honouring `If-Match`.
#[utoipa::path(delete, path = "/v1/events/{ref}", tag = "events", params(RefParam, IfMatchParam),
    responses((status = 204, description = "Deleted; `updated_since` polls see a tombstone.")))]
async fn delete(
    State(app): State<AppState>,
    path: RefPath,
    Writer(actor): Writer,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    records::delete::<Events>(&app, &path, actor, &headers).await
}
