//! SQL for companies: lookups, the filtered keyset list, and transactional writes.

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::audit::Action;
use super::events::{self, Rewritten};
use super::records::Table;
use super::{in_order, keyset_page, rows_conflict, tag_strings};
use crate::error::ApiError;
use crate::model::{
    Company, CompanyCursor, CompanyFilter, CompanyInput, CompanyKind, Event, FieldError,
    NewCompany, Page, Ref, ResourceKind, Slug,
};

const KIND: ResourceKind = ResourceKind::Company;

/// The columns every company statement reads, in [`CompanyRow`] order: `select`s and
/// `returning` clauses alike, so a column is added in one place.
macro_rules! company_columns {
    () => {
        "c.id, c.slug, c.name, c.kind, c.country, c.website, c.description, c.tags, \
         c.created_at, c.updated_at, c.version"
    };
}

/// The columns a write sets, in the order of `company_from_record!`.
macro_rules! company_written {
    () => {
        "slug, name, kind, country, website, description, tags"
    };
}

/// The rows a write stores, read from `$1`, a JSON array of [`WrittenRow`]s (its field
/// names and types, column by column).
macro_rules! company_recordset {
    () => {
        "jsonb_to_recordset($1) as r (id uuid, slug text, name text, kind text, \
         country text, website text, description text, tags text[])"
    };
}

/// The values of `company_written!` from a row `r` of `company_recordset!`.
macro_rules! company_from_record {
    () => {
        "r.slug, r.name, r.kind, r.country, r.website, r.description, r.tags"
    };
}

/// Stores new companies: `$1` is a JSON array of [`WrittenRow`]s.
const INSERT: &str = concat!(
    "insert into companies as c (id, ",
    company_written!(),
    ") select r.id, ",
    company_from_record!(),
    " from ",
    company_recordset!(),
    " returning ",
    company_columns!()
);

/// Stores the next version of companies: `$1` is a JSON array of [`WrittenRow`]s.
const UPDATE: &str = concat!(
    "update companies as c set (",
    company_written!(),
    ") = row(",
    company_from_record!(),
    ") from ",
    company_recordset!(),
    " where c.id = r.id returning ",
    company_columns!()
);

/// What a write stores, as one element of the JSON array `company_recordset!` reads (a
/// batch of an import goes as one document, as events do).
#[derive(Serialize)]
struct WrittenRow<'a> {
    id: Uuid,
    slug: &'a str,
    name: &'a str,
    kind: &'static str,
    country: Option<&'a str>,
    website: Option<&'a str>,
    description: &'a str,
    tags: Vec<String>,
}

impl<'a> WrittenRow<'a> {
    fn new(id: Uuid, slug: &'a Slug, new: &'a NewCompany) -> Self {
        let NewCompany {
            slug: _,
            name,
            kind,
            country,
            website,
            description,
            tags,
        } = new;
        Self {
            id,
            slug: slug.as_str(),
            name,
            kind: kind.as_str(),
            country: country.as_deref(),
            website: website.as_deref(),
            description,
            tags: tag_strings(tags),
        }
    }
}

/// Stores companies with one statement: new ones when `insert`, else the next version
/// of existing ones. Returned in the order given.
async fn write_rows(
    conn: &mut PgConnection,
    rows: &[(Uuid, Slug, &NewCompany)],
    insert: bool,
) -> Result<Vec<Company>, ApiError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let written: Vec<WrittenRow<'_>> = rows
        .iter()
        .map(|(id, slug, new)| WrittenRow::new(*id, slug, new))
        .collect();
    let stored: Vec<CompanyRow> = sqlx::query_as(if insert { INSERT } else { UPDATE })
        .bind(Json(&written))
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| rows_conflict(KIND, e, rows))?;
    in_order(KIND, rows.iter().map(|(id, _, _)| *id), stored, |row| {
        row.id
    })?
    .into_iter()
    .map(CompanyRow::into_company)
    .collect()
}

/// A `companies` row as the database returns it.
#[derive(sqlx::FromRow)]
struct CompanyRow {
    id: Uuid,
    slug: String,
    name: String,
    kind: String,
    country: Option<String>,
    website: Option<String>,
    description: String,
    tags: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

impl CompanyRow {
    fn into_company(self) -> Result<Company, ApiError> {
        let kind = CompanyKind::parse(&self.kind)
            .ok_or_else(|| anyhow!("stored company kind `{}` is unknown", self.kind))?;
        Ok(Company {
            id: self.id,
            slug: self.slug,
            name: self.name,
            kind,
            country: self.country,
            website: self.website,
            description: self.description,
            tags: self.tags,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        })
    }

    /// The cursor that starts the page after this row.
    fn cursor(&self, filter: &CompanyFilter) -> CompanyCursor {
        CompanyCursor {
            fingerprint: filter.fingerprint(),
            name: self.name.clone(),
            id: self.id,
        }
    }
}

/// Pushes the condition that selects a company by id or slug.
fn push_ref(qb: &mut QueryBuilder<Postgres>, reference: &Ref) {
    match reference {
        Ref::Id(id) => qb.push("c.id = ").push_bind(*id),
        Ref::Slug(slug) => qb.push("c.slug = ").push_bind(slug.as_str().to_owned()),
    };
}

async fn fetch(
    db: impl PgExecutor<'_>,
    reference: &Ref,
    for_update: bool,
) -> Result<Option<Company>, ApiError> {
    let mut qb = QueryBuilder::<Postgres>::new(concat!(
        "select ",
        company_columns!(),
        " from companies c where "
    ));
    push_ref(&mut qb, reference);
    if for_update {
        qb.push(" for update");
    }
    let row = qb.build_query_as::<CompanyRow>().fetch_optional(db).await?;
    row.map(CompanyRow::into_company).transpose()
}

/// A page of companies matching `filter`, by name then id.
#[tracing::instrument(skip_all)]
pub async fn list(
    db: &PgPool,
    filter: &CompanyFilter,
) -> Result<Page<Company, CompanyCursor>, ApiError> {
    let rows = list_query(filter)
        .build_query_as::<CompanyRow>()
        .fetch_all(db)
        .await?;
    let (rows, next) = keyset_page(rows, filter.limit, |row| row.cursor(filter));
    let items = rows
        .into_iter()
        .map(CompanyRow::into_company)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page { items, next })
}

/// Builds the list statement: one `QueryBuilder`, every value bound.
fn list_query(filter: &CompanyFilter) -> QueryBuilder<Postgres> {
    let mut qb = QueryBuilder::<Postgres>::new("");
    push_list_query(&mut qb, filter);
    qb
}

/// Pushes the statement of an export: every company `filter` matches, by name, with no
/// page limit.
pub fn push_export_query(qb: &mut QueryBuilder<Postgres>, filter: &CompanyFilter) {
    let all = CompanyFilter {
        limit: u32::MAX - 1,
        cursor: None,
        ..filter.clone()
    };
    push_list_query(qb, &all);
}

/// A company from a row of `company_columns!`.
pub fn company_of_row(row: &sqlx::postgres::PgRow) -> Result<Company, ApiError> {
    <CompanyRow as sqlx::FromRow<'_, sqlx::postgres::PgRow>>::from_row(row)?.into_company()
}

/// Pushes the list statement onto `qb`, so it can also be a subquery.
fn push_list_query(qb: &mut QueryBuilder<Postgres>, filter: &CompanyFilter) {
    qb.push(concat!(
        "select ",
        company_columns!(),
        " from companies c where true"
    ));
    if let Some(q) = &filter.q {
        // Written exactly as `companies_name_trgm_idx` is built, so the trigram index
        // serves it; the pattern is a constant once bound (custom plans).
        qb.push(" and lower(c.name) like '%' || lower(")
            .push_bind(like_literal(q))
            .push(") || '%'");
    }
    if !filter.kinds.is_empty() {
        let names: Vec<String> = filter.kinds.iter().map(|k| k.as_str().to_owned()).collect();
        qb.push(" and c.kind = any(").push_bind(names).push(")");
    }
    if !filter.tags.is_empty() {
        qb.push(" and c.tags @> ")
            .push_bind(tag_strings(&filter.tags));
    }
    if let Some(cursor) = &filter.cursor {
        // A row comparison, so the (name, id) index serves the seek.
        qb.push(" and (c.name, c.id) > (")
            .push_bind(cursor.name.clone())
            .push(", ")
            .push_bind(cursor.id)
            .push(")");
    }
    qb.push(" order by c.name asc, c.id asc limit ")
        .push_bind(i64::from(filter.limit) + 1);
}

/// Escapes `%`, `_` and `\` (LIKE's default escape character) so the client's text
/// matches literally.
fn like_literal(q: &str) -> String {
    let mut escaped = String::with_capacity(q.len() + 4);
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Companies, for the shared write flows of [`super::records`].
pub struct Companies;

impl Table for Companies {
    type Record = Company;
    type New = NewCompany;
    type Input = CompanyInput;

    fn parse(document: Value) -> Result<NewCompany, Vec<FieldError>> {
        NewCompany::from_json(document)
    }

    fn restates(new: &NewCompany, current: &Company) -> bool {
        new.restates(current)
    }

    async fn find(db: &PgPool, reference: &Ref) -> Result<Option<Company>, ApiError> {
        fetch(db, reference, false).await
    }

    async fn lock(conn: &mut PgConnection, reference: &Ref) -> Result<Company, ApiError> {
        fetch(conn, reference, true)
            .await?
            .ok_or_else(|| ApiError::not_found(KIND, reference))
    }

    async fn lock_many(conn: &mut PgConnection, refs: &[Ref]) -> Result<Vec<Company>, ApiError> {
        let (ids, slugs) = super::graph::split_refs(refs);
        // In id order, so two writers locking overlapping sets cannot deadlock.
        let rows: Vec<CompanyRow> = sqlx::query_as(concat!(
            "select ",
            company_columns!(),
            " from companies c where c.id = any($1) or c.slug = any($2) order by c.id for update"
        ))
        .bind(ids)
        .bind(slugs)
        .persistent(false)
        .fetch_all(&mut *conn)
        .await?;
        rows.into_iter().map(CompanyRow::into_company).collect()
    }

    async fn store(
        conn: &mut PgConnection,
        id: Uuid,
        slug: &Slug,
        new: &NewCompany,
        insert: bool,
    ) -> Result<Company, ApiError> {
        write_rows(conn, &[(id, slug.clone(), new)], insert)
            .await?
            .pop()
            .ok_or_else(|| anyhow!("a write stored no company").into())
    }

    async fn store_new(
        conn: &mut PgConnection,
        rows: &[(Uuid, Slug, &NewCompany)],
    ) -> Result<Vec<Company>, ApiError> {
        write_rows(conn, rows, true).await
    }

    async fn store_existing(
        conn: &mut PgConnection,
        rows: &[(Uuid, Slug, &NewCompany)],
    ) -> Result<Vec<Company>, ApiError> {
        write_rows(conn, rows, false).await
    }

    /// The events that name a renamed company (the database rewrote them to show it).
    async fn rewritten_events(
        conn: &mut PgConnection,
        action: Action,
        written: &[(&Company, Option<&Company>)],
    ) -> Result<Vec<Event>, ApiError> {
        let renamed: Vec<Uuid> = written
            .iter()
            .filter(|(now, before)| {
                action == Action::Update
                    && before.is_some_and(|b| b.name != now.name || b.slug != now.slug)
            })
            .map(|(now, _)| now.id)
            .collect();
        events::rewritten(conn, Rewritten::NamingCompanies(&renamed)).await
    }

    /// For good: companies keep no tombstones. A company that events or deals still
    /// name is a 409 that says how many.
    async fn remove(conn: &mut PgConnection, current: &Company) -> Result<(), ApiError> {
        let (events, deals): (i64, i64) = sqlx::query_as(
            "select (select count(distinct event_id) from event_companies where company_id = $1), \
                    (select count(distinct partnership_id) from partnership_parties where company_id = $1)",
        )
        .bind(current.id)
        .fetch_one(&mut *conn)
        .await?;
        if events > 0 || deals > 0 {
            let plural =
                |n: i64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
            return Err(ApiError::Conflict(format!(
                "the company `{}` is still named by {} and {}; remove those links first",
                current.slug,
                plural(events, "event"),
                plural(deals, "partnership"),
            )));
        }
        sqlx::query("delete from companies where id = $1")
            .bind(current.id)
            .execute(conn)
            .await
            .map_err(|e| still_referenced(e, &current.slug))?;
        Ok(())
    }
}

/// The backstop for a link made between the count above and the delete: the foreign
/// keys that point at `companies` refuse it, and the client hears a 409, not a 500.
fn still_referenced(error: sqlx::Error, slug: &str) -> ApiError {
    match &error {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => ApiError::Conflict(format!(
            "the company `{slug}` is still named by other records; remove those links first"
        )),
        _ => error.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_and_the_escape_character_are_escaped() {
        assert_eq!(like_literal("50%_a\\b"), "50\\%\\_a\\\\b");
        assert_eq!(like_literal("Anthropic"), "Anthropic");
    }
}
