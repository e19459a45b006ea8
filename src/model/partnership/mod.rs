//! Partnerships: the deals between companies, with their parties, money and terms.

mod input;
mod terms;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::money::Money;
use super::party::CompanyRole;
use super::wire::wire_enum;

pub use input::{NewPartnership, PartnershipInput, TrancheInput};

/// Most parties of one deal.
pub const MAX_PARTIES: usize = 20;
/// Most tranches of one deal.
pub const MAX_TRANCHES: usize = 50;
/// Most terms of one deal.
pub const MAX_TERMS: usize = 50;
/// Longest term.
pub const MAX_TERM_LEN: usize = 500;

wire_enum! {
    /// What a deal is about.
    PartnershipKind {
        /// Equity or debt investment.
        Investment = "investment",
        /// Cloud capacity or services.
        Cloud = "cloud",
        /// Chips supply or co-design.
        Chips = "chips",
        /// Selling or distributing products.
        Distribution = "distribution",
        /// One buys the other.
        Acquisition = "acquisition",
        /// Licensing of technology or people.
        Licensing = "licensing",
        /// Joint research.
        Research = "research",
        /// Anything else.
        Other = "other",
    }
}

wire_enum! {
    /// Where a deal stands.
    PartnershipStatus {
        /// Announced, not yet in effect.
        Announced = "announced",
        /// In effect.
        Active = "active",
        /// Done (e.g. all money paid).
        Completed = "completed",
        /// Being reviewed by a regulator.
        UnderReview = "under_review",
        /// Over.
        Ended = "ended",
    }
}

/// One payment of a deal.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Tranche {
    /// How much.
    pub amount: Money,
    /// When.
    pub on: NaiveDate,
    /// What it was.
    pub note: String,
}

/// A deal as an event lists it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PartnershipRef {
    /// The deal's id.
    pub id: Uuid,
    /// Its slug.
    pub slug: String,
    /// Its title.
    pub title: String,
}

/// An event on a deal's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TimelineEvent {
    /// The event's id.
    pub id: Uuid,
    /// Its slug.
    pub slug: String,
    /// Its title.
    pub title: String,
    /// When it happened.
    pub occurred_on: NaiveDate,
}

/// A stored partnership.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Partnership {
    /// Time-ordered UUID (v7).
    pub id: Uuid,
    /// Unique slug.
    #[schema(example = "amazon-anthropic-strategic-collaboration")]
    pub slug: String,
    /// The deal's name.
    #[schema(example = "Amazon-Anthropic strategic collaboration")]
    pub title: String,
    /// What it is about.
    pub kind: PartnershipKind,
    /// Where it stands.
    pub status: PartnershipStatus,
    /// The parties with their roles.
    pub parties: Vec<CompanyRole>,
    /// When it was announced.
    pub announced_on: NaiveDate,
    /// When it ended.
    pub ended_on: Option<NaiveDate>,
    /// The total, when known.
    pub total: Option<Money>,
    /// The payments, in order.
    pub tranches: Vec<Tranche>,
    /// The terms.
    pub terms: Vec<String>,
    /// Whether it is exclusive.
    pub exclusive: bool,
    /// Normalised tags.
    pub tags: Vec<String>,
    /// The deal's timeline, newest first.
    pub events: Vec<TimelineEvent>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Grows by one with each change.
    pub version: i64,
}
