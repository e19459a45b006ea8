//! `/v1/partnerships` and `/v1/companies/{ref}/partnerships`: the deals.

use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{JsonBody, RefPath, Writer};
use super::list_cache::conditional_list_on;
use super::openapi::schemas::{IdempotencyParam, IfMatchParam, RefParam, page};
use super::{AppState, records, resolve, respond};
use crate::error::ApiError;
use crate::model::ListScope;
use crate::model::list::params::QueryParams;
use crate::model::list::partnerships::{
    PARTNERSHIP_LIST_PARAMS, PartnershipFilter, PartnershipListParams,
};
use crate::model::{Partnership, PartnershipInput, ResourceKind};
use crate::repo;
use crate::repo::partnerships::Partnerships;

page!(PartnershipPage, Partnership, "A page of deals.");

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, patch, delete))
        .routes(routes!(list_for_company))
}

/// `GET /v1/partnerships`.
#[utoipa::path(get, path = "/v1/partnerships", tag = "partnerships", params(PartnershipListParams),
    responses((status = 200, description = "A page, newest announced first.", body = PartnershipPage,
        headers(("ETag" = String), ("Link" = String))),
        (status = 304, description = "Unchanged (`If-None-Match`).")))]
async fn list(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(query.as_deref(), PARTNERSHIP_LIST_PARAMS)?;
    let filter = PartnershipFilter::from_params(&params)?;
    let reads = app.list_reads(&headers, filter.cursor.is_none());
    let scopes = ListScope::of_partnerships();
    conditional_list_on(&app, reads.db, &headers, &uri, &scopes, async {
        let company = match &filter.company {
            Some(reference) => Some(
                resolve::param_id(reads.db, ResourceKind::Company, reference, "company").await?,
            ),
            None => None,
        };
        let page = repo::partnerships::list(reads.db, &filter, company).await?;
        respond::page(&app, &headers, &uri, &page)
    })
    .await
}

/// `GET /v1/companies/{ref}/partnerships`: deals in which the company is a party.
#[utoipa::path(get, path = "/v1/companies/{ref}/partnerships", tag = "partnerships",
    params(RefParam, PartnershipListParams),
    responses((status = 200, description = "Deals in which the company is a party (`company` is not accepted here).", body = PartnershipPage),
        (status = 304, description = "Unchanged.")))]
async fn list_for_company(
    State(app): State<AppState>,
    path: RefPath,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let allowed: Vec<&str> = PARTNERSHIP_LIST_PARAMS
        .iter()
        .copied()
        .filter(|p| *p != "company")
        .collect();
    let params = QueryParams::parse(query.as_deref(), &allowed)?;
    let filter = PartnershipFilter::from_params(&params)?;
    let reads = app.list_reads(&headers, filter.cursor.is_none());
    let scopes = ListScope::of_partnerships();
    conditional_list_on(&app, reads.db, &headers, &uri, &scopes, async {
        let company = resolve::path_id(reads.db, ResourceKind::Company, &path).await?;
        let page = repo::partnerships::list(reads.db, &filter, Some(company)).await?;
        respond::page(&app, &headers, &uri, &page)
    })
    .await
}

/// `GET /v1/partnerships/{ref}`.
#[utoipa::path(get, path = "/v1/partnerships/{ref}", tag = "partnerships", params(RefParam),
    responses((status = 200, description = "The deal with its parties, tranches and timeline.", body = Partnership,
        headers(("ETag" = String), ("Last-Modified" = String))),
        (status = 304, description = "Unchanged.")))]
async fn get_one(
    State(app): State<AppState>,
    path: RefPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    records::get_one::<Partnerships>(&app, &path, &headers).await
}

/// `POST /v1/partnerships`.
#[utoipa::path(post, path = "/v1/partnerships", tag = "partnerships", params(IdempotencyParam),
    request_body(content = PartnershipInput, content_type = "application/json"),
    responses((status = 201, description = "Created.", body = Partnership, headers(("Location" = String), ("ETag" = String)))))]
async fn create(
    State(app): State<AppState>,
    Writer(actor): Writer,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    records::create::<Partnerships>(&app, actor, &headers, body).await
}

/// `PATCH /v1/partnerships/{ref}`: JSON Merge Patch, honouring `If-Match`.
#[utoipa::path(patch, path = "/v1/partnerships/{ref}", tag = "partnerships", params(RefParam, IfMatchParam),
    responses((status = 200, description = "Changed; a patch that changes nothing answers the record as it stands, at the same version.", body = Partnership, headers(("ETag" = String)))))]
async fn patch(
    State(app): State<AppState>,
    path: RefPath,
    Writer(actor): Writer,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    records::patch::<Partnerships>(&app, &path, actor, &headers, body).await
}

/// `DELETE /v1/partnerships/{ref}`: 204; its events stay.
#[utoipa::path(delete, path = "/v1/partnerships/{ref}", tag = "partnerships", params(RefParam, IfMatchParam),
    responses((status = 204, description = "Deleted with its links; its events stay.")))]
async fn delete(
    State(app): State<AppState>,
    path: RefPath,
    Writer(actor): Writer,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    records::delete::<Partnerships>(&app, &path, actor, &headers).await
}
