//! The repository layer: every SQL statement of the service lives here.

use crate::error::ApiError;

pub mod audit;
pub mod changes;
pub mod companies;
pub mod events;
pub mod graph;
pub mod health;
pub mod idempotency;
pub mod partnerships;
pub mod tags;
pub mod tokens;
pub mod watermark;

/// Whether `error` is a unique violation of `constraint`.
pub(crate) fn is_unique_violation(error: &sqlx::Error, constraint: &str) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if db.is_unique_violation() && db.constraint() == Some(constraint))
}

/// The tables whose rows have a unique slug.
#[derive(Debug, Clone, Copy)]
pub enum SlugScope {
    /// Live events (a deleted event's slug is free again).
    Events,
    /// Companies.
    Companies,
    /// Partnerships.
    Partnerships,
}

impl SlugScope {
    fn taken_sql(self) -> &'static str {
        match self {
            Self::Events => {
                "select exists (select 1 from events where slug = $1 and deleted_at is null)"
            }
            Self::Companies => "select exists (select 1 from companies where slug = $1)",
            Self::Partnerships => "select exists (select 1 from partnerships where slug = $1)",
        }
    }

    fn fallback(self) -> &'static str {
        match self {
            Self::Events => "event",
            Self::Companies => "company",
            Self::Partnerships => "partnership",
        }
    }

    /// The unique index on the scope's slugs.
    fn key(self) -> &'static str {
        match self {
            Self::Events => "events_slug_key",
            Self::Companies => "companies_slug_key",
            Self::Partnerships => "partnerships_slug_key",
        }
    }

    /// A write's error as the client sees it: a violation of the slug's unique index
    /// is a 409 naming the slug; anything else passes through.
    pub(crate) fn conflict(self, error: sqlx::Error, slug: &crate::model::Slug) -> ApiError {
        if is_unique_violation(&error, self.key()) {
            ApiError::Conflict(format!(
                "the slug `{slug}` is already taken by another {}",
                self.fallback()
            ))
        } else {
            error.into()
        }
    }
}

/// Tags as the text array the database stores.
pub(crate) fn tag_strings(tags: &[crate::model::Tag]) -> Vec<String> {
    tags.iter().map(|t| t.as_str().to_owned()).collect()
}

/// The slug a write stores: the client's (its uniqueness is left to the constraint, so
/// a taken one is a 409); else one made from `source` (a title or name), with the last
/// 8 hex digits of the row's id appended when that is taken by another row.
pub async fn pick_slug(
    conn: &mut sqlx::PgConnection,
    scope: SlugScope,
    explicit: Option<&crate::model::Slug>,
    source: &str,
    id: uuid::Uuid,
    current: Option<&str>,
) -> Result<crate::model::Slug, crate::error::ApiError> {
    use crate::model::Slug;
    if let Some(slug) = explicit {
        return Ok(slug.clone());
    }
    let base = Slug::from_title(source).unwrap_or_else(|| Slug::fallback(scope.fallback()));
    if current == Some(base.as_str()) {
        return Ok(base);
    }
    let taken: bool = sqlx::query_scalar(scope.taken_sql())
        .bind(base.as_str())
        .fetch_one(&mut *conn)
        .await?;
    if !taken {
        return Ok(base);
    }
    let simple = id.simple().to_string();
    Ok(base.with_suffix(&simple[simple.len() - 8..]))
}
