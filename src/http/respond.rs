//! Building responses: JSON with entity tags, 304s, and paged lists with `Link`.

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::AppState;
use super::extract::if_none_match;
use crate::error::ApiError;
use crate::model::list::PageCursor;
use crate::model::{Page, Stored, etag};
use crate::repo::idempotency::StoredAnswer;

/// Serialises `value` to a JSON body.
pub fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("serialising a response")))
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn set(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// One resource with its `ETag` and `Last-Modified`, or a 304 when the client's copy
/// is current (`If-None-Match`, else `If-Modified-Since`).
pub fn resource<T: Stored + Serialize>(
    request: &HeaderMap,
    value: &T,
) -> Result<Response, ApiError> {
    let etag = etag(value.id(), value.version());
    let updated_at = value.updated_at();
    let last_modified = updated_at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let mut response = if is_fresh(request, &etag, updated_at) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        json_response(StatusCode::OK, to_json(value)?)
    };
    let headers = response.headers_mut();
    set(headers, header::ETAG, &etag);
    set(headers, header::LAST_MODIFIED, &last_modified);
    Ok(response)
}

/// Whether the client's copy is current: `If-None-Match` matches `etag`, or, without
/// it, `If-Modified-Since` is no older than `updated_at` (to the second).
pub fn is_fresh(request: &HeaderMap, etag: &str, updated_at: DateTime<Utc>) -> bool {
    if request.contains_key(header::IF_NONE_MATCH) {
        return if_none_match(request, etag);
    }
    request
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
        .is_some_and(|since| updated_at.timestamp() <= since.timestamp())
}

/// The next page of a list: the cursor as the client gets it, and the part of it that
/// says where the page ends (see [`PageCursor::content_key`]).
pub struct NextPage {
    /// What the client passes back.
    pub cursor: String,
    /// What the list's `ETag` covers.
    pub key: String,
}

/// A list page: `{data, next_cursor}` with an `ETag` from its content,
/// `Cache-Control: no-cache`, a 304 when the client's copy is current, and
/// `Link: rel="next"` when there is a next page. The `ETag` covers the items and where
/// the next page starts, not the snapshot a cursor carries, which differs between two
/// reads of the same content.
fn list<T: Serialize>(
    request: &HeaderMap,
    uri: &Uri,
    base_url: &str,
    items: &[T],
    next: Option<NextPage>,
) -> Result<Response, ApiError> {
    let data = to_json(&items)?;
    let cursor = to_json(&next.as_ref().map(|n| n.cursor.as_str()))?;
    let mut body = Vec::with_capacity(data.len() + cursor.len() + 24);
    body.extend_from_slice(b"{\"data\":");
    body.extend_from_slice(&data);
    body.extend_from_slice(b",\"next_cursor\":");
    body.extend_from_slice(&cursor);
    body.push(b'}');
    // The items' hash, then that with the next page's key.
    let items_hash = twox_hash::XxHash3_128::oneshot(&data).to_le_bytes();
    let key = next.as_ref().map_or(&b"null"[..], |n| n.key.as_bytes());
    let etag = content_etag(&[&items_hash[..], key].concat());
    if if_none_match(request, &etag) {
        return Ok(list_not_modified(&etag));
    }
    let mut response = json_response(StatusCode::OK, body);
    let headers = response.headers_mut();
    set(headers, header::ETAG, &etag);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(next) = next {
        let link = format!("<{}>; rel=\"next\"", next_url(base_url, uri, &next.cursor));
        set(headers, header::LINK, &link);
    }
    Ok(response)
}

/// A body whose `ETag` is a hash of its bytes (as a list's), with `Cache-Control:
/// no-cache`, or a 304 when the client's copy is current.
pub fn content_tagged(request: &HeaderMap, content_type: &'static str, body: Vec<u8>) -> Response {
    let etag = content_etag(&body);
    if if_none_match(request, &etag) {
        return list_not_modified(&etag);
    }
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response();
    let headers = response.headers_mut();
    set(headers, header::ETAG, &etag);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The weak `ETag` of a body: a fast 128-bit hash of its bytes. Not a security
/// boundary (a client could only fool its own cache); collisions between two versions
/// of one document are out of reach.
pub fn content_etag(body: &[u8]) -> String {
    format!("W/\"{:032x}\"", twox_hash::XxHash3_128::oneshot(body))
}

/// A page of a list, answered as every list answers: `{data, next_cursor}` with its
/// `ETag`, and `Link: rel="next"` built on the public URL.
pub fn page<T: Serialize, C: PageCursor>(
    app: &AppState,
    request: &HeaderMap,
    uri: &Uri,
    page: &Page<T, C>,
) -> Result<Response, ApiError> {
    let base = base_url(app.config.public_url.as_deref(), request);
    let next = page.next.as_ref().map(|c| NextPage {
        cursor: c.encode(),
        key: c.content_key(),
    });
    list(request, uri, &base, &page.items, next)
}

/// A list that is always one page (`next_cursor` is null).
pub fn whole<T: Serialize>(
    app: &AppState,
    request: &HeaderMap,
    uri: &Uri,
    items: &[T],
) -> Result<Response, ApiError> {
    let base = base_url(app.config.public_url.as_deref(), request);
    list(request, uri, &base, items, None)
}

/// The 304 of a list: its `ETag` and `Cache-Control`, the headers a 200 would repeat
/// (RFC 9110, 15.4.5); links and poll watermarks are left to the 200.
pub fn list_not_modified(etag: &str) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    let headers = response.headers_mut();
    set(headers, header::ETAG, etag);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The request's URL with `cursor` replaced by the next page's.
fn next_url(base_url: &str, uri: &Uri, cursor: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        if name != "cursor" {
            query.append_pair(&name, &value);
        }
    }
    query.append_pair("cursor", cursor);
    format!(
        "{}{}?{}",
        base_url.trim_end_matches('/'),
        uri.path(),
        query.finish()
    )
}

/// The base URL links are built on: the configured public URL, else the `Host` the
/// client used.
pub fn base_url(configured: Option<&str>, request: &HeaderMap) -> String {
    if let Some(url) = configured {
        return url.to_owned();
    }
    let host = request
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// The answer to a write, as it is sent and stored for `Idempotency-Key` replays: the
/// resource as JSON with its `ETag`, and for a 201 its `Location`.
pub fn stored<T: Stored + Serialize>(
    status: StatusCode,
    value: &T,
) -> Result<StoredAnswer, ApiError> {
    Ok(StoredAnswer {
        status: status.as_u16(),
        body: to_json(value)?,
        location: (status == StatusCode::CREATED)
            .then(|| format!("{}/{}", T::KIND.collection(), value.id())),
        etag: Some(etag(value.id(), value.version())),
    })
}

/// Sends a stored answer; `replayed` marks a repeat of an earlier one.
pub fn replay(answer: StoredAnswer, replayed: bool) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = json_response(status, answer.body);
    let headers = response.headers_mut();
    if let Some(etag) = &answer.etag {
        set(headers, header::ETAG, etag);
    }
    if let Some(location) = &answer.location {
        set(headers, header::LOCATION, location);
    }
    if replayed {
        headers.insert(
            header::HeaderName::from_static("idempotent-replayed"),
            HeaderValue::from_static("true"),
        );
    }
    response
}

/// The answer to a write that needs no idempotency record (PATCH).
pub fn written<T: Stored + Serialize>(status: StatusCode, value: &T) -> Result<Response, ApiError> {
    Ok(replay(stored(status, value)?, false))
}
