//! `/v1/events`: the list, one event, and writes.

use std::time::Duration;

use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::consistency::ReadPools;
use super::extract::{JsonBody, RefPath, Writer};
use super::list_cache::{conditional_list_on, request_key};
use super::openapi::schemas::{IdempotencyParam, IfMatchParam, Problem, RefParam, page};
use super::{AppState, records, resolve, respond};
use crate::error::ApiError;
use crate::model::list::events::{
    EVENT_LIST_PARAMS, EventFilterParams, EventPagingParams, UpdatedSince,
};
use crate::model::list::params::QueryParams;
use crate::model::position::Position;
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
        .routes(routes!(super::event_stream::stream))
        .routes(routes!(super::export::export_events))
        .routes(routes!(super::import::import_events))
        .routes(routes!(super::timeline::events_timeline))
        .routes(routes!(super::timeline::events_timeline_svg))
}

/// `GET /v1/events`: filtered, sorted, keyset-paged.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventFilterParams, EventPagingParams),
    responses(
        (status = 200, description = "A page; `Link: rel=\"next\"` when there is a next page.", body = EventPage,
         headers(("ETag" = String, description = "From the page's content."), ("Link" = String, description = "The next page."), ("Next-Updated-Since" = String, description = "A position: pass it as `updated_since` (or a stream's `since`) to get exactly the changes this page did not show, none twice, whatever order transactions commit in. Every page of one walk gives the same."))),
        (status = 304, description = "Unchanged (`If-None-Match`)."),
        (status = 410, description = "`updated_since` is older than the tombstone horizon (`TOMBSTONE_RETENTION_DAYS`): reload without it (`resync-required`).", body = Problem, content_type = "application/problem+json")))]
async fn list(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(query.as_deref(), EVENT_LIST_PARAMS)?;
    let filter = EventFilter::from_params(&params)?;
    filter.check_role()?;
    let wait = long_poll_wait(&params, &filter)?;
    let scopes = ListScope::of_events(&filter);
    let reads = list_pools(&app, &headers, &filter, wait);
    let page = list_page(
        &app,
        &reads,
        &filter,
        &scopes,
        Vec::new(),
        &uri,
        &headers,
        wait,
    );
    if wait.is_some() {
        // A long poll waits for a change; a remembered ETag would answer at once.
        return page.await;
    }
    conditional_list_on(&app, reads.db, &headers, &uri, &scopes, page).await
}

/// The longest `wait` a long poll may ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// The long-poll wait a request asks for (`wait=1..60`, with `updated_since`).
fn long_poll_wait(
    params: &QueryParams,
    filter: &EventFilter,
) -> Result<Option<Duration>, ApiError> {
    let Some(text) = params.single("wait")? else {
        return Ok(None);
    };
    let seconds: u64 = text
        .parse()
        .ok()
        .filter(|s| (1..=MAX_WAIT.as_secs()).contains(s))
        .ok_or_else(|| ApiError::bad_param("wait", "must be a whole number of seconds, 1 to 60"))?;
    if filter.updated_since.is_none() {
        return Err(ApiError::bad_param(
            "wait",
            "needs `updated_since`: a long poll waits for changes after a position",
        ));
    }
    Ok(Some(Duration::from_secs(seconds)))
}

/// How long a request to `uri` may wait as a long poll, on top of the request timeout
/// (zero for anything else); a malformed `wait` is refused by the handler.
pub fn requested_wait(uri: &Uri) -> Duration {
    if uri.path() != "/v1/events" && !uri.path().ends_with("/events") {
        return Duration::ZERO;
    }
    uri.query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|pair| pair.strip_prefix("wait="))
        .filter_map(|v| v.parse::<u64>().ok())
        .map(|s| Duration::from_secs(s).min(MAX_WAIT))
        .max()
        .unwrap_or(Duration::ZERO)
}

/// `GET /v1/companies/{ref}/events`: the company's events; every event filter applies.
#[utoipa::path(get, path = "/v1/companies/{ref}/events", tag = "events",
    params(RefParam, EventFilterParams, EventPagingParams),
    responses((status = 200, description = "The company's events.", body = EventPage),
        (status = 304, description = "Unchanged (`If-None-Match`)."),
        (status = 410, description = "`updated_since` is older than the tombstone horizon (`TOMBSTONE_RETENTION_DAYS`): reload without it (`resync-required`).", body = Problem, content_type = "application/problem+json")))]
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
    let wait = long_poll_wait(&params, &filter)?;
    let reads = list_pools(&app, &headers, &filter, wait);
    let page = async {
        let company = resolve::path_id(reads.db, ResourceKind::Company, &path).await?;
        list_page(
            &app,
            &reads,
            &filter,
            &scopes,
            vec![company],
            &uri,
            &headers,
            wait,
        )
        .await
    };
    if wait.is_some() {
        return page.await;
    }
    conditional_list_on(&app, reads.db, &headers, &uri, &scopes, page).await
}

/// The pools an event list reads: a replica that has replayed what the list's
/// position or walk needs (see [`EventFilter::freshness`]), else the primary. A long
/// poll waits on the primary: it is woken by the primary's commits, which a replica
/// may not have replayed when it looks again.
fn list_pools<'a>(
    app: &'a AppState,
    headers: &HeaderMap,
    filter: &EventFilter,
    wait: Option<Duration>,
) -> ReadPools<'a> {
    match wait {
        Some(_) => app.primary_reads(),
        None => app.fresh_reads(headers, &filter.freshness()),
    }
}

/// Resolves the filter's companies (an unknown one is a 400 naming `company`), then
/// answers one page; a long poll (`wait`) whose page is empty waits for a change first.
#[allow(clippy::too_many_arguments)]
async fn list_page(
    app: &AppState,
    reads: &ReadPools<'_>,
    filter: &EventFilter,
    scopes: &[ListScope],
    mut company_ids: Vec<Uuid>,
    uri: &Uri,
    headers: &HeaderMap,
    wait: Option<Duration>,
) -> Result<Response, ApiError> {
    company_ids.extend(resolve::company_params(reads.db, &filter.companies).await?);
    let origin = app.live.origin().await?;
    if let Some(UpdatedSince::Position(since)) = &filter.updated_since
        && since.origin != origin
    {
        return Err(ApiError::bad_param(
            "updated_since",
            "is a position from another database: reload the list without it",
        ));
    }
    if let Some(since) = &filter.updated_since {
        app.horizon.check(since)?;
    }
    let deadline = wait.map(|w| tokio::time::Instant::now() + w);
    // Subscribed before the first read, so a change committed after it wakes the wait.
    let mut changes = wait.map(|_| app.live.watch_changes());
    let listed = loop {
        let listed = read_page(app, reads, filter, scopes, &company_ids, uri).await?;
        let (Some(deadline), Some(changes)) = (deadline, changes.as_mut()) else {
            break listed;
        };
        if !listed.page.items.is_empty() || tokio::time::Instant::now() >= deadline {
            break listed;
        }
        tokio::select! {
            _ = changes.changed() => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
    };
    let mut response = respond::page(app, headers, uri, &listed.page)?;
    if response.status() != StatusCode::OK {
        return Ok(response);
    }
    // Outside the body (and so the ETag): it moves even when the list does not.
    let next_since = Position::at(origin, listed.snapshot).to_string();
    if let Ok(value) = HeaderValue::from_str(&next_since) {
        response.headers_mut().insert(NEXT_UPDATED_SINCE, value);
    }
    Ok(response)
}

/// One read of the page `filter` asks for, with its snapshot (the relevance order
/// from the ranking cache).
pub(super) async fn read_page(
    app: &AppState,
    reads: &ReadPools<'_>,
    filter: &EventFilter,
    scopes: &[ListScope],
    company_ids: &[Uuid],
    uri: &Uri,
) -> Result<repo::events::Listed, ApiError> {
    if filter.sort == EventSort::Relevance && filter.updated_since.is_none() {
        let ranking = app
            .rankings
            .get_or_rank(reads.db, request_key(uri), scopes, || {
                repo::events::rank(
                    reads.db,
                    filter,
                    company_ids,
                    app.config.search_rank_candidates,
                )
            })
            .await?;
        repo::events::ranked_page(reads.db, filter, &ranking).await
    } else {
        repo::events::list(reads.db, reads.fixed, filter, company_ids).await
    }
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
    responses((status = 200, description = "Changed; a patch that changes nothing answers the record as it stands, at the same version.", body = Event, headers(("ETag" = String)))))]
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
