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
use crate::model::{FieldError, Ref, ResourceKind, Slug, Stored};

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
    /// Left out: it exists (`on_conflict=skip`).
    Skipped,
}

/// Writes a batch under one savepoint. When a record of it is refused, the batch is
/// rolled back to the savepoint and written again a record at a time, each under a
/// savepoint of its own: a refused write can abort the transaction (a taken slug is
/// found by its unique index), and this way it takes nothing else with it. The answer
/// is each record's line and outcome, in order; a failure of the database itself (a 5xx)
/// ends the import instead.
pub async fn write_batch<T: Table>(
    conn: &mut PgConnection,
    actor: &Actor,
    on_conflict: OnConflict,
    batch: &[Pending<T::New>],
) -> Result<Vec<(u64, Result<Written, ApiError>)>, ApiError> {
    // Every statement of an import looks records up by key, and the table's statistics
    // know nothing of the rows this transaction has added: left to them, the planner
    // may scan the whole table for each record (foreign-key checks included), which
    // made an import into an empty table slow down as it grew (33 records/s at 10,000).
    sqlx::query("set local enable_seqscan = off")
        .execute(&mut *conn)
        .await?;
    let known = Known::of::<T>(&mut *conn, batch).await?;
    // The common case, a batch of new records, is written with a few statements for
    // all of them; if one is refused, the batch goes the slow way below, which finds
    // and names it.
    if !batch.iter().any(|record| known.holds(record)) {
        let mut savepoint = conn.begin().await?;
        let creates: Vec<(Uuid, &T::New)> = batch
            .iter()
            .map(|record| (record.id.unwrap_or_else(Uuid::now_v7), &record.new))
            .collect();
        match records::create_many::<T>(&mut savepoint, actor, &creates).await {
            Ok(_) => {
                savepoint.commit().await?;
                return Ok(batch
                    .iter()
                    .map(|record| (record.line, Ok(Written::Created)))
                    .collect());
            }
            Err(error) if error.status().is_server_error() => return Err(error),
            Err(_) => savepoint.rollback().await?,
        }
    }
    let mut savepoint = conn.begin().await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut refused = false;
    for record in batch {
        match write_one::<T>(&mut savepoint, actor, on_conflict, record, Some(&known)).await {
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

/// The ids and slugs of a batch that name live records, read in one statement so that
/// only those records are looked up (and locked) one by one.
struct Known {
    ids: HashSet<Uuid>,
    slugs: HashSet<String>,
}

impl Known {
    async fn of<T: Table>(
        conn: &mut PgConnection,
        batch: &[Pending<T::New>],
    ) -> Result<Self, ApiError> {
        let ids: Vec<Uuid> = batch.iter().filter_map(|r| r.id).collect();
        let slugs: Vec<&str> = batch
            .iter()
            .filter_map(|r| r.new.explicit_slug().map(Slug::as_str))
            .collect();
        if ids.is_empty() && slugs.is_empty() {
            return Ok(Self {
                ids: HashSet::new(),
                slugs: HashSet::new(),
            });
        }
        let found: Vec<(Uuid, String)> = sqlx::query_as(match T::KIND {
            ResourceKind::Event => {
                "select id, slug from events \
                 where deleted_at is null and (id = any($1) or slug = any($2))"
            }
            ResourceKind::Company => {
                "select id, slug from companies where id = any($1) or slug = any($2)"
            }
            ResourceKind::Partnership => {
                "select id, slug from partnerships where id = any($1) or slug = any($2)"
            }
        })
        .bind(&ids)
        .bind(&slugs)
        // Planned afresh each time: a prepared statement's generic plan is made once,
        // while the table is small, and kept; this one's scanned the whole slug index
        // (with a filter) for every batch, a third of a 50,000-record import's time.
        .persistent(false)
        .fetch_all(&mut *conn)
        .await?;
        Ok(Self {
            ids: found.iter().map(|(id, _)| *id).collect(),
            slugs: found.into_iter().map(|(_, slug)| slug).collect(),
        })
    }

    fn has(&self, reference: &Ref) -> bool {
        match reference {
            Ref::Id(id) => self.ids.contains(id),
            Ref::Slug(slug) => self.slugs.contains(slug.as_str()),
        }
    }

    /// Whether the record names one that exists, by the key it is matched on.
    fn holds<N: Sluggable>(&self, record: &Pending<N>) -> bool {
        reference_of(record).is_some_and(|(reference, _)| self.has(&reference))
    }
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
    known: Option<&Known>,
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
        (Some(current), OnConflict::Error) => {
            let named = if field == "id" {
                current.id().to_string()
            } else {
                current.slug().to_owned()
            };
            Err(ApiError::Validation(vec![FieldError::new(
                field,
                format!(
                    "{} `{named}` exists (on_conflict=error; skip or update it instead)",
                    T::KIND.singular()
                ),
            )]))
        }
        (Some(_), OnConflict::Skip) => Ok(Written::Skipped),
        (Some(current), OnConflict::Update) => {
            records::replace::<T>(conn, actor, &current, &record.new, true).await?;
            Ok(Written::Updated)
        }
    }
}
