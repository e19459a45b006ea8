//! The event list: one statement built from the filter, keyset-paged, on the pool
//! whose plans suit it.

use chrono::NaiveDate;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::row::{EventRow, event_columns};
use crate::error::ApiError;
use crate::model::list::cursor::CursorKey;
use crate::model::list::events::UpdatedSince;
use crate::model::position::Snapshot;
use crate::model::timeline::{Bucket, Interval};
use crate::model::{Cursor, EventFilter, EventListItem, EventSort, Page, Tag};
use crate::repo::positions::{
    WITH_SNAPSHOT_HEAD, WITH_SNAPSHOT_TAIL, push_unseen_by, split_snapshot,
};
use crate::repo::{keyset_page, tag_strings};

/// What a list statement selects.
#[derive(Clone, Copy, PartialEq)]
enum Select {
    /// Whole events.
    Rows,
    /// Only each match's id and full-text score (see [`rank`]).
    Ranking,
    /// Each match's id and text vector, to be scored by an outer query.
    Candidates,
    /// Each match's `occurred_on`, unordered and unlimited, to be counted by an outer
    /// query (timelines).
    Dates,
}

/// One event in a relevance ranking: its id and full-text score.
#[derive(Debug, Clone, Copy, PartialEq, sqlx::FromRow)]
pub struct Ranked {
    /// The event.
    pub id: Uuid,
    /// Its `ts_rank` for the query.
    pub rank: f32,
}

/// A page and the snapshot it was read under.
#[derive(Debug)]
pub struct Listed {
    /// The page.
    pub page: Page<EventListItem>,
    /// The snapshot of the walk: the first page's (every page of a walk reports the
    /// same), read by the very statement that read the page, so a poll that goes on from
    /// it sees exactly the changes this page did not.
    pub snapshot: Snapshot,
}

/// A page of events (and, for `updated_since`, tombstones) matching `filter`, with
/// their companies and deals, and the snapshot it was read under: one statement
/// whatever the page size. `company_ids` are `filter.companies`, resolved by the
/// caller. The dashboard's queries, whose plan cannot depend on the parameters (see
/// [`plan_is_fixed`]), run on `fixed_plans`; the rest on `db`.
#[tracing::instrument(skip_all)]
pub async fn list(
    db: &PgPool,
    fixed_plans: &PgPool,
    filter: &EventFilter,
    company_ids: &[Uuid],
) -> Result<Listed, ApiError> {
    let pool = if plan_is_fixed(filter, company_ids) {
        fixed_plans
    } else {
        db
    };
    let mut qb = QueryBuilder::<Postgres>::new(WITH_SNAPSHOT_HEAD);
    push_list_query(&mut qb, filter, company_ids, Select::Rows);
    qb.push(WITH_SNAPSHOT_TAIL);
    let (now, rows) = rows_with_snapshot(qb.build().fetch_all(pool).await?)?;
    let walk = walk_snapshot(filter, now);
    let (rows, next) = keyset_page(rows, filter.limit, |row| Cursor {
        upto: Some(walk.clone()),
        ..row.cursor(filter)
    });
    let items = rows
        .into_iter()
        .map(EventRow::into_list_item)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Listed {
        page: Page { items, next },
        snapshot: walk,
    })
}

/// The event rows of a wrapped statement, and its snapshot.
fn rows_with_snapshot(rows: Vec<PgRow>) -> Result<(Snapshot, Vec<EventRow>), ApiError> {
    let (snapshot, matched) = split_snapshot(&rows)?;
    let events = matched
        .map(EventRow::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((snapshot, events))
}

/// The snapshot a walk hands over: its first page's, carried by the cursor, else
/// this page's (`now`).
fn walk_snapshot(filter: &EventFilter, now: Snapshot) -> Snapshot {
    filter
        .cursor
        .as_ref()
        .and_then(|c| c.upto.clone())
        .unwrap_or(now)
}

/// The page of a relevance-ordered list (`filter.sort` is [`EventSort::Relevance`]) as
/// ids and scores, best first: the expensive half of such a list, since every match must
/// be scored. Up to `limit + 1` entries, so [`ranked_page`] can tell whether a next page
/// exists.
#[tracing::instrument(skip_all)]
///
/// With `candidates` above zero, only the newest `candidates` matches (by `occurred_on`)
/// are scored, so a query that matches most events costs a bounded amount; a query that
/// matches fewer is ranked exactly.
pub async fn rank(
    db: &PgPool,
    filter: &EventFilter,
    company_ids: &[Uuid],
    candidates: u32,
) -> Result<Vec<Ranked>, ApiError> {
    let Some(q) = filter.q.as_deref().filter(|_| candidates > 0) else {
        return Ok(list_query(filter, company_ids, Select::Ranking)
            .build_query_as::<Ranked>()
            .fetch_all(db)
            .await?);
    };
    // The same filters, newest first, capped; then scored and keyset-paged by score.
    let newest = EventFilter {
        sort: EventSort::OccurredOnDesc,
        limit: candidates.saturating_sub(1),
        cursor: None,
        ..filter.clone()
    };
    let mut qb = QueryBuilder::<Postgres>::new(
        "select c.id, ts_rank(c.search, websearch_to_tsquery('english', ",
    );
    qb.push_bind(q.to_owned()).push(")) as rank from (");
    push_list_query(&mut qb, &newest, company_ids, Select::Candidates);
    qb.push(") c");
    if let Some(cursor) = &filter.cursor
        && let CursorKey::Score(score) = cursor.key
    {
        qb.push(" where (ts_rank(c.search, websearch_to_tsquery('english', ")
            .push_bind(q.to_owned())
            .push(")), c.id) < (")
            .push_bind(score)
            .push("::real, ")
            .push_bind(cursor.id)
            .push(")");
    }
    qb.push(" order by rank desc, c.id desc limit ")
        .push_bind(i64::from(filter.limit) + 1);
    Ok(qb.build_query_as::<Ranked>().fetch_all(db).await?)
}

/// The page `ranking` (from [`rank`]) describes: its events, read by id in one
/// statement, in the ranking's order, with that statement's snapshot. An event deleted
/// since the ranking was made is left out.
#[tracing::instrument(skip_all)]
pub async fn ranked_page(
    db: &PgPool,
    filter: &EventFilter,
    ranking: &[Ranked],
) -> Result<Listed, ApiError> {
    let (entries, next) = keyset_page(ranking.to_vec(), filter.limit, |last| Cursor {
        sort: filter.sort,
        fingerprint: filter.fingerprint(),
        key: CursorKey::Score(last.rank),
        id: last.id,
        upto: None,
    });
    let limit = entries.len();
    let ids: Vec<Uuid> = entries.iter().map(|r| r.id).collect();
    let mut qb = QueryBuilder::<Postgres>::new(WITH_SNAPSHOT_HEAD);
    qb.push(concat!("select ", event_columns!(), " from unnest("))
        .push_bind(ids)
        .push(
            "::uuid[]) with ordinality as k (id, n) join events e on e.id = k.id \
             where e.deleted_at is null order by k.n limit ",
        )
        .push_bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .push(WITH_SNAPSHOT_TAIL);
    let (now, rows) = rows_with_snapshot(qb.build().fetch_all(db).await?)?;
    let snapshot = walk_snapshot(filter, now);
    let next = next.map(|c| Cursor {
        upto: Some(snapshot.clone()),
        ..c
    });
    let items = rows
        .into_iter()
        .map(EventRow::into_list_item)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Listed {
        page: Page { items, next },
        snapshot,
    })
}

/// Pushes the statement of an export: every live event `filter` matches, in its
/// order, with no page limit.
pub fn push_export_query(
    qb: &mut QueryBuilder<Postgres>,
    filter: &EventFilter,
    company_ids: &[Uuid],
) {
    let all = EventFilter {
        limit: u32::MAX - 1,
        cursor: None,
        updated_since: None,
        ..filter.clone()
    };
    push_list_query(qb, &all, company_ids, Select::Rows);
}

/// How many events `filter` matches in each `interval` bucket that has any, by the
/// bucket's first day (zero-filled by the caller).
#[tracing::instrument(skip_all)]
pub async fn timeline_counts(
    db: &PgPool,
    filter: &EventFilter,
    company_ids: &[Uuid],
    interval: Interval,
) -> Result<Vec<Bucket>, ApiError> {
    let mut qb = QueryBuilder::<Postgres>::new("select date_trunc(");
    qb.push_bind(interval.sql_unit())
        .push(", d.occurred_on::timestamp)::date as start, count(*) as count from (");
    push_list_query(&mut qb, filter, company_ids, Select::Dates);
    qb.push(") d group by 1");
    let counted: Vec<(NaiveDate, i64)> = qb.build_query_as().fetch_all(db).await?;
    Ok(counted
        .into_iter()
        .map(|(start, count)| Bucket { start, count })
        .collect())
}

/// An event from a row of [`event_columns`].
pub fn event_of_row(row: &PgRow) -> Result<crate::model::Event, ApiError> {
    EventRow::from_row(row)?.into_event()
}

/// Whether the list statement for `filter` has one right plan whatever its
/// parameters: "the latest events" or "the latest tagged X" (one tag, by date), in any
/// sort, paged by cursor. Each is an index walk in sort order that stops after a page.
/// Any other filter's selectivity can change the best plan (a common tag in a GIN
/// index, a narrow `updated_since` range, a full-text query), so those are planned for
/// their parameters.
fn plan_is_fixed(filter: &EventFilter, company_ids: &[Uuid]) -> bool {
    let tags_fixed = match filter.all_tags.len() {
        0 => true,
        1 => matches!(
            filter.sort,
            EventSort::OccurredOnDesc | EventSort::OccurredOnAsc
        ),
        _ => false,
    };
    tags_fixed
        && only_tags_and_dates(filter, company_ids)
        && filter.from.is_none()
        && filter.to.is_none()
}

/// Whether `filter` asks nothing of an event beyond its tags (all of them) and its
/// date: what `event_tags` alone can answer.
fn only_tags_and_dates(filter: &EventFilter, company_ids: &[Uuid]) -> bool {
    filter.any_tags.is_empty()
        && filter.exclude_tags.is_empty()
        && company_ids.is_empty()
        && filter.categories.is_empty()
        && filter.significance.is_none()
        && filter.min_significance.is_none()
        && filter.q.is_none()
        && filter.updated_since.is_none()
}

/// Builds the list statement: one `QueryBuilder`, every value bound.
fn list_query(
    filter: &EventFilter,
    company_ids: &[Uuid],
    select: Select,
) -> QueryBuilder<Postgres> {
    let mut qb = QueryBuilder::<Postgres>::new("");
    push_list_query(&mut qb, filter, company_ids, select);
    qb
}

/// Pushes the list statement onto `qb`, so it can also be a subquery.
fn push_list_query(
    qb: &mut QueryBuilder<Postgres>,
    filter: &EventFilter,
    company_ids: &[Uuid],
    select: Select,
) {
    let include_deleted = filter.updated_since.is_some();
    // "Latest events tagged X": walk event_tags' primary key (tag, occurred_on, event_id)
    // instead of the GIN index; see the migration's note.
    let tag_driven = !include_deleted
        && !filter.all_tags.is_empty()
        && matches!(
            filter.sort,
            EventSort::OccurredOnDesc | EventSort::OccurredOnAsc
        );
    let (date_col, id_col) = if tag_driven {
        ("t.occurred_on", "t.event_id")
    } else {
        ("e.occurred_on", "e.id")
    };

    qb.push(match select {
        Select::Rows => concat!("select ", event_columns!()),
        Select::Ranking => "select e.id",
        Select::Candidates => "select e.id, e.search",
        // With a tag, from event_tags alone: an index-only scan of its key.
        Select::Dates if tag_driven => "select t.occurred_on",
        Select::Dates => "select e.occurred_on",
    });
    if let (Some(q), Select::Rows | Select::Ranking) = (&filter.q, select) {
        qb.push(", ts_rank(e.search, websearch_to_tsquery('english', ")
            .push_bind(q.clone())
            .push(")) as rank");
    }
    // Counting one tag's dates needs no event row: event_tags holds live events only,
    // with their dates, so its key answers alone (an index-only scan).
    let tag_alone = tag_driven
        && select == Select::Dates
        && filter.all_tags.len() == 1
        && only_tags_and_dates(filter, company_ids);
    if tag_alone {
        qb.push(" from event_tags t where t.tag = ")
            .push_bind(filter.all_tags[0].as_str().to_owned());
    } else if tag_driven {
        qb.push(" from event_tags t join events e on e.id = t.event_id where t.tag = ")
            .push_bind(filter.all_tags[0].as_str().to_owned());
    } else {
        qb.push(" from events e where true");
    }
    if !include_deleted && !tag_alone {
        qb.push(" and e.deleted_at is null");
    }

    let rest_tags: &[Tag] = if tag_driven {
        &filter.all_tags[1..]
    } else {
        &filter.all_tags
    };
    if !rest_tags.is_empty() {
        qb.push(" and e.tags @> ").push_bind(tag_strings(rest_tags));
    }
    if !filter.any_tags.is_empty() {
        qb.push(" and e.tags && ")
            .push_bind(tag_strings(&filter.any_tags));
    }
    if !filter.exclude_tags.is_empty() {
        qb.push(" and not (e.tags && ")
            .push_bind(tag_strings(&filter.exclude_tags))
            .push(")");
    }
    for company in company_ids {
        qb.push(" and exists (select 1 from event_companies ec where ec.event_id = e.id and ec.company_id = ")
            .push_bind(*company);
        if let Some(role) = filter.role {
            qb.push(" and ec.role = ").push_bind(role.as_str());
        }
        qb.push(")");
    }
    if !filter.categories.is_empty() {
        let names: Vec<String> = filter
            .categories
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        qb.push(" and e.category = any(").push_bind(names).push(")");
    }
    if let Some(s) = filter.significance {
        qb.push(" and e.significance = ").push_bind(s.rank());
    }
    if let Some(s) = filter.min_significance {
        qb.push(" and e.significance >= ").push_bind(s.rank());
    }
    if let Some(from) = filter.from {
        qb.push(format!(" and {date_col} >= ")).push_bind(from);
    }
    if let Some(to) = filter.to {
        qb.push(format!(" and {date_col} <= ")).push_bind(to);
    }
    if let Some(q) = &filter.q {
        qb.push(" and e.search @@ websearch_to_tsquery('english', ")
            .push_bind(q.clone())
            .push(")");
    }
    match &filter.updated_since {
        Some(UpdatedSince::Time(since)) => {
            qb.push(" and e.updated_at > ").push_bind(*since);
        }
        Some(UpdatedSince::Position(since)) => {
            push_unseen_by(qb, since);
            // Later pages of the walk show only what its first page's snapshot saw:
            // later changes are the next poll's, so none is handed over twice.
            if let Some(upto) = filter.cursor.as_ref().and_then(|c| c.upto.as_ref()) {
                qb.push(" and pg_visible_in_snapshot(e.xid, ")
                    .push_bind(upto.to_string())
                    .push("::pg_snapshot)");
            }
        }
        None => {}
    }

    if select == Select::Dates {
        return;
    }

    let key_expr: String = match filter.sort {
        EventSort::OccurredOnDesc | EventSort::OccurredOnAsc => date_col.into(),
        EventSort::UpdatedAtDesc | EventSort::UpdatedAtAsc => "e.updated_at".into(),
        EventSort::TitleAsc => "e.title".into(),
        EventSort::SignificanceDesc => "e.significance".into(),
        // Pushed with its bound query by `push_key_expr`.
        EventSort::Relevance => String::new(),
    };
    let (cmp, dir) = if filter.sort.descending() {
        ("<", "desc")
    } else {
        (">", "asc")
    };

    if let Some(cursor) = &filter.cursor {
        // A row comparison, so the (key, id) index serves the seek.
        qb.push(" and (");
        push_key_expr(qb, filter, &key_expr);
        qb.push(format!(", {id_col}) {cmp} ("));
        match &cursor.key {
            CursorKey::Date(d) => qb.push_bind(*d),
            CursorKey::Time(t) => qb.push_bind(*t),
            CursorKey::Text(s) => qb.push_bind(s.clone()),
            CursorKey::Rank(r) => qb.push_bind(*r),
            CursorKey::Score(f) => qb.push_bind(*f).push("::real"),
        };
        qb.push(", ").push_bind(cursor.id).push(")");
    }

    qb.push(" order by ");
    if filter.sort == EventSort::Relevance && filter.q.is_some() {
        // The selected score by name, so it is computed once a row.
        qb.push("rank");
    } else {
        push_key_expr(qb, filter, &key_expr);
    }
    qb.push(format!(" {dir}, {id_col} {dir} limit "))
        .push_bind(i64::from(filter.limit) + 1);
}

/// Pushes the sort key expression; relevance needs the query bound again.
fn push_key_expr(qb: &mut QueryBuilder<Postgres>, filter: &EventFilter, key_expr: &str) {
    match (&filter.q, filter.sort) {
        (Some(q), EventSort::Relevance) => {
            qb.push("ts_rank(e.search, websearch_to_tsquery('english', ")
                .push_bind(q.clone())
                .push("))");
        }
        _ => {
            qb.push(key_expr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::list::events::EVENT_LIST_PARAMS;
    use crate::model::list::params::QueryParams;

    fn filter(query: &str) -> EventFilter {
        let params = QueryParams::parse(Some(query), EVENT_LIST_PARAMS).unwrap_or_else(|e| {
            panic!("`{query}`: {e:?}");
        });
        EventFilter::from_params(&params).unwrap_or_else(|e| panic!("`{query}`: {e:?}"))
    }

    #[test]
    fn only_the_dashboard_shapes_run_on_generic_plans() {
        for query in [
            "",
            "limit=100",
            "sort=title",
            "sort=-updated_at",
            "tag=ai",
            "tag=ai&sort=occurred_on&limit=5",
        ] {
            assert!(plan_is_fixed(&filter(query), &[]), "`{query}`");
        }
        for query in [
            "tag=ai,cloud",
            "tag=ai&sort=title",
            "any_tag=ai",
            "exclude_tag=ai",
            "tag=ai&category=funding",
            "significance=major",
            "min_significance=major",
            "tag=ai&from=2024-01-01",
            "to=2024-01-01",
            "q=anthropic",
            "tag=ai&updated_since=2024-01-01T00:00:00Z",
        ] {
            assert!(!plan_is_fixed(&filter(query), &[]), "`{query}`");
        }
        assert!(!plan_is_fixed(&filter("tag=ai"), &[Uuid::nil()]));
    }
}
