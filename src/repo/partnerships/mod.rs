//! SQL for partnerships: the deal, its parties, tranches and timeline. Reads are in
//! [`read`]; this module holds the storage steps of writes.

mod read;

use anyhow::anyhow;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::audit::Action;
use super::events::{self, Rewritten};
use super::records::Table;
use super::{graph, slug_conflict, tag_strings};
use crate::error::ApiError;
use crate::model::partnership::{NewPartnership, Partnership, PartnershipInput};
use crate::model::{Event, FieldError, Ref, ResourceKind, Slug};
pub use read::list;
use read::{fetch_row, hydrate};

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

/// A deal by id or slug with everything it shows, inside the caller's transaction,
/// locked or not.
async fn load(
    conn: &mut PgConnection,
    reference: &Ref,
    for_update: bool,
) -> Result<Option<Partnership>, ApiError> {
    let Some(row) = fetch_row(&mut *conn, reference, for_update).await? else {
        return Ok(None);
    };
    Ok(hydrate(conn, vec![row]).await?.pop())
}

/// Partnerships, for the shared write flows of [`super::records`].
pub struct Partnerships;

impl Table for Partnerships {
    type Record = Partnership;
    type New = NewPartnership;
    type Input = PartnershipInput;

    fn parse(document: Value) -> Result<NewPartnership, Vec<FieldError>> {
        NewPartnership::from_json(document)
    }

    fn restates(new: &NewPartnership, current: &Partnership) -> bool {
        new.restates(current)
    }

    /// A deal with its parties, tranches and timeline.
    async fn find(db: &PgPool, reference: &Ref) -> Result<Option<Partnership>, ApiError> {
        let mut conn = db.acquire().await?;
        load(&mut conn, reference, false).await
    }

    async fn lock(conn: &mut PgConnection, reference: &Ref) -> Result<Partnership, ApiError> {
        load(conn, reference, true)
            .await?
            .ok_or_else(|| ApiError::not_found(KIND, reference))
    }

    async fn store(
        conn: &mut PgConnection,
        id: Uuid,
        slug: &Slug,
        new: &NewPartnership,
        insert: bool,
    ) -> Result<Partnership, ApiError> {
        write(&mut *conn, id, slug, new, insert).await?;
        load(conn, &Ref::Id(id), false)
            .await?
            .ok_or_else(|| anyhow!("a partnership vanished inside its own transaction").into())
    }

    /// The events of a renamed or deleted deal (the database rewrote them to show it,
    /// or to drop it).
    async fn rewritten_events(
        conn: &mut PgConnection,
        action: Action,
        written: &[(&Partnership, Option<&Partnership>)],
    ) -> Result<Vec<Event>, ApiError> {
        let shown: Vec<Uuid> = written
            .iter()
            .filter(|(now, before)| match action {
                Action::Create => false,
                Action::Update => {
                    before.is_some_and(|b| b.title != now.title || b.slug != now.slug)
                }
                Action::Delete => true,
            })
            .flat_map(|(deal, _)| deal.events.iter().map(|event| event.id))
            .collect();
        events::rewritten(conn, Rewritten::Among(&shown)).await
    }

    /// With its parties, tranches and event links; its events stay.
    async fn remove(conn: &mut PgConnection, current: &Partnership) -> Result<(), ApiError> {
        sqlx::query("delete from partnerships where id = $1")
            .bind(current.id)
            .execute(conn)
            .await?;
        Ok(())
    }
}
