//! The repository layer: every SQL statement of the service lives here.

use uuid::Uuid;

use crate::error::ApiError;
use crate::model::{ResourceKind, Slug, Tag};

pub mod audit;
pub mod changes;
pub mod companies;
pub mod events;
pub mod export;
pub mod graph;
pub mod health;
pub mod idempotency;
pub mod import;
pub mod partnerships;
pub mod positions;
pub mod records;
pub mod retention;
pub mod tags;
pub mod tokens;
pub mod webhooks;

/// Whether `error` is a unique violation of `constraint`.
pub(crate) fn is_unique_violation(error: &sqlx::Error, constraint: &str) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if db.is_unique_violation() && db.constraint() == Some(constraint))
}

/// Splits the `limit + 1` rows a keyset statement read into the page (`limit` rows) and
/// the cursor of the next one, made from the page's last row; none when the extra row
/// is not there (this is the last page).
pub(crate) fn keyset_page<R, C>(
    mut rows: Vec<R>,
    limit: u32,
    cursor: impl FnOnce(&R) -> C,
) -> (Vec<R>, Option<C>) {
    let limit = limit as usize;
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(cursor);
    (rows, next)
}

/// Tags as the text array the database stores.
pub(crate) fn tag_strings(tags: &[Tag]) -> Vec<String> {
    tags.iter().map(|t| t.as_str().to_owned()).collect()
}

/// The id of the live record of `kind` that holds `slug`, if any.
fn slug_holder_sql(kind: ResourceKind) -> &'static str {
    match kind {
        // A deleted event's slug is free again.
        ResourceKind::Event => "select id from events where slug = $1 and deleted_at is null",
        ResourceKind::Company => "select id from companies where slug = $1",
        ResourceKind::Partnership => "select id from partnerships where slug = $1",
    }
}

/// The unique index on the slugs of `kind`.
fn slug_key(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Event => "events_slug_key",
        ResourceKind::Company => "companies_slug_key",
        ResourceKind::Partnership => "partnerships_slug_key",
    }
}

/// A write's error as the client sees it: a violation of the slug's unique index is a
/// 409 naming the slug, of the primary key a 409 about the id; anything else passes
/// through.
pub(crate) fn slug_conflict(kind: ResourceKind, error: sqlx::Error, slug: &Slug) -> ApiError {
    if is_unique_violation(&error, slug_key(kind)) {
        ApiError::Conflict(format!(
            "the slug `{slug}` is already taken by another {kind}"
        ))
    } else if is_unique_violation(&error, &format!("{}_pkey", kind.plural())) {
        // Only an import names ids, and a live record with the id is found before the
        // insert: this one is a deleted event's tombstone.
        ApiError::Conflict(format!("the id is taken by a deleted {kind}"))
    } else {
        error.into()
    }
}

/// The slug a write stores: the client's (its uniqueness is left to the constraint, so
/// a taken one is a 409); else one made from `source` (a title or name).
///
/// When the made slug is taken by another record, an event or a deal gets the last 8
/// hex digits of its id appended (two stories may share a headline), but a company is
/// a 409 naming the one that exists: a second company of the same name is almost
/// always a mistake, and one that is not can say so with an explicit `slug`.
pub async fn pick_slug(
    conn: &mut sqlx::PgConnection,
    kind: ResourceKind,
    explicit: Option<&Slug>,
    source: &str,
    id: Uuid,
    current: Option<&str>,
) -> Result<Slug, ApiError> {
    if let Some(slug) = explicit {
        return Ok(slug.clone());
    }
    let base = Slug::from_title(source).unwrap_or_else(|| Slug::fallback(kind.singular()));
    if current == Some(base.as_str()) {
        return Ok(base);
    }
    if kind.reserved_slugs().contains(&base.as_str()) {
        let simple = id.simple().to_string();
        return Ok(base.with_suffix(&simple[simple.len() - 8..]));
    }
    let holder: Option<Uuid> = sqlx::query_scalar(slug_holder_sql(kind))
        .bind(base.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    match holder {
        None => Ok(base),
        Some(existing) if kind == ResourceKind::Company => Err(ApiError::Conflict(format!(
            "a company with the slug `{base}` already exists (id {existing}); to create \
             another company of that name, give it a distinct `slug`"
        ))),
        Some(_) => {
            let simple = id.simple().to_string();
            Ok(base.with_suffix(&simple[simple.len() - 8..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyset_page_keeps_limit_rows_and_a_cursor_only_when_there_is_more() {
        let cursor = |row: &u32| row * 10;
        assert_eq!(
            keyset_page(vec![1, 2, 3], 2, cursor),
            (vec![1, 2], Some(20))
        );
        assert_eq!(keyset_page(vec![1, 2], 2, cursor), (vec![1, 2], None));
        assert_eq!(keyset_page(Vec::<u32>::new(), 2, cursor), (vec![], None));
    }
}
