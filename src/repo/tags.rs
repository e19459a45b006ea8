//! Tag usage counts.

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::error::ApiError;
use crate::model::TagFilter;

/// A tag with how many live events carry it and the newest of them.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TagUsage {
    /// The tag.
    pub tag: String,
    /// How many live events carry it.
    pub events: i64,
    /// The newest `occurred_on` among them.
    pub latest: NaiveDate,
}

/// Tags, most used first (then alphabetical), optionally narrowed to a prefix; read
/// from the counters the write path keeps (see the tag_stats migration).
#[tracing::instrument(skip_all)]
pub async fn list(db: &PgPool, filter: &TagFilter) -> Result<Vec<TagUsage>, ApiError> {
    let mut qb =
        QueryBuilder::<Postgres>::new("select tag, events, latest from tag_stats where events > 0");
    if let Some(prefix) = &filter.prefix {
        // The prefix is a validated tag, so it holds no LIKE wildcard.
        qb.push(" and tag like ").push_bind(format!("{prefix}%"));
    }
    qb.push(" order by events desc, tag asc limit ")
        .push_bind(i64::from(filter.limit));
    Ok(qb.build_query_as::<TagUsage>().fetch_all(db).await?)
}
