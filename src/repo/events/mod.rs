//! SQL for events: lookups and the storage steps of writes (the list is in [`list`]).

pub mod changes;
mod list;
mod row;

use serde_json::Value;
use sqlx::postgres::PgArguments;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::records::Table;
use super::{graph, tag_strings};
use crate::error::ApiError;
use crate::model::role::Role;
use crate::model::{Event, EventInput, FieldError, NewEvent, Ref, ResourceKind, Slug};
pub use list::{
    Listed, Ranked, event_of_row, list, push_export_query, rank, ranked_page, timeline_counts,
};
use row::{EventRow, event_columns, event_values, event_written};

const KIND: ResourceKind = ResourceKind::Event;

const INSERT: &str = concat!(
    "insert into events as e (id, ",
    event_written!(),
    ") values ($1, ",
    event_values!(),
    ") returning ",
    event_columns!()
);

const UPDATE: &str = concat!(
    "update events as e set (",
    event_written!(),
    ") = row(",
    event_values!(),
    ") where e.id = $1 returning ",
    event_columns!()
);

/// The companies (with roles) and deals an event names, resolved to ids, in order.
struct Links {
    companies: Vec<(Uuid, Role)>,
    partnerships: Vec<Uuid>,
}

/// Binds what a write stores, in the order of `event_written!`.
fn bind_new<'q>(
    sql: &'static str,
    id: Uuid,
    slug: &Slug,
    new: &NewEvent,
    links: &Links,
) -> sqlx::query::QueryAs<'q, Postgres, EventRow, PgArguments> {
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
    } = new;
    let company_ids: Vec<Uuid> = links.companies.iter().map(|(id, _)| *id).collect();
    let roles: Vec<&'static str> = links.companies.iter().map(|(_, r)| r.as_str()).collect();
    sqlx::query_as(sql)
        .bind(id)
        .bind(slug.as_str().to_owned())
        .bind(title.clone())
        .bind(*occurred_on)
        .bind(category.as_str())
        .bind(significance.rank())
        .bind(summary.clone())
        .bind(what_happened.clone())
        .bind(why_it_matters.clone())
        .bind(tag_strings(tags))
        .bind(Json(sources.clone()))
        .bind(company_ids)
        .bind(roles)
        .bind(links.partnerships.clone())
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

/// Resolves the companies and deals `new` names (every unknown reference is reported at
/// once).
async fn resolve_links(conn: &mut PgConnection, new: &NewEvent) -> Result<Links, ApiError> {
    let company_refs: Vec<&Ref> = new.companies.iter().map(|c| &c.company).collect();
    let deal_refs: Vec<&Ref> = new.partnerships.iter().collect();
    let companies = graph::lookup(&mut *conn, ResourceKind::Company, &company_refs).await?;
    let deals = graph::lookup(&mut *conn, ResourceKind::Partnership, &deal_refs).await?;
    let mut errors: Vec<FieldError> =
        graph::unknown_refs(ResourceKind::Company, &company_refs, &companies, |i| {
            format!("companies[{i}].company")
        });
    errors.extend(graph::unknown_refs(
        ResourceKind::Partnership,
        &deal_refs,
        &deals,
        |i| format!("partnerships[{i}]"),
    ));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(Links {
        companies: companies
            .into_iter()
            .flatten()
            .zip(new.companies.iter().map(|c| c.role))
            .collect(),
        partnerships: deals.into_iter().flatten().collect(),
    })
}

/// Events, for the shared write flows of [`super::records`].
pub struct Events;

impl Table for Events {
    type Record = Event;
    type New = NewEvent;
    type Input = EventInput;

    fn parse(document: Value) -> Result<NewEvent, Vec<FieldError>> {
        NewEvent::from_json(document)
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

    async fn store(
        conn: &mut PgConnection,
        id: Uuid,
        slug: &Slug,
        new: &NewEvent,
        insert: bool,
    ) -> Result<Event, ApiError> {
        let links = resolve_links(&mut *conn, new).await?;
        // The row's links are rendered from `links` by the same statement; the link
        // tables, which filters and foreign keys use, follow.
        let row = bind_new(if insert { INSERT } else { UPDATE }, id, slug, new, &links)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| super::slug_conflict(KIND, e, slug))?;
        graph::replace_event_links(conn, id, &links.companies, &links.partnerships, !insert)
            .await?;
        row.into_event()
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
        graph::replace_event_links(conn, current.id, &[], &[], true).await
    }
}
