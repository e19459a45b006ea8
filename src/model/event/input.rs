//! An event as a client sends it: the request schema, and its validation into a
//! [`NewEvent`] that reports every broken rule at once.

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;

use super::{Category, Event, Significance, Source};
use crate::model::fields::{self, MAX_SUMMARY_LEN, MAX_TEXT_LEN, MAX_TITLE_LEN, ObjectReader};
use crate::model::party::{CompanyRoleInput, PartyInput, parse_company_roles, same_parties};
use crate::model::schema::{HttpUrl, RefText, SlugText, TagName};
use crate::model::tag::{Tag, parse_tags, same_tags};
use crate::model::{FieldError, Ref, ResourceKind, Slug};

/// The most sources one event may cite.
pub const MAX_SOURCES: usize = 20;

/// A cited page, as a client sends it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceInput {
    /// The page's URL.
    #[schema(value_type = HttpUrl)]
    pub url: String,
    /// Its title.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 300, pattern = r"^[^\u0000]*$")]
    pub title: Option<String>,
}

/// An event as a client creates it; `slug` is derived from the title when absent. The
/// document a `PATCH` is merged into is this type, made from the stored event.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "Amazon completes $4 billion investment in Anthropic",
    "occurred_on": "2024-03-27",
    "category": "industry",
    "significance": "major",
    "summary": "Amazon invested a further $2.75 billion in Anthropic, completing its $4 billion commitment.",
    "tags": ["investment", "cloud-computing", "partnership", "consolidation"],
    "sources": [{"url": "https://www.aboutamazon.com/news/company-news/amazon-anthropic-ai-investment", "title": "Amazon newsroom"}],
    "companies": [{"company": "amazon", "role": "investor"}, {"company": "anthropic", "role": "investee"}],
    "partnerships": ["amazon-anthropic-strategic-collaboration"]
}))]
pub struct EventInput {
    /// Unique among live events.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<SlugText>)]
    pub slug: Option<String>,
    /// The headline; not blank.
    #[schema(
        min_length = 1,
        max_length = 300,
        pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
    )]
    pub title: String,
    /// The day it happened.
    pub occurred_on: NaiveDate,
    /// What kind of thing happened.
    pub category: Category,
    /// How much it matters.
    pub significance: Significance,
    /// A short summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2000, pattern = r"^[^\u0000]*$")]
    pub summary: Option<String>,
    /// The facts, at length.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 20000, pattern = r"^[^\u0000]*$")]
    pub what_happened: Option<String>,
    /// The analysis.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 20000, pattern = r"^[^\u0000]*$")]
    pub why_it_matters: Option<String>,
    /// At most 20 distinct tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<TagName>>, max_items = 20)]
    pub tags: Option<Vec<String>>,
    /// At most 20 sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 20)]
    pub sources: Option<Vec<SourceInput>>,
    /// The companies involved, each at most once per role.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 50)]
    pub companies: Option<Vec<CompanyRoleInput>>,
    /// The deals it belongs to, each once.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<RefText>>, max_items = 20)]
    pub partnerships: Option<Vec<String>>,
}

impl From<&Event> for EventInput {
    /// The writable fields of a stored event as a client would send them. Every field
    /// is named, so a field added to either type without a place here fails to compile.
    fn from(event: &Event) -> Self {
        let Event {
            id: _,
            slug,
            title,
            occurred_on,
            category,
            significance,
            summary,
            what_happened,
            why_it_matters,
            tags,
            sources,
            companies,
            partnerships,
            created_at: _,
            updated_at: _,
            version: _,
        } = event;
        Self {
            slug: Some(slug.clone()),
            title: title.clone(),
            occurred_on: *occurred_on,
            category: *category,
            significance: *significance,
            summary: Some(summary.clone()),
            what_happened: Some(what_happened.clone()),
            why_it_matters: Some(why_it_matters.clone()),
            tags: Some(tags.clone()),
            sources: Some(
                sources
                    .iter()
                    .map(|Source { url, title }| SourceInput {
                        url: url.clone(),
                        title: Some(title.clone()),
                    })
                    .collect(),
            ),
            companies: Some(companies.iter().map(CompanyRoleInput::from).collect()),
            partnerships: Some(partnerships.iter().map(|p| p.slug.clone()).collect()),
        }
    }
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
    /// Derived, never read from input: its search vector, when an import computed it
    /// ahead on another connection; `None` (always, after parsing) has the database
    /// compute it as it writes the row.
    pub search_vector: Option<SearchVector>,
}

/// An event's search vector as the database's `event_search_vector` made it from the
/// event's four texts, in PostgreSQL's binary form (`tsvectorsend`): it goes back into
/// the database as it came, never parsed or rewritten here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchVector(pub Vec<u8>);

/// Most companies one event may name.
pub const MAX_EVENT_COMPANIES: usize = 50;
/// Most deals one event may name.
pub const MAX_EVENT_PARTNERSHIPS: usize = 20;

impl NewEvent {
    /// Validates a JSON document, reporting every broken rule at once.
    pub fn from_json(value: Value) -> Result<Self, Vec<FieldError>> {
        let mut r = ObjectReader::new(value)?;
        let slug = r.optional("slug", |v| {
            fields::text(v, 200)
                .and_then(|s| Slug::parse(&s))
                .and_then(|slug| ResourceKind::Event.allow_slug(slug))
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
        r.refuse_read_only(&["id", "created_at", "updated_at", "version"]);
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
                search_vector: None,
            }),
            // `finish` has already reported each missing required field.
            _ => Err(vec![FieldError::new("", "required fields are missing")]),
        }
    }
}

impl NewEvent {
    /// Whether storing this over `event` would leave it as it is: every field it writes
    /// equal and its companies and deals the same, in the same order (named by id or by
    /// slug alike). Without a slug it keeps the event's, as an import's update does.
    pub fn restates(&self, event: &Event) -> bool {
        let Self {
            slug,
            title,
            occurred_on,
            category,
            significance,
            summary,
            what_happened,
            why_it_matters,
            tags,
            sources,
            companies,
            partnerships,
            // Derived from the texts, which are compared.
            search_vector: _,
        } = self;
        let Event {
            id: _,
            slug: stored_slug,
            title: stored_title,
            occurred_on: stored_occurred_on,
            category: stored_category,
            significance: stored_significance,
            summary: stored_summary,
            what_happened: stored_what_happened,
            why_it_matters: stored_why_it_matters,
            tags: stored_tags,
            sources: stored_sources,
            companies: stored_companies,
            partnerships: stored_partnerships,
            created_at: _,
            updated_at: _,
            version: _,
        } = event;
        slug.as_ref()
            .is_none_or(|slug| slug.as_str() == stored_slug)
            && title == stored_title
            && occurred_on == stored_occurred_on
            && category == stored_category
            && significance == stored_significance
            && summary == stored_summary
            && what_happened == stored_what_happened
            && why_it_matters == stored_why_it_matters
            && same_tags(tags, stored_tags)
            && sources == stored_sources
            && same_parties(companies, stored_companies)
            && partnerships.len() == stored_partnerships.len()
            && partnerships
                .iter()
                .zip(stored_partnerships)
                .all(|(named, deal)| named.names(deal.id, &deal.slug))
    }
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
            Err(inner) => errors.extend(fields::nested_errors(&prefix, inner)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
