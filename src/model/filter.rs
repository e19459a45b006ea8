//! The filters, sort and page of an event list, read from query parameters.

use chrono::{DateTime, NaiveDate, Utc};

use super::cursor::{Cursor, CursorKey};
use super::event::{Category, Significance};
use super::fields;
use super::params::QueryParams;
use super::role::Role;
use super::{ParamError, Ref, Tag};

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size.
pub const MAX_LIMIT: u32 = 100;
/// Longest full-text query.
pub const MAX_Q_LEN: usize = 200;

/// Every parameter the event list accepts.
pub const EVENT_LIST_PARAMS: &[&str] = &[
    "tag",
    "any_tag",
    "company",
    "role",
    "exclude_tag",
    "category",
    "significance",
    "min_significance",
    "from",
    "to",
    "q",
    "updated_since",
    "sort",
    "limit",
    "cursor",
];

/// The order of an event list; every order ends with the id so it is total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSort {
    /// `-occurred_on` (the default): newest first.
    OccurredOnDesc,
    /// `occurred_on`: oldest first.
    OccurredOnAsc,
    /// `-updated_at`: most recently changed first.
    UpdatedAtDesc,
    /// `updated_at`: least recently changed first.
    UpdatedAtAsc,
    /// `title`: alphabetical.
    TitleAsc,
    /// `-significance`: most significant first.
    SignificanceDesc,
    /// Best full-text match first (the default when `q` is given).
    Relevance,
}

impl EventSort {
    /// The values `sort=` accepts.
    pub const NAMES: &'static [&'static str] = &[
        "-occurred_on",
        "occurred_on",
        "-updated_at",
        "updated_at",
        "title",
        "-significance",
    ];

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "-occurred_on" => Self::OccurredOnDesc,
            "occurred_on" => Self::OccurredOnAsc,
            "-updated_at" => Self::UpdatedAtDesc,
            "updated_at" => Self::UpdatedAtAsc,
            "title" => Self::TitleAsc,
            "-significance" => Self::SignificanceDesc,
            _ => return None,
        })
    }

    /// A short code written into cursors.
    pub fn code(self) -> &'static str {
        match self {
            Self::OccurredOnDesc => "od",
            Self::OccurredOnAsc => "oa",
            Self::UpdatedAtDesc => "ud",
            Self::UpdatedAtAsc => "ua",
            Self::TitleAsc => "ta",
            Self::SignificanceDesc => "sd",
            Self::Relevance => "rd",
        }
    }

    /// The sort of a cursor code.
    pub fn from_code(code: &str) -> Option<Self> {
        [
            Self::OccurredOnDesc,
            Self::OccurredOnAsc,
            Self::UpdatedAtDesc,
            Self::UpdatedAtAsc,
            Self::TitleAsc,
            Self::SignificanceDesc,
            Self::Relevance,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }

    /// Whether rows come largest key first.
    pub fn descending(self) -> bool {
        matches!(
            self,
            Self::OccurredOnDesc | Self::UpdatedAtDesc | Self::SignificanceDesc | Self::Relevance
        )
    }

    /// Whether `key` is the kind of key this sort orders by.
    pub fn accepts(self, key: &CursorKey) -> bool {
        matches!(
            (self, key),
            (
                Self::OccurredOnDesc | Self::OccurredOnAsc,
                CursorKey::Date(_)
            ) | (Self::UpdatedAtDesc | Self::UpdatedAtAsc, CursorKey::Time(_))
                | (Self::TitleAsc, CursorKey::Text(_))
                | (Self::SignificanceDesc, CursorKey::Rank(_))
                | (Self::Relevance, CursorKey::Score(_))
        )
    }
}

/// A validated event list request.
#[derive(Debug, Clone)]
pub struct EventFilter {
    /// The event has all of these.
    pub all_tags: Vec<Tag>,
    /// The event has at least one of these.
    pub any_tags: Vec<Tag>,
    /// The event has none of these.
    pub exclude_tags: Vec<Tag>,
    /// The event names all of these companies (references, resolved by the caller).
    pub companies: Vec<Ref>,
    /// With `companies`: each took part in this role.
    pub role: Option<Role>,
    /// The event is in one of these.
    pub categories: Vec<Category>,
    /// Exactly this significance.
    pub significance: Option<Significance>,
    /// At least this significance.
    pub min_significance: Option<Significance>,
    /// `occurred_on` on or after.
    pub from: Option<NaiveDate>,
    /// `occurred_on` on or before.
    pub to: Option<NaiveDate>,
    /// Web-search syntax full-text query.
    pub q: Option<String>,
    /// Only events changed after this; includes tombstones.
    pub updated_since: Option<DateTime<Utc>>,
    /// The order.
    pub sort: EventSort,
    /// Page size.
    pub limit: u32,
    /// Where this page starts.
    pub cursor: Option<Cursor>,
}

impl EventFilter {
    /// Reads and checks every parameter of an event list.
    pub fn from_params(params: &QueryParams) -> Result<Self, ParamError> {
        let significance = |name: &str| -> Result<Option<Significance>, ParamError> {
            params
                .single(name)?
                .map(|s| {
                    Significance::parse(s).ok_or_else(|| {
                        ParamError::new(
                            name,
                            format!("must be one of: {}", Significance::NAMES.join(", ")),
                        )
                    })
                })
                .transpose()
        };
        let date = |name: &str| -> Result<Option<NaiveDate>, ParamError> {
            params
                .single(name)?
                .map(|s| fields::parse_date(s).map_err(|m| ParamError::new(name, m)))
                .transpose()
        };

        let categories = params.enums("category", Category::parse, Category::NAMES)?;

        let q = params.search("q")?;

        let updated_since = params
            .single("updated_since")?
            .map(|s| parse_timestamp(s).map_err(|m| ParamError::new("updated_since", m)))
            .transpose()?;

        let sort = match params.single("sort")? {
            None if q.is_some() => EventSort::Relevance,
            None => EventSort::OccurredOnDesc,
            Some(s) => EventSort::parse(s).ok_or_else(|| {
                ParamError::new(
                    "sort",
                    format!("must be one of: {}", EventSort::NAMES.join(", ")),
                )
            })?,
        };

        let limit = match params.single("limit")? {
            None => DEFAULT_LIMIT,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ParamError::new(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_LIMIT}"),
                    )
                })?,
        };

        let mut companies: Vec<Ref> = Vec::new();
        for raw in params.list("company")? {
            let reference = Ref::parse(raw)
                .ok_or_else(|| ParamError::new("company", "is not a company id or slug"))?;
            if !companies.contains(&reference) {
                companies.push(reference);
            }
        }
        let role = params
            .single("role")?
            .map(|s| {
                Role::parse(s).ok_or_else(|| {
                    ParamError::new(
                        "role",
                        format!("must be one of: {}", Role::NAMES.join(", ")),
                    )
                })
            })
            .transpose()?;

        let filter = Self {
            companies,
            role,
            all_tags: params.tags("tag")?,
            any_tags: params.tags("any_tag")?,
            exclude_tags: params.tags("exclude_tag")?,
            categories,
            significance: significance("significance")?,
            min_significance: significance("min_significance")?,
            from: date("from")?,
            to: date("to")?,
            q,
            updated_since,
            sort,
            limit,
            cursor: None,
        };
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && from > to
        {
            return Err(ParamError::new("from", "must not be after `to`"));
        }

        let cursor = params.cursor(Cursor::decode, |c| c.fingerprint, filter.fingerprint())?;
        if cursor.as_ref().is_some_and(|c| c.sort != filter.sort) {
            return Err(ParamError::new(
                "cursor",
                "belongs to another sort: keep `sort` unchanged while paging",
            ));
        }
        Ok(Self { cursor, ..filter })
    }

    /// A stable hash of everything that decides which rows match and their order, so a
    /// cursor cannot be replayed against another query.
    pub fn fingerprint(&self) -> u64 {
        let join = |tags: &[Tag]| tags.iter().map(Tag::as_str).collect::<Vec<_>>().join(",");
        let companies: Vec<String> = self.companies.iter().map(Ref::to_string).collect();
        let canonical = format!(
            "{}|{:?}|{}|{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}",
            companies.join(","),
            self.role,
            join(&self.all_tags),
            join(&self.any_tags),
            join(&self.exclude_tags),
            self.categories,
            self.significance,
            self.min_significance,
            self.from,
            self.to,
            self.q,
            self.updated_since.map(|t| t.timestamp_micros()),
            self.sort.code(),
        );
        super::cursor::fingerprint_of(&canonical)
    }
}

/// Reads `limit`: 1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]; anything else is
/// refused, not clamped.
pub fn parse_limit(params: &QueryParams) -> Result<u32, ParamError> {
    match params.single("limit")? {
        None => Ok(DEFAULT_LIMIT),
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ParamError::new(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                )
            }),
    }
}

/// Reads an RFC 3339 timestamp. A `+` offset arrives as a space when a client forgets
/// to percent-encode it, so a space there is read as `+`.
pub fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_rfc3339(&s.replace(' ', "+")))
        .map(|t| t.with_timezone(&Utc))
        // PostgreSQL has no year 0; in UTC an early time can fall into it.
        .ok()
        .filter(|t| chrono::Datelike::year(t) >= 1)
        .ok_or_else(|| {
            format!(
                "`{}` is not an RFC 3339 timestamp such as 2024-03-27T12:00:00Z",
                fields::truncate(s, 40)
            )
        })
}

/// A validated `GET /v1/tags` request.
#[derive(Debug, Clone)]
pub struct TagFilter {
    /// Only tags starting with this (normalised like a tag).
    pub prefix: Option<String>,
    /// At most this many tags.
    pub limit: u32,
}

/// Largest `limit` of the tag list.
pub const MAX_TAG_LIMIT: u32 = 1_000;

impl TagFilter {
    /// Every parameter the tag list accepts.
    pub const PARAMS: &'static [&'static str] = &["prefix", "limit"];

    /// Reads and checks the tag list's parameters.
    pub fn from_params(params: &QueryParams) -> Result<Self, ParamError> {
        let prefix = match params.single("prefix")? {
            None => None,
            Some(raw) => {
                let tag = Tag::parse(raw).map_err(|m| ParamError::new("prefix", m))?;
                Some(tag.as_str().to_owned())
            }
        };
        let limit = match params.single("limit")? {
            None => 100,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_TAG_LIMIT).contains(n))
                .ok_or_else(|| {
                    ParamError::new(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_TAG_LIMIT}"),
                    )
                })?,
        };
        Ok(Self { prefix, limit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(query: &str) -> Result<EventFilter, ParamError> {
        EventFilter::from_params(&QueryParams::parse(Some(query), EVENT_LIST_PARAMS)?)
    }

    #[test]
    fn defaults_and_normalisation() {
        let f = filter("tag=%23Cloud%20Computing,AI&category=funding,legal").unwrap();
        assert_eq!(f.sort, EventSort::OccurredOnDesc);
        assert_eq!(f.limit, DEFAULT_LIMIT);
        assert_eq!(
            f.all_tags.iter().map(Tag::as_str).collect::<Vec<_>>(),
            ["cloud-computing", "ai"]
        );
        assert_eq!(f.categories, [Category::Funding, Category::Legal]);
        assert_eq!(filter("q=anthropic").unwrap().sort, EventSort::Relevance);
        assert_eq!(
            filter("q=anthropic&sort=title").unwrap().sort,
            EventSort::TitleAsc
        );
    }

    #[test]
    fn bad_values_name_their_parameter() {
        let cases = [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=-1", "limit"),
            ("sort=colour", "sort"),
            ("category=gossip", "category"),
            ("significance=huge", "significance"),
            ("min_significance=1", "min_significance"),
            ("from=2024-02-30", "from"),
            ("from=2024-05-01&to=2024-01-01", "from"),
            ("updated_since=yesterday", "updated_since"),
            ("tag=c%2B%2B", "tag"),
            ("cursor=garbage", "cursor"),
            ("q=", "q"),
            ("limit=1&limit=2", "limit"),
            ("colour=red", "colour"),
        ];
        for (query, name) in cases {
            assert_eq!(filter(query).unwrap_err().name, name, "query {query}");
        }
        let long_q = format!("q={}", "a".repeat(201));
        assert_eq!(filter(&long_q).unwrap_err().name, "q");
    }

    #[test]
    fn a_cursor_only_fits_its_own_query() {
        let f = filter("tag=ai").unwrap();
        let cursor = Cursor {
            sort: f.sort,
            fingerprint: f.fingerprint(),
            key: CursorKey::Date(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()),
            id: uuid::Uuid::nil(),
        }
        .encode();
        assert!(filter(&format!("tag=ai&limit=5&cursor={cursor}")).is_ok());
        assert_eq!(
            filter(&format!("tag=cloud&cursor={cursor}"))
                .unwrap_err()
                .name,
            "cursor"
        );
        assert_eq!(
            filter(&format!("tag=ai&sort=occurred_on&cursor={cursor}"))
                .unwrap_err()
                .name,
            "cursor"
        );
    }

    #[test]
    fn timestamps_tolerate_an_unencoded_plus() {
        assert!(parse_timestamp("2024-03-27T12:00:00Z").is_ok());
        assert!(parse_timestamp("2024-03-27T12:00:00 02:00").is_ok());
        assert!(parse_timestamp("2024-03-27").is_err());
        assert!(
            parse_timestamp("0001-01-01T00:00:00+14:00").is_err(),
            "year 0 in UTC"
        );
        assert!(parse_timestamp("0000-06-01T00:00:00Z").is_err());
    }
}
