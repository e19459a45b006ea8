//! The one import flow, shared by `POST /v1/{events,companies}/import` and the
//! `import` command: a file's records are read on a blocking thread (the `csv` crate
//! reads from `std::io::Read`) and handed over through a bounded queue, validated as
//! `POST` would validate them, and written in batches inside the caller's transaction.
//! Memory is bounded by the queue and one batch, whatever the size of the file.

pub mod command;

use std::io::Read;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::db::IDLE_IN_TRANSACTION;
use crate::error::ApiError;
use crate::model::FieldError;
use crate::model::export::Exportable;
use crate::model::import::{
    CsvColumns, ImportFormat, ImportMode, ImportOptions, ImportSummary, LineError,
    MAX_LISTED_ERRORS, OnConflict, ReadRecord, ReadStop, RecordReader, take_id,
};
use crate::repo::audit::Actor;
use crate::repo::import::{self, Pending, Written, write_batch};
use crate::repo::records::Table;

/// Records written under one savepoint.
const BATCH: usize = 250;

/// Records read ahead of the writer. Short: the pipeline already holds a batch ahead
/// (being prepared), and a longer queue only held memory (at 1,024, a 50,000-record
/// import of 3.4 KB events grew the server by some 105 MiB; at 256, 82 MiB, as fast).
const READ_AHEAD: usize = 256;

/// How long an import over HTTP waits for its next record before it answers a 408 and
/// rolls back: a client that stops sending must not hold a transaction (and its locks)
/// open.
pub const BODY_STALL: Duration = IDLE_IN_TRANSACTION.saturating_sub(Duration::from_secs(2));

/// How long an import's transaction may wait on its source before it runs a statement,
/// well inside the server's own idle-in-transaction limit.
const KEEP_ALIVE: Duration = Duration::from_secs(IDLE_IN_TRANSACTION.as_secs() / 3);

/// Starts reading `source` on a blocking thread: the records arrive on the receiver; the
/// handle says how the reading ended. Dropping the receiver stops the reader.
pub fn read<T, R>(
    format: ImportFormat,
    source: R,
    max_record: usize,
) -> (mpsc::Receiver<ReadRecord>, JoinHandle<Result<(), ReadStop>>)
where
    T: Table,
    T::Record: Exportable,
    R: Read + Send + 'static,
{
    let (records_tx, records_rx) = mpsc::channel(READ_AHEAD);
    let reader = tokio::task::spawn_blocking(move || {
        let columns = CsvColumns {
            all: T::Record::CSV_COLUMNS,
            json: T::Record::CSV_JSON_COLUMNS,
        };
        let mut reader = RecordReader::new(format, source, columns, max_record)?;
        while let Some(record) = reader.next_record()? {
            if records_tx.blocking_send(record).is_err() {
                // The writer stopped (a database failure): nothing more to read for.
                break;
            }
        }
        Ok(())
    });
    (records_rx, reader)
}

/// How long an import waits for a second connection to prepare its batches on.
const HELPER_WAIT: Duration = Duration::from_millis(250);

/// A connection outside the import's transaction, to prepare its batches on
/// ([`Table::prepare`]); `None` when `T` prepares nothing, or the pool has none to spare
/// soon, and the import then goes without (the database computes the same things as it
/// writes). Also `None` under `on_conflict=skip`: such an import is mostly records that
/// exist, which are not written, so preparing them would be work for nothing that the
/// writer waits on (a skip re-import of 10,000 events took 2.1 s with it, 0.6 s without).
pub async fn helper<T: Table>(
    db: &PgPool,
    options: &ImportOptions,
) -> Option<PoolConnection<Postgres>> {
    if !T::PREPARES || options.on_conflict == OnConflict::Skip {
        return None;
    }
    match tokio::time::timeout(HELPER_WAIT, db.acquire()).await {
        Ok(Ok(conn)) => Some(conn),
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "an import goes without a helper connection");
            None
        }
        Err(_) => None,
    }
}

/// A full batch being prepared on the helper connection, which comes back with it
/// (unless it failed).
type Preparing<N> = JoinHandle<(Vec<Pending<N>>, Option<PoolConnection<Postgres>>)>;

/// An import under way: what it has done, its bad records, the batch being filled, and
/// the full one before it, being prepared on the helper connection.
///
/// Batches go through a pipeline one deep: when a batch is full its preparation starts
/// on the helper connection and the batch before it (prepared meanwhile) is written on
/// the import's own, so the two run on both cores at once. Records are written in the
/// order they were read.
pub struct Importer<'a, T: Table> {
    actor: &'a Actor,
    options: ImportOptions,
    batch: Vec<Pending<T::New>>,
    helper: Option<PoolConnection<Postgres>>,
    preparing: Option<Preparing<T::New>>,
    summary: ImportSummary,
    errors: Vec<LineError>,
    seen: u64,
    last_statement: Instant,
}

impl<'a, T: Table> Importer<'a, T> {
    /// An import by `actor` with `options`, preparing its batches on `helper` when it
    /// has one (see [`helper`]).
    pub fn new(
        actor: &'a Actor,
        options: ImportOptions,
        helper: Option<PoolConnection<Postgres>>,
    ) -> Self {
        Self {
            actor,
            options,
            batch: Vec::with_capacity(BATCH),
            helper,
            preparing: None,
            summary: ImportSummary::default(),
            errors: Vec::new(),
            seen: 0,
            last_statement: Instant::now(),
        }
    }

    /// Runs a statement now, so that a transaction waiting on a slow client is not
    /// ended as idle by the server: the batches read so far, or else a statement that
    /// does nothing.
    async fn keep_alive(&mut self, conn: &mut PgConnection) -> Result<(), ApiError> {
        if self.batch.is_empty() && self.preparing.is_none() {
            import::keep_alive(conn).await?;
            self.last_statement = Instant::now();
            return Ok(());
        }
        self.hand_over(conn, true).await
    }

    /// How many records have been read so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Takes one record: validated at once (with its `id` taken out first), written with
    /// its batch. A failure of the database itself ends the import.
    pub async fn add(
        &mut self,
        conn: &mut PgConnection,
        record: ReadRecord,
    ) -> Result<(), ApiError> {
        self.seen += 1;
        if let Some(pending) = self.check(record) {
            self.batch.push(pending);
        }
        if self.batch.len() >= BATCH {
            self.hand_over(conn, false).await?;
        }
        Ok(())
    }

    /// Takes records as they arrive until the reader is done, and keeps the transaction
    /// alive while it waits for them (a statement every few seconds: the batch read so
    /// far, or one that does nothing), so a slow source does not lose it to the
    /// server's idle-in-transaction limit. With `stall_after`, a source that sends no
    /// record for that long is a 408 instead. `on_record` hears of each record.
    pub async fn take_all(
        &mut self,
        conn: &mut PgConnection,
        records: &mut mpsc::Receiver<ReadRecord>,
        stall_after: Option<Duration>,
        mut on_record: impl FnMut(&Self),
    ) -> Result<(), ApiError> {
        let mut last_record = Instant::now();
        loop {
            let keep_alive_at = self.last_statement + KEEP_ALIVE;
            let stalled_at = stall_after.map(|stall| last_record + stall);
            let wake_at = stalled_at.map_or(keep_alive_at, |at| at.min(keep_alive_at));
            tokio::select! {
                record = records.recv() => {
                    let Some(record) = record else { return Ok(()) };
                    last_record = Instant::now();
                    self.add(conn, record).await?;
                    on_record(self);
                }
                () = tokio::time::sleep_until(wake_at.into()) => {
                    if let (Some(at), Some(stall)) = (stalled_at, stall_after)
                        && Instant::now() >= at
                    {
                        return Err(ApiError::BodyStalled { secs: stall.as_secs() });
                    }
                    self.keep_alive(conn).await?;
                }
            }
        }
    }

    /// Writes what is left and says what the import did: the summary (with the bad
    /// records listed in partial mode) and the bad records (at most 1,000, by line).
    pub async fn finish(
        mut self,
        conn: &mut PgConnection,
    ) -> Result<(ImportSummary, Vec<LineError>), ApiError> {
        self.hand_over(conn, true).await?;
        self.errors.sort_by_key(|e| e.line);
        let mut summary = self.summary;
        if self.options.mode == ImportMode::Partial {
            summary.errors = Some(self.errors.clone());
        }
        Ok((summary, self.errors))
    }

    /// Hands the batch being filled over to be written after the ones read before it:
    /// its preparation starts on the helper connection (if there is one) while the
    /// batch before it is written. With `drain`, it is written too before this returns.
    async fn hand_over(&mut self, conn: &mut PgConnection, drain: bool) -> Result<(), ApiError> {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        let before = self.prepared().await?;
        let unprepared = match self.helper.take() {
            Some(helper) if !batch.is_empty() => {
                self.preparing = Some(tokio::spawn(prepare::<T>(helper, batch)));
                None
            }
            helper => {
                self.helper = helper;
                Some(batch)
            }
        };
        if let Some(before) = before {
            self.write(conn, &before).await?;
        }
        if let Some(batch) = unprepared {
            self.write(conn, &batch).await?;
        }
        if drain && let Some(batch) = self.prepared().await? {
            self.write(conn, &batch).await?;
        }
        Ok(())
    }

    /// The batch being prepared, once it is (the helper connection comes back with it).
    async fn prepared(&mut self) -> Result<Option<Vec<Pending<T::New>>>, ApiError> {
        let Some(preparing) = self.preparing.take() else {
            return Ok(None);
        };
        let (batch, helper) = preparing.await.map_err(|e| {
            ApiError::Internal(anyhow::Error::new(e).context("an import batch's preparation"))
        })?;
        self.helper = helper;
        Ok(Some(batch))
    }

    async fn write(
        &mut self,
        conn: &mut PgConnection,
        batch: &[Pending<T::New>],
    ) -> Result<(), ApiError> {
        if batch.is_empty() {
            return Ok(());
        }
        let outcomes = write_batch::<T>(conn, self.actor, self.options.on_conflict, batch).await?;
        self.last_statement = Instant::now();
        for (line, outcome) in outcomes {
            match outcome {
                Ok(Written::Created) => self.summary.created += 1,
                Ok(Written::Updated) => self.summary.updated += 1,
                Ok(Written::Skipped) => self.summary.skipped += 1,
                Err(error) => self.bad(line, field_errors(error)),
            }
        }
        Ok(())
    }

    fn check(&mut self, record: ReadRecord) -> Option<Pending<T::New>> {
        let mut document = match record.document {
            Ok(document) => document,
            Err(message) => {
                self.bad(record.line, vec![FieldError::new("", message)]);
                return None;
            }
        };
        let id = match take_id(&mut document) {
            Ok(id) => id,
            Err(message) => {
                self.bad(record.line, vec![FieldError::new("id", message)]);
                return None;
            }
        };
        match T::parse(document) {
            Ok(new) => Some(Pending {
                line: record.line,
                id,
                new,
            }),
            Err(errors) => {
                self.bad(record.line, errors);
                None
            }
        }
    }

    fn bad(&mut self, line: u64, errors: Vec<FieldError>) {
        self.summary.failed += 1;
        for error in errors {
            if self.errors.len() < MAX_LISTED_ERRORS {
                self.errors.push(LineError {
                    line,
                    field: error.field,
                    message: error.message,
                });
            }
        }
    }
}

/// Prepares a batch on the helper connection. A failure costs only the speed (the
/// import's own writes compute what was not prepared), so it is logged and the helper
/// is let go rather than ending the import.
async fn prepare<T: Table>(
    mut helper: PoolConnection<Postgres>,
    mut batch: Vec<Pending<T::New>>,
) -> (Vec<Pending<T::New>>, Option<PoolConnection<Postgres>>) {
    let mut news: Vec<(Option<Uuid>, &mut T::New)> = batch
        .iter_mut()
        .map(|record| (record.id, &mut record.new))
        .collect();
    let prepared = T::prepare(&mut helper, &mut news).await;
    match prepared {
        Ok(()) => (batch, Some(helper)),
        Err(error) => {
            tracing::warn!(error = %error, "an import goes on without its helper connection");
            (batch, None)
        }
    }
}

/// A refused write as field errors: a 422 keeps its fields; a taken slug or id names
/// that field; anything else is about the record as a whole.
fn field_errors(error: ApiError) -> Vec<FieldError> {
    match error {
        ApiError::Validation(errors) => errors,
        ApiError::Conflict(message) => {
            let field = if message.contains("the id") {
                "id"
            } else {
                "slug"
            };
            vec![FieldError::new(field, message)]
        }
        other => vec![FieldError::new("", other.to_string())],
    }
}

/// How a read that stopped early is told to the client: a 400 naming the reason.
pub fn stop_error(stop: ReadStop) -> ApiError {
    match stop {
        ReadStop::Io(error) => ApiError::BadRequest(format!("the body could not be read: {error}")),
        ReadStop::Header(reason) => ApiError::BadRequest(reason),
    }
}
