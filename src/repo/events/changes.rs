//! The changes to events since positions: what streams are made of.
//!
//! One statement reads every event that some given position has not seen, in its
//! current state, with the revisions needed to tell what each position saw of it
//! (its latest revision that position saw). Which rows each position has not seen,
//! and whether each state matched a stream's filters, is then decided in memory
//! ([`crate::model::position::Position::sees`],
//! [`crate::model::EventFilter::admits`]), so one statement serves every stream of a
//! server however many filters and positions they have; only the full-text queries
//! are evaluated here, once per distinct query.

use std::sync::LazyLock;

use anyhow::anyhow;
use serde::Deserialize;
use sqlx::types::Json;
use sqlx::{FromRow, PgPool, Row};
use uuid::Uuid;

use super::row::{EventRow, event_columns};
use crate::error::ApiError;
use crate::model::EventListItem;
use crate::model::list::matching::FilterFacts;
use crate::model::position::{Position, Snapshot};
use crate::repo::positions::{WITH_SNAPSHOT_HEAD, WITH_SNAPSHOT_TAIL, split_snapshot};

/// A stored state of an event, as one revision (audit row) keeps it.
#[derive(Debug, Clone)]
pub struct Revision {
    /// The transaction that wrote it.
    pub xid: u64,
    /// The event as it stood, for the filters; `None` once deleted.
    pub facts: Option<FilterFacts>,
    /// Whether it matched each of the statement's full-text queries.
    pub matches_q: Vec<bool>,
}

/// One event some position has not seen in its current state.
#[derive(Debug, Clone)]
pub struct Change {
    /// The transaction that wrote its current state.
    pub xid: u64,
    /// The event.
    pub id: Uuid,
    /// Its current state as a list shows it (a tombstone once deleted).
    pub now: EventListItem,
    /// Whether the current state matches each full-text query.
    pub matches_q: Vec<bool>,
    /// Its revisions that some position may have seen last, newest first.
    pub history: Vec<Revision>,
}

impl Change {
    /// The state `position` saw: its latest revision the position saw, `None` if the
    /// event did not exist for it.
    pub fn seen_by(&self, position: &Position) -> Option<&Revision> {
        self.history
            .iter()
            .find(|revision| position.sees(revision.xid, self.id))
    }
}

/// The changes read by one statement.
#[derive(Debug)]
pub struct Changes {
    /// The statement's snapshot: after handing over every change, a position at it.
    pub snapshot: Snapshot,
    /// In `(xid, id)` order.
    pub changes: Vec<Change>,
    /// More than the cap changed: `changes` is cut short and must not be used.
    pub overflow: bool,
    /// The cap it was read with.
    pub cap: usize,
}

/// One revision as the statement returns it.
#[derive(Deserialize)]
struct StoredRevision {
    xid: String,
    action: String,
    data: serde_json::Value,
    q: Vec<bool>,
}

/// The full-text document of a stored revision: the `search` column's expression
/// (see the events migration) over the revision's fields.
const REVISION_SEARCH: &str = "setweight(to_tsvector('english', coalesce(a.data->>'title', '')), 'A') \
     || setweight(to_tsvector('english', coalesce(a.data->>'summary', '')), 'B') \
     || setweight(to_tsvector('english', coalesce(a.data->>'what_happened', '')), 'C') \
     || setweight(to_tsvector('english', coalesce(a.data->>'why_it_matters', '')), 'C')";

/// The one statement of [`since`]: `$1` the positions' snapshots, `$2` the oldest
/// xmin among them, `$3` the full-text queries, `$4` the cap plus one. Built once.
static STATEMENT: LazyLock<String> = LazyLock::new(|| {
    let q_of = |document: &str| {
        format!(
            "(select coalesce(array_agg({document} @@ websearch_to_tsquery('english', u.q) \
              order by u.n), '{{}}') from unnest($3::text[]) with ordinality as u (q, n))"
        )
    };
    let revision = format!(
        "select a.xid, a.version, a.id, a.action, a.data, {} as q from audit_log a \
         where a.resource = 'event' and a.resource_id = e.id",
        q_of(&format!("({REVISION_SEARCH})"))
    );
    format!(
        "{WITH_SNAPSHOT_HEAD} \
           select {columns}, e.xid::text as xid_text, {q_now} as q_now, \
             (select coalesce(json_agg(json_build_object('xid', h.xid::text, 'action', h.action, \
                        'data', h.data, 'q', h.q) order by h.version desc, h.id desc), '[]') \
              from ( \
                ({revision} and a.xid >= $2::xid8) \
                union all \
                ({revision} and a.xid < $2::xid8 order by a.version desc, a.id desc limit 1) \
              ) h) as history \
           from events e \
           where e.xid >= $2::xid8 \
             and not (select bool_and(pg_visible_in_snapshot(e.xid, s::pg_snapshot)) \
                      from unnest($1::text[]) as s) \
           order by e.xid, e.id \
           limit $4 \
         {WITH_SNAPSHOT_TAIL}",
        columns = event_columns!(),
        q_now = q_of("e.search"),
    )
});

/// Every event that one of `positions` has not seen, with what each position saw of
/// it, and the statement's snapshot; `queries` are the full-text queries to evaluate.
/// At most `cap` changes: beyond, [`Changes::overflow`] is set.
#[tracing::instrument(skip_all, fields(positions = positions.len()))]
pub async fn since(
    db: &PgPool,
    positions: &[&Position],
    queries: &[String],
    cap: usize,
) -> Result<Changes, ApiError> {
    let seens: Vec<String> = positions.iter().map(|p| p.seen.to_string()).collect();
    let oldest = positions
        .iter()
        .map(|p| p.seen.xmin())
        .min()
        .ok_or_else(|| anyhow!("changes since no position"))?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(STATEMENT.as_str()))
        .bind(&seens)
        .bind(oldest.to_string())
        .bind(queries)
        .bind(i64::try_from(cap).unwrap_or(i64::MAX).saturating_add(1))
        .fetch_all(db)
        .await?;
    let (snapshot, matched) = split_snapshot(&rows)?;
    let mut changes = Vec::with_capacity(rows.len());
    for row in matched {
        let xid = parse_xid(&row.try_get::<String, _>("xid_text")?)?;
        let matches_q: Vec<bool> = row.try_get("q_now")?;
        let Json(history): Json<Vec<StoredRevision>> = row.try_get("history")?;
        let history = history
            .into_iter()
            .map(|stored| {
                let facts = if stored.action == "delete" {
                    None
                } else {
                    Some(serde_json::from_value(stored.data)?)
                };
                Ok(Revision {
                    xid: parse_xid(&stored.xid)?,
                    facts,
                    matches_q: stored.q,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let now = EventRow::from_row(row)?;
        changes.push(Change {
            xid,
            id: now.id,
            now: now.into_list_item()?,
            matches_q,
            history,
        });
    }
    let overflow = changes.len() > cap;
    Ok(Changes {
        snapshot,
        changes,
        overflow,
        cap,
    })
}

fn parse_xid(text: &str) -> Result<u64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::Internal(anyhow!("`{text}` is not a transaction id")))
}
