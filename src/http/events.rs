//! `/v1/events`: the list, one event, and writes.

use axum::Router;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::extract::{JsonBody, RefPath, Writer, if_match};
use super::respond;
use crate::error::ApiError;
use crate::model::filter::EVENT_LIST_PARAMS;
use crate::model::params::QueryParams;
use crate::model::{Event, EventFilter, NewEvent, etag};
use crate::repo;
use crate::state::AppState;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/events", get(list).post(create))
        .route("/v1/events/{ref}", get(get_one).patch(patch).delete(delete))
}

/// `GET /v1/events`: filtered, sorted, keyset-paged.
async fn list(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(query.as_deref(), EVENT_LIST_PARAMS)?;
    let filter = EventFilter::from_params(&params)?;
    let page = repo::events::list(&app.db, &filter).await?;
    let base = respond::base_url(app.config.public_url.as_deref(), &headers);
    respond::list(
        &headers,
        &uri,
        &base,
        &page.items,
        page.next.map(|c| c.encode()),
    )
}

/// `GET /v1/events/{ref}`.
async fn get_one(
    State(app): State<AppState>,
    path: RefPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let reference = path.parse("event")?;
    let event = repo::events::find(&app.db, &reference)
        .await?
        .ok_or_else(|| not_found(&path))?;
    respond::resource(
        &headers,
        StatusCode::OK,
        &event,
        &event_etag(&event),
        event.updated_at,
    )
}

/// `POST /v1/events`: 201 with `Location` and `ETag`.
async fn create(
    State(app): State<AppState>,
    _writer: Writer,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let new = NewEvent::from_json(body)?;
    let event = repo::events::insert(&app.db, new).await?;
    written(StatusCode::CREATED, &event)
}

/// `PATCH /v1/events/{ref}`: JSON Merge Patch, honouring `If-Match`.
async fn patch(
    State(app): State<AppState>,
    path: RefPath,
    _writer: Writer,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let reference = path.parse("event")?;
    let precondition = if_match(&headers);
    let event = repo::events::patch(&app.db, reference, precondition, body).await?;
    written(StatusCode::OK, &event)
}

/// `DELETE /v1/events/{ref}`: 204, honouring `If-Match`.
async fn delete(
    State(app): State<AppState>,
    path: RefPath,
    _writer: Writer,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let reference = path.parse("event")?;
    let precondition = if_match(&headers);
    repo::events::delete(&app.db, reference, precondition).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn event_etag(event: &Event) -> String {
    etag(event.id, event.version)
}

/// The answer to a write: the event, its `ETag`, and (for 201) its `Location`.
fn written(status: StatusCode, event: &Event) -> Result<Response, ApiError> {
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        respond::to_json(event)?,
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(tag) = HeaderValue::from_str(&event_etag(event)) {
        headers.insert(header::ETAG, tag);
    }
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&format!("/v1/events/{}", event.id))
    {
        headers.insert(header::LOCATION, location);
    }
    Ok(response)
}

fn not_found(path: &RefPath) -> ApiError {
    ApiError::NotFound {
        kind: "event",
        reference: path.0.clone(),
    }
}
