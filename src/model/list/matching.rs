//! Whether one event matches an event list's filters, decided in memory.
//!
//! The list itself filters in SQL. A stream must also know whether an event matched
//! *before* a change (an update that moves it out of the filter is a `deleted` for that
//! stream), from the revision a position saw; that state exists only as a stored
//! document, so the same rules are applied here. The full-text part (`q`) is decided by
//! PostgreSQL for both states and passed in.

use chrono::NaiveDate;
use serde::Deserialize;
use uuid::Uuid;

use super::events::EventFilter;
use crate::model::Event;
use crate::model::event::{Category, Significance};
use crate::model::role::Role;

/// What the filters look at in one state of an event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FilterFacts {
    /// Normalised tags.
    pub tags: Vec<String>,
    /// Category.
    pub category: Category,
    /// Significance.
    pub significance: Significance,
    /// The day it happened.
    pub occurred_on: NaiveDate,
    /// The companies it names, with their roles.
    pub companies: Vec<CompanyLink>,
}

/// A company an event names, and its role.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CompanyLink {
    /// The company.
    pub id: Uuid,
    /// Its role.
    pub role: Role,
}

impl From<&Event> for FilterFacts {
    fn from(event: &Event) -> Self {
        Self {
            tags: event.tags.clone(),
            category: event.category,
            significance: event.significance,
            occurred_on: event.occurred_on,
            companies: event
                .companies
                .iter()
                .map(|c| CompanyLink {
                    id: c.id,
                    role: c.role,
                })
                .collect(),
        }
    }
}

impl EventFilter {
    /// Whether an event with these facts is in this list. `company_ids` are the
    /// filter's companies, resolved; `matches_q` is PostgreSQL's answer for `q`
    /// (ignored when there is none).
    pub fn admits(&self, facts: &FilterFacts, company_ids: &[Uuid], matches_q: bool) -> bool {
        let has = |tag: &crate::model::Tag| facts.tags.iter().any(|t| t == tag.as_str());
        self.all_tags.iter().all(has)
            && (self.any_tags.is_empty() || self.any_tags.iter().any(has))
            && !self.exclude_tags.iter().any(has)
            && company_ids.iter().all(|company| {
                facts.companies.iter().any(|link| {
                    link.id == *company && self.role.is_none_or(|role| link.role == role)
                })
            })
            && (self.categories.is_empty() || self.categories.contains(&facts.category))
            && self.significance.is_none_or(|s| facts.significance == s)
            && self
                .min_significance
                .is_none_or(|s| facts.significance.rank() >= s.rank())
            && self.from.is_none_or(|from| facts.occurred_on >= from)
            && self.to.is_none_or(|to| facts.occurred_on <= to)
            && (self.q.is_none() || matches_q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::list::events::EVENT_LIST_PARAMS;
    use crate::model::list::params::QueryParams;

    fn filter(query: &str) -> EventFilter {
        EventFilter::from_params(&QueryParams::parse(Some(query), EVENT_LIST_PARAMS).unwrap())
            .unwrap()
    }

    fn facts() -> FilterFacts {
        serde_json::from_value(serde_json::json!({
            "id": "0193f1a0-0000-7000-8000-000000000001",
            "title": "Amazon completes $4 billion investment in Anthropic",
            "tags": ["ai", "investment"],
            "category": "funding",
            "significance": "major",
            "occurred_on": "2024-03-27",
            "companies": [
                {"id": "0193f1a0-0000-7000-8000-00000000000a", "slug": "amazon", "name": "Amazon", "role": "investor"},
                {"id": "0193f1a0-0000-7000-8000-00000000000b", "slug": "anthropic", "name": "Anthropic", "role": "investee"}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn each_filter_is_applied_as_the_list_applies_it() {
        let amazon = Uuid::parse_str("0193f1a0-0000-7000-8000-00000000000a").unwrap();
        let facts = facts();
        for (query, admitted) in [
            ("", true),
            ("tag=ai", true),
            ("tag=ai,cloud", false),
            ("any_tag=cloud,investment", true),
            ("any_tag=cloud", false),
            ("exclude_tag=investment", false),
            ("category=funding,legal", true),
            ("category=legal", false),
            ("significance=major", true),
            ("significance=minor", false),
            ("min_significance=notable", true),
            ("min_significance=landmark", false),
            ("from=2024-03-27&to=2024-03-27", true),
            ("from=2024-03-28", false),
            ("to=2024-03-26", false),
        ] {
            assert_eq!(filter(query).admits(&facts, &[], true), admitted, "{query}");
        }
        assert!(filter("company=amazon").admits(&facts, &[amazon], true));
        assert!(filter("company=amazon&role=investor").admits(&facts, &[amazon], true));
        assert!(!filter("company=amazon&role=investee").admits(&facts, &[amazon], true));
        assert!(!filter("company=x").admits(&facts, &[Uuid::nil()], true));
        assert!(filter("q=amazon").admits(&facts, &[], true));
        assert!(!filter("q=amazon").admits(&facts, &[], false));
        assert!(
            filter("tag=ai").admits(&facts, &[], false),
            "no q: its answer is moot"
        );
    }
}
