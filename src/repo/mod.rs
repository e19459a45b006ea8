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

/// The live records of `kind` that hold any of the slugs `$1`: `(slug, id)` rows.
fn slug_holders_sql(kind: ResourceKind) -> &'static str {
    match kind {
        // A deleted event's slug is free again.
        ResourceKind::Event => {
            "select slug, id from events where slug = any($1) and deleted_at is null"
        }
        ResourceKind::Company => "select slug, id from companies where slug = any($1)",
        ResourceKind::Partnership => "select slug, id from partnerships where slug = any($1)",
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
        ApiError::FieldConflict {
            field: "slug",
            message: format!("the slug `{slug}` is already taken by another {kind}"),
        }
    } else if is_unique_violation(&error, &format!("{}_pkey", kind.plural())) {
        // Only an import names ids, and a live record with the id is found before the
        // insert: this one is a deleted event's tombstone.
        ApiError::FieldConflict {
            field: "id",
            message: format!("the id is taken by a deleted {kind}"),
        }
    } else {
        error.into()
    }
}

/// [`slug_conflict`] for a write of `rows` (id, slug, write) with one statement: for one
/// record, its slug or id; for several, which one's was taken is not known here (the
/// caller writes them one at a time to find out).
pub(crate) fn rows_conflict<N>(
    kind: ResourceKind,
    error: sqlx::Error,
    rows: &[(Uuid, Slug, N)],
) -> ApiError {
    if let [(_, slug, _)] = rows {
        return slug_conflict(kind, error, slug);
    }
    if is_unique_violation(&error, slug_key(kind))
        || is_unique_violation(&error, &format!("{}_pkey", kind.plural()))
    {
        ApiError::Conflict(format!("a slug or id of these {} is taken", kind.plural()))
    } else {
        error.into()
    }
}

/// The rows a statement that wrote `ids` returned, put in the order of `ids` (a
/// statement returns them in no set order); one missing is a server error.
pub(crate) fn in_order<R>(
    kind: ResourceKind,
    ids: impl IntoIterator<Item = Uuid>,
    returned: Vec<R>,
    id_of: impl Fn(&R) -> Uuid,
) -> Result<Vec<R>, ApiError> {
    let mut by_id: std::collections::HashMap<Uuid, R> =
        returned.into_iter().map(|row| (id_of(&row), row)).collect();
    ids.into_iter()
        .map(|id| {
            by_id
                .remove(&id)
                .ok_or_else(|| anyhow::anyhow!("the write returned no row for {kind} {id}").into())
        })
        .collect()
}

/// What one write asks of [`pick_slugs`].
pub struct SlugWanted<'a> {
    /// The client's slug, if any.
    pub explicit: Option<&'a Slug>,
    /// The text a slug is made from otherwise.
    pub source: &'a str,
    /// The record's id (a taken slug gets its last 8 hex digits).
    pub id: Uuid,
    /// The record's slug now, for an update.
    pub current: Option<&'a str>,
}

/// The slugs writes store, in order, with one statement: the client's (its uniqueness
/// is left to the constraint, so a taken one is a 409); else one made from `source` (a
/// title or name).
///
/// When the made slug is taken by another record, an event or a deal gets the last 8
/// hex digits of its id appended (two stories may share a headline), but a company is
/// a 409 naming the one that exists: a second company of the same name is almost
/// always a mistake, and one that is not can say so with an explicit `slug`. A slug an
/// earlier write of the same call takes counts as taken for the later ones, as if they
/// had been written one after the other.
pub async fn pick_slugs(
    conn: &mut sqlx::PgConnection,
    kind: ResourceKind,
    wanted: &[SlugWanted<'_>],
) -> Result<Vec<Slug>, ApiError> {
    // The made slug of each write that needs one looked up: `Err(base)`.
    let plans: Vec<Result<Slug, Slug>> = wanted.iter().map(|w| slug_plan(kind, w)).collect();
    let bases: Vec<&str> = plans
        .iter()
        .filter_map(|plan| plan.as_ref().err().map(Slug::as_str))
        .collect();
    let mut holders: std::collections::HashMap<String, Uuid> = if bases.is_empty() {
        std::collections::HashMap::new()
    } else {
        sqlx::query_as::<_, (String, Uuid)>(slug_holders_sql(kind))
            .bind(&bases)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect()
    };
    let mut picked = Vec::with_capacity(wanted.len());
    for (want, plan) in wanted.iter().zip(plans) {
        let slug = match plan {
            Ok(slug) => slug,
            Err(base) => match holders.get(base.as_str()) {
                None => base,
                Some(existing) if kind == ResourceKind::Company => {
                    return Err(ApiError::FieldConflict {
                        field: "slug",
                        message: format!(
                            "a company with the slug `{base}` already exists (id {existing}); \
                             to create another company of that name, give it a distinct `slug`"
                        ),
                    });
                }
                Some(_) => suffixed(&base, want.id),
            },
        };
        holders.insert(slug.as_str().to_owned(), want.id);
        picked.push(slug);
    }
    Ok(picked)
}

/// A write's slug when no lookup is needed (`Ok`), else the made slug to look up
/// (`Err`).
fn slug_plan(kind: ResourceKind, want: &SlugWanted<'_>) -> Result<Slug, Slug> {
    if let Some(slug) = want.explicit {
        return Ok(slug.clone());
    }
    let base = Slug::from_title(want.source).unwrap_or_else(|| Slug::fallback(kind.singular()));
    if want.current == Some(base.as_str()) {
        return Ok(base);
    }
    if kind.reserved_slugs().contains(&base.as_str()) {
        return Ok(suffixed(&base, want.id));
    }
    Err(base)
}

/// `base` with the last 8 hex digits of `id` appended.
fn suffixed(base: &Slug, id: Uuid) -> Slug {
    let simple = id.simple().to_string();
    base.with_suffix(&simple[simple.len() - 8..])
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
