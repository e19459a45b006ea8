//! Writing an import's records inside the import's transaction: each exactly as a
//! `POST` would write it (slug rule, references, revision, audit row, tag counts, the
//! row's transaction id that streams read), or as the options say when it exists.

use std::collections::HashSet;

use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::audit::Actor;
use super::records::{self, Sluggable, Table};
use crate::error::ApiError;
use crate::model::import::OnConflict;
use crate::model::{FieldError, Ref, Stored};

/// A validated record waiting to be written.
pub struct Pending<N> {
    /// The line it starts on.
    pub line: u64,
    /// The id it carries, if any.
    pub id: Option<Uuid>,
    /// The record.
    pub new: N,
}

/// What became of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Stored as new.
    Created,
    /// Replaced an existing record.
    Updated,
    /// Left out: it exists (`on_conflict=skip`), or it is what is stored
    /// (`on_conflict=update`, which makes no new version that differs in nothing).
    Skipped,
}

/// Each record's line and what became of it (or why it was refused), in line order.
pub type Outcomes = Vec<(u64, Result<Written, ApiError>)>;

/// Writes a batch under one savepoint. When a record of it is refused, the batch is
/// rolled back to the savepoint and written again a record at a time, each under a
/// savepoint of its own: a refused write can abort the transaction (a taken slug is
/// found by its unique index), and this way it takes nothing else with it. (Under
/// `on_conflict=error` the records that exist are first refused without a write, and
/// the rest is tried together once more before that.) The answer
/// is each record's line and outcome, in order; a failure of the database itself (a 5xx)
/// ends the import instead.
pub async fn write_batch<T: Table>(
    conn: &mut PgConnection,
    actor: &Actor,
    on_conflict: OnConflict,
    batch: &[Pending<T::New>],
) -> Result<Outcomes, ApiError> {
    let batch: Vec<&Pending<T::New>> = batch.iter().collect();
    // Under `on_conflict=error` a batch is first written as all new without looking its
    // keys up: a record that exists is refused by the unique indexes (of the id, of the
    // slug), which sends the batch the slow way below, where the lookup is made and the
    // record named. In the common case that lookup finds nothing, and it was a fifteenth
    // of the writer's time.
    let optimistic = on_conflict == OnConflict::Error;
    let known = if optimistic {
        Known::none()
    } else {
        Known::of::<T>(&mut *conn, &batch).await?
    };
    // The common cases (new records; existing ones to skip or update in place) are
    // written with a few statements for the whole batch; if a record is refused, or
    // the batch is one the set-based writes cannot treat as records written one after
    // another, it goes the slow way below, which finds and names the bad one.
    if let Some(outcomes) = write_together::<T>(conn, actor, on_conflict, &batch, &known).await? {
        return Ok(outcomes);
    }
    if !optimistic {
        return write_slowly::<T>(conn, actor, on_conflict, &batch, &known).await;
    }
    let known = Known::of::<T>(&mut *conn, &batch).await?;
    if known.records.is_empty() {
        return write_slowly::<T>(conn, actor, on_conflict, &batch, &known).await;
    }
    // The records that exist are refused whatever comes before them (under
    // `on_conflict=error` the others only create), so they are named without a write,
    // and the rest is tried together once more: a file that repeats many stored records
    // is not written a record at a time.
    let mut outcomes: Outcomes = Vec::new();
    let mut new: Vec<&Pending<T::New>> = Vec::with_capacity(batch.len());
    for record in batch {
        match known.named_by(record) {
            Some((current, field)) => {
                outcomes.push((record.line, Err(exists::<T>(current, field))))
            }
            None => new.push(record),
        }
    }
    if !new.is_empty() {
        let written =
            match write_together::<T>(conn, actor, on_conflict, &new, &Known::none()).await? {
                Some(written) => written,
                None => write_slowly::<T>(conn, actor, on_conflict, &new, &known).await?,
            };
        outcomes.extend(written);
        outcomes.sort_by_key(|(line, _)| *line);
    }
    Ok(outcomes)
}

/// The slow way: the records one after another under one savepoint, and if one is
/// refused, again each under a savepoint of its own. `known` holds the records of the
/// batch that exist (locked).
async fn write_slowly<T: Table>(
    conn: &mut PgConnection,
    actor: &Actor,
    on_conflict: OnConflict,
    batch: &[&Pending<T::New>],
    known: &Known<T::Record>,
) -> Result<Outcomes, ApiError> {
    let mut savepoint = conn.begin().await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut refused = false;
    for record in batch {
        match write_one::<T>(&mut savepoint, actor, on_conflict, record, Some(known)).await {
            Ok(written) => outcomes.push((record.line, Ok(written))),
            Err(error) if error.status().is_server_error() => return Err(error),
            Err(_) => {
                refused = true;
                break;
            }
        }
    }
    if !refused {
        savepoint.commit().await?;
        return Ok(outcomes);
    }
    savepoint.rollback().await?;
    outcomes.clear();
    for record in batch {
        let mut savepoint = conn.begin().await?;
        // Each record looked up afresh: an earlier one of this batch may now hold its key.
        match write_one::<T>(&mut savepoint, actor, on_conflict, record, None).await {
            Ok(written) => {
                savepoint.commit().await?;
                outcomes.push((record.line, Ok(written)));
            }
            Err(error) if error.status().is_server_error() => return Err(error),
            Err(error) => {
                savepoint.rollback().await?;
                outcomes.push((record.line, Err(error)));
            }
        }
    }
    Ok(outcomes)
}

/// Sets up an import's transaction for its statements; call it before the first batch.
pub async fn set_up(conn: &mut PgConnection) -> Result<(), ApiError> {
    // Every statement of an import looks records up by key, and the table's statistics
    // know nothing of the rows this transaction has added: left to them, the planner
    // may scan the whole table for each record (foreign-key checks included), which
    // made an import into an empty table slow down as it grew (33 records/s at 10,000).
    // For the transaction: set outside any batch's savepoint, no rollback undoes it.
    sqlx::query("set local enable_seqscan = off")
        .execute(conn)
        .await?;
    Ok(())
}

/// A statement that does nothing, so a transaction waiting on its client between two
/// batches does not count as idle to the server.
pub async fn keep_alive(conn: &mut PgConnection) -> Result<(), ApiError> {
    sqlx::query("select").execute(conn).await?;
    Ok(())
}

/// What a batch's record comes to when the batch is written together.
enum Plan<'a, T: Table> {
    Create(Uuid, &'a T::New),
    Skip,
    Update(usize, &'a T::New),
}

/// Writes a batch with a few statements for all of it, under a savepoint: its new
/// records created together, its existing ones (`known`, locked; none when the batch is
/// taken to be all new) skipped or updated together as `on_conflict` says. `None` (with
/// nothing written) when the batch needs the slow way: a record is refused (the slow
/// way names it; under `on_conflict=error` that includes one that exists, refused by a
/// unique index), two records name the same key or record (the second must see the
/// first), or an update would change a record's slug (which frees the old one for the
/// records after it).
async fn write_together<T: Table>(
    conn: &mut PgConnection,
    actor: &Actor,
    on_conflict: OnConflict,
    batch: &[&Pending<T::New>],
    known: &Known<T::Record>,
) -> Result<Option<Outcomes>, ApiError> {
    let existing = batch.iter().filter(|record| known.holds(record)).count();
    // A record named by two of them (say by id and by slug) must be written twice, in
    // order: the slow way does that.
    if existing != known.records.len() || names_a_key_twice(batch) {
        return Ok(None);
    }
    let current = &known.records;
    let mut plans: Vec<Plan<'_, T>> = Vec::with_capacity(batch.len());
    for record in batch {
        let found = reference_of(record).and_then(|(reference, _)| known.find(&reference));
        let keeps_slug = |index: usize| {
            record
                .new
                .explicit_slug()
                .is_none_or(|slug| slug.as_str() == current[index].slug())
        };
        let plan = match (found, on_conflict) {
            (None, _) => Plan::Create(record.id.unwrap_or_else(Uuid::now_v7), &record.new),
            (Some(_), OnConflict::Skip) => Plan::Skip,
            (Some(index), OnConflict::Update) if T::restates(&record.new, &current[index]) => {
                Plan::Skip
            }
            (Some(index), OnConflict::Update) if keeps_slug(index) => {
                Plan::Update(index, &record.new)
            }
            _ => return Ok(None),
        };
        plans.push(plan);
    }
    let mut savepoint = conn.begin().await?;
    let updates: Vec<(&T::Record, &T::New)> = plans
        .iter()
        .filter_map(|plan| match plan {
            Plan::Update(index, new) => Some((&current[*index], *new)),
            _ => None,
        })
        .collect();
    let creates: Vec<(Uuid, &T::New)> = plans
        .iter()
        .filter_map(|plan| match plan {
            Plan::Create(id, new) => Some((*id, *new)),
            _ => None,
        })
        .collect();
    let mut written = Ok(());
    if !updates.is_empty() {
        written = records::replace_many::<T>(&mut savepoint, actor, &updates, true)
            .await
            .map(drop);
    }
    if written.is_ok() && !creates.is_empty() {
        written = records::create_many::<T>(&mut savepoint, actor, &creates)
            .await
            .map(drop);
    }
    match written {
        Ok(()) => savepoint.commit().await?,
        Err(error) if error.status().is_server_error() => return Err(error),
        Err(_) => {
            savepoint.rollback().await?;
            return Ok(None);
        }
    }
    Ok(Some(
        batch
            .iter()
            .zip(&plans)
            .map(|(record, plan)| {
                let written = match plan {
                    Plan::Create(..) => Written::Created,
                    Plan::Skip => Written::Skipped,
                    Plan::Update(..) => Written::Updated,
                };
                (record.line, Ok(written))
            })
            .collect(),
    ))
}

/// Whether two records of a batch carry the same id or the same chosen slug.
fn names_a_key_twice<N: Sluggable>(batch: &[&Pending<N>]) -> bool {
    let mut ids = HashSet::new();
    let mut slugs = HashSet::new();
    batch.iter().any(|record| {
        record.id.is_some_and(|id| !ids.insert(id))
            || record
                .new
                .explicit_slug()
                .is_some_and(|slug| !slugs.insert(slug.as_str()))
    })
}

/// The live records a batch names (each by the key it is matched on), read and locked
/// with one statement: the set-based write updates or skips them, and the slow way
/// looks up only those.
struct Known<R> {
    records: Vec<R>,
}

impl<R: Stored> Known<R> {
    /// None: the batch is taken to be all new.
    fn none() -> Self {
        Self {
            records: Vec::new(),
        }
    }

    async fn of<T: Table<Record = R>>(
        conn: &mut PgConnection,
        batch: &[&Pending<T::New>],
    ) -> Result<Self, ApiError> {
        let refs: Vec<Ref> = batch
            .iter()
            .filter_map(|record| reference_of(record).map(|(reference, _)| reference))
            .collect();
        let records = if refs.is_empty() {
            Vec::new()
        } else {
            T::lock_many(conn, &refs).await?
        };
        Ok(Self { records })
    }

    /// Which of the records `reference` names.
    fn find(&self, reference: &Ref) -> Option<usize> {
        self.records
            .iter()
            .position(|record| reference.names(record.id(), record.slug()))
    }

    fn has(&self, reference: &Ref) -> bool {
        self.find(reference).is_some()
    }

    /// Whether the record names one that exists, by the key it is matched on.
    fn holds<N: Sluggable>(&self, record: &Pending<N>) -> bool {
        self.named_by(record).is_some()
    }

    /// The existing record that `record` names, and the field of the key it names it by.
    fn named_by<N: Sluggable>(&self, record: &Pending<N>) -> Option<(&R, &'static str)> {
        let (reference, field) = reference_of(record)?;
        self.find(&reference)
            .map(|index| (&self.records[index], field))
    }
}

/// The refusal of a record whose key (`field`) names `current` under
/// `on_conflict=error`.
fn exists<T: Table>(current: &T::Record, field: &str) -> ApiError {
    let named = if field == "id" {
        current.id().to_string()
    } else {
        current.slug().to_owned()
    };
    ApiError::Validation(vec![FieldError::new(
        field,
        format!(
            "{} `{named}` exists (on_conflict=error; skip or update it instead)",
            T::KIND.singular()
        ),
    )])
}

/// The key a record is matched on (its `id`, else the slug it chose) and that key's
/// field name; `None` when it has neither.
fn reference_of<N: Sluggable>(record: &Pending<N>) -> Option<(Ref, &'static str)> {
    match (record.id, record.new.explicit_slug()) {
        (Some(id), _) => Some((Ref::Id(id), "id")),
        (None, Some(slug)) => Some((Ref::Slug(slug.clone()), "slug")),
        (None, None) => None,
    }
}

/// One record: created when nothing has its id (or, without one, its chosen slug), else
/// refused, skipped or replaced as `on_conflict` says. `known`, when given, says which
/// keys exist; without it each key is looked up.
async fn write_one<T: Table>(
    conn: &mut PgConnection,
    actor: &Actor,
    on_conflict: OnConflict,
    record: &Pending<T::New>,
    known: Option<&Known<T::Record>>,
) -> Result<Written, ApiError> {
    let (reference, field) = match reference_of(record) {
        Some((reference, field)) => (Some(reference), field),
        None => (None, ""),
    };
    let reference = reference.filter(|r| known.is_none_or(|known| known.has(r)));
    let existing = match &reference {
        Some(reference) => match T::lock(&mut *conn, reference).await {
            Ok(current) => Some(current),
            Err(ApiError::NotFound { .. }) => None,
            Err(error) => return Err(error),
        },
        None => None,
    };
    match (existing, on_conflict) {
        (None, _) => {
            let id = record.id.unwrap_or_else(Uuid::now_v7);
            records::create_as::<T>(conn, actor, id, &record.new).await?;
            Ok(Written::Created)
        }
        (Some(current), OnConflict::Error) => Err(exists::<T>(&current, field)),
        (Some(_), OnConflict::Skip) => Ok(Written::Skipped),
        (Some(current), OnConflict::Update) if T::restates(&record.new, &current) => {
            Ok(Written::Skipped)
        }
        (Some(current), OnConflict::Update) => {
            records::replace::<T>(conn, actor, &current, &record.new, true).await?;
            Ok(Written::Updated)
        }
    }
}
