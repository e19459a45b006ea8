//! SQL for events: lookups and the storage steps of writes (the list is in [`list`]).

pub mod changes;
mod list;
mod row;
mod vector;

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::graph::{self, Found};
use super::records::Table;
use crate::error::ApiError;
use crate::model::partnership::PartnershipRef;
use crate::model::party::CompanyRole;
use crate::model::{
    Category, Event, EventInput, FieldError, NewEvent, Ref, ResourceKind, SearchVector,
    Significance, Slug, Source, Tag,
};
pub use list::{
    Listed, Ranked, event_of_row, list, push_export_query, rank, ranked_page, timeline_counts,
};
use row::{
    EventRow, EventStamps, event_columns, event_from_record, event_recordset, event_stamps,
    event_written,
};
use vector::BinaryVector;

const KIND: ResourceKind = ResourceKind::Event;

/// The companies (with roles) and deals an event names, resolved, in order: as the
/// event shows them (the row keeps them so).
struct Links {
    companies: Vec<CompanyRole>,
    partnerships: Vec<PartnershipRef>,
}

/// Stores new events: `$1` is a JSON array of [`WrittenRow`]s, `$2` their vectors.
const INSERT: &str = concat!(
    "insert into events as e (id, ",
    event_written!(),
    ") select r.id, ",
    event_from_record!(),
    " from ",
    event_recordset!(),
    " returning ",
    event_stamps!()
);

/// Stores the next version of events: `$1` is a JSON array of [`WrittenRow`]s, `$2`
/// their vectors.
const UPDATE: &str = concat!(
    "update events as e set (",
    event_written!(),
    ") = row(",
    event_from_record!(),
    ") from ",
    event_recordset!(),
    " where e.id = r.id returning ",
    event_stamps!()
);

/// What a write stores, as one element of the JSON array `event_recordset!` reads:
/// the rows of a batch go to the database as one document, which it reads faster
/// than as many parameters (a multi-row `VALUES` took twice as long). It is also what
/// the write answers with ([`WrittenRow::stored`]): the row is not read back.
#[derive(Serialize)]
struct WrittenRow<'a> {
    id: Uuid,
    slug: &'a str,
    title: &'a str,
    occurred_on: NaiveDate,
    /// As the column keeps it, its wire name.
    #[serde(serialize_with = "category_text")]
    category: Category,
    /// As the column keeps it, its rank.
    #[serde(serialize_with = "significance_rank")]
    significance: Significance,
    summary: &'a str,
    what_happened: &'a str,
    why_it_matters: &'a str,
    tags: Vec<&'a str>,
    sources: &'a [Source],
    /// The links as the event shows them. Rendered here from the references' lookup
    /// rather than by the database's `event_company_links`/`event_partnership_links`
    /// (which make the same JSON from the link tables, for the rewrites after a rename):
    /// called once per row, those were a tenth of an import's insert.
    companies: &'a [CompanyRole],
    partnerships: &'a [PartnershipRef],
}

fn category_text<S: serde::Serializer>(category: &Category, to: S) -> Result<S::Ok, S::Error> {
    to.serialize_str(category.as_str())
}

fn significance_rank<S: serde::Serializer>(
    significance: &Significance,
    to: S,
) -> Result<S::Ok, S::Error> {
    to.serialize_i16(significance.rank())
}

impl<'a> WrittenRow<'a> {
    fn new(id: Uuid, slug: &'a Slug, new: &'a NewEvent, links: &'a Links) -> Self {
        let NewEvent {
            slug: _,
            title,
            occurred_on,
            category,
            significance,
            summary,
            what_happened,
            why_it_matters,
            tags,
            sources,
            // Resolved to `links` first.
            companies: _,
            partnerships: _,
            // Sent beside the document (see `event_recordset!`).
            search_vector: _,
        } = new;
        Self {
            id,
            slug: slug.as_str(),
            title,
            occurred_on: *occurred_on,
            category: *category,
            significance: *significance,
            summary,
            what_happened,
            why_it_matters,
            tags: tags.iter().map(Tag::as_str).collect(),
            sources,
            companies: &links.companies,
            partnerships: &links.partnerships,
        }
    }

    /// The event as this row stored it, with what the database set. Every column but
    /// the stamps holds what the write sent, and sending the texts back to be parsed
    /// again cost an import about a twentieth of its time (its writing backend and the
    /// service both did the work, one after the other).
    fn stored(&self, stamps: EventStamps) -> Event {
        let Self {
            id: _,
            slug,
            title,
            occurred_on,
            category,
            significance,
            summary,
            what_happened,
            why_it_matters,
            tags,
            sources,
            companies,
            partnerships,
        } = self;
        let EventStamps {
            id,
            created_at,
            updated_at,
            version,
        } = stamps;
        Event {
            id,
            slug: (*slug).to_owned(),
            title: (*title).to_owned(),
            occurred_on: *occurred_on,
            category: *category,
            significance: *significance,
            summary: (*summary).to_owned(),
            what_happened: (*what_happened).to_owned(),
            why_it_matters: (*why_it_matters).to_owned(),
            tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
            sources: sources.to_vec(),
            companies: companies.to_vec(),
            partnerships: partnerships.to_vec(),
            created_at,
            updated_at,
            version,
        }
    }
}

/// Pushes the condition that selects a live event by id or slug.
fn push_ref(qb: &mut QueryBuilder<Postgres>, reference: &Ref) {
    match reference {
        Ref::Id(id) => qb.push("e.id = ").push_bind(*id),
        Ref::Slug(slug) => qb.push("e.slug = ").push_bind(slug.as_str().to_owned()),
    };
    qb.push(" and e.deleted_at is null");
}

async fn fetch(
    db: impl PgExecutor<'_>,
    reference: &Ref,
    for_update: bool,
) -> Result<Option<Event>, ApiError> {
    let mut qb = QueryBuilder::<Postgres>::new(concat!(
        "select ",
        event_columns!(),
        " from events e where "
    ));
    push_ref(&mut qb, reference);
    if for_update {
        qb.push(" for update");
    }
    let row = qb.build_query_as::<EventRow>().fetch_optional(db).await?;
    row.map(EventRow::into_event).transpose()
}

/// Resolves the companies and deals each of `news` names, with one lookup per kind for
/// all of them; the first write that names an unknown record is refused, with every
/// unknown reference it has.
async fn resolve_links(
    conn: &mut PgConnection,
    news: &[&NewEvent],
) -> Result<Vec<Links>, ApiError> {
    let company_refs: Vec<&Ref> = news
        .iter()
        .flat_map(|new| new.companies.iter().map(|c| &c.company))
        .collect();
    let deal_refs: Vec<&Ref> = news
        .iter()
        .flat_map(|new| new.partnerships.iter())
        .collect();
    let mut companies = graph::find_to_link(&mut *conn, ResourceKind::Company, &company_refs)
        .await?
        .into_iter();
    let mut deals = graph::find_to_link(&mut *conn, ResourceKind::Partnership, &deal_refs)
        .await?
        .into_iter();
    let mut resolved = Vec::with_capacity(news.len());
    for new in news {
        let company_refs: Vec<&Ref> = new.companies.iter().map(|c| &c.company).collect();
        let deal_refs: Vec<&Ref> = new.partnerships.iter().collect();
        let its_companies: Vec<Option<Found>> =
            companies.by_ref().take(company_refs.len()).collect();
        let its_deals: Vec<Option<Found>> = deals.by_ref().take(deal_refs.len()).collect();
        let mut errors: Vec<FieldError> =
            graph::unknown_refs(ResourceKind::Company, &company_refs, &its_companies, |i| {
                format!("companies[{i}].company")
            });
        errors.extend(graph::unknown_refs(
            ResourceKind::Partnership,
            &deal_refs,
            &its_deals,
            |i| format!("partnerships[{i}]"),
        ));
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        resolved.push(Links {
            companies: its_companies
                .into_iter()
                .flatten()
                .zip(new.companies.iter().map(|c| c.role))
                .map(|(company, role)| CompanyRole {
                    id: company.id,
                    slug: company.slug,
                    name: company.label,
                    role,
                })
                .collect(),
            partnerships: its_deals
                .into_iter()
                .flatten()
                .map(|deal| PartnershipRef {
                    id: deal.id,
                    slug: deal.slug,
                    title: deal.label,
                })
                .collect(),
        });
    }
    Ok(resolved)
}

/// Stores events with one statement per table: the rows (with their links as they show
/// them) and then the link rows; new ones when `insert`, else the next
/// version of existing ones (whose old links go first). Returned in the order given.
async fn write_rows(
    conn: &mut PgConnection,
    rows: &[(Uuid, Slug, &NewEvent)],
    insert: bool,
) -> Result<Vec<Event>, ApiError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let news: Vec<&NewEvent> = rows.iter().map(|(_, _, new)| *new).collect();
    let links = resolve_links(&mut *conn, &news).await?;
    let written: Vec<WrittenRow<'_>> = rows
        .iter()
        .zip(&links)
        .map(|((id, slug, new), links)| WrittenRow::new(*id, slug, new, links))
        .collect();
    // Computed ahead by an import's helper; `None` has the table's trigger compute it.
    let vectors: Vec<Option<BinaryVector<'_>>> = rows
        .iter()
        .map(|(_, _, new)| new.search_vector.as_ref().map(|v| BinaryVector(&v.0)))
        .collect();
    let stamps: Vec<EventStamps> = sqlx::query_as(if insert { INSERT } else { UPDATE })
        .bind(Json(&written))
        .bind(vectors)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| super::rows_conflict(KIND, e, rows))?;
    // The link tables, which filters and foreign keys use, follow the rows.
    let ids: Vec<Uuid> = rows.iter().map(|(id, _, _)| *id).collect();
    if !insert {
        graph::delete_event_links(&mut *conn, &ids).await?;
    }
    let linked: Vec<graph::EventLinks<'_>> = ids
        .iter()
        .zip(&links)
        .map(|(id, links)| graph::EventLinks {
            event: *id,
            companies: &links.companies,
            partnerships: &links.partnerships,
        })
        .collect();
    graph::insert_event_links(conn, &linked).await?;
    let stamps = super::in_order(KIND, ids, stamps, |row| row.id)?;
    Ok(written
        .iter()
        .zip(stamps)
        .map(|(row, stamps)| row.stored(stamps))
        .collect())
}

/// The search vectors of `news` (each with the id its record carries, if any), in
/// order, as the database's `event_search_vector` (the function the table's trigger
/// uses) makes them from their texts. A record that exists with the same four texts
/// (by its id, or else by its chosen slug) takes the stored vector instead, which that
/// function made from those texts: a re-import of mostly unchanged records would
/// otherwise compute them all again. Outside the import's transaction this reads the
/// committed rows; whichever version it finds, equal texts mean an equal vector.
async fn search_vectors(
    conn: &mut PgConnection,
    news: &[(Option<Uuid>, &mut NewEvent)],
) -> Result<Vec<SearchVector>, ApiError> {
    let texts = |text: fn(&NewEvent) -> &str| -> Vec<&str> {
        news.iter().map(|(_, new)| text(new)).collect()
    };
    let ids: Vec<Option<Uuid>> = news.iter().map(|(id, _)| *id).collect();
    let slugs: Vec<Option<&str>> = news
        .iter()
        .map(|(_, new)| new.slug.as_ref().map(Slug::as_str))
        .collect();
    let vectors: Vec<Vec<u8>> = sqlx::query_scalar(
        "select tsvectorsend(coalesce( \
           (select e.search from events e \
             where e.id = coalesce(t.id, (select s.id from events s \
                                          where s.slug = t.slug and s.deleted_at is null)) \
               and e.title = t.title and e.summary = t.summary \
               and e.what_happened = t.what_happened and e.why_it_matters = t.why_it_matters), \
           event_search_vector(t.title, t.summary, t.what_happened, t.why_it_matters))) \
         from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) \
              with ordinality as t (id, slug, title, summary, what_happened, why_it_matters, n) \
         order by t.n",
    )
    .bind(ids)
    .bind(slugs)
    .bind(texts(|new| &new.title))
    .bind(texts(|new| &new.summary))
    .bind(texts(|new| &new.what_happened))
    .bind(texts(|new| &new.why_it_matters))
    .fetch_all(conn)
    .await?;
    if vectors.len() != news.len() {
        return Err(
            anyhow::anyhow!("{} search vectors for {} events", vectors.len(), news.len()).into(),
        );
    }
    Ok(vectors.into_iter().map(SearchVector).collect())
}

/// Set once the database has refused to merge the GIN indexes' pending entries (the
/// service's role does not own them), so that imports stop asking.
static PENDING_MERGE_REFUSED: AtomicBool = AtomicBool::new(false);

/// SQLSTATE `insufficient_privilege`.
const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// Merges the entries waiting in the pending lists of the events' two GIN indexes into
/// the indexes proper. An insert appends its search and tag entries to such a list,
/// and the insert that finds the list over `gin_pending_list_limit` merges all of it
/// while its own statement waits: for an import, about a tenth of its writing
/// backend's time (profiled), on the one core its transaction runs on. Merged here, on
/// the import's helper connection after about every MiB of text, the list mostly stays
/// under that limit, so the import's own inserts rarely find anything to merge. The
/// entries of rows not yet committed merge like any other (a GIN entry carries no
/// visibility; the heap does). Best effort: only the indexes'
/// owner may merge, and without it the writer merges as before.
async fn merge_pending_index_entries(conn: &mut PgConnection) {
    if PENDING_MERGE_REFUSED.load(Ordering::Relaxed) {
        return;
    }
    let merged = sqlx::query(
        "select gin_clean_pending_list('events_search_idx'::regclass), \
                gin_clean_pending_list('events_tags_idx'::regclass)",
    )
    .execute(conn)
    .await;
    let Err(error) = merged else { return };
    let refused = error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == INSUFFICIENT_PRIVILEGE);
    if refused {
        PENDING_MERGE_REFUSED.store(true, Ordering::Relaxed);
        tracing::warn!(
            error = %error,
            "imports leave the GIN indexes' pending entries to the inserts that find them"
        );
    } else {
        tracing::warn!(error = %error, "an import batch's GIN pending entries were not merged");
    }
}

/// Which events to look for among those a write of another record made the database
/// rewrite in this transaction (an event shows the names of its companies and deals).
pub enum Rewritten<'a> {
    /// Those that name one of these companies.
    NamingCompanies(&'a [Uuid]),
    /// Those among these events.
    Among(&'a [Uuid]),
}

/// The live events of `which` that this transaction has written, as they now stand, in
/// id order: after a company or deal is renamed (or a deal deleted), the events the
/// database rewrote to show it.
pub async fn rewritten(
    conn: &mut PgConnection,
    which: Rewritten<'_>,
) -> Result<Vec<Event>, ApiError> {
    let (sql, ids) = match which {
        Rewritten::NamingCompanies(ids) => (
            concat!(
                "select ",
                event_columns!(),
                " from events e where e.xid = pg_current_xact_id() and e.deleted_at is null \
                 and e.id in (select event_id from event_companies where company_id = any($1)) \
                 order by e.id"
            ),
            ids,
        ),
        Rewritten::Among(ids) => (
            concat!(
                "select ",
                event_columns!(),
                " from events e where e.xid = pg_current_xact_id() and e.deleted_at is null \
                 and e.id = any($1) order by e.id"
            ),
            ids,
        ),
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<EventRow> = sqlx::query_as(sql).bind(ids).fetch_all(conn).await?;
    rows.into_iter().map(EventRow::into_event).collect()
}

/// Events, for the shared write flows of [`super::records`].
pub struct Events;

impl Table for Events {
    type Record = Event;
    type New = NewEvent;
    type Input = EventInput;
    const PREPARES: bool = true;

    fn parse(document: Value) -> Result<NewEvent, Vec<FieldError>> {
        NewEvent::from_json(document)
    }

    fn restates(new: &NewEvent, current: &Event) -> bool {
        new.restates(current)
    }

    /// A live event by id or slug, with its companies and deals: one statement.
    async fn find(db: &PgPool, reference: &Ref) -> Result<Option<Event>, ApiError> {
        fetch(db, reference, false).await
    }

    async fn lock(conn: &mut PgConnection, reference: &Ref) -> Result<Event, ApiError> {
        fetch(conn, reference, true)
            .await?
            .ok_or_else(|| ApiError::not_found(KIND, reference))
    }

    async fn lock_many(conn: &mut PgConnection, refs: &[Ref]) -> Result<Vec<Event>, ApiError> {
        let (ids, slugs) = graph::split_refs(refs);
        // In id order, so two writers locking overlapping sets cannot deadlock. Planned
        // afresh each time: a prepared statement's generic plan is made once, while the
        // table is small, and kept; such a plan of this lookup scanned the whole slug
        // index (with a filter) for every batch, a third of a 50,000-record import.
        let rows: Vec<EventRow> = sqlx::query_as(concat!(
            "select ",
            event_columns!(),
            " from events e where e.deleted_at is null and (e.id = any($1) or e.slug = any($2)) \
             order by e.id for update"
        ))
        .bind(ids)
        .bind(slugs)
        .persistent(false)
        .fetch_all(&mut *conn)
        .await?;
        rows.into_iter().map(EventRow::into_event).collect()
    }

    async fn prepare(
        conn: &mut PgConnection,
        news: &mut [(Option<Uuid>, &mut NewEvent)],
    ) -> Result<(), ApiError> {
        let vectors = search_vectors(conn, news).await?;
        for ((_, new), vector) in news.iter_mut().zip(vectors) {
            new.search_vector = Some(vector);
        }
        Ok(())
    }

    async fn tidy(conn: &mut PgConnection) {
        merge_pending_index_entries(conn).await;
    }

    /// The texts the search index takes in.
    fn tidy_load(new: &NewEvent) -> usize {
        new.title.len() + new.summary.len() + new.what_happened.len() + new.why_it_matters.len()
    }

    async fn store(
        conn: &mut PgConnection,
        id: Uuid,
        slug: &Slug,
        new: &NewEvent,
        insert: bool,
    ) -> Result<Event, ApiError> {
        write_rows(conn, &[(id, slug.clone(), new)], insert)
            .await?
            .pop()
            .ok_or_else(|| anyhow::anyhow!("a write stored no event").into())
    }

    async fn store_new(
        conn: &mut PgConnection,
        rows: &[(Uuid, Slug, &NewEvent)],
    ) -> Result<Vec<Event>, ApiError> {
        write_rows(conn, rows, true).await
    }

    async fn store_existing(
        conn: &mut PgConnection,
        rows: &[(Uuid, Slug, &NewEvent)],
    ) -> Result<Vec<Event>, ApiError> {
        write_rows(conn, rows, false).await
    }

    /// Leaves a tombstone for `updated_since` polls; its links go, as for any delete.
    async fn remove(conn: &mut PgConnection, current: &Event) -> Result<(), ApiError> {
        sqlx::query(
            "update events set deleted_at = now(), companies = '[]', partnerships = '[]' \
             where id = $1",
        )
        .bind(current.id)
        .execute(&mut *conn)
        .await?;
        graph::delete_event_links(conn, &[current.id]).await
    }
}
