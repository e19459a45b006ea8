//! The write flows every resource shares: create, patch and delete, each with its
//! audit row in the write's transaction. A resource supplies only its storage steps
//! ([`Table`]); the order of the steps, the slug rule, `If-Match` and the merge patch
//! are written once, here.

use std::future::Future;

use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::audit::{self, Action, Actor};
use super::webhooks::{self, Change};
use super::{SlugWanted, pick_slugs};
use crate::error::ApiError;
use crate::model::patch::merge_into;
use crate::model::webhook::ChangeVerb;
use crate::model::{Event, FieldError, Precondition, Ref, ResourceKind, Slug, Stored};

/// What a validated write tells the flows about the slug it wants.
pub trait Sluggable {
    /// The slug the client chose, if any.
    fn explicit_slug(&self) -> Option<&Slug>;
    /// The text a slug is made from otherwise (a title or a name).
    fn slug_source(&self) -> &str;
}

/// One resource's storage steps.
pub trait Table: 'static {
    /// The record as stored and shown.
    type Record: Stored + Serialize + Send + Sync;
    /// Which resource this is.
    const KIND: ResourceKind = <Self::Record as Stored>::KIND;
    /// A validated write.
    type New: Sluggable + Send + Sync;
    /// Whether [`Table::prepare`] does anything: an import of a resource that prepares
    /// nothing takes no second connection.
    const PREPARES: bool = false;
    /// The request type: what a client sends, and what a merge patch is applied to.
    type Input: Serialize + for<'a> From<&'a Self::Record>;

    /// Validates a request document.
    fn parse(document: Value) -> Result<Self::New, Vec<FieldError>>;

    /// Whether storing `new` over `current` would leave it as it is (every field it
    /// writes equal; without a slug it keeps the record's): a `PATCH` and an import's
    /// `on_conflict=update` leave such a record alone instead of making a new version
    /// that differs in nothing.
    fn restates(new: &Self::New, current: &Self::Record) -> bool;

    /// One record by id or slug, with everything it shows.
    fn find(
        db: &PgPool,
        reference: &Ref,
    ) -> impl Future<Output = Result<Option<Self::Record>, ApiError>> + Send;

    /// The record a write is about, locked for the rest of the transaction, with
    /// everything it shows (the merge patch and the audit row need all of it); a 404
    /// when there is none.
    fn lock(
        conn: &mut PgConnection,
        reference: &Ref,
    ) -> impl Future<Output = Result<Self::Record, ApiError>> + Send;

    /// The live records that `refs` name, each once, locked for the rest of the
    /// transaction (in a fixed order, so that two writers cannot deadlock on them); a
    /// reference that names nothing is left out. A resource whose records are updated
    /// in bulk reads them with one statement; the others one at a time.
    fn lock_many(
        conn: &mut PgConnection,
        refs: &[Ref],
    ) -> impl Future<Output = Result<Vec<Self::Record>, ApiError>> + Send {
        async move {
            let mut sorted: Vec<&Ref> = refs.iter().collect();
            sorted.sort_by_key(|r| r.to_string());
            let mut locked: Vec<Self::Record> = Vec::with_capacity(refs.len());
            for reference in sorted {
                match Self::lock(&mut *conn, reference).await {
                    Ok(record) if !locked.iter().any(|r| r.id() == record.id()) => {
                        locked.push(record);
                    }
                    Ok(_) | Err(ApiError::NotFound { .. }) => {}
                    Err(error) => return Err(error),
                }
            }
            Ok(locked)
        }
    }

    /// Work on a batch of validated writes that needs no transaction, done on a second
    /// connection while the import writes the batch before (so on the machine's other
    /// core): events compute their search vectors there. What it adds to the writes is
    /// what the database would otherwise compute as it stores them, so leaving it
    /// undone (no connection to spare, a failure) changes nothing but the speed. Each
    /// write comes with the id its record carries, if any. Nothing, by default
    /// ([`Table::PREPARES`] says whether there is anything).
    fn prepare(
        conn: &mut PgConnection,
        news: &mut [(Option<Uuid>, &mut Self::New)],
    ) -> impl Future<Output = Result<(), ApiError>> + Send {
        let _ = (conn, news);
        async { Ok(()) }
    }

    /// Upkeep of the table's indexes that the writes of an import leave behind, done on
    /// the import's helper connection from time to time (see [`Table::prepare`]) so the
    /// writes themselves need not stop for it. Best effort; nothing, by default.
    fn tidy(conn: &mut PgConnection) -> impl Future<Output = ()> + Send {
        let _ = conn;
        async {}
    }

    /// About how much writing `new` leaves for [`Table::tidy`], in bytes of the text
    /// its indexes take in (the importer tidies after so much). None, by default.
    fn tidy_load(new: &Self::New) -> usize {
        let _ = new;
        0
    }

    /// Stores `new` as the record `id` (a new one when `insert`) and returns it as it
    /// now stands; a taken slug is a 409, an unknown reference a 422.
    fn store(
        conn: &mut PgConnection,
        id: Uuid,
        slug: &Slug,
        new: &Self::New,
        insert: bool,
    ) -> impl Future<Output = Result<Self::Record, ApiError>> + Send;

    /// Stores new records (`id`, slug, write) and returns them as they now stand, in
    /// order; an error refuses them all (the caller's savepoint takes back what was
    /// written). A resource whose records arrive in bulk writes them with a few
    /// statements; the others store them one at a time.
    fn store_new(
        conn: &mut PgConnection,
        rows: &[(Uuid, Slug, &Self::New)],
    ) -> impl Future<Output = Result<Vec<Self::Record>, ApiError>> + Send {
        store_each::<Self>(conn, rows, true)
    }

    /// Stores the next version of existing records (`id`, slug, write), locked by the
    /// caller, and returns them as they now stand, in order; an error refuses them all.
    /// A resource whose records are updated in bulk writes them with a few statements;
    /// the others store them one at a time.
    fn store_existing(
        conn: &mut PgConnection,
        rows: &[(Uuid, Slug, &Self::New)],
    ) -> impl Future<Output = Result<Vec<Self::Record>, ApiError>> + Send {
        store_each::<Self>(conn, rows, false)
    }

    /// The events the database rewrote because of these writes of `action` (an event
    /// shows the names of its companies and deals, so renaming one, or deleting a deal,
    /// rewrites every event that shows it), as they now stand: each is an update of the
    /// event, and webhooks hear of it as one. Each entry is a record as it now stands
    /// (as it last stood, for a delete) and, for an update, the record it replaced.
    fn rewritten_events(
        conn: &mut PgConnection,
        action: Action,
        written: &[(&Self::Record, Option<&Self::Record>)],
    ) -> impl Future<Output = Result<Vec<Event>, ApiError>> + Send {
        let _ = (conn, action, written);
        async { Ok(Vec::new()) }
    }

    /// Removes the record (or leaves its tombstone); a 409 when others still name it.
    fn remove(
        conn: &mut PgConnection,
        record: &Self::Record,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}

/// [`Table::store`] for each row in turn: the bulk writes of a resource that has no
/// set-based ones.
async fn store_each<T: Table + ?Sized>(
    conn: &mut PgConnection,
    rows: &[(Uuid, Slug, &T::New)],
    insert: bool,
) -> Result<Vec<T::Record>, ApiError> {
    let mut stored = Vec::with_capacity(rows.len());
    for (id, slug, new) in rows {
        stored.push(T::store(&mut *conn, *id, slug, new, insert).await?);
    }
    Ok(stored)
}

/// Creates a record inside the caller's transaction (which may also hold its
/// idempotency key), with its audit row.
#[tracing::instrument(skip_all, fields(resource = %T::KIND))]
pub async fn create<T: Table>(
    conn: &mut PgConnection,
    actor: &Actor,
    new: T::New,
) -> Result<T::Record, ApiError> {
    create_as::<T>(conn, actor, Uuid::now_v7(), &new).await
}

/// Creates a record with the id it is given (an import's record may carry one), inside
/// the caller's transaction, with its audit row.
pub async fn create_as<T: Table>(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    new: &T::New,
) -> Result<T::Record, ApiError> {
    let mut created = create_many::<T>(conn, actor, &[(id, new)]).await?;
    created
        .pop()
        .ok_or_else(|| anyhow::anyhow!("a create stored no record").into())
}

/// Creates records with the ids they are given, in order, inside the caller's
/// transaction, with their audit rows and webhook messages: what [`create_as`] does for
/// each, with a few statements for all (an import's batch). An error refuses them all;
/// slugs are chosen as if they were created one after the other.
pub async fn create_many<T: Table>(
    conn: &mut PgConnection,
    actor: &Actor,
    records: &[(Uuid, &T::New)],
) -> Result<Vec<T::Record>, ApiError> {
    let wanted: Vec<SlugWanted<'_>> = records
        .iter()
        .map(|(id, new)| SlugWanted {
            explicit: new.explicit_slug(),
            source: new.slug_source(),
            id: *id,
            current: None,
        })
        .collect();
    let slugs = pick_slugs(&mut *conn, T::KIND, &wanted).await?;
    let rows: Vec<(Uuid, Slug, &T::New)> = records
        .iter()
        .zip(slugs)
        .map(|((id, new), slug)| (*id, slug, *new))
        .collect();
    let stored = T::store_new(&mut *conn, &rows).await?;
    let noted: Vec<(&T::Record, Option<&T::Record>)> = stored.iter().map(|r| (r, None)).collect();
    note::<T>(conn, actor, Action::Create, &noted).await?;
    Ok(stored)
}

/// Applies a JSON Merge Patch to a record, atomically with the `If-Match` check: the
/// patched document is validated like a create. A patch that changes nothing answers
/// the record as it stands.
#[tracing::instrument(skip_all, fields(resource = %T::KIND))]
pub async fn patch<T: Table>(
    db: &PgPool,
    actor: &Actor,
    reference: Ref,
    precondition: Precondition,
    patch: Value,
) -> Result<T::Record, ApiError> {
    let mut tx = db.begin().await?;
    let current = locked::<T>(&mut tx, &reference, &precondition).await?;
    let new = T::parse(merge_into(&T::Input::from(&current), &patch)?)?;
    // A patch that leaves every field as it is makes no new version (nor a revision,
    // an audit row or a webhook message), as an import's update of an equal record;
    // one that clears the slug, only if the slug made again is the one it has.
    if T::restates(&new, &current) && keeps_its_slug::<T>(&mut tx, &new, &current).await? {
        return Ok(current);
    }
    let record = replace::<T>(&mut tx, actor, &current, &new, false).await?;
    tx.commit().await?;
    Ok(record)
}

/// Whether writing `new` over `current` leaves the slug as it is. A slug the client
/// gives is compared by [`Table::restates`]; without one, the slug is made again as the
/// write would make it (from the title, suffixed when another record holds it).
async fn keeps_its_slug<T: Table>(
    conn: &mut PgConnection,
    new: &T::New,
    current: &T::Record,
) -> Result<bool, ApiError> {
    if new.explicit_slug().is_some() {
        return Ok(true);
    }
    let wanted = SlugWanted {
        explicit: None,
        source: new.slug_source(),
        id: current.id(),
        current: Some(current.slug()),
    };
    let made = pick_slugs(conn, T::KIND, &[wanted]).await?;
    Ok(made
        .first()
        .is_some_and(|slug| slug.as_str() == current.slug()))
}

/// Stores `new` as the next version of `current` (locked by the caller's transaction),
/// with its audit row: the second half of a patch, and an import's `on_conflict=update`.
/// With `keep_slug`, a `new` that names no slug keeps the current one (an imported
/// record without a slug replaces a record's content, not its address); without it, a
/// slug is made from the new title as for a create.
pub async fn replace<T: Table>(
    conn: &mut PgConnection,
    actor: &Actor,
    current: &T::Record,
    new: &T::New,
    keep_slug: bool,
) -> Result<T::Record, ApiError> {
    let mut replaced = replace_many::<T>(conn, actor, &[(current, new)], keep_slug).await?;
    replaced
        .pop()
        .ok_or_else(|| anyhow::anyhow!("a replace stored no record").into())
}

/// [`replace`] for several records at once (an import's batch), with a few statements
/// for all: each `new` becomes the next version of its `current`, in order, with its
/// audit row and webhook messages; slugs are chosen as if they were written one after
/// the other, except that a slug an update gives up is not free for the later ones (the
/// caller sends such batches one record at a time). An error refuses them all.
pub async fn replace_many<T: Table>(
    conn: &mut PgConnection,
    actor: &Actor,
    records: &[(&T::Record, &T::New)],
    keep_slug: bool,
) -> Result<Vec<T::Record>, ApiError> {
    let kept: Vec<Option<Slug>> = records
        .iter()
        .map(|(current, new)| {
            (keep_slug && new.explicit_slug().is_none())
                .then(|| Slug::parse(current.slug()).ok())
                .flatten()
        })
        .collect();
    let wanted: Vec<SlugWanted<'_>> = records
        .iter()
        .zip(&kept)
        .map(|((current, new), kept)| SlugWanted {
            explicit: new.explicit_slug().or(kept.as_ref()),
            source: new.slug_source(),
            id: current.id(),
            current: Some(current.slug()),
        })
        .collect();
    let slugs = pick_slugs(&mut *conn, T::KIND, &wanted).await?;
    let rows: Vec<(Uuid, Slug, &T::New)> = records
        .iter()
        .zip(slugs)
        .map(|((current, new), slug)| (current.id(), slug, *new))
        .collect();
    let stored = T::store_existing(&mut *conn, &rows).await?;
    let noted: Vec<(&T::Record, Option<&T::Record>)> = stored
        .iter()
        .zip(records)
        .map(|(record, (current, _))| (record, Some(*current)))
        .collect();
    note::<T>(conn, actor, Action::Update, &noted).await?;
    Ok(stored)
}

/// Deletes a record, atomically with the `If-Match` check. The delete is a change
/// (polls see tombstones), so it takes the next version; its revision keeps the
/// record as it last stood.
#[tracing::instrument(skip_all, fields(resource = %T::KIND))]
pub async fn delete<T: Table>(
    db: &PgPool,
    actor: &Actor,
    reference: Ref,
    precondition: Precondition,
) -> Result<(), ApiError> {
    let mut tx = db.begin().await?;
    let current = locked::<T>(&mut tx, &reference, &precondition).await?;
    T::remove(&mut tx, &current).await?;
    note::<T>(&mut tx, actor, Action::Delete, &[(&current, None)]).await?;
    tx.commit().await?;
    Ok(())
}

/// What every write leaves beside its record, in its transaction: the audit row
/// (which is also the record's revision) and the webhook messages it causes, for
/// writes of one action, with a statement each for all of them. Each entry is the
/// record as it now stands (as it last stood, for a delete) and, for an update, the
/// record it replaced.
async fn note<T: Table>(
    conn: &mut PgConnection,
    actor: &Actor,
    action: Action,
    written: &[(&T::Record, Option<&T::Record>)],
) -> Result<(), ApiError> {
    // A delete takes the next version; its revision keeps the record as it last stood.
    let (bump, verb) = match action {
        Action::Create => (0, ChangeVerb::Created),
        Action::Update => (0, ChangeVerb::Updated),
        Action::Delete => (1, ChangeVerb::Deleted),
    };
    if written.is_empty() {
        return Ok(());
    }
    // The audit rows first: each record's document as text, as the column keeps it.
    let rows: Vec<(Uuid, i64, String)> = written
        .iter()
        .map(|(record, _)| {
            Ok::<_, serde_json::Error>((
                record.id(),
                record.version() + bump,
                serde_json::to_string(record)?,
            ))
        })
        .collect::<Result<_, _>>()?;
    // Event updates too, whatever was written: a write may make the database rewrite
    // events (see `rewritten_events`). The documents are made only for a listener.
    let listeners = webhooks::listeners(
        &mut *conn,
        &[(T::KIND, verb), (ResourceKind::Event, ChangeVerb::Updated)],
    )
    .await?;
    if !listeners.is_empty() {
        enqueue_changes::<T>(&mut *conn, &listeners, action, verb, written).await?;
    }
    audit::record(conn, actor, action, T::KIND, &rows).await
}

/// The webhook messages of [`note`]'s writes, for `listeners`: each record as it now
/// stands and the one it replaced (a filter is judged on both), and the events the
/// writes made the database rewrite, which have no revision of their own (nothing was
/// written to the event itself) but are updates to a subscriber.
async fn enqueue_changes<T: Table>(
    conn: &mut PgConnection,
    listeners: &webhooks::Listeners,
    action: Action,
    verb: ChangeVerb,
    written: &[(&T::Record, Option<&T::Record>)],
) -> Result<(), ApiError> {
    let mut records = Vec::with_capacity(written.len());
    let mut befores = Vec::with_capacity(written.len());
    for (record, before) in written {
        records.push(serde_json::to_value(record)?);
        befores.push(before.map(serde_json::to_value).transpose()?);
    }
    let rewritten = T::rewritten_events(&mut *conn, action, written).await?;
    let rewritten: Vec<Value> = rewritten
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    let changes: Vec<Change<'_>> = records
        .iter()
        .zip(&befores)
        .map(|(record, before)| Change {
            kind: T::KIND,
            verb,
            record,
            before: before.as_ref(),
        })
        .chain(rewritten.iter().map(|event| Change {
            kind: ResourceKind::Event,
            verb: ChangeVerb::Updated,
            record: event,
            before: None,
        }))
        .collect();
    webhooks::enqueue(conn, listeners, &changes).await?;
    Ok(())
}

/// The record a write is about, locked, with its `If-Match` checked.
async fn locked<T: Table>(
    conn: &mut PgConnection,
    reference: &Ref,
    precondition: &Precondition,
) -> Result<T::Record, ApiError> {
    let current = T::lock(conn, reference).await?;
    precondition
        .check(current.id(), current.version())
        .map_err(|current| ApiError::PreconditionFailed { current })?;
    Ok(current)
}

/// Implements [`Sluggable`] for writes with a `slug` and the named source field.
macro_rules! sluggable {
    ($($type:ty => $source:ident),+) => {
        $(impl Sluggable for $type {
            fn explicit_slug(&self) -> Option<&Slug> {
                self.slug.as_ref()
            }
            fn slug_source(&self) -> &str {
                &self.$source
            }
        })+
    };
}

sluggable!(
    crate::model::NewEvent => title,
    crate::model::NewCompany => name,
    crate::model::NewPartnership => title
);
