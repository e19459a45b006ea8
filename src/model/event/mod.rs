//! Events: what happened, when, and why it matters.

mod input;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::partnership::PartnershipRef;
use super::party::CompanyRole;
use super::wire::wire_enum;

pub use input::{EventInput, NewEvent, SearchVector, SourceInput};

wire_enum! {
    /// What kind of thing happened.
    Category {
        /// Moves of companies in the market.
        Industry = "industry",
        /// Money raised or invested.
        Funding = "funding",
        /// Laws, rules and government action.
        Policy = "policy",
        /// Papers and results.
        Research = "research",
        /// Launches and releases.
        Product = "product",
        /// Lawsuits and rulings.
        Legal = "legal",
        /// Anything else.
        Other = "other",
    }
}

wire_enum! {
    /// How much an event matters, in increasing order.
    Significance {
        /// Of passing interest.
        Minor = "minor",
        /// Worth knowing.
        Notable = "notable",
        /// Changes the picture.
        Major = "major",
        /// Remembered for years.
        Landmark = "landmark",
    }
}

impl Significance {
    /// The rank stored in the database, so that ordering and `min_significance` are
    /// plain integer comparisons.
    pub fn rank(self) -> i16 {
        match self {
            Self::Minor => 0,
            Self::Notable => 1,
            Self::Major => 2,
            Self::Landmark => 3,
        }
    }

    /// The variant of a stored rank.
    pub fn from_rank(rank: i16) -> Option<Self> {
        usize::try_from(rank)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }
}

/// A page an event cites.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"url": "https://www.aboutamazon.com/news/company-news/amazon-anthropic-ai-investment", "title": "Amazon newsroom"}))]
pub struct Source {
    /// An http or https URL.
    pub url: String,
    /// The page's title.
    pub title: String,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Event {
    /// Time-ordered UUID (v7).
    pub id: Uuid,
    /// Unique slug.
    #[schema(example = "amazon-completes-4-billion-investment-in-anthropic")]
    pub slug: String,
    /// The headline.
    #[schema(example = "Amazon completes $4 billion investment in Anthropic")]
    pub title: String,
    /// The day it happened.
    #[schema(example = "2024-03-27")]
    pub occurred_on: NaiveDate,
    /// What kind of thing happened.
    pub category: Category,
    /// How much it matters.
    pub significance: Significance,
    /// A short summary.
    pub summary: String,
    /// The facts, at length.
    pub what_happened: String,
    /// The analysis.
    pub why_it_matters: String,
    /// Normalised tags.
    #[schema(example = json!(["investment", "cloud-computing", "partnership", "consolidation"]))]
    pub tags: Vec<String>,
    /// Cited pages.
    pub sources: Vec<Source>,
    /// The companies it involves, with their roles.
    pub companies: Vec<CompanyRole>,
    /// The deals it belongs to.
    pub partnerships: Vec<PartnershipRef>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Grows by one with each change.
    pub version: i64,
}

/// What is left of a deleted event, shown only to `updated_since` polls.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Tombstone {
    /// The deleted event's id.
    pub id: Uuid,
    /// Its slug when it was deleted.
    pub slug: String,
    /// Always `true`.
    pub deleted: bool,
    /// When it was deleted.
    pub updated_at: DateTime<Utc>,
}

/// One entry of an event list: an event, or (for `updated_since`) a tombstone.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum EventListItem {
    /// A live event.
    Live(Box<Event>),
    /// A deleted event.
    Deleted(Tombstone),
}

impl<C> super::Page<EventListItem, C> {
    /// The page's live events, tombstones dropped.
    pub fn into_events(self) -> Vec<Event> {
        self.items
            .into_iter()
            .filter_map(|item| match item {
                EventListItem::Live(event) => Some(*event),
                EventListItem::Deleted(_) => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significance_ranks_round_trip() {
        for s in Significance::ALL {
            assert_eq!(Significance::from_rank(s.rank()), Some(*s));
        }
        assert_eq!(Significance::from_rank(7), None);
    }
}
