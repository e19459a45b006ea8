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

/// Tags, most used first (then alphabetical), optionally narrowed to a prefix: the
/// folded counters plus what is still pending, in one statement (see the
/// `tag_counts_pending` migration). A tag with pending changes gets its newest date from
/// event_tags' key.
#[tracing::instrument(skip_all)]
pub async fn list(db: &PgPool, filter: &TagFilter) -> Result<Vec<TagUsage>, ApiError> {
    let mut qb = QueryBuilder::<Postgres>::new(
        "with pending as (select tag, sum(delta) as delta from tag_stats_pending group by tag) \
         select tag, events, latest from ( \
             select coalesce(s.tag, p.tag) as tag, \
                    coalesce(s.events, 0) + coalesce(p.delta, 0) as events, \
                    case when p.tag is null then s.latest \
                         else (select max(e.occurred_on) from event_tags e \
                               where e.tag = coalesce(s.tag, p.tag)) end as latest \
             from tag_stats s full join pending p on p.tag = s.tag) counted \
         where events > 0",
    );
    if let Some(prefix) = &filter.prefix {
        // The prefix is a validated tag, so it holds no LIKE wildcard.
        qb.push(" and tag like ").push_bind(format!("{prefix}%"));
    }
    qb.push(" order by events desc, tag asc limit ")
        .push_bind(i64::from(filter.limit));
    Ok(qb.build_query_as::<TagUsage>().fetch_all(db).await?)
}

/// Folds pending counter changes into the counters; returns how many tags changed.
///
/// The pending table is then vacuumed: every read of the counts scans it whole, and
/// the rows just folded would otherwise linger as dead versions until autovacuum
/// (measured: 167 pages of them after a burst of writes added half a millisecond to
/// `GET /v1/tags`). `skip_locked`: when another server is vacuuming it, this one
/// need not.
pub async fn fold_counts(db: &PgPool) -> Result<u64, ApiError> {
    let folded: i32 = sqlx::query_scalar("select fold_tag_stats()")
        .fetch_one(db)
        .await?;
    if folded > 0 {
        sqlx::query("vacuum (skip_locked) tag_stats_pending")
            .execute(db)
            .await?;
    }
    Ok(u64::try_from(folded).unwrap_or(0))
}
