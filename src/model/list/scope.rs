//! What a list depends on: the kinds of write that can change what it shows.

use super::events::EventFilter;
use crate::model::{ResourceKind, Tag};

/// A part of the data a list reads. Each committing write notes the scopes it touched
/// (the `list_changes` migration writes the same keys as [`ListScope::key`]), so a list
/// is stale only after a write to one of its own scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListScope {
    /// Any event (its row or its links).
    Events,
    /// An event that has, or had before the write, this tag.
    EventTag(Tag),
    /// Any company.
    Companies,
    /// Any deal (its row, parties or tranches).
    Partnerships,
}

impl ListScope {
    /// The key the database notes for this scope.
    pub fn key(&self) -> String {
        match self {
            Self::Events => "event".to_owned(),
            Self::EventTag(tag) => format!("event-tag:{}", tag.as_str()),
            Self::Companies => "company".to_owned(),
            Self::Partnerships => "partnership".to_owned(),
        }
    }

    /// The scope of every record of `kind`.
    pub fn of(kind: ResourceKind) -> Self {
        match kind {
            ResourceKind::Event => Self::Events,
            ResourceKind::Company => Self::Companies,
            ResourceKind::Partnership => Self::Partnerships,
        }
    }

    /// What a list of events with `filter` can show: only events with its first
    /// required tag, when it has one (an event must carry every one of them), else any
    /// event. Lists by tag stay valid while other tags' events change.
    /// With `company` filters, companies too: renaming one can make its ref stop
    /// resolving.
    pub fn of_events(filter: &EventFilter) -> Vec<Self> {
        let mut scopes = match filter.all_tags.first() {
            Some(tag) => vec![Self::EventTag(tag.clone())],
            None => vec![Self::Events],
        };
        if !filter.companies.is_empty() {
            scopes.push(Self::Companies);
        }
        scopes
    }

    /// What a list of deals shows: the deals, their parties' names and their
    /// timelines of events.
    pub fn of_partnerships() -> Vec<Self> {
        vec![Self::Partnerships, Self::Companies, Self::Events]
    }

    /// Every scope: what the audit trail shows.
    pub fn all() -> Vec<Self> {
        vec![Self::Events, Self::Companies, Self::Partnerships]
    }
}
