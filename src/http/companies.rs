//! `/v1/companies`: the list, one company, and writes.

use axum::Router;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

use super::extract::{JsonBody, RefPath, Writer, if_match};
use super::respond;
use crate::error::ApiError;
use crate::model::company::COMPANY_LIST_PARAMS;
use crate::model::params::QueryParams;
use crate::model::{Company, CompanyFilter, NewCompany, etag};
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
async fn list(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
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
}

/// `GET /v1/companies/{ref}`.
async fn get_one(
    State(app): State<AppState>,
    path: RefPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let reference = path.parse("company")?;
    let company = repo::companies::find(&app.db, &reference)
        .await?
        .ok_or_else(|| not_found(&path))?;
    respond::resource(
        &headers,
        StatusCode::OK,
        &company,
        &company_etag(&company),
        company.updated_at,
    )
}

/// `POST /v1/companies`: 201 with `Location` and `ETag`.
async fn create(
    State(app): State<AppState>,
    _writer: Writer,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let new = NewCompany::from_json(body)?;
    let company = repo::companies::insert(&app.db, new).await?;
    written(StatusCode::CREATED, &company)
}

/// `PATCH /v1/companies/{ref}`: JSON Merge Patch, honouring `If-Match`.
async fn patch(
    State(app): State<AppState>,
    path: RefPath,
    _writer: Writer,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let reference = path.parse("company")?;
    let precondition = if_match(&headers);
    let company = repo::companies::patch(&app.db, reference, precondition, body).await?;
    written(StatusCode::OK, &company)
}

/// `DELETE /v1/companies/{ref}`: 204, honouring `If-Match`.
async fn delete(
    State(app): State<AppState>,
    path: RefPath,
    _writer: Writer,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let reference = path.parse("company")?;
    let precondition = if_match(&headers);
    repo::companies::delete(&app.db, reference, precondition).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn company_etag(company: &Company) -> String {
    etag(company.id, company.version)
}

/// The answer to a write: the company, its `ETag`, and (for 201) its `Location`.
fn written(status: StatusCode, company: &Company) -> Result<Response, ApiError> {
    let location = format!("/v1/companies/{}", company.id);
    respond::written(status, company, &company_etag(company), &location)
}

fn not_found(path: &RefPath) -> ApiError {
    ApiError::NotFound {
        kind: "company",
        reference: path.0.clone(),
    }
}
