//! SQL for events: lookups and the storage steps of writes (the list is in [`list`]).

mod list;
mod row;

use anyhow::anyhow;
use serde_json::Value;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::records::Table;
use super::{graph, tag_strings};
use crate::error::ApiError;
use crate::model::role::Role;
use crate::model::{Event, EventInput, FieldError, NewEvent, Ref, ResourceKind, Slug};
pub use list::list;
use row::{EventRow, event_columns, event_links, event_values, event_written};

const KIND: ResourceKind = ResourceKind::Event;

const INSERT: &str = concat!(
    "insert into events as e (id, ",
    event_written!(),
    ") values ($1, ",
    event_values!(),
    ")"
);

const UPDATE: &str = concat!(
    "update events as e set (",
    event_written!(),
    ") = row(",
    event_values!(),
    ") where e.id = $1"
);

/// Binds what a write stores, in the order of `event_written!`.
fn bind_new(
    sql: &'static str,
    id: Uuid,
    slug: &Slug,
    new: &NewEvent,
) -> Query<'static, Postgres, PgArguments> {
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
        // Stored by `link`, in their own tables.
        companies: _,
        partnerships: _,
    } = new;
    sqlx::query(sql)
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
        ", ",
        event_links!(),
        " from events e where "
    ));
    push_ref(&mut qb, reference);
    if for_update {
        qb.push(" for update");
    }
    let row = qb.build_query_as::<EventRow>().fetch_optional(db).await?;
    row.map(EventRow::into_event).transpose()
}

/// Resolves and stores the companies and deals `new` names for the event `id` (every
/// unknown reference is reported at once).
async fn link(conn: &mut PgConnection, id: Uuid, new: &NewEvent) -> Result<(), ApiError> {
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
    let roles: Vec<(Uuid, Role)> = companies
        .into_iter()
        .flatten()
        .zip(new.companies.iter().map(|c| c.role))
        .collect();
    let deals: Vec<Uuid> = deals.into_iter().flatten().collect();
    graph::replace_event_links(conn, id, &roles, &deals).await
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
        bind_new(if insert { INSERT } else { UPDATE }, id, slug, new)
            .execute(&mut *conn)
            .await
            .map_err(|e| super::slug_conflict(KIND, e, slug))?;
        link(&mut *conn, id, new).await?;
        // Read back as every read reads it, links included.
        fetch(conn, &Ref::Id(id), false)
            .await?
            .ok_or_else(|| anyhow!("an event vanished inside its own transaction").into())
    }

    /// Leaves a tombstone for `updated_since` polls; its links go, as for any delete.
    async fn remove(conn: &mut PgConnection, current: &Event) -> Result<(), ApiError> {
        sqlx::query("update events set deleted_at = now() where id = $1")
            .bind(current.id)
            .execute(&mut *conn)
            .await?;
        graph::replace_event_links(conn, current.id, &[], &[]).await
    }
}
