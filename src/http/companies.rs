//! `/v1/companies`: the list, one company, and writes.

use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{JsonBody, RefPath, Writer, if_match};
use super::list_cache::conditional_list;
use super::openapi::schemas::{IdempotencyParam, IfMatchParam, RefParam, page};
use super::{AppState, idempotency, respond};
use crate::error::ApiError;
use crate::model::list::companies::{COMPANY_LIST_PARAMS, CompanyListParams};
use crate::model::list::params::QueryParams;
use crate::model::{Company, CompanyFilter, CompanyInput, NewCompany, ResourceKind};
use crate::repo;

const KIND: ResourceKind = ResourceKind::Company;

page!(CompanyPage, Company, "A page of companies.");

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, patch, delete))
}

/// `GET /v1/companies`: filtered, by name, keyset-paged.
#[utoipa::path(get, path = "/v1/companies", tag = "companies", params(CompanyListParams),
    responses((status = 200, description = "A page, ordered by name.", body = CompanyPage,
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
        respond::page(&app, &headers, &uri, &page)
    })
    .await
}

/// `GET /v1/companies/{ref}`.
#[utoipa::path(get, path = "/v1/companies/{ref}", tag = "companies", params(RefParam),
    responses((status = 200, description = "The company.", body = Company, headers(("ETag" = String), ("Last-Modified" = String))),
        (status = 304, description = "Unchanged.")))]
async fn get_one(
    State(app): State<AppState>,
    path: RefPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let reference = path.parse(KIND)?;
    let company = repo::companies::find(&app.db, &reference)
        .await?
        .ok_or_else(|| ApiError::not_found(KIND, &path.0))?;
    respond::resource(&headers, &company)
}

/// `POST /v1/companies`: 201 with `Location` and `ETag`; a name whose slug another
/// company holds is a 409 naming it.
#[utoipa::path(post, path = "/v1/companies", tag = "companies", params(IdempotencyParam),
    request_body(content = CompanyInput, content_type = "application/json"),
    responses((status = 201, description = "Created.", body = Company, headers(("Location" = String), ("ETag" = String)))))]
async fn create(
    State(app): State<AppState>,
    Writer(actor): Writer,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let new = NewCompany::from_json(body.clone())?;
    idempotency::create(&app, &actor.clone(), &headers, KIND, &body, move |conn| {
        Box::pin(async move {
            let company = repo::companies::insert(conn, &actor, new).await?;
            respond::stored(StatusCode::CREATED, &company)
        })
    })
    .await
}

/// `PATCH /v1/companies/{ref}`: JSON Merge Patch, honouring `If-Match`.
#[utoipa::path(patch, path = "/v1/companies/{ref}", tag = "companies", params(RefParam, IfMatchParam),
    responses((status = 200, description = "Changed.", body = Company, headers(("ETag" = String)))))]
async fn patch(
    State(app): State<AppState>,
    path: RefPath,
    Writer(actor): Writer,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let reference = path.parse(KIND)?;
    let company =
        repo::companies::patch(&app.db, &actor, reference, if_match(&headers), body).await?;
    respond::written(StatusCode::OK, &company)
}

/// `DELETE /v1/companies/{ref}`: 204, honouring `If-Match`.
#[utoipa::path(delete, path = "/v1/companies/{ref}", tag = "companies", params(RefParam, IfMatchParam),
    responses((status = 204, description = "Deleted.")))]
async fn delete(
    State(app): State<AppState>,
    path: RefPath,
    Writer(actor): Writer,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let reference = path.parse(KIND)?;
    repo::companies::delete(&app.db, &actor, reference, if_match(&headers)).await?;
    Ok(StatusCode::NO_CONTENT)
}
