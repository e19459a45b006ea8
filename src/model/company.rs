//! Companies: the labs, clouds, chipmakers, investors and regulators events name.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::fields::{self, MAX_TEXT_LEN, MAX_TITLE_LEN, ObjectReader};
use super::schema::{HttpUrl, SlugText, TagName};
use super::tag::{parse_tags, same_tags};
use super::wire::wire_enum;
use super::{FieldError, ResourceKind, Slug, Tag, country};

/// The longest name accepted.
pub const MAX_NAME_LEN: usize = MAX_TITLE_LEN;
/// The longest description accepted (the contract's "other texts").
pub const MAX_DESCRIPTION_LEN: usize = MAX_TEXT_LEN;

wire_enum! {
    /// What kind of organisation a company is.
    CompanyKind {
        /// Builds AI models.
        AiLab = "ai_lab",
        /// Rents out computing.
        CloudProvider = "cloud_provider",
        /// Designs or makes chips.
        Chipmaker = "chipmaker",
        /// Invests money.
        Investor = "investor",
        /// A government body or regulator.
        Regulator = "regulator",
        /// Any other business that buys or uses the technology.
        Enterprise = "enterprise",
        /// Anything else.
        Other = "other",
    }
}

/// A validated company as a client wants it created (or as a patch leaves it).
#[derive(Debug, Clone, PartialEq)]
pub struct NewCompany {
    /// The slug the client chose; `None` makes one from the name.
    pub slug: Option<Slug>,
    /// The company's name.
    pub name: String,
    /// What kind of organisation it is.
    pub kind: CompanyKind,
    /// ISO 3166-1 alpha-2 code, uppercase.
    pub country: Option<String>,
    /// Its http or https home page.
    pub website: Option<String>,
    /// What it does.
    pub description: String,
    /// Normalised tags, duplicates merged.
    pub tags: Vec<Tag>,
}

impl NewCompany {
    /// Validates a JSON document, reporting every broken rule at once.
    pub fn from_json(value: Value) -> Result<Self, Vec<FieldError>> {
        let mut r = ObjectReader::new(value)?;
        let slug = r.optional("slug", |v| {
            fields::text(v, 200)
                .and_then(|s| Slug::parse(&s))
                .and_then(|slug| ResourceKind::Company.allow_slug(slug))
        });
        let name = r.required("name", |v| fields::non_blank_text(v, MAX_NAME_LEN));
        let kind = r.required("kind", CompanyKind::from_json);
        let country = r.optional("country", country::from_json);
        let website = r.optional("website", fields::http_url);
        let description = r.optional("description", |v| fields::text(v, MAX_DESCRIPTION_LEN));
        let tags = r.nested("tags", parse_tags);
        r.refuse_read_only(&["id", "created_at", "updated_at", "version"]);
        r.finish()?;
        match (name, kind) {
            (Some(name), Some(kind)) => Ok(Self {
                slug,
                name,
                kind,
                country,
                website,
                description: description.unwrap_or_default(),
                tags: tags.unwrap_or_default(),
            }),
            // `finish` has already reported each missing required field.
            _ => Err(vec![FieldError::new("", "required fields are missing")]),
        }
    }
}

impl NewCompany {
    /// Whether storing this over `company` would leave it as it is: every field it
    /// writes equal. Without a slug it keeps the company's, as an import's update does.
    pub fn restates(&self, company: &Company) -> bool {
        let Self {
            slug,
            name,
            kind,
            country,
            website,
            description,
            tags,
        } = self;
        let Company {
            id: _,
            slug: stored_slug,
            name: stored_name,
            kind: stored_kind,
            country: stored_country,
            website: stored_website,
            description: stored_description,
            tags: stored_tags,
            created_at: _,
            updated_at: _,
            version: _,
        } = company;
        slug.as_ref()
            .is_none_or(|slug| slug.as_str() == stored_slug)
            && name == stored_name
            && kind == stored_kind
            && country == stored_country
            && website == stored_website
            && description == stored_description
            && same_tags(tags, stored_tags)
    }
}

/// A stored company.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Company {
    /// Time-ordered UUID (v7).
    pub id: Uuid,
    /// Unique slug.
    pub slug: String,
    /// The company's name.
    pub name: String,
    /// What kind of organisation it is.
    pub kind: CompanyKind,
    /// ISO 3166-1 alpha-2 code; `null` when unknown or not one country.
    pub country: Option<String>,
    /// Its home page; `null` when absent.
    pub website: Option<String>,
    /// What it does.
    pub description: String,
    /// Normalised tags.
    pub tags: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Grows by one with each change.
    pub version: i64,
}

/// A company as a client creates it; `slug` is derived from the name when absent. The
/// document a `PATCH` is merged into is this type, made from the stored company.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Anthropic", "kind": "ai_lab", "country": "US",
    "website": "https://www.anthropic.com", "tags": ["foundation-models", "ai-safety"]
}))]
pub struct CompanyInput {
    /// Unique.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<SlugText>)]
    pub slug: Option<String>,
    /// Not blank.
    #[schema(
        min_length = 1,
        max_length = 300,
        pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
    )]
    pub name: String,
    /// What kind of organisation it is.
    pub kind: CompanyKind,
    /// ISO 3166-1 alpha-2 (one of the officially assigned codes).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub country: Option<String>,
    /// Its website.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<HttpUrl>)]
    pub website: Option<String>,
    /// A description.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 20000, pattern = r"^[^\u0000]*$")]
    pub description: Option<String>,
    /// At most 20 distinct tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<TagName>>, max_items = 20)]
    pub tags: Option<Vec<String>>,
}

impl From<&Company> for CompanyInput {
    /// The writable fields of a stored company as a client would send them (absent
    /// optional fields left out). Every field is named, so a field added to either
    /// type without a place here fails to compile.
    fn from(company: &Company) -> Self {
        let Company {
            id: _,
            slug,
            name,
            kind,
            country,
            website,
            description,
            tags,
            created_at: _,
            updated_at: _,
            version: _,
        } = company;
        Self {
            slug: Some(slug.clone()),
            name: name.clone(),
            kind: *kind,
            country: country.clone(),
            website: website.clone(),
            description: Some(description.clone()),
            tags: Some(tags.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reference() -> Value {
        json!({
            "name": "Anthropic",
            "kind": "ai_lab",
            "country": "us",
            "website": "https://www.anthropic.com",
            "tags": ["#Foundation Models", "AI_Safety", "ai-safety"]
        })
    }

    #[test]
    fn a_valid_company_is_normalised() {
        let company = NewCompany::from_json(reference()).unwrap();
        assert_eq!(company.kind, CompanyKind::AiLab);
        assert_eq!(company.country.as_deref(), Some("US"));
        assert_eq!(
            company.tags.iter().map(Tag::as_str).collect::<Vec<_>>(),
            ["foundation-models", "ai-safety"]
        );
        assert_eq!(company.description, "");
        assert_eq!(company.slug, None);
    }

    #[test]
    fn every_bad_field_is_listed() {
        let errors = NewCompany::from_json(json!({
            "name": " ",
            "kind": "startup",
            "country": "XX",
            "website": "ftp://example.com",
            "description": "a\u{0000}b",
            "tags": ["ok", "c++"],
            "slug": "Not A Slug",
            "id": "x",
            "colour": "red"
        }))
        .unwrap_err();
        let mut fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "colour",
                "country",
                "description",
                "id",
                "kind",
                "name",
                "slug",
                "tags[1]",
                "website"
            ]
        );
        let missing = NewCompany::from_json(json!({})).unwrap_err();
        let fields: Vec<_> = missing.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "kind"]);
    }

    #[test]
    fn the_input_document_round_trips() {
        let now = Utc::now();
        let company = Company {
            id: Uuid::now_v7(),
            slug: "anthropic".into(),
            name: "Anthropic".into(),
            kind: CompanyKind::AiLab,
            country: None,
            website: Some("https://www.anthropic.com".into()),
            description: "Builds Claude.".into(),
            tags: vec!["ai-safety".into()],
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let new =
            NewCompany::from_json(serde_json::to_value(CompanyInput::from(&company)).unwrap())
                .unwrap();
        assert_eq!(new.slug.as_ref().map(Slug::as_str), Some("anthropic"));
        assert_eq!(new.country, None);
        assert_eq!(new.website, company.website);
    }
}
