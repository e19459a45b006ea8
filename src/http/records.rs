//! What reading one record and writing records looks like over HTTP, once for every
//! resource: each resource's handlers (which carry their own OpenAPI annotations)
//! call these with the resource's [`Table`].

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::extract::{RefPath, if_match};
use super::{AppState, idempotency, respond};
use crate::error::ApiError;
use crate::repo::audit::Actor;
use crate::repo::records::{self, Table};

/// `GET {collection}/{ref}`: the record with its `ETag` and `Last-Modified`, or a 304.
pub async fn get_one<T: Table>(
    app: &AppState,
    path: &RefPath,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let reference = path.parse(T::KIND)?;
    let reads = app.reads(headers);
    // A lookup by id or slug has one right plan.
    let record = T::find(reads.fixed, &reference)
        .await?
        .ok_or_else(|| ApiError::not_found(T::KIND, &path.0))?;
    respond::resource(headers, &record)
}

/// `POST {collection}`: 201 with `Location` and `ETag`, honouring `Idempotency-Key`.
pub async fn create<T: Table>(
    app: &AppState,
    actor: Actor,
    headers: &HeaderMap,
    body: Value,
) -> Result<Response, ApiError>
where
    T::New: 'static,
{
    let new = T::parse(body.clone())?;
    let response = idempotency::create(app, &actor.clone(), headers, T::KIND, &body, move |conn| {
        Box::pin(async move {
            let record = records::create::<T>(conn, &actor, new).await?;
            respond::stored(StatusCode::CREATED, &record)
        })
    })
    .await?;
    app.wrote();
    Ok(response)
}

/// `PATCH {collection}/{ref}`: a JSON Merge Patch, honouring `If-Match`.
pub async fn patch<T: Table>(
    app: &AppState,
    path: &RefPath,
    actor: Actor,
    headers: &HeaderMap,
    body: Value,
) -> Result<Response, ApiError> {
    let reference = path.parse(T::KIND)?;
    let record = records::patch::<T>(&app.db, &actor, reference, if_match(headers), body).await?;
    // Every write, of any resource: a renamed company or deal rewrites its events.
    app.wrote();
    respond::written(StatusCode::OK, &record)
}

/// `DELETE {collection}/{ref}`: 204, honouring `If-Match`.
pub async fn delete<T: Table>(
    app: &AppState,
    path: &RefPath,
    actor: Actor,
    headers: &HeaderMap,
) -> Result<StatusCode, ApiError> {
    let reference = path.parse(T::KIND)?;
    records::delete::<T>(&app.db, &actor, reference, if_match(headers)).await?;
    app.wrote();
    Ok(StatusCode::NO_CONTENT)
}
