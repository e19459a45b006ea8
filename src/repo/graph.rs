//! The links between resources: resolving company and partnership references, storing
//! an event's links, and loading the parties of many deals in one statement (never one
//! statement per row). An event's links are read with the event (`events::row`).

use std::collections::HashMap;

use sqlx::PgConnection;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::error::ApiError;
use crate::model::partnership::PartnershipRef;
use crate::model::party::CompanyRole;
use crate::model::role::Role;
use crate::model::{FieldError, Ref, ResourceKind};

/// The ids and the slugs among `refs`.
pub(crate) fn split_refs<'a>(refs: impl IntoIterator<Item = &'a Ref>) -> (Vec<Uuid>, Vec<String>) {
    let mut ids = Vec::new();
    let mut slugs = Vec::new();
    for r in refs {
        match r {
            Ref::Id(id) => ids.push(*id),
            Ref::Slug(slug) => slugs.push(slug.as_str().to_owned()),
        }
    }
    (ids, slugs)
}

/// The statement that finds records of `kind` by id or slug (live events only), as
/// [`Found`] rows; `to_link` locks the companies and deals found (see [`find_to_link`]).
fn lookup_sql(kind: ResourceKind, to_link: bool) -> &'static str {
    macro_rules! company {
        () => {
            "select id, slug, name as label from companies where id = any($1) or slug = any($2)"
        };
    }
    macro_rules! deal {
        () => {
            "select id, slug, title as label from partnerships where id = any($1) or slug = any($2)"
        };
    }
    match (kind, to_link) {
        (ResourceKind::Event, _) => {
            "select id, slug, title as label from events \
             where (id = any($1) or slug = any($2)) and deleted_at is null"
        }
        (ResourceKind::Company, false) => company!(),
        (ResourceKind::Company, true) => concat!(company!(), " for key share"),
        (ResourceKind::Partnership, false) => deal!(),
        (ResourceKind::Partnership, true) => concat!(deal!(), " for key share"),
    }
}

/// A record a reference found, with what an event shows of it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Found {
    /// The record's id.
    pub id: Uuid,
    /// Its slug.
    pub slug: String,
    /// Its name (a company) or title (a deal, an event).
    pub label: String,
}

/// The records `refs` name, in order; `None` for each that matches no record of `kind`.
/// The one way a `{ref}` becomes a record: the HTTP layer decides whether a miss is a
/// 404 (a path), a 400 (a query parameter) or a 422 (a body field).
pub async fn find(
    db: impl PgExecutor<'_>,
    kind: ResourceKind,
    refs: &[&Ref],
) -> Result<Vec<Option<Found>>, ApiError> {
    find_as(db, refs, lookup_sql(kind, false)).await
}

/// [`find`] for a write that is about to link an event to the records found and show
/// their names in it: each is locked (`FOR KEY SHARE`, the lock a foreign key's check
/// takes) until the transaction ends, so what the event shows stays true. A rename
/// first locks its record `FOR UPDATE` (the repository's write path, and the tables'
/// rename triggers for any other), so it waits for this transaction and then refreshes
/// the events linked meanwhile; a lookup that comes while a rename is under way waits
/// for it and then reads the new name.
pub async fn find_to_link(
    conn: &mut PgConnection,
    kind: ResourceKind,
    refs: &[&Ref],
) -> Result<Vec<Option<Found>>, ApiError> {
    find_as(conn, refs, lookup_sql(kind, true)).await
}

async fn find_as(
    db: impl PgExecutor<'_>,
    refs: &[&Ref],
    sql: &'static str,
) -> Result<Vec<Option<Found>>, ApiError> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    let (ids, slugs) = split_refs(refs.iter().copied());
    let found: Vec<Found> = sqlx::query_as(sql)
        .bind(ids)
        .bind(slugs)
        .fetch_all(db)
        .await?;
    // Indexed, so a long list (an import's batch) is matched in linear time.
    let by_id: HashMap<Uuid, &Found> = found.iter().map(|f| (f.id, f)).collect();
    let by_slug: HashMap<&str, &Found> = found.iter().map(|f| (f.slug.as_str(), f)).collect();
    Ok(refs
        .iter()
        .map(|r| match r {
            Ref::Id(want) => by_id.get(want).map(|&f| f.clone()),
            Ref::Slug(want) => by_slug.get(want.as_str()).map(|&f| f.clone()),
        })
        .collect())
}

/// The ids of `refs` in order; `None` for each that matches no record of `kind` (see
/// [`find`]).
pub async fn lookup(
    db: impl PgExecutor<'_>,
    kind: ResourceKind,
    refs: &[&Ref],
) -> Result<Vec<Option<Uuid>>, ApiError> {
    Ok(find(db, kind, refs)
        .await?
        .into_iter()
        .map(|found| found.map(|f| f.id))
        .collect())
}

/// One record's id by id or slug.
pub async fn id_of(
    db: impl PgExecutor<'_>,
    kind: ResourceKind,
    reference: &Ref,
) -> Result<Option<Uuid>, ApiError> {
    Ok(lookup(db, kind, &[reference]).await?.pop().flatten())
}

/// A 422 field error for each of `refs` that [`lookup`] did not find.
pub fn unknown_refs<T>(
    kind: ResourceKind,
    refs: &[&Ref],
    found: &[Option<T>],
    field: impl Fn(usize) -> String,
) -> Vec<FieldError> {
    found
        .iter()
        .enumerate()
        .filter(|(_, found)| found.is_none())
        .map(|(i, _)| FieldError::new(field(i), format!("no {kind} matches `{}`", refs[i])))
        .collect()
}

/// The ids of `refs` for a write that is about to reference them (a deal's parties),
/// each locked as [`find_to_link`] locks it; each unknown one is a 422 naming
/// `field(i)`. Locked here, before the write changes anything, rather than by the
/// foreign key's check at the end: a deal retitled while one of its parties is renamed
/// would otherwise rewrite the events that show both, then wait for the rename, which
/// waits to rewrite those same events (a deadlock, a 503 for one of the two).
pub async fn resolve(
    conn: &mut PgConnection,
    kind: ResourceKind,
    refs: &[&Ref],
    field: impl Fn(usize) -> String,
) -> Result<Vec<Uuid>, ApiError> {
    let found = find_to_link(&mut *conn, kind, refs).await?;
    let errors = unknown_refs(kind, refs, &found, field);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(found.into_iter().flatten().map(|found| found.id).collect())
}

#[derive(sqlx::FromRow)]
struct CompanyRoleRow {
    owner: Uuid,
    id: Uuid,
    slug: String,
    name: String,
    role: String,
}

/// The parties (with roles, in the order given) of each deal in `partnership_ids`.
pub async fn partnership_parties(
    db: impl PgExecutor<'_>,
    partnership_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<CompanyRole>>, ApiError> {
    let rows = sqlx::query_as::<_, CompanyRoleRow>(
        r#"
        select pp.partnership_id as owner, c.id, c.slug, c.name, pp.role
        from partnership_parties pp
        join companies c on c.id = pp.company_id
        where pp.partnership_id = any($1)
        order by pp.partnership_id, pp.position
        "#,
    )
    .bind(partnership_ids)
    .fetch_all(db)
    .await?;
    group_roles(rows)
}

fn group_roles(rows: Vec<CompanyRoleRow>) -> Result<HashMap<Uuid, Vec<CompanyRole>>, ApiError> {
    let mut map: HashMap<Uuid, Vec<CompanyRole>> = HashMap::new();
    for row in rows {
        let role = Role::parse(&row.role)
            .ok_or_else(|| anyhow::anyhow!("stored role `{}` is unknown", row.role))?;
        map.entry(row.owner).or_default().push(CompanyRole {
            id: row.id,
            slug: row.slug,
            name: row.name,
            role,
        });
    }
    Ok(map)
}

/// Removes every company and deal link of `events` (before their links are written
/// again, or when they are deleted), with one statement per link table.
pub async fn delete_event_links(conn: &mut PgConnection, events: &[Uuid]) -> Result<(), ApiError> {
    sqlx::query("delete from event_companies where event_id = any($1)")
        .bind(events)
        .execute(&mut *conn)
        .await?;
    sqlx::query("delete from event_partnerships where event_id = any($1)")
        .bind(events)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// One new event's links: its companies with their roles, and its deals, in order.
pub struct EventLinks<'a> {
    /// The event.
    pub event: Uuid,
    /// Its companies, with roles.
    pub companies: &'a [CompanyRole],
    /// Its deals.
    pub partnerships: &'a [PartnershipRef],
}

/// A link refused because the company or deal it names was deleted after the write
/// looked it up (the link tables' checks, SQLSTATE 23503): a 409 the client can retry,
/// which then names the reference as unknown; not a server error.
fn gone_meanwhile(error: sqlx::Error) -> ApiError {
    match &error {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => ApiError::Conflict(
            "a company or deal this event names was deleted while it was being written".into(),
        ),
        _ => error.into(),
    }
}

/// Writes the link rows of events that have none (new ones, or ones whose links were
/// just deleted), in order, with one statement per link table.
pub async fn insert_event_links(
    conn: &mut PgConnection,
    events: &[EventLinks<'_>],
) -> Result<(), ApiError> {
    let mut company_rows = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut deal_rows = (Vec::new(), Vec::new(), Vec::new());
    for EventLinks {
        event: event_id,
        companies,
        partnerships,
    } in events
    {
        for (position, company) in (0i16..).zip(companies.iter()) {
            company_rows.0.push(*event_id);
            company_rows.1.push(company.id);
            company_rows.2.push(company.role.as_str());
            company_rows.3.push(position);
        }
        for (position, deal) in (0i16..).zip(partnerships.iter()) {
            deal_rows.0.push(*event_id);
            deal_rows.1.push(deal.id);
            deal_rows.2.push(position);
        }
    }
    if !company_rows.0.is_empty() {
        sqlx::query(
            "insert into event_companies (event_id, company_id, role, position) \
             select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::smallint[])",
        )
        .bind(company_rows.0)
        .bind(company_rows.1)
        .bind(company_rows.2)
        .bind(company_rows.3)
        .execute(&mut *conn)
        .await
        .map_err(gone_meanwhile)?;
    }
    if !deal_rows.0.is_empty() {
        sqlx::query(
            "insert into event_partnerships (event_id, partnership_id, position) \
             select * from unnest($1::uuid[], $2::uuid[], $3::smallint[])",
        )
        .bind(deal_rows.0)
        .bind(deal_rows.1)
        .bind(deal_rows.2)
        .execute(&mut *conn)
        .await
        .map_err(gone_meanwhile)?;
    }
    Ok(())
}
