//! Events: what happened, when, and why it matters.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::fields::{self, ObjectReader};
use super::partnership::{CompanyRole, PartnershipRef, PartyInput, parse_company_roles};
use super::tag::{MAX_TAGS, Tag};
use super::wire::wire_enum;
use super::{FieldError, Ref, Slug};

/// The longest title accepted.
pub const MAX_TITLE_LEN: usize = 300;
/// The longest summary accepted.
pub const MAX_SUMMARY_LEN: usize = 2_000;
/// The longest long-form text accepted.
pub const MAX_TEXT_LEN: usize = 20_000;
/// The most sources one event may cite.
pub const MAX_SOURCES: usize = 20;

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

/// A validated event as a client wants it created (or as a patch leaves it).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The slug the client chose; `None` makes one from the title.
    pub slug: Option<Slug>,
    /// The headline.
    pub title: String,
    /// The day it happened.
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
    /// Normalised tags, duplicates merged.
    pub tags: Vec<Tag>,
    /// Cited pages.
    pub sources: Vec<Source>,
    /// The companies it involves, with their roles (references, not yet resolved).
    pub companies: Vec<PartyInput>,
    /// The deals it belongs to (references, not yet resolved).
    pub partnerships: Vec<Ref>,
}

/// Most companies one event may name.
pub const MAX_EVENT_COMPANIES: usize = 50;
/// Most deals one event may name.
pub const MAX_EVENT_PARTNERSHIPS: usize = 20;

impl NewEvent {
    /// Validates a JSON document, reporting every broken rule at once.
    pub fn from_json(value: Value) -> Result<Self, Vec<FieldError>> {
        let mut r = ObjectReader::new(value)?;
        let slug = r.optional("slug", |v| {
            fields::text(v, 200).and_then(|s| Slug::parse(&s))
        });
        let title = r.required("title", |v| fields::non_blank_text(v, MAX_TITLE_LEN));
        let occurred_on = r.required("occurred_on", fields::date);
        let category = r.required("category", Category::from_json);
        let significance = r.required("significance", Significance::from_json);
        let summary = r.optional("summary", |v| fields::text(v, MAX_SUMMARY_LEN));
        let what_happened = r.optional("what_happened", |v| fields::text(v, MAX_TEXT_LEN));
        let why_it_matters = r.optional("why_it_matters", |v| fields::text(v, MAX_TEXT_LEN));
        let tags = r.nested("tags", parse_tags);
        let sources = r.nested("sources", parse_sources);
        let companies = r.nested("companies", |v, f| {
            let items =
                fields::array(v, MAX_EVENT_COMPANIES).map_err(|m| vec![FieldError::new(f, m)])?;
            parse_company_roles(items, f)
        });
        let partnerships = r.nested("partnerships", parse_partnership_refs);
        for read_only in ["id", "created_at", "updated_at", "version"] {
            if r.optional(read_only, |_| Ok(())).is_some() {
                r.push_error(FieldError::new(read_only, "is read-only and cannot be set"));
            }
        }
        r.finish()?;
        match (title, occurred_on, category, significance) {
            (Some(title), Some(occurred_on), Some(category), Some(significance)) => Ok(Self {
                slug,
                title,
                occurred_on,
                category,
                significance,
                summary: summary.unwrap_or_default(),
                what_happened: what_happened.unwrap_or_default(),
                why_it_matters: why_it_matters.unwrap_or_default(),
                tags: tags.unwrap_or_default(),
                sources: sources.unwrap_or_default(),
                companies: companies.unwrap_or_default(),
                partnerships: partnerships.unwrap_or_default(),
            }),
            // `finish` has already reported each missing required field.
            _ => Err(vec![FieldError::new("", "required fields are missing")]),
        }
    }
}

/// Reads a `tags` array: strings, normalised, at most [`MAX_TAGS`] after merging.
pub fn parse_tags(value: &Value, field: &str) -> Result<Vec<Tag>, Vec<FieldError>> {
    let items = fields::array(value, MAX_TAGS * 4).map_err(|m| vec![FieldError::new(field, m)])?;
    let mut errors = Vec::new();
    let mut raw = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) => raw.push(s.as_str()),
            other => errors.push(FieldError::new(
                format!("{field}[{i}]"),
                format!("must be a string, not {}", fields::json_kind(other)),
            )),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let tags = Tag::parse_list(raw).map_err(|bad| {
        bad.into_iter()
            .map(|(i, m)| FieldError::new(format!("{field}[{i}]"), m))
            .collect::<Vec<_>>()
    })?;
    if tags.len() > MAX_TAGS {
        return Err(vec![FieldError::new(
            field,
            format!(
                "must have at most {MAX_TAGS} distinct tags (got {})",
                tags.len()
            ),
        )]);
    }
    Ok(tags)
}

/// Reads a `sources` array of `{url, title}`.
fn parse_sources(value: &Value, field: &str) -> Result<Vec<Source>, Vec<FieldError>> {
    let items = fields::array(value, MAX_SOURCES).map_err(|m| vec![FieldError::new(field, m)])?;
    let mut sources = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("{field}[{i}]");
        let mut r = match ObjectReader::new(item.clone()) {
            Ok(r) => r,
            Err(_) => {
                errors.push(FieldError::new(&prefix, "must be an object {url, title}"));
                continue;
            }
        };
        let url = r.required("url", fields::http_url);
        let title = r.optional("title", |v| fields::text(v, MAX_TITLE_LEN));
        match r.finish() {
            Ok(()) => {
                if let Some(url) = url {
                    sources.push(Source {
                        url,
                        title: title.unwrap_or_default(),
                    });
                }
            }
            Err(inner) => errors.extend(
                inner
                    .into_iter()
                    .map(|e| FieldError::new(format!("{prefix}.{}", e.field), e.message)),
            ),
        }
    }
    if errors.is_empty() {
        Ok(sources)
    } else {
        Err(errors)
    }
}

/// Reads `partnerships`: deal ids or slugs, each once.
fn parse_partnership_refs(value: &Value, field: &str) -> Result<Vec<Ref>, Vec<FieldError>> {
    let items = fields::array(value, MAX_EVENT_PARTNERSHIPS)
        .map_err(|m| vec![FieldError::new(field, m)])?;
    let mut refs: Vec<Ref> = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let parsed = fields::text(item, 200).and_then(|s| {
            Ref::parse(&s).ok_or_else(|| {
                format!(
                    "`{}` is not a partnership id or slug",
                    fields::truncate(&s, 40)
                )
            })
        });
        match parsed {
            Ok(r) if refs.contains(&r) => {
                errors.push(FieldError::new(format!("{field}[{i}]"), "is listed twice"))
            }
            Ok(r) => refs.push(r),
            Err(m) => errors.push(FieldError::new(format!("{field}[{i}]"), m)),
        }
    }
    if errors.is_empty() {
        Ok(refs)
    } else {
        Err(errors)
    }
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

impl Event {
    /// The writable fields as a client would send them: the document a JSON Merge
    /// Patch is applied to.
    pub fn to_input_document(&self) -> Value {
        json!({
            "slug": self.slug,
            "title": self.title,
            "occurred_on": self.occurred_on,
            "category": self.category,
            "significance": self.significance,
            "summary": self.summary,
            "what_happened": self.what_happened,
            "why_it_matters": self.why_it_matters,
            "tags": self.tags,
            "sources": self.sources,
            "companies": self.companies.iter().map(|c| json!({"company": c.slug, "role": c.role})).collect::<Vec<_>>(),
            "partnerships": self.partnerships.iter().map(|p| p.slug.as_str()).collect::<Vec<_>>(),
        })
    }
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

/// Applies a JSON Merge Patch (RFC 7396) to `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> Value {
        json!({
            "title": "Amazon completes $4 billion investment in Anthropic",
            "occurred_on": "2024-03-27",
            "category": "industry",
            "significance": "major",
            "tags": ["investment", "#Cloud Computing", "partnership", "consolidation", "INVESTMENT"],
            "sources": [{"url": "https://www.aboutamazon.com/news", "title": "Amazon"}]
        })
    }

    #[test]
    fn the_reference_story_is_valid_and_normalised() {
        let event = NewEvent::from_json(reference()).unwrap();
        let tags: Vec<_> = event.tags.iter().map(Tag::as_str).collect();
        assert_eq!(
            tags,
            [
                "investment",
                "cloud-computing",
                "partnership",
                "consolidation"
            ]
        );
        assert_eq!(event.significance, Significance::Major);
        assert_eq!(event.slug, None);
    }

    #[test]
    fn every_bad_field_is_listed() {
        let errors = NewEvent::from_json(json!({
            "title": "",
            "occurred_on": "2024-13-01",
            "category": "gossip",
            "tags": ["ok", 3, "c++"],
            "sources": [{"url": "ftp://x"}, "x"],
            "version": 9,
            "colour": "red"
        }))
        .unwrap_err();
        let mut fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "category",
                "colour",
                "occurred_on",
                "significance",
                "sources[0].url",
                "sources[1]",
                "tags[1]",
                "title",
                "version"
            ]
        );
    }

    #[test]
    fn more_than_twenty_distinct_tags_is_refused() {
        let mut doc = reference();
        doc["tags"] = json!((0..21).map(|i| format!("t{i}")).collect::<Vec<_>>());
        let errors = NewEvent::from_json(doc).unwrap_err();
        assert_eq!(errors[0].field, "tags");
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));
        merge_patch(&mut doc, &json!({"a": [1]}));
        assert_eq!(doc["a"], json!([1]));
    }

    #[test]
    fn significance_ranks_round_trip() {
        for s in Significance::ALL {
            assert_eq!(Significance::from_rank(s.rank()), Some(*s));
        }
        assert_eq!(Significance::from_rank(7), None);
    }
}
