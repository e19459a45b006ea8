//! An `events` row: the one list of columns every event statement reads, and its
//! conversion into model types.

use anyhow::anyhow;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use crate::error::ApiError;
use crate::model::list::cursor::CursorKey;
use crate::model::partnership::PartnershipRef;
use crate::model::party::CompanyRole;
use crate::model::{
    Category, Cursor, Event, EventFilter, EventListItem, EventSort, Significance, Source, Tombstone,
};

/// The columns every read of an event takes, in [`EventRow`] order, so a column is added
/// in one place. `companies` and `partnerships` are the event's links as JSON, kept in
/// its row by the statement that writes it (and rewritten by the database when a company
/// or deal they show is renamed), so a read is one row and no join.
macro_rules! event_columns {
    () => {
        "e.id, e.slug, e.title, e.occurred_on, e.category, e.significance, e.summary, \
         e.what_happened, e.why_it_matters, e.tags, e.sources, e.created_at, e.updated_at, \
         e.version, e.deleted_at, e.companies, e.partnerships"
    };
}
pub(super) use event_columns;

/// The columns the database sets when a write stores a row, in [`EventStamps`] order.
macro_rules! event_stamps {
    () => {
        "e.id, e.created_at, e.updated_at, e.version"
    };
}
pub(super) use event_stamps;

/// What the database set on a row a write stored (see `super::stored_event`).
#[derive(sqlx::FromRow)]
pub(super) struct EventStamps {
    pub(super) id: Uuid,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    pub(super) version: i64,
}

/// The columns a write sets, in the order of [`event_from_record`].
macro_rules! event_written {
    () => {
        "slug, title, occurred_on, category, significance, summary, what_happened, \
         why_it_matters, tags, sources, companies, partnerships, search"
    };
}
pub(super) use event_written;

/// The rows a write stores, read from `$1`, a JSON array of `super::WrittenRow`s (its
/// field names and types, column by column), side by side with `$2`, their search
/// vectors (binary, so the database need not parse them; null where it computes one).
macro_rules! event_recordset {
    () => {
        "rows from (jsonb_to_recordset($1) as (id uuid, slug text, title text, \
         occurred_on date, category text, significance smallint, summary text, \
         what_happened text, why_it_matters text, tags text[], sources jsonb, \
         companies json, partnerships json), unnest($2::tsvector[])) \
         as r (id, slug, title, occurred_on, category, significance, summary, \
         what_happened, why_it_matters, tags, sources, companies, partnerships, search)"
    };
}
pub(super) use event_recordset;

/// The values of [`event_written`] made from a row `r` of [`event_recordset`]: a
/// `search` left null is computed by the table's trigger.
macro_rules! event_from_record {
    () => {
        "r.slug, r.title, r.occurred_on, r.category, r.significance, r.summary, \
         r.what_happened, r.why_it_matters, r.tags, r.sources, r.companies, r.partnerships, \
         r.search"
    };
}
pub(super) use event_from_record;

/// An `events` row as the database returns it.
#[derive(sqlx::FromRow)]
pub(super) struct EventRow {
    pub(super) id: Uuid,
    slug: String,
    title: String,
    occurred_on: NaiveDate,
    category: String,
    significance: i16,
    summary: String,
    what_happened: String,
    why_it_matters: String,
    tags: Vec<String>,
    sources: Json<Vec<Source>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
    deleted_at: Option<DateTime<Utc>>,
    #[sqlx(default)]
    pub(super) rank: Option<f32>,
    /// The event's companies with their roles, as the row keeps them.
    companies: Json<Vec<CompanyRole>>,
    /// The event's deals, as the row keeps them.
    partnerships: Json<Vec<PartnershipRef>>,
}

impl EventRow {
    pub(super) fn into_event(self) -> Result<Event, ApiError> {
        let category = Category::parse(&self.category)
            .ok_or_else(|| anyhow!("stored category `{}` is unknown", self.category))?;
        let significance = Significance::from_rank(self.significance)
            .ok_or_else(|| anyhow!("stored significance {} is unknown", self.significance))?;
        Ok(Event {
            id: self.id,
            slug: self.slug,
            title: self.title,
            occurred_on: self.occurred_on,
            category,
            significance,
            summary: self.summary,
            what_happened: self.what_happened,
            why_it_matters: self.why_it_matters,
            tags: self.tags,
            sources: self.sources.0,
            companies: self.companies.0,
            partnerships: self.partnerships.0,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        })
    }

    pub(super) fn into_list_item(self) -> Result<EventListItem, ApiError> {
        if self.deleted_at.is_some() {
            return Ok(EventListItem::Deleted(Tombstone {
                id: self.id,
                slug: self.slug,
                deleted: true,
                updated_at: self.updated_at,
            }));
        }
        Ok(EventListItem::Live(Box::new(self.into_event()?)))
    }

    /// The cursor that starts the page after this row.
    pub(super) fn cursor(&self, filter: &EventFilter) -> Cursor {
        let key = match filter.sort {
            EventSort::OccurredOnDesc | EventSort::OccurredOnAsc => {
                CursorKey::Date(self.occurred_on)
            }
            EventSort::UpdatedAtDesc | EventSort::UpdatedAtAsc => CursorKey::Time(self.updated_at),
            EventSort::TitleAsc => CursorKey::Text(self.title.clone()),
            EventSort::SignificanceDesc => CursorKey::Rank(self.significance),
            EventSort::Relevance => CursorKey::Score(self.rank.unwrap_or(0.0)),
        };
        Cursor {
            sort: filter.sort,
            fingerprint: filter.fingerprint(),
            key,
            id: self.id,
            upto: None,
        }
    }
}
