//! The one import flow, shared by `POST /v1/{events,companies}/import` and the
//! `import` command: a file's records are read and validated as `POST` would validate
//! them on a blocking thread (the `csv` crate reads from `std::io::Read`), handed over
//! through a bounded queue, and written in batches inside the caller's transaction.
//! Memory is bounded by the queue and a few batches, whatever the size of the file.

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

/// How much the records prepared between two calls of [`Table::tidy`] on the helper
/// connection may leave for it ([`Table::tidy_load`]: for events, bytes of text their
/// search index takes in). A tidy merges the entries the writes since the last one left
/// in the GIN indexes' pending lists; each lexeme's posting list is read and rewritten
/// once a merge, so a merge of 1,000 records' entries costs less than twice one of 250,
/// and merging after every batch cost the helper a fifth more time. With a MiB of text
/// between merges the lists of short events peaked at 2.3 MB, under
/// `gin_pending_list_limit` (4 MB), at which the writer's own insert would merge; those
/// of long events (3.4 KB of text) reach it at times, and merging twice as often kept
/// them under it but made the import no faster.
const TIDY_AFTER: usize = 1 << 20;

/// Records read ahead of the writer. Short: the pipeline already holds batches ahead
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

/// A record as the reader hands it over: checked as `POST` would check it, or refused
/// with the line it starts on and what is wrong with it.
pub type Checked<N> = Result<Pending<N>, (u64, Vec<FieldError>)>;

/// The reader's thread: how the reading ended.
pub type Reading = JoinHandle<Result<(), ReadStop>>;

/// Starts reading `source` on a blocking thread, which also checks each record (so the
/// checks run while the batches before it are written): the records arrive on the
/// receiver; the handle says how the reading ended. Dropping the receiver stops the
/// reader.
pub fn read<T, R>(
    format: ImportFormat,
    source: R,
    max_record: usize,
) -> (mpsc::Receiver<Checked<T::New>>, Reading)
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
            if records_tx.blocking_send(check::<T>(record)).is_err() {
                // The writer stopped (a database failure): nothing more to read for.
                break;
            }
        }
        Ok(())
    });
    (records_rx, reader)
}

/// Checks a record read from the file: its `id` taken out, the rest validated as
/// `POST` validates it.
fn check<T: Table>(record: ReadRecord) -> Checked<T::New> {
    let mut document = record
        .document
        .map_err(|message| (record.line, vec![FieldError::new("", message)]))?;
    let id = take_id(&mut document)
        .map_err(|message| (record.line, vec![FieldError::new("id", message)]))?;
    let new = T::parse(document).map_err(|errors| (record.line, errors))?;
    Ok(Pending {
        line: record.line,
        id,
        new,
    })
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

/// Full batches the helper may hold ahead of the one being written: two, so that a
/// batch whose preparation takes longer (one that ends with a tidy) is absorbed by the
/// time the writer spends on the batches before it, instead of stopping the writer.
const PREPARED_AHEAD: usize = 2;

/// A batch handed to the helper, with how many of its records (the first ones) the
/// helper prepares; the writer's own statements compute what the rest need.
type Handed<N> = (Vec<Pending<N>>, usize);

/// How much of each batch the helper prepares, in sixteenths: all of it while it keeps
/// up with the writer, less while the writer waits for it. With long texts the helper
/// had the heavier half of the work (their search vectors: 22 s of CPU against the
/// writer's 13 s for 50,000 of the kit's events) and the writer waited on it; what the
/// helper leaves, the writer's insert computes (the table's trigger, the same function),
/// so the two cores share the work as it comes. Each batch taken moves the share by a
/// sixteenth: down when the writer had to wait for it, up when it was ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HelperShare(usize);

impl HelperShare {
    /// Every record.
    const ALL: Self = Self(16);
    /// The least: half, so the helper (also the one to tidy the indexes) keeps work.
    const LEAST: Self = Self(8);

    /// How many of `len` records the helper prepares.
    fn of(self, len: usize) -> usize {
        (len * self.0).div_ceil(Self::ALL.0)
    }

    /// After the writer took a batch: it was `ready`, or the writer had to wait.
    fn after(self, ready: bool) -> Self {
        if ready {
            Self((self.0 + 1).min(Self::ALL.0))
        } else {
            Self(self.0.saturating_sub(1).max(Self::LEAST.0))
        }
    }
}

/// The helper connection's side of the pipeline: a task that takes full batches in
/// order, prepares them (and tidies now and then), and hands them back in order.
struct HelperQueue<N> {
    to_prepare: mpsc::Sender<Handed<N>>,
    prepared: mpsc::Receiver<Vec<Pending<N>>>,
    /// Batches handed to the helper and not yet taken back.
    in_flight: usize,
    /// How much of the next batch handed over the helper prepares.
    share: HelperShare,
}

impl<N: Send + Sync + 'static> HelperQueue<N> {
    /// Starts the helper's task on `conn`. It ends, letting the connection go, when the
    /// queue is dropped (the import finished or failed).
    fn start<T: Table<New = N>>(conn: PoolConnection<Postgres>) -> Self {
        // Room for every batch in flight in either queue, so neither side ever waits
        // on a full queue: the writer waits only for the batch it takes next.
        let (to_prepare, batches) = mpsc::channel(PREPARED_AHEAD + 1);
        let (done, prepared) = mpsc::channel(PREPARED_AHEAD + 1);
        tokio::spawn(prepare_all::<T>(conn, batches, done));
        Self {
            to_prepare,
            prepared,
            in_flight: 0,
            share: HelperShare::ALL,
        }
    }

    /// Puts a full batch at the end of the helper's queue, for it to prepare its share.
    async fn hand(&mut self, batch: Vec<Pending<N>>) -> Result<(), ApiError> {
        let share = self.share.of(batch.len());
        self.to_prepare
            .send((batch, share))
            .await
            .map_err(|_| helper_gone())?;
        self.in_flight += 1;
        Ok(())
    }

    /// The oldest batch handed over, once it is prepared; the helper's share of the
    /// batches handed after it follows whether it was ready.
    async fn take(&mut self) -> Result<Vec<Pending<N>>, ApiError> {
        let (batch, ready) = match self.prepared.try_recv() {
            Ok(batch) => (batch, true),
            Err(_) => (self.prepared.recv().await.ok_or_else(helper_gone)?, false),
        };
        self.share = self.share.after(ready);
        self.in_flight -= 1;
        Ok(batch)
    }
}

/// The helper's task ended before handing back every batch (it panicked): a 500.
fn helper_gone() -> ApiError {
    ApiError::Internal(anyhow::anyhow!("an import's helper task ended early"))
}

/// An import under way: what it has done, its bad records, the batch being filled, and
/// the full ones before it, being prepared on the helper connection.
///
/// With a helper, batches go through a pipeline: a full batch goes to the helper task,
/// which prepares it on its connection, while the writer writes the batches prepared
/// before it on the import's own, so the two run on both cores at once. Records are
/// written in the order they were read.
pub struct Importer<'a, T: Table> {
    actor: &'a Actor,
    options: ImportOptions,
    batch: Vec<Pending<T::New>>,
    helper: Option<HelperQueue<T::New>>,
    /// Whether the transaction has been set up for the import's statements.
    set_up: bool,
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
            helper: helper.map(HelperQueue::start::<T>),
            set_up: false,
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
        let in_flight = self.helper.as_ref().map_or(0, |helper| helper.in_flight);
        if self.batch.is_empty() && in_flight == 0 {
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

    /// Takes one checked record: a good one is written with its batch, a bad one
    /// counted and listed. A failure of the database itself ends the import.
    pub async fn add(
        &mut self,
        conn: &mut PgConnection,
        record: Checked<T::New>,
    ) -> Result<(), ApiError> {
        self.seen += 1;
        match record {
            Ok(pending) => self.batch.push(pending),
            Err((line, errors)) => self.bad(line, errors),
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
        records: &mut mpsc::Receiver<Checked<T::New>>,
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
    /// with a helper, it joins the helper's queue, and the batches more than
    /// [`PREPARED_AHEAD`] before it are written (each once prepared); without, it is
    /// written at once. With `drain`, everything handed over is written before this
    /// returns.
    async fn hand_over(&mut self, conn: &mut PgConnection, drain: bool) -> Result<(), ApiError> {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        let Some(mut helper) = self.helper.take() else {
            return self.write(conn, &batch).await;
        };
        let handed = self.write_prepared(conn, &mut helper, batch, drain).await;
        self.helper = Some(helper);
        handed
    }

    /// [`Importer::hand_over`] with a helper: `batch` joins its queue, and the oldest
    /// batches are written until at most `PREPARED_AHEAD` (none with `drain`) remain.
    async fn write_prepared(
        &mut self,
        conn: &mut PgConnection,
        helper: &mut HelperQueue<T::New>,
        batch: Vec<Pending<T::New>>,
        drain: bool,
    ) -> Result<(), ApiError> {
        if !batch.is_empty() {
            helper.hand(batch).await?;
        }
        let ahead = if drain { 0 } else { PREPARED_AHEAD };
        while helper.in_flight > ahead {
            let prepared = helper.take().await?;
            self.write(conn, &prepared).await?;
        }
        Ok(())
    }

    async fn write(
        &mut self,
        conn: &mut PgConnection,
        batch: &[Pending<T::New>],
    ) -> Result<(), ApiError> {
        if batch.is_empty() {
            return Ok(());
        }
        if !self.set_up {
            import::set_up(&mut *conn).await?;
            self.set_up = true;
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

/// The helper's task: prepares its share of each batch it is handed on `conn`, tidies
/// the indexes after every [`TIDY_AFTER`] of load, and hands the batches back in order.
/// A failure costs only the speed (the import's own writes compute what was not
/// prepared), so it is logged and the connection let go; the batches after it pass
/// through unprepared.
async fn prepare_all<T: Table>(
    conn: PoolConnection<Postgres>,
    mut batches: mpsc::Receiver<Handed<T::New>>,
    prepared: mpsc::Sender<Vec<Pending<T::New>>>,
) {
    let mut conn = Some(conn);
    let mut untidy = 0;
    while let Some((mut batch, share)) = batches.recv().await {
        if let Some(helper) = conn.as_mut() {
            let mut news: Vec<(Option<Uuid>, &mut T::New)> = batch
                .iter_mut()
                .take(share)
                .map(|record| (record.id, &mut record.new))
                .collect();
            match T::prepare(helper, &mut news).await {
                Ok(()) => {
                    untidy += batch.iter().map(|r| T::tidy_load(&r.new)).sum::<usize>();
                    if untidy >= TIDY_AFTER {
                        T::tidy(helper).await;
                        untidy = 0;
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %error, "an import goes on without its helper connection");
                    conn = None;
                }
            }
        }
        if prepared.send(batch).await.is_err() {
            // The import ended: nothing more to prepare for.
            break;
        }
    }
}

/// A refused write as field errors: a 422 keeps its fields; a taken slug or id names
/// that field; anything else (a company deleted while the record was written, say) is
/// about the record as a whole.
fn field_errors(error: ApiError) -> Vec<FieldError> {
    match error {
        ApiError::Validation(errors) => errors,
        ApiError::FieldConflict { field, message } => vec![FieldError::new(field, message)],
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helpers_share_moves_a_sixteenth_a_batch_between_half_and_all() {
        assert_eq!(HelperShare::ALL.of(BATCH), BATCH);
        assert_eq!(HelperShare::LEAST.of(BATCH), BATCH / 2);
        // A share of a short last batch is never nothing.
        assert_eq!(HelperShare(9).of(1), 1);
        let mut share = HelperShare::ALL;
        for _ in 0..20 {
            share = share.after(false);
        }
        assert_eq!(share, HelperShare::LEAST);
        share = share.after(true);
        assert_eq!(share, HelperShare(9));
        assert_eq!(share.of(BATCH), 141);
        for _ in 0..20 {
            share = share.after(true);
        }
        assert_eq!(share, HelperShare::ALL);
    }
}
