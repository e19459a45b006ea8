//! SQL for partnerships: the deal, its parties, tranches and timeline.

use std::collections::HashMap;

use anyhow::anyhow;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::audit::{self, Action, Actor};
use super::{check_precondition, graph, pick_slug, slug_conflict, tag_strings};
use crate::error::ApiError;
use crate::model::list::partnerships::{PartnershipCursor, PartnershipFilter};
use crate::model::money::Money;
use crate::model::partnership::{
    NewPartnership, Partnership, PartnershipInput, PartnershipKind, PartnershipStatus,
    TimelineEvent, Tranche,
};
use crate::model::patch::merge_into;
use crate::model::{Page, Precondition, Ref, ResourceKind, Slug};

const KIND: ResourceKind = ResourceKind::Partnership;

/// The columns a write sets on the deal's row, in the order `write` binds them
/// after the id.
macro_rules! partnership_written {
    () => {
        "slug, title, kind, status, announced_on, ended_on, total_amount, total_currency, \
         terms, exclusive, tags"
    };
}

/// The placeholders of `partnership_written!`.
macro_rules! partnership_values {
    () => {
        "$2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12"
    };
}

const INSERT: &str = concat!(
    "insert into partnerships (id, ",
    partnership_written!(),
    ") values ($1, ",
    partnership_values!(),
    ")"
);

const UPDATE: &str = concat!(
    "update partnerships set (",
    partnership_written!(),
    ") = row(",
    partnership_values!(),
    ") where id = $1"
);

const COLUMNS: &str = "p.id, p.slug, p.title, p.kind, p.status, p.announced_on, p.ended_on, \
     p.total_amount, p.total_currency, p.terms, p.exclusive, p.tags, p.created_at, \
     p.updated_at, p.version";

#[derive(sqlx::FromRow)]
struct PartnershipRow {
    id: Uuid,
    slug: String,
    title: String,
    kind: String,
    status: String,
    announced_on: NaiveDate,
    ended_on: Option<NaiveDate>,
    total_amount: Option<Decimal>,
    total_currency: Option<String>,
    terms: Vec<String>,
    exclusive: bool,
    tags: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

#[derive(sqlx::FromRow)]
struct TrancheRow {
    partnership_id: Uuid,
    amount: Decimal,
    currency: String,
    paid_on: NaiveDate,
    note: String,
}

#[derive(sqlx::FromRow)]
struct TimelineRow {
    partnership_id: Uuid,
    id: Uuid,
    slug: String,
    title: String,
    occurred_on: NaiveDate,
}

/// Turns rows into full deals with three more statements, however many rows there are.
async fn hydrate(
    db: &mut PgConnection,
    rows: Vec<PartnershipRow>,
) -> Result<Vec<Partnership>, ApiError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut parties = graph::partnership_parties(&mut *db, &ids).await?;
    let mut tranches: HashMap<Uuid, Vec<Tranche>> = HashMap::new();
    for t in sqlx::query_as::<_, TrancheRow>(
        "select partnership_id, amount, currency, paid_on, note from partnership_tranches \
         where partnership_id = any($1) order by partnership_id, position",
    )
    .bind(&ids)
    .fetch_all(&mut *db)
    .await?
    {
        tranches.entry(t.partnership_id).or_default().push(Tranche {
            amount: Money {
                amount: t.amount,
                currency: t.currency,
            },
            on: t.paid_on,
            note: t.note,
        });
    }
    let mut timelines: HashMap<Uuid, Vec<TimelineEvent>> = HashMap::new();
    for e in sqlx::query_as::<_, TimelineRow>(
        r#"
        select ep.partnership_id, e.id, e.slug, e.title, e.occurred_on
        from event_partnerships ep
        join events e on e.id = ep.event_id
        where ep.partnership_id = any($1) and e.deleted_at is null
        order by ep.partnership_id, e.occurred_on desc, e.id desc
        "#,
    )
    .bind(&ids)
    .fetch_all(&mut *db)
    .await?
    {
        timelines
            .entry(e.partnership_id)
            .or_default()
            .push(TimelineEvent {
                id: e.id,
                slug: e.slug,
                title: e.title,
                occurred_on: e.occurred_on,
            });
    }
    rows.into_iter()
        .map(|row| {
            let kind = PartnershipKind::parse(&row.kind)
                .ok_or_else(|| anyhow!("stored kind `{}` is unknown", row.kind))?;
            let status = PartnershipStatus::parse(&row.status)
                .ok_or_else(|| anyhow!("stored status `{}` is unknown", row.status))?;
            let total = match (row.total_amount, row.total_currency) {
                (Some(amount), Some(currency)) => Some(Money { amount, currency }),
                _ => None,
            };
            Ok(Partnership {
                parties: parties.remove(&row.id).unwrap_or_default(),
                tranches: tranches.remove(&row.id).unwrap_or_default(),
                events: timelines.remove(&row.id).unwrap_or_default(),
                id: row.id,
                slug: row.slug,
                title: row.title,
                kind,
                status,
                announced_on: row.announced_on,
                ended_on: row.ended_on,
                total,
                terms: row.terms,
                exclusive: row.exclusive,
                tags: row.tags,
                created_at: row.created_at,
                updated_at: row.updated_at,
                version: row.version,
            })
        })
        .collect()
}

fn push_ref(qb: &mut QueryBuilder<Postgres>, reference: &Ref) {
    match reference {
        Ref::Id(id) => qb.push("p.id = ").push_bind(*id),
        Ref::Slug(slug) => qb.push("p.slug = ").push_bind(slug.as_str().to_owned()),
    };
}

async fn fetch_row(
    db: impl PgExecutor<'_>,
    reference: &Ref,
    for_update: bool,
) -> Result<Option<PartnershipRow>, ApiError> {
    let mut qb =
        QueryBuilder::<Postgres>::new(format!("select {COLUMNS} from partnerships p where "));
    push_ref(&mut qb, reference);
    if for_update {
        qb.push(" for update");
    }
    Ok(qb
        .build_query_as::<PartnershipRow>()
        .fetch_optional(db)
        .await?)
}

/// One deal by id or slug, with its parties, tranches and timeline.
#[tracing::instrument(skip_all)]
pub async fn find(db: &PgPool, reference: &Ref) -> Result<Option<Partnership>, ApiError> {
    let mut conn = db.acquire().await?;
    let Some(row) = fetch_row(&mut *conn, reference, false).await? else {
        return Ok(None);
    };
    Ok(hydrate(&mut conn, vec![row]).await?.pop())
}

/// A page of deals matching `filter`, newest announced first. `company` must already
/// be resolved to `company_id` by the caller.
#[tracing::instrument(skip_all)]
pub async fn list(
    db: &PgPool,
    filter: &PartnershipFilter,
    company_id: Option<Uuid>,
) -> Result<Page<Partnership, PartnershipCursor>, ApiError> {
    let mut qb =
        QueryBuilder::<Postgres>::new(format!("select {COLUMNS} from partnerships p where true"));
    if let Some(company) = company_id {
        qb.push(" and exists (select 1 from partnership_parties pp where pp.partnership_id = p.id and pp.company_id = ")
            .push_bind(company)
            .push(")");
    }
    if !filter.kinds.is_empty() {
        let kinds: Vec<&str> = filter.kinds.iter().map(|k| k.as_str()).collect();
        qb.push(" and p.kind = any(").push_bind(kinds).push(")");
    }
    if !filter.statuses.is_empty() {
        let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        qb.push(" and p.status = any(")
            .push_bind(statuses)
            .push(")");
    }
    if !filter.tags.is_empty() {
        qb.push(" and p.tags @> ")
            .push_bind(tag_strings(&filter.tags));
    }
    if let Some(from) = filter.from {
        qb.push(" and p.announced_on >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        qb.push(" and p.announced_on <= ").push_bind(to);
    }
    if let Some(cursor) = &filter.cursor {
        qb.push(" and (p.announced_on, p.id) < (")
            .push_bind(cursor.announced_on)
            .push(", ")
            .push_bind(cursor.id)
            .push(")");
    }
    qb.push(" order by p.announced_on desc, p.id desc limit ")
        .push_bind(i64::from(filter.limit) + 1);
    let mut conn = db.acquire().await?;
    let mut rows = qb
        .build_query_as::<PartnershipRow>()
        .fetch_all(&mut *conn)
        .await?;
    let next = if rows.len() > filter.limit as usize {
        rows.truncate(filter.limit as usize);
        rows.last().map(|row| PartnershipCursor {
            fingerprint: filter.fingerprint(),
            announced_on: row.announced_on,
            id: row.id,
        })
    } else {
        None
    };
    Ok(Page {
        items: hydrate(&mut conn, rows).await?,
        next,
    })
}

/// Writes the deal's row, parties and tranches (replacing any there were).
async fn write(
    conn: &mut PgConnection,
    id: Uuid,
    slug: &Slug,
    new: &NewPartnership,
    insert: bool,
) -> Result<(), ApiError> {
    let refs: Vec<&Ref> = new.parties.iter().map(|p| &p.company).collect();
    let company_ids = graph::resolve(&mut *conn, ResourceKind::Company, &refs, |i| {
        format!("parties[{i}].company")
    })
    .await?;
    let NewPartnership {
        slug: _,
        title,
        kind,
        status,
        // Stored below, in their own tables.
        parties: _,
        announced_on,
        ended_on,
        total,
        tranches: _,
        terms,
        exclusive,
        tags,
    } = new;
    let sql = if insert { INSERT } else { UPDATE };
    sqlx::query(sql)
        .bind(id)
        .bind(slug.as_str())
        .bind(title)
        .bind(kind.as_str())
        .bind(status.as_str())
        .bind(announced_on)
        .bind(ended_on)
        .bind(total.as_ref().map(|m| m.amount))
        .bind(total.as_ref().map(|m| m.currency.as_str()))
        .bind(terms)
        .bind(exclusive)
        .bind(tag_strings(tags))
        .execute(&mut *conn)
        .await
        .map_err(|e| slug_conflict(KIND, e, slug))?;
    sqlx::query("delete from partnership_parties where partnership_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let roles: Vec<&str> = new.parties.iter().map(|p| p.role.as_str()).collect();
    sqlx::query(
        "insert into partnership_parties (partnership_id, company_id, role, position) \
         select $1, c, r, (n - 1)::smallint from unnest($2::uuid[], $3::text[]) with ordinality as x(c, r, n)",
    )
    .bind(id)
    .bind(company_ids)
    .bind(roles)
    .execute(&mut *conn)
    .await?;
    sqlx::query("delete from partnership_tranches where partnership_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if !new.tranches.is_empty() {
        let amounts: Vec<Decimal> = new.tranches.iter().map(|t| t.amount.amount).collect();
        let currencies: Vec<&str> = new
            .tranches
            .iter()
            .map(|t| t.amount.currency.as_str())
            .collect();
        let dates: Vec<NaiveDate> = new.tranches.iter().map(|t| t.on).collect();
        let notes: Vec<&str> = new.tranches.iter().map(|t| t.note.as_str()).collect();
        sqlx::query(
            "insert into partnership_tranches (partnership_id, position, amount, currency, paid_on, note) \
             select $1, (n - 1)::smallint, a, c, d, t \
             from unnest($2::numeric[], $3::text[], $4::date[], $5::text[]) with ordinality as x(a, c, d, t, n)",
        )
        .bind(id)
        .bind(amounts)
        .bind(currencies)
        .bind(dates)
        .bind(notes)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Creates a deal inside the caller's transaction, with its audit row; unknown parties
/// are a 422, a taken explicit slug a 409.
#[tracing::instrument(skip_all)]
pub async fn insert(
    conn: &mut PgConnection,
    actor: &Actor,
    new: NewPartnership,
) -> Result<Partnership, ApiError> {
    let id = Uuid::now_v7();
    let slug = pick_slug(&mut *conn, KIND, new.slug.as_ref(), &new.title, id, None).await?;
    write(&mut *conn, id, &slug, &new, true).await?;
    let deal = reload(&mut *conn, id).await?;
    audit::record(
        conn,
        actor,
        Action::Create,
        KIND,
        deal.id,
        deal.version,
        &deal,
    )
    .await?;
    Ok(deal)
}

/// The deal a write is about: locked for the rest of the transaction, its `If-Match`
/// checked, and hydrated (the merge-patch document and the audit row need all of it).
async fn locked(
    conn: &mut PgConnection,
    reference: &Ref,
    precondition: &Precondition,
) -> Result<Partnership, ApiError> {
    let row = fetch_row(&mut *conn, reference, true)
        .await?
        .ok_or_else(|| ApiError::not_found(KIND, reference))?;
    check_precondition(precondition, row.id, row.version)?;
    hydrate(conn, vec![row])
        .await?
        .pop()
        .ok_or_else(|| anyhow!("hydrating a partnership gave nothing").into())
}

/// A deal as stored right now, inside the caller's transaction.
async fn reload(conn: &mut PgConnection, id: Uuid) -> Result<Partnership, ApiError> {
    let row = fetch_row(&mut *conn, &Ref::Id(id), false)
        .await?
        .ok_or_else(|| anyhow!("a partnership vanished inside its own transaction"))?;
    hydrate(conn, vec![row])
        .await?
        .pop()
        .ok_or_else(|| anyhow!("hydrating a partnership gave nothing").into())
}

/// Applies a JSON Merge Patch, atomically with the `If-Match` check.
#[tracing::instrument(skip_all)]
pub async fn patch(
    db: &PgPool,
    actor: &Actor,
    reference: Ref,
    precondition: Precondition,
    patch: Value,
) -> Result<Partnership, ApiError> {
    let mut tx = db.begin().await?;
    let current = locked(&mut tx, &reference, &precondition).await?;
    let new = NewPartnership::from_json(merge_into(&PartnershipInput::from(&current), &patch)?)?;
    let slug = pick_slug(
        &mut tx,
        KIND,
        new.slug.as_ref(),
        &new.title,
        current.id,
        Some(&current.slug),
    )
    .await?;
    write(&mut tx, current.id, &slug, &new, false).await?;
    let deal = reload(&mut tx, current.id).await?;
    audit::record(
        &mut tx,
        actor,
        Action::Update,
        KIND,
        deal.id,
        deal.version,
        &deal,
    )
    .await?;
    tx.commit().await?;
    Ok(deal)
}

/// Deletes a deal with its parties, tranches and event links; events stay.
#[tracing::instrument(skip_all)]
pub async fn delete(
    db: &PgPool,
    actor: &Actor,
    reference: Ref,
    precondition: Precondition,
) -> Result<(), ApiError> {
    let mut tx = db.begin().await?;
    let current = locked(&mut tx, &reference, &precondition).await?;
    sqlx::query("delete from partnerships where id = $1")
        .bind(current.id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        Action::Delete,
        KIND,
        current.id,
        current.version + 1,
        &current,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
