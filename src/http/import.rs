//! `POST /v1/events/import` and `POST /v1/companies/import`: many records in one
//! request, NDJSON or CSV, each validated and written as `POST` would, in one
//! transaction.
//!
//! The body is never held whole: this task reads it and hands it on in chunks (hashing
//! it for `Idempotency-Key` and counting it against `MAX_IMPORT_BYTES`) to the import
//! flow ([`crate::import`]), which reads records out of them on a blocking thread and
//! writes them in batches as they arrive. Every queue between them is bounded, so
//! memory stays flat whatever the size of the file.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use utoipa::IntoParams;

use super::extract::Writer;
use super::openapi::schemas::{ImportProblem, Problem};
use super::{AppState, idempotency, respond};
use crate::error::ApiError;
use crate::import::{self, Importer};
use crate::model::export::Exportable;
use crate::model::import::{
    IMPORT_PARAMS, ImportFormat, ImportMode, ImportOptions, ImportSummary, OnConflict,
};
use crate::model::list::params::QueryParams;
use crate::repo::audit::Actor;
use crate::repo::companies::Companies;
use crate::repo::events::Events;
use crate::repo::idempotency::StoredAnswer;
use crate::repo::records::Table;

/// Body chunks queued for the reader. Few: a chunk is whatever the connection read at
/// once, up to hundreds of KB when the client sends fast, and the queue fills before the
/// writer starts. At 64 a 50,000-event import grew the server by 70 to 100 MiB (a
/// spike in its first second); at 8, by 48 to 64 MiB, as fast.
const QUEUE: usize = 8;

/// How an import behaves.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ImportParams {
    /// `atomic` (default): all or nothing, a 422 listing the bad records; `partial`: the
    /// good records are stored, the bad ones listed in a 200.
    #[param(inline, schema_with = mode_schema)]
    mode: Option<String>,
    /// What a record whose `id` (or, without one, chosen `slug`) exists means: `error`
    /// (default: it is bad), `skip` it, or `update` the stored record with it (a record
    /// equal to the stored one is left alone, no new version, and counted as skipped).
    #[param(inline, schema_with = on_conflict_schema)]
    on_conflict: Option<String>,
}

fn enum_schema(values: &'static [&'static str]) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

fn mode_schema() -> utoipa::openapi::Object {
    enum_schema(ImportMode::NAMES)
}

fn on_conflict_schema() -> utoipa::openapi::Object {
    enum_schema(OnConflict::NAMES)
}

/// Whether a request is an import (its time limit is `IMPORT_TIMEOUT_SECS`).
pub fn is_import(method: &Method, uri: &Uri) -> bool {
    method == Method::POST && uri.path().ends_with("/import")
}

/// `POST /v1/events/import`.
#[utoipa::path(post, path = "/v1/events/import", tag = "events", params(ImportParams),
    request_body(description = "NDJSON (one event a line, the fields of `POST /v1/events` plus an optional `id`) or CSV (a header row naming the fields; `tags` separated by `;`; `sources`, `companies` and `partnerships` as JSON in their cells; empty cells are absent fields), as `GET /v1/events/export` writes them.",
        content((String = "application/x-ndjson"), (String = "text/csv"))),
    responses(
        (status = 201, description = "Atomic mode: every record stored (`failed` is 0).", body = ImportSummary),
        (status = 200, description = "Partial mode: the good records stored; the bad ones listed by line (at most 1,000) and counted.", body = ImportSummary),
        (status = 400, description = "A bad parameter, a CSV header row naming a field twice or a field that does not exist, or a body that could not be read.", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "The body stopped arriving: no record came for 8 s, so the import was rolled back and nothing stored.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is larger than `MAX_IMPORT_BYTES`.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither `application/x-ndjson` nor `text/csv`.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Atomic mode: bad records, listed by line and field (at most 1,000) with the number of them; nothing stored. Or an `Idempotency-Key` reused for another request.", body = ImportProblem, content_type = "application/problem+json")))]
pub async fn import_events(
    State(app): State<AppState>,
    Writer(actor): Writer,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    import::<Events>(&app, actor, query.as_deref(), &headers, body).await
}

/// `POST /v1/companies/import`.
#[utoipa::path(post, path = "/v1/companies/import", tag = "companies", params(ImportParams),
    request_body(description = "NDJSON (one company a line, the fields of `POST /v1/companies` plus an optional `id`) or CSV (a header row naming the fields; `tags` separated by `;`; empty cells are absent fields), as `GET /v1/companies/export` writes them.",
        content((String = "application/x-ndjson"), (String = "text/csv"))),
    responses(
        (status = 201, description = "Atomic mode: every record stored (`failed` is 0).", body = ImportSummary),
        (status = 200, description = "Partial mode: the good records stored; the bad ones listed by line (at most 1,000) and counted.", body = ImportSummary),
        (status = 400, description = "A bad parameter, a CSV header row naming a field twice or a field that does not exist, or a body that could not be read.", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "The body stopped arriving: no record came for 8 s, so the import was rolled back and nothing stored.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is larger than `MAX_IMPORT_BYTES`.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither `application/x-ndjson` nor `text/csv`.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Atomic mode: bad records, listed by line and field (at most 1,000) with the number of them; nothing stored. Or an `Idempotency-Key` reused for another request.", body = ImportProblem, content_type = "application/problem+json")))]
pub async fn import_companies(
    State(app): State<AppState>,
    Writer(actor): Writer,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    import::<Companies>(&app, actor, query.as_deref(), &headers, body).await
}

/// One import, of records of `T`.
async fn import<T>(
    app: &AppState,
    actor: Actor,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError>
where
    T: Table,
    T::Record: Exportable,
{
    let params = QueryParams::parse(query, IMPORT_PARAMS)?;
    let options = ImportOptions::from_params(&params)?;
    let format = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(ImportFormat::from_content_type)
        .ok_or(ApiError::UnsupportedMediaType(ImportFormat::ACCEPTED))?;
    let limit = app.config.max_import_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let key = idempotency::key(headers)?;

    // The request's identity for its key: the route, the options and every byte.
    let mut hash = Sha256::new();
    hash.update(format!(
        "POST {}/import {options:?} {format:?}\n",
        T::KIND.collection()
    ));
    let (chunks_tx, chunks_rx) = mpsc::channel::<std::io::Result<Bytes>>(QUEUE);
    let (records, reader) = import::read::<T, _>(
        format,
        ChunkReader::new(chunks_rx),
        app.config.max_body_bytes,
    );
    let feeding = feed(body, limit, chunks_tx, &mut hash);

    let mut tx = app.db.begin().await?;
    let mut importer = Importer::<T>::new(
        &actor,
        options,
        import::helper::<T>(&app.db, &options).await,
    );
    let writing = async {
        // Owned by the writer: one that stops drops it, which stops the reader, which
        // stops taking chunks, so the body's feeder cannot wait on a full queue.
        let mut records = records;
        importer
            .take_all(&mut tx, &mut records, Some(import::BODY_STALL), |_| {})
            .await?;
        Ok::<(), ApiError>(())
    };
    // A writer that stops early (a stalled body, a database failure) is the answer: the
    // feeder is not waited for, as it may be waiting on a client that sends nothing.
    let fed = {
        tokio::pin!(feeding, writing);
        let mut fed = None;
        loop {
            tokio::select! {
                result = &mut feeding, if fed.is_none() => fed = Some(result),
                result = &mut writing => {
                    result?;
                    break;
                }
            }
        }
        match fed {
            Some(fed) => fed,
            None => feeding.await,
        }
    };
    let read = reader
        .await
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("the import's reader")))?;
    // The body's own failure first: a read that stopped because of it says less.
    fed?;
    read.map_err(import::stop_error)?;
    let (summary, errors) = importer.finish(&mut tx).await?;
    if options.mode == ImportMode::Atomic && summary.failed > 0 {
        tx.rollback().await?;
        return Err(ApiError::ImportRejected {
            failed: summary.failed,
            errors,
        });
    }
    let status = match options.mode {
        ImportMode::Atomic => StatusCode::CREATED,
        ImportMode::Partial => StatusCode::OK,
    };
    let answer = StoredAnswer {
        status: status.as_u16(),
        body: respond::to_json(&summary)?,
        location: None,
        etag: None,
    };
    if let Some(key) = &key
        && let Some(stored) =
            idempotency::settle_streamed(&mut tx, &actor, key, &hash.finalize(), &answer).await?
    {
        tx.rollback().await?;
        return Ok(respond::replay(stored, true));
    }
    tx.commit().await?;
    if summary.created + summary.updated > 0 {
        app.wrote();
    }
    Ok(respond::replay(answer, false))
}

/// Reads the body into `chunks`, hashing it, and stops with a 413 past `limit` bytes.
async fn feed(
    body: Body,
    limit: usize,
    chunks: mpsc::Sender<std::io::Result<Bytes>>,
    hash: &mut Sha256,
) -> Result<(), ApiError> {
    let mut stream = body.into_data_stream();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                let message = error.to_string();
                let _ = chunks
                    .send(Err(std::io::Error::other(message.clone())))
                    .await;
                return Err(ApiError::BadRequest(format!(
                    "the body could not be read: {message}"
                )));
            }
        };
        total += chunk.len();
        if total > limit {
            let _ = chunks
                .send(Err(std::io::Error::other("the body is too large")))
                .await;
            return Err(ApiError::PayloadTooLarge { limit });
        }
        hash.update(&chunk);
        if chunks.send(Ok(chunk)).await.is_err() {
            // The reader stopped (a bad header row): its error is the answer.
            return Ok(());
        }
    }
    Ok(())
}

/// The body's chunks as a `std::io::Read`, for the blocking reader.
struct ChunkReader {
    chunks: mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl ChunkReader {
    fn new(chunks: mpsc::Receiver<std::io::Result<Bytes>>) -> Self {
        Self {
            chunks,
            current: Bytes::new(),
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(error)) => return Err(error),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
