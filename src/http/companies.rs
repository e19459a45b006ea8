//! `/v1/companies`: the list, one company, and writes.

use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{JsonBody, RefPath, Writer};
use super::list_cache::conditional_list_on;
use super::openapi::schemas::{IdempotencyParam, IfMatchParam, RefParam, page};
use super::{AppState, records, respond};
use crate::error::ApiError;
use crate::model::ListScope;
use crate::model::list::companies::{
    COMPANY_LIST_PARAMS, CompanyFilterParams, CompanyPagingParams,
};
use crate::model::list::params::QueryParams;
use crate::model::{Company, CompanyFilter, CompanyInput};
use crate::repo;
use crate::repo::companies::Companies;

page!(CompanyPage, Company, "A page of companies.");

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, patch, delete))
        .routes(routes!(super::export::export_companies))
        .routes(routes!(super::import::import_companies))
}

/// `GET /v1/companies`: filtered, by name, keyset-paged.
#[utoipa::path(get, path = "/v1/companies", tag = "companies", params(CompanyFilterParams, CompanyPagingParams),
    responses((status = 200, description = "A page, ordered by name.", body = CompanyPage,
        headers(("ETag" = String), ("Link" = String))),
        (status = 304, description = "Unchanged (`If-None-Match`).")))]
async fn list(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(query.as_deref(), COMPANY_LIST_PARAMS)?;
    let filter = CompanyFilter::from_params(&params)?;
    let reads = app.list_reads(&headers, filter.cursor.is_none());
    conditional_list_on(
        &app,
        reads.db,
        &headers,
        &uri,
        &[ListScope::Companies],
        async {
            let page = repo::companies::list(reads.db, &filter).await?;
            respond::page(&app, &headers, &uri, &page)
        },
    )
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
    records::get_one::<Companies>(&app, &path, &headers).await
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
    records::create::<Companies>(&app, actor, &headers, body).await
}

/// `PATCH /v1/companies/{ref}`: JSON Merge Patch, honouring `If-Match`.
#[utoipa::path(patch, path = "/v1/companies/{ref}", tag = "companies", params(RefParam, IfMatchParam),
    responses((status = 200, description = "Changed; a patch that changes nothing answers the record as it stands, at the same version.", body = Company, headers(("ETag" = String)))))]
async fn patch(
    State(app): State<AppState>,
    path: RefPath,
    Writer(actor): Writer,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    records::patch::<Companies>(&app, &path, actor, &headers, body).await
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
    records::delete::<Companies>(&app, &path, actor, &headers).await
}
