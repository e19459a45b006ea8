//! `/v1/companies`: the list, one company, and writes.

use axum::Router;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

use super::extract::{JsonBody, RefPath, Writer, if_match};
use super::list_cache::conditional_list;
use super::{idempotency, respond};
use crate::error::ApiError;
use crate::model::company::COMPANY_LIST_PARAMS;
use crate::model::params::QueryParams;
use crate::model::{CompanyFilter, NewCompany};
use crate::repo;
use crate::state::AppState;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/companies", get(list).post(create))
        .route(
            "/v1/companies/{ref}",
            get(get_one).patch(patch).delete(delete),
        )
}

/// `GET /v1/companies`: filtered, by name, keyset-paged.
#[utoipa::path(get, path = "/v1/companies", tag = "companies", params(crate::http::openapi::CompanyListParams),
    responses((status = 200, description = "A page, ordered by name.", body = crate::http::openapi::CompanyPage,
        headers(("ETag" = String), ("Link" = String))),
        (status = 304, description = "Unchanged (`If-None-Match`).")))]
async fn list(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    conditional_list(&app, &headers, &uri, async {
        let params = QueryParams::parse(query.as_deref(), COMPANY_LIST_PARAMS)?;
        let filter = CompanyFilter::from_params(&params)?;
        let page = repo::companies::list(&app.db, &filter).await?;
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

/// `GET /v1/companies/{ref}`.
#[utoipa::path(get, path = "/v1/companies/{ref}", tag = "companies", params(("ref" = String, Path, description = "The id (UUID) or the slug.")),
    responses((status = 200, description = "The company.", body = crate::model::company::Company, headers(("ETag" = String), ("Last-Modified" = String))),
        (status = 304, description = "Unchanged.")))]
async fn get_one(
    State(app): State<AppState>,
    path: RefPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let reference = path.parse("company")?;
    let company = repo::companies::find(&app.db, &reference)
        .await?
        .ok_or_else(|| ApiError::not_found("company", &path.0))?;
    respond::resource(&headers, &company)
}

/// `POST /v1/companies`: 201 with `Location` and `ETag`.
#[utoipa::path(post, path = "/v1/companies", tag = "companies",
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body returns the first answer.")),
    request_body(content = crate::http::openapi::CompanyInput, content_type = "application/json"),
    responses((status = 201, description = "Created.", body = crate::model::company::Company, headers(("Location" = String), ("ETag" = String)))))]
async fn create(
    State(app): State<AppState>,
    Writer(actor): Writer,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let new = NewCompany::from_json(body.clone())?;
    let path = "/v1/companies";
    idempotency::create(&app, &actor.clone(), &headers, path, &body, move |conn| {
        Box::pin(async move {
            let company = repo::companies::insert(conn, &actor, new).await?;
            respond::stored(StatusCode::CREATED, &company)
        })
    })
    .await
}

/// `PATCH /v1/companies/{ref}`: JSON Merge Patch, honouring `If-Match`.
#[utoipa::path(patch, path = "/v1/companies/{ref}", tag = "companies",
    params(("ref" = String, Path, description = "The id (UUID) or the slug."), ("If-Match" = Option<String>, Header, description = "The ETag you read.")),
    responses((status = 200, description = "Changed.", body = crate::model::company::Company, headers(("ETag" = String)))))]
async fn patch(
    State(app): State<AppState>,
    path: RefPath,
    Writer(actor): Writer,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let reference = path.parse("company")?;
    let precondition = if_match(&headers);
    let company = repo::companies::patch(&app.db, &actor, reference, precondition, body).await?;
    respond::written(StatusCode::OK, &company)
}

/// `DELETE /v1/companies/{ref}`: 204, honouring `If-Match`.
#[utoipa::path(delete, path = "/v1/companies/{ref}", tag = "companies",
    params(("ref" = String, Path, description = "The id (UUID) or the slug."), ("If-Match" = Option<String>, Header, description = "The ETag you read.")),
    responses((status = 204, description = "Deleted.")))]
async fn delete(
    State(app): State<AppState>,
    path: RefPath,
    Writer(actor): Writer,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let reference = path.parse("company")?;
    let precondition = if_match(&headers);
    repo::companies::delete(&app.db, &actor, reference, precondition).await?;
    Ok(StatusCode::NO_CONTENT)
}
