//! Which kind of record a thing is about: events, companies or partnerships, named one
//! way everywhere (errors, audit rows, revisions, URLs, schema names).

use std::fmt;

use serde::Serialize;

use super::Slug;

/// The kinds of record the service stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// An event.
    Event,
    /// A company.
    Company,
    /// A partnership (a deal).
    Partnership,
}

impl ResourceKind {
    /// Every kind, in a fixed order.
    pub const ALL: &'static [Self] = &[Self::Event, Self::Company, Self::Partnership];

    /// The singular name: `event`, as audit rows and problem details say it.
    pub fn singular(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Company => "company",
            Self::Partnership => "partnership",
        }
    }

    /// The plural name: `events`, as the URLs say it.
    pub fn plural(self) -> &'static str {
        match self {
            Self::Event => "events",
            Self::Company => "companies",
            Self::Partnership => "partnerships",
        }
    }

    /// Words a slug of this kind may not be, because they name routes under the
    /// collection (`/v1/events/stream`): a record with that slug could not be read by it.
    pub fn reserved_slugs(self) -> &'static [&'static str] {
        match self {
            Self::Event => &["stream", "export", "import", "timeline"],
            Self::Company => &["export", "import"],
            Self::Partnership => &[],
        }
    }

    /// Refuses a chosen slug that is one of [`Self::reserved_slugs`].
    pub fn allow_slug(self, slug: Slug) -> Result<Slug, String> {
        if self.reserved_slugs().contains(&slug.as_str()) {
            return Err(format!(
                "`{slug}` is reserved: it names a route under {}",
                self.collection()
            ));
        }
        Ok(slug)
    }

    /// The collection's path: `/v1/events`.
    pub fn collection(self) -> &'static str {
        match self {
            Self::Event => "/v1/events",
            Self::Company => "/v1/companies",
            Self::Partnership => "/v1/partnerships",
        }
    }

    /// The name its types carry in the OpenAPI document: `Event` (so `EventInput`,
    /// `EventPatch`).
    pub fn schema_name(self) -> &'static str {
        match self {
            Self::Event => "Event",
            Self::Company => "Company",
            Self::Partnership => "Partnership",
        }
    }

    /// Reads a kind by its singular or plural name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.singular() == s || k.plural() == s)
    }

    /// Every name [`parse`](Self::parse) accepts, for messages.
    pub fn names() -> Vec<&'static str> {
        Self::ALL
            .iter()
            .flat_map(|k| [k.singular(), k.plural()])
            .collect()
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.singular())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singular_and_plural_names_read_back() {
        for kind in ResourceKind::ALL {
            assert_eq!(ResourceKind::parse(kind.singular()), Some(*kind));
            assert_eq!(ResourceKind::parse(kind.plural()), Some(*kind));
            assert_eq!(kind.collection(), format!("/v1/{}", kind.plural()));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.singular())
            );
        }
        assert_eq!(ResourceKind::parse("Events"), None);
    }
}
