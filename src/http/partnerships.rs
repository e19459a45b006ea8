//! `/v1/partnerships` and `/v1/companies/{ref}/partnerships`: the deals.

use axum::Router;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use uuid::Uuid;

use super::extract::{JsonBody, RefPath, Writer, if_match};
use super::list_cache::conditional_list;
use super::{idempotency, respond};
use crate::error::ApiError;
use crate::model::Ref;
use crate::model::params::QueryParams;
use crate::model::partnership::{NewPartnership, PARTNERSHIP_LIST_PARAMS, PartnershipFilter};
use crate::repo;
use crate::repo::graph::{self, Target};
use crate::state::AppState;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/partnerships", get(list).post(create))
        .route(
            "/v1/partnerships/{ref}",
            get(get_one).patch(patch).delete(delete),
        )
        .route("/v1/companies/{ref}/partnerships", get(list_for_company))
}

/// The id of the company a list filter names; an unknown one is a 400 naming it.
pub async fn filter_company(
    app: &AppState,
    reference: &Ref,
    parameter: &str,
) -> Result<Uuid, ApiError> {
    graph::lookup(&app.db, Target::Companies, &[reference])
        .await?
        .pop()
        .flatten()
        .ok_or_else(|| {
            ApiError::bad_param(parameter, format!("no company matches `{}`", reference))
        })
}

/// The id of the company a path names; an unknown one is a 404.
pub async fn path_company(app: &AppState, path: &RefPath) -> Result<Uuid, ApiError> {
    let reference = path.parse("company")?;
    graph::lookup(&app.db, Target::Companies, &[&reference])
        .await?
        .pop()
        .flatten()
        .ok_or_else(|| ApiError::not_found("company", &path.0))
}

/// `GET /v1/partnerships`.
#[utoipa::path(get, path = "/v1/partnerships", tag = "partnerships", params(crate::http::openapi::PartnershipListParams),
    responses((status = 200, description = "A page, newest announced first.", body = crate::http::openapi::PartnershipPage,
        headers(("ETag" = String), ("Link" = String))),
        (status = 304, description = "Unchanged (`If-None-Match`).")))]
async fn list(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    conditional_list(&app, &headers, &uri, async {
        let params = QueryParams::parse(query.as_deref(), PARTNERSHIP_LIST_PARAMS)?;
        let filter = PartnershipFilter::from_params(&params)?;
        let company = match &filter.company {
            Some(reference) => Some(filter_company(&app, reference, "company").await?),
            None => None,
        };
        let page = repo::partnerships::list(&app.db, &filter, company).await?;
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

/// `GET /v1/companies/{ref}/partnerships`: deals in which the company is a party.
#[utoipa::path(get, path = "/v1/companies/{ref}/partnerships", tag = "partnerships",
    params(("ref" = String, Path, description = "The id (UUID) or the slug."), crate::http::openapi::PartnershipListParams),
    responses((status = 200, description = "Deals in which the company is a party (`company` is not accepted here).", body = crate::http::openapi::PartnershipPage),
        (status = 304, description = "Unchanged.")))]
async fn list_for_company(
    State(app): State<AppState>,
    path: RefPath,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    conditional_list(&app, &headers, &uri, async {
        let company = path_company(&app, &path).await?;
        let allowed: Vec<&str> = PARTNERSHIP_LIST_PARAMS
            .iter()
            .copied()
            .filter(|p| *p != "company")
            .collect();
        let params = QueryParams::parse(query.as_deref(), &allowed)?;
        let filter = PartnershipFilter::from_params(&params)?;
        let page = repo::partnerships::list(&app.db, &filter, Some(company)).await?;
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

/// `GET /v1/partnerships/{ref}`.
#[utoipa::path(get, path = "/v1/partnerships/{ref}", tag = "partnerships", params(("ref" = String, Path, description = "The id (UUID) or the slug.")),
    responses((status = 200, description = "The deal with its parties, tranches and timeline.", body = crate::model::partnership::Partnership,
        headers(("ETag" = String), ("Last-Modified" = String))),
        (status = 304, description = "Unchanged.")))]
async fn get_one(
    State(app): State<AppState>,
    path: RefPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let reference = path.parse("partnership")?;
    let deal = repo::partnerships::find(&app.db, &reference)
        .await?
        .ok_or_else(|| ApiError::not_found("partnership", &path.0))?;
    respond::resource(&headers, &deal)
}

/// `POST /v1/partnerships`.
#[utoipa::path(post, path = "/v1/partnerships", tag = "partnerships",
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body returns the first answer.")),
    request_body(content = crate::http::openapi::PartnershipInput, content_type = "application/json"),
    responses((status = 201, description = "Created.", body = crate::model::partnership::Partnership, headers(("Location" = String), ("ETag" = String)))))]
async fn create(
    State(app): State<AppState>,
    Writer(actor): Writer,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let new = NewPartnership::from_json(body.clone())?;
    let path = "/v1/partnerships";
    idempotency::create(&app, &actor.clone(), &headers, path, &body, move |conn| {
        Box::pin(async move {
            let deal = repo::partnerships::insert(conn, &actor, new).await?;
            respond::stored(StatusCode::CREATED, &deal)
        })
    })
    .await
}

/// `PATCH /v1/partnerships/{ref}`: JSON Merge Patch, honouring `If-Match`.
#[utoipa::path(patch, path = "/v1/partnerships/{ref}", tag = "partnerships",
    params(("ref" = String, Path, description = "The id (UUID) or the slug."), ("If-Match" = Option<String>, Header, description = "The ETag you read.")),
    responses((status = 200, description = "Changed.", body = crate::model::partnership::Partnership, headers(("ETag" = String)))))]
async fn patch(
    State(app): State<AppState>,
    path: RefPath,
    Writer(actor): Writer,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let reference = path.parse("partnership")?;
    let deal =
        repo::partnerships::patch(&app.db, &actor, reference, if_match(&headers), body).await?;
    respond::written(StatusCode::OK, &deal)
}

/// `DELETE /v1/partnerships/{ref}`: 204; its events stay.
#[utoipa::path(delete, path = "/v1/partnerships/{ref}", tag = "partnerships",
    params(("ref" = String, Path, description = "The id (UUID) or the slug."), ("If-Match" = Option<String>, Header, description = "The ETag you read.")),
    responses((status = 204, description = "Deleted with its links; its events stay.")))]
async fn delete(
    State(app): State<AppState>,
    path: RefPath,
    Writer(actor): Writer,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let reference = path.parse("partnership")?;
    repo::partnerships::delete(&app.db, &actor, reference, if_match(&headers)).await?;
    Ok(StatusCode::NO_CONTENT)
}
