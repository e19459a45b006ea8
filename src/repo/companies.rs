//! SQL for companies: lookups, the filtered keyset list, and transactional writes.

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;

use super::audit::Action;
use super::events::{self, Rewritten};
use super::records::Table;
use super::{keyset_page, slug_conflict, tag_strings};
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

/// The columns a write sets, in the order [`bind_new`] binds them after the id.
macro_rules! company_written {
    () => {
        "slug, name, kind, country, website, description, tags"
    };
}

/// The placeholders of `company_written!`.
macro_rules! company_values {
    () => {
        "$2, $3, $4, $5, $6, $7, $8"
    };
}

const INSERT: &str = concat!(
    "insert into companies as c (id, ",
    company_written!(),
    ") values ($1, ",
    company_values!(),
    ") returning ",
    company_columns!()
);

const UPDATE: &str = concat!(
    "update companies as c set (",
    company_written!(),
    ") = row(",
    company_values!(),
    ") where c.id = $1 returning ",
    company_columns!()
);

/// Binds what a write stores, in the order of `company_written!`.
fn bind_new(
    sql: &'static str,
    id: Uuid,
    slug: &Slug,
    new: &NewCompany,
) -> QueryAs<'static, Postgres, CompanyRow, PgArguments> {
    let NewCompany {
        slug: _,
        name,
        kind,
        country,
        website,
        description,
        tags,
    } = new;
    sqlx::query_as(sql)
        .bind(id)
        .bind(slug.as_str().to_owned())
        .bind(name.clone())
        .bind(kind.as_str())
        .bind(country.clone())
        .bind(website.clone())
        .bind(description.clone())
        .bind(tag_strings(tags))
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

    async fn find(db: &PgPool, reference: &Ref) -> Result<Option<Company>, ApiError> {
        fetch(db, reference, false).await
    }

    async fn lock(conn: &mut PgConnection, reference: &Ref) -> Result<Company, ApiError> {
        fetch(conn, reference, true)
            .await?
            .ok_or_else(|| ApiError::not_found(KIND, reference))
    }

    async fn store(
        conn: &mut PgConnection,
        id: Uuid,
        slug: &Slug,
        new: &NewCompany,
        insert: bool,
    ) -> Result<Company, ApiError> {
        bind_new(if insert { INSERT } else { UPDATE }, id, slug, new)
            .fetch_one(conn)
            .await
            .map_err(|e| slug_conflict(KIND, e, slug))?
            .into_company()
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
