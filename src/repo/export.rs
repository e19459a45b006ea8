//! Exports: every record a list's filters match, read through one cursor in one
//! repeatable-read transaction (so from one consistent snapshot) and handed over as it
//! arrives, so memory stays bounded however many records there are.

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::error::ApiError;
use crate::model::list::companies::CompanyFilter;
use crate::model::position::Snapshot;
use crate::model::{Company, Event, EventFilter};
use crate::repo::positions::{WITH_SNAPSHOT_HEAD, WITH_SNAPSHOT_TAIL, snapshot_of};

/// Records read ahead of the consumer, at most (besides one fetch of rows).
const READ_AHEAD: usize = 256;

/// An export's cursor: one per kind of record, so a connection's cached `FETCH` (which
/// remembers the columns of the cursor it was first run on) always reads the same
/// columns.
struct Cursor {
    declare: &'static str,
    fetch: &'static str,
}

const EVENTS: Cursor = Cursor {
    declare: "declare export_events no scroll cursor for ",
    fetch: "fetch forward 256 from export_events",
};

const COMPANIES: Cursor = Cursor {
    declare: "declare export_companies no scroll cursor for ",
    fetch: "fetch forward 256 from export_companies",
};

/// An export under way.
pub struct Export<T> {
    /// The snapshot every record was read under: a position at it hands over to
    /// `updated_since` with no gap.
    pub snapshot: Snapshot,
    /// The records, in order; an error ends them.
    pub records: mpsc::Receiver<Result<T, ApiError>>,
}

/// Every live event `filter` matches, newest first by `occurred_on` (its list's
/// order), `company_ids` being its companies, resolved.
pub async fn events(
    db: &PgPool,
    filter: EventFilter,
    company_ids: Vec<Uuid>,
) -> Result<Export<Event>, ApiError> {
    stream(
        db,
        &EVENTS,
        move |qb| super::events::push_export_query(qb, &filter, &company_ids),
        super::events::event_of_row,
    )
    .await
}

/// Every company `filter` matches, by name.
pub async fn companies(db: &PgPool, filter: CompanyFilter) -> Result<Export<Company>, ApiError> {
    stream(
        db,
        &COMPANIES,
        move |qb| super::companies::push_export_query(qb, &filter),
        super::companies::company_of_row,
    )
    .await
}

/// Runs the statement `push` writes (wrapped to carry its snapshot) through `cursor` on
/// a connection of its own, in a transaction without the request's statement timeout,
/// and hands over each row as `convert` makes it, from a task that stops when the
/// consumer goes away.
async fn stream<T, P, C>(
    db: &PgPool,
    cursor: &'static Cursor,
    push: P,
    convert: C,
) -> Result<Export<T>, ApiError>
where
    T: Send + 'static,
    P: FnOnce(&mut QueryBuilder<Postgres>) + Send + 'static,
    C: Fn(&PgRow) -> Result<T, ApiError> + Send + Sync + 'static,
{
    let (first, snapshot) = oneshot::channel::<Result<Snapshot, ApiError>>();
    let (records, received) = mpsc::channel(READ_AHEAD);
    let db = db.clone();
    tokio::spawn(async move {
        let mut first = Some(first);
        let result: Result<(), ApiError> = async {
            let mut tx = db.begin().await?;
            // One snapshot for the whole read (the position handed over is that
            // snapshot), and no request timeout: a large export to a slow reader
            // outlasts any request, by design. Between two reads of the cursor the
            // transaction waits for the reader, idle, for as long as it takes.
            sqlx::raw_sql(
                "set transaction isolation level repeatable read, read only; \
                 set local statement_timeout = 0; \
                 set local idle_in_transaction_session_timeout = 0",
            )
            .execute(&mut *tx)
            .await?;
            // Read through a cursor, so the statement is planned to hand over its first
            // rows fast (walking the order's index) rather than to finish first (a
            // sort of the whole table before the first byte, on short rows).
            let mut qb = QueryBuilder::<Postgres>::new(cursor.declare);
            qb.push(WITH_SNAPSHOT_HEAD);
            push(&mut qb);
            qb.push(WITH_SNAPSHOT_TAIL);
            qb.build().persistent(false).execute(&mut *tx).await?;
            loop {
                let rows = sqlx::query(cursor.fetch).fetch_all(&mut *tx).await?;
                if rows.is_empty() {
                    return Ok(());
                }
                for row in &rows {
                    if let Some(first) = first.take() {
                        let _ = first.send(snapshot_of(row));
                    }
                    if row.try_get::<Option<Uuid>, _>("id")?.is_none() {
                        continue;
                    }
                    if records.send(convert(row)).await.is_err() {
                        // The consumer is gone: stop reading.
                        return Ok(());
                    }
                }
            }
        }
        .await;
        if let Err(error) = result {
            match first.take() {
                Some(first) => {
                    let _ = first.send(Err(error));
                }
                None => {
                    let _ = records.send(Err(error)).await;
                }
            }
        }
    });
    let snapshot = snapshot
        .await
        .map_err(|_| anyhow::anyhow!("the export ended before its first row"))??;
    Ok(Export {
        snapshot,
        records: received,
    })
}
