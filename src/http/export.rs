//! `GET /v1/events/export` and `GET /v1/companies/export`: every record a list's
//! filters match, as NDJSON or CSV, streamed from one consistent snapshot.

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use utoipa::IntoParams;

use super::events::NEXT_UPDATED_SINCE;
use super::openapi::schemas::Problem;
use super::{AppState, resolve};
use crate::error::ApiError;
use crate::model::export::{ExportFormat, ExportWriter, Exportable};
use crate::model::list::companies::{COMPANY_FILTER_PARAMS, CompanyFilterParams};
use crate::model::list::events::{EVENT_FILTER_PARAMS, EventFilterParams};
use crate::model::list::params::QueryParams;
use crate::model::position::Position;
use crate::model::{CompanyFilter, EventFilter, EventSort};
use crate::repo;

/// A chunk of the body is sent once this many bytes are ready (or no record is).
const CHUNK_BYTES: usize = 64 * 1024;

/// The format of an export.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ExportParams {
    /// `ndjson` (default: one record a line, as a list shows it) or `csv` (a header row
    /// of the import's columns: tags joined by `;`, list and object fields as JSON).
    #[param(inline, schema_with = format_schema)]
    format: Option<String>,
}

fn format_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(ExportFormat::NAMES.iter().copied()))
        .build()
}

/// `GET /v1/events/export`.
#[utoipa::path(get, path = "/v1/events/export", tag = "events",
    params(EventFilterParams, ExportParams),
    responses(
        (status = 200, description = "Every live event the filters match, newest first by `occurred_on`, from one snapshot.",
         content((String = "application/x-ndjson"), (String = "text/csv")),
         headers(("Next-Updated-Since" = String, description = "The position of the snapshot: poll or stream from it to miss nothing after the export."))),
        (status = 400, description = "A bad filter or format.", body = Problem, content_type = "application/problem+json")))]
pub async fn export_events(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let accepted = [EVENT_FILTER_PARAMS, &["format"]].concat();
    let params = QueryParams::parse(query.as_deref(), &accepted)?;
    let format = format(&params)?;
    let mut filter = EventFilter::from_params(&params)?;
    filter.check_role()?;
    filter.sort = EventSort::OccurredOnDesc;
    let company_ids = resolve::company_params(&app.db, &filter.companies).await?;
    let export = repo::export::events(&app.db, filter, company_ids).await?;
    let position = Position::at(app.live.origin().await?, export.snapshot);
    let mut response = streamed(format, "events", export.records);
    if let Ok(value) = HeaderValue::from_str(&position.to_string()) {
        response.headers_mut().insert(NEXT_UPDATED_SINCE, value);
    }
    Ok(response)
}

/// `GET /v1/companies/export`.
#[utoipa::path(get, path = "/v1/companies/export", tag = "companies",
    params(CompanyFilterParams, ExportParams),
    responses(
        (status = 200, description = "Every company the filters match, by name, from one snapshot.",
         content((String = "application/x-ndjson"), (String = "text/csv"))),
        (status = 400, description = "A bad filter or format.", body = Problem, content_type = "application/problem+json")))]
pub async fn export_companies(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let accepted = [COMPANY_FILTER_PARAMS, &["format"]].concat();
    let params = QueryParams::parse(query.as_deref(), &accepted)?;
    let format = format(&params)?;
    let filter = CompanyFilter::from_params(&params)?;
    let export = repo::export::companies(&app.db, filter).await?;
    Ok(streamed(format, "companies", export.records))
}

/// Reads `format` (default NDJSON).
fn format(params: &QueryParams) -> Result<ExportFormat, ApiError> {
    params
        .single("format")?
        .map_or(Ok(ExportFormat::Ndjson), |text| {
            ExportFormat::parse(text).ok_or_else(|| {
                ApiError::bad_param(
                    "format",
                    format!("must be one of: {}", ExportFormat::NAMES.join(", ")),
                )
            })
        })
}

/// The response: the records rendered in `format` as they arrive, in chunks.
fn streamed<T: Exportable + Send + 'static>(
    format: ExportFormat,
    name: &str,
    records: mpsc::Receiver<Result<T, ApiError>>,
) -> Response {
    // Fused: a compressing layer polls the body once more after its end.
    let body = Body::from_stream(render(format, records).fuse());
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{name}.{}\"",
        format.extension()
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// The body as a stream of chunks. A failure after the first byte cannot change the
/// status any more: it ends the body early, which the client sees as a broken transfer
/// (the chunked encoding is not closed), never as a complete export.
fn render<T: Exportable + Send + 'static>(
    format: ExportFormat,
    records: mpsc::Receiver<Result<T, ApiError>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    struct State<T> {
        records: mpsc::Receiver<Result<T, ApiError>>,
        writer: ExportWriter,
        /// Records written since the last chunk.
        unsent: usize,
        done: bool,
    }
    let state = State {
        records,
        writer: ExportWriter::new::<T>(format),
        unsent: 0,
        done: false,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        loop {
            // Wait for one record, then take whatever else is ready, up to a chunk.
            let next = if state.unsent == 0 {
                state.records.recv().await
            } else {
                match state.records.try_recv() {
                    Ok(record) => Some(record),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                }
            };
            match next {
                Some(Ok(record)) => {
                    if let Err(error) = state.writer.write(&record) {
                        state.done = true;
                        return Some((Err(error), state));
                    }
                    state.unsent += 1;
                    if state.writer.pending() >= CHUNK_BYTES {
                        break;
                    }
                }
                Some(Err(error)) => {
                    tracing::warn!(error = %crate::error::cause_chain(&error), "an export failed part-way");
                    state.done = true;
                    return Some((Err(std::io::Error::other("the export failed")), state));
                }
                None => {
                    state.done = true;
                    break;
                }
            }
        }
        state.unsent = 0;
        match state.writer.take() {
            Ok(chunk) => Some((Ok(Bytes::from(chunk)), state)),
            Err(error) => {
                state.done = true;
                Some((Err(error), state))
            }
        }
    })
}
