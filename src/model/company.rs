//! Companies: the labs, clouds, chipmakers, investors and regulators events name.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::event::{MAX_TEXT_LEN, parse_tags};
use super::fields::{self, ObjectReader};
use super::params::QueryParams;
use super::wire::wire_enum;
use super::{FieldError, ParamError, Slug, Tag, country};

/// The longest name accepted.
pub const MAX_NAME_LEN: usize = 300;
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
            fields::text(v, 200).and_then(|s| Slug::parse(&s))
        });
        let name = r.required("name", |v| fields::non_blank_text(v, MAX_NAME_LEN));
        let kind = r.required("kind", CompanyKind::from_json);
        let country = r.optional("country", country::from_json);
        let website = r.optional("website", fields::http_url);
        let description = r.optional("description", |v| fields::text(v, MAX_DESCRIPTION_LEN));
        let tags = r.nested("tags", parse_tags);
        for read_only in ["id", "created_at", "updated_at", "version"] {
            if r.optional(read_only, |_| Ok(())).is_some() {
                r.push_error(FieldError::new(read_only, "is read-only and cannot be set"));
            }
        }
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

impl Company {
    /// The writable fields as a client would send them: the document a JSON Merge
    /// Patch is applied to. Absent optional fields are left out, as a client would.
    pub fn to_input_document(&self) -> Value {
        let mut document = json!({
            "slug": self.slug,
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "tags": self.tags,
        });
        if let Value::Object(map) = &mut document {
            if let Some(country) = &self.country {
                map.insert("country".into(), json!(country));
            }
            if let Some(website) = &self.website {
                map.insert("website".into(), json!(website));
            }
        }
        document
    }
}

/// Every parameter the company list accepts.
pub const COMPANY_LIST_PARAMS: &[&str] = &["q", "kind", "tag", "limit", "cursor"];

/// A validated company list request; the order is always `(name, id)` ascending.
#[derive(Debug, Clone)]
pub struct CompanyFilter {
    /// A case-insensitive substring of the name, taken literally (`%` and `_` too).
    pub q: Option<String>,
    /// The company is of one of these kinds.
    pub kinds: Vec<CompanyKind>,
    /// The company has all of these tags.
    pub tags: Vec<Tag>,
    /// Page size.
    pub limit: u32,
    /// Where this page starts.
    pub cursor: Option<CompanyCursor>,
}

impl CompanyFilter {
    /// Reads and checks every parameter of a company list.
    pub fn from_params(params: &QueryParams) -> Result<Self, ParamError> {
        let q = params.search("q")?;

        let kinds = params.enums("kind", CompanyKind::parse, CompanyKind::NAMES)?;

        let tags = params.tags("tag")?;

        let limit = super::filter::parse_limit(params)?;

        let filter = Self {
            q,
            kinds,
            tags,
            limit,
            cursor: None,
        };
        let cursor = params.cursor(
            CompanyCursor::decode,
            |c| c.fingerprint,
            filter.fingerprint(),
        )?;
        Ok(Self { cursor, ..filter })
    }

    /// A stable hash of everything that decides which rows match, so a cursor cannot
    /// be replayed against another query.
    pub fn fingerprint(&self) -> u64 {
        let tags = self
            .tags
            .iter()
            .map(Tag::as_str)
            .collect::<Vec<_>>()
            .join(",");
        let kinds = self
            .kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(",");
        // The leading word keeps these hashes apart from any other list's.
        let canonical = format!("companies|{:?}|{kinds}|{tags}", self.q);
        super::cursor::fingerprint_of(&canonical)
    }
}

/// Where the next page of a company list starts: the `(name, id)` of the last row.
///
/// Its own format (`c1.` before base64), so an event cursor is never mistaken for one
/// and event cursors stay exactly as they were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyCursor {
    /// A hash of the filters it was made under.
    pub fingerprint: u64,
    /// The name of the last row.
    pub name: String,
    /// The id of the last row (the tie-breaker).
    pub id: Uuid,
}

/// The format version written into every company cursor.
const CURSOR_VERSION: &str = "c1";

impl CompanyCursor {
    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        super::cursor::encode_token(CURSOR_VERSION, self.fingerprint, self.id, &self.name)
    }

    /// Reads a cursor; `None` for anything this service did not produce.
    pub fn decode(text: &str) -> Option<Self> {
        let (fingerprint, id, name) = super::cursor::decode_token(text, CURSOR_VERSION)?;
        // No stored name is empty.
        if name.is_empty() {
            return None;
        }
        Some(Self {
            fingerprint,
            name,
            id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Cursor;
    use crate::model::filter::EVENT_LIST_PARAMS;

    fn reference() -> Value {
        json!({
            "name": "Anthropic",
            "kind": "ai_lab",
            "country": "us",
            "website": "https://www.anthropic.com",
            "tags": ["#Foundation Models", "AI_Safety", "ai-safety"]
        })
    }

    fn filter(query: &str) -> Result<CompanyFilter, ParamError> {
        CompanyFilter::from_params(&QueryParams::parse(Some(query), COMPANY_LIST_PARAMS)?)
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
        let new = NewCompany::from_json(company.to_input_document()).unwrap();
        assert_eq!(new.slug.as_ref().map(Slug::as_str), Some("anthropic"));
        assert_eq!(new.country, None);
        assert_eq!(new.website, company.website);
    }

    #[test]
    fn list_parameters_are_read_and_bad_ones_named() {
        let f = filter("q=%20Open%20&kind=ai_lab,investor&kind=ai_lab&tag=%23Cloud%20Computing")
            .unwrap();
        assert_eq!(f.q.as_deref(), Some("Open"));
        assert_eq!(f.kinds, [CompanyKind::AiLab, CompanyKind::Investor]);
        assert_eq!(
            f.tags.iter().map(Tag::as_str).collect::<Vec<_>>(),
            ["cloud-computing"]
        );
        assert_eq!(f.limit, crate::model::filter::DEFAULT_LIMIT);
        let cases = [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=x", "limit"),
            ("kind=startup", "kind"),
            ("tag=c%2B%2B", "tag"),
            ("q=", "q"),
            ("q=%00", "q"),
            ("q=a&q=b", "q"),
            ("cursor=garbage", "cursor"),
            ("sort=name", "sort"),
        ];
        for (query, name) in cases {
            assert_eq!(filter(query).unwrap_err().name, name, "query {query}");
        }
        let long_q = format!("q={}", "a".repeat(201));
        assert_eq!(filter(&long_q).unwrap_err().name, "q");
    }

    #[test]
    fn cursors_round_trip_and_only_fit_their_own_query() {
        let f = filter("kind=ai_lab").unwrap();
        let cursor = CompanyCursor {
            fingerprint: f.fingerprint(),
            name: "A.b|c é".into(),
            id: Uuid::now_v7(),
        };
        assert_eq!(
            CompanyCursor::decode(&cursor.encode()),
            Some(cursor.clone())
        );
        let text = cursor.encode();
        assert!(filter(&format!("kind=ai_lab&limit=5&cursor={text}")).is_ok());
        assert_eq!(
            filter(&format!("kind=investor&cursor={text}"))
                .unwrap_err()
                .name,
            "cursor"
        );
        // Neither list accepts the other's cursors.
        assert_eq!(Cursor::decode(&text), None);
        let events = crate::model::EventFilter::from_params(
            &QueryParams::parse(None, EVENT_LIST_PARAMS).unwrap(),
        )
        .unwrap();
        let event_cursor = Cursor {
            sort: events.sort,
            fingerprint: events.fingerprint(),
            key: crate::model::cursor::CursorKey::Text("x".into()),
            id: Uuid::nil(),
        };
        assert_eq!(CompanyCursor::decode(&event_cursor.encode()), None);
        use base64::Engine;
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("c1.0.not-a-uuid.x");
        for bad in ["", "!!!", "abc", forged.as_str()] {
            assert_eq!(CompanyCursor::decode(bad), None, "{bad} should be refused");
        }
    }
}
