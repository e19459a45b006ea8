//! Reading deals: the row, its parties, tranches and timeline (three statements
//! however many deals), one deal, and the filtered list.

use std::collections::HashMap;

use anyhow::anyhow;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::error::ApiError;
use crate::model::list::partnerships::{PartnershipCursor, PartnershipFilter};
use crate::model::money::Money;
use crate::model::partnership::{
    Partnership, PartnershipKind, PartnershipStatus, TimelineEvent, Tranche,
};
use crate::model::{Page, Ref};
use crate::repo::{graph, keyset_page, tag_strings};

/// The columns every read of a deal's row takes, in [`PartnershipRow`] order.
pub(super) const COLUMNS: &str = "p.id, p.slug, p.title, p.kind, p.status, p.announced_on, p.ended_on, \
     p.total_amount, p.total_currency, p.terms, p.exclusive, p.tags, p.created_at, \
     p.updated_at, p.version";

#[derive(sqlx::FromRow)]
pub(super) struct PartnershipRow {
    pub(super) id: Uuid,
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
    pub(super) version: i64,
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
pub(super) async fn hydrate(
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

pub(super) async fn fetch_row(
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
    let rows = qb
        .build_query_as::<PartnershipRow>()
        .fetch_all(&mut *conn)
        .await?;
    let (rows, next) = keyset_page(rows, filter.limit, |row| PartnershipCursor {
        fingerprint: filter.fingerprint(),
        announced_on: row.announced_on,
        id: row.id,
    });
    Ok(Page {
        items: hydrate(&mut conn, rows).await?,
        next,
    })
}
