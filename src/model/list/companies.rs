//! The company list: filters, cursor and documented parameters.

use uuid::Uuid;

use super::params::QueryParams;
use crate::model::company::CompanyKind;
use crate::model::schema::TagName;
use crate::model::{ParamError, Tag};

/// The filters of the company list ([`CompanyFilterParams`]), which its export takes too.
pub const COMPANY_FILTER_PARAMS: &[&str] = &["q", "kind", "tag"];

/// Every parameter the company list accepts: the filters, then `limit` and `cursor`.
pub const COMPANY_LIST_PARAMS: &[&str] = &["q", "kind", "tag", "limit", "cursor"];

/// The filters of a company list.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct CompanyFilterParams {
    /// A case-insensitive substring of the name (taken literally).
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
    )]
    q: Option<String>,
    /// Any of these kinds.
    #[param(max_items = 20)]
    kind: Option<Vec<CompanyKind>>,
    /// All of these tags.
    #[param(max_items = 20)]
    tag: Option<Vec<TagName>>,
}

/// How a company list is paged.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct CompanyPagingParams {
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The previous page's `next_cursor`.
    #[param(max_length = 4000)]
    cursor: Option<String>,
}

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

        let limit = super::parse_limit(params)?;

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
    use crate::model::list::cursor::{Cursor, CursorKey};
    use crate::model::list::events::{EVENT_LIST_PARAMS, EventFilter};
    use utoipa::IntoParams;

    fn filter(query: &str) -> Result<CompanyFilter, ParamError> {
        CompanyFilter::from_params(&QueryParams::parse(Some(query), COMPANY_LIST_PARAMS)?)
    }

    #[test]
    fn the_documented_parameters_are_the_accepted_ones() {
        let names = |params: Vec<utoipa::openapi::path::Parameter>| -> Vec<String> {
            params.into_iter().map(|p| p.name).collect()
        };
        let filters = names(CompanyFilterParams::into_params(|| None));
        assert_eq!(filters, COMPANY_FILTER_PARAMS);
        let documented = [filters, names(CompanyPagingParams::into_params(|| None))].concat();
        assert_eq!(documented, COMPANY_LIST_PARAMS);
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
        assert_eq!(f.limit, super::super::DEFAULT_LIMIT);
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
        let events =
            EventFilter::from_params(&QueryParams::parse(None, EVENT_LIST_PARAMS).unwrap())
                .unwrap();
        let event_cursor = Cursor {
            sort: events.sort,
            fingerprint: events.fingerprint(),
            key: CursorKey::Text("x".into()),
            id: Uuid::nil(),
            upto: None,
        };
        assert_eq!(CompanyCursor::decode(&event_cursor.encode()), None);
        use base64::Engine;
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("c1.0.not-a-uuid.x");
        for bad in ["", "!!!", "abc", forged.as_str()] {
            assert_eq!(CompanyCursor::decode(bad), None, "{bad} should be refused");
        }
    }
}
