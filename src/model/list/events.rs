//! The event list: its filters, order and page, read from query parameters, and the
//! parameters as the OpenAPI document shows them.

use chrono::{DateTime, NaiveDate, Utc};
use utoipa::IntoParams;

use super::cursor::Cursor;
use super::params::QueryParams;
use super::sort::{EventSort, EventSortParam};
use super::{parse_limit, parse_timestamp};
use crate::model::event::{Category, Significance};
use crate::model::position::{Freshness, Position};
use crate::model::role::Role;
use crate::model::schema::{RefText, TagName};
use crate::model::{ParamError, Ref, Tag, fields};

/// Defines the event list's parameter names once: the filters, the paging ones, and
/// both together.
macro_rules! event_list_params {
    (filters: [$($filter:literal),+ $(,)?], paging: [$($paging:literal),+ $(,)?]) => {
        /// The filters of the event list ([`EventFilterParams`]), which streams and
        /// feeds take too.
        pub const EVENT_FILTER_PARAMS: &[&str] = &[$($filter),+];
        /// The event list's parameters that are not filters ([`EventPagingParams`]).
        pub const EVENT_PAGING_PARAMS: &[&str] = &[$($paging),+];
        /// Every parameter the event list accepts: the filters, then the paging ones.
        pub const EVENT_LIST_PARAMS: &[&str] = &[$($filter,)+ $($paging),+];
    };
}

event_list_params!(
    filters: [
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
    ],
    paging: ["updated_since", "sort", "limit", "cursor", "wait"]
);

/// The filters of an event list. Repeatable parameters take repeats and
/// comma-separated values, at most 20.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct EventFilterParams {
    /// The event has ALL of these tags.
    #[param(max_items = 20)]
    tag: Option<Vec<TagName>>,
    /// The event has AT LEAST ONE of these tags.
    #[param(max_items = 20)]
    any_tag: Option<Vec<TagName>>,
    /// The event names ALL of these companies (ids or slugs); an unknown one is a 400.
    #[param(max_items = 20)]
    company: Option<Vec<RefText>>,
    /// With `company`: each took part in this role.
    role: Option<Role>,
    /// The event has NONE of these tags.
    #[param(max_items = 20)]
    exclude_tag: Option<Vec<TagName>>,
    /// The event is in one of these categories.
    #[param(max_items = 20)]
    category: Option<Vec<Category>>,
    /// Exactly this significance.
    significance: Option<Significance>,
    /// At least this significance (minor < notable < major < landmark).
    min_significance: Option<Significance>,
    /// `occurred_on` on or after (not after `to`).
    from: Option<NaiveDate>,
    /// `occurred_on` on or before.
    to: Option<NaiveDate>,
    /// Full text over title, summary and texts, web-search syntax; best match first.
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
    )]
    q: Option<String>,
}

/// How an event list is paged and polled.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct EventPagingParams {
    /// Only events changed after this position (a `Next-Updated-Since`, a stream
    /// message's id) or, less exactly, this RFC 3339 time; deletions included as
    /// tombstones.
    #[param(max_length = 8000)]
    updated_since: Option<String>,
    /// The order; ties are broken by id.
    sort: Option<EventSortParam>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The previous page's `next_cursor`, with every other parameter unchanged.
    #[param(max_length = 4000)]
    cursor: Option<String>,
    /// Long poll, with `updated_since`: when nothing matching has changed, wait up to
    /// this many seconds for a change before answering.
    #[param(minimum = 1, maximum = 60)]
    wait: Option<u32>,
}

/// Where an incremental poll starts.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdatedSince {
    /// After a position: exactly the changes it did not see.
    Position(Position),
    /// After a time: changes by transactions that started after it. A transaction
    /// that started earlier and committed later is missed; positions are exact.
    Time(DateTime<Utc>),
}

impl UpdatedSince {
    /// Reads `updated_since`: a position, else an RFC 3339 timestamp.
    pub fn parse(text: &str) -> Result<Self, ParamError> {
        if let Some(position) = Position::parse(text) {
            return Ok(Self::Position(position));
        }
        if Position::looks_like(text) {
            return Err(ParamError::new(
                "updated_since",
                "is not a position this service issued",
            ));
        }
        parse_timestamp(text).map(Self::Time).map_err(|_| {
            ParamError::new(
                "updated_since",
                "must be a position (a `Next-Updated-Since` header or a stream message id) \
                 or an RFC 3339 timestamp",
            )
        })
    }

    /// The position, if this is one.
    pub fn position(&self) -> Option<&Position> {
        match self {
            Self::Position(p) => Some(p),
            Self::Time(_) => None,
        }
    }
}

impl std::fmt::Display for UpdatedSince {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Position(p) => p.fmt(f),
            Self::Time(t) => write!(f, "{}", t.timestamp_micros()),
        }
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
    pub updated_since: Option<UpdatedSince>,
    /// The order.
    pub sort: EventSort,
    /// Page size.
    pub limit: u32,
    /// Where this page starts.
    pub cursor: Option<Cursor>,
}

impl EventFilter {
    /// Which copies of the database can answer this list exactly: a poll from a
    /// position, or a later page of a walk, needs one that has replayed everything the
    /// position (or the walk's first page) saw, else it could skip a change or hand
    /// over a position behind the client's.
    pub fn freshness(&self) -> Freshness<'_> {
        match (&self.updated_since, &self.cursor) {
            (_, Some(cursor)) => match &cursor.upto {
                Some(upto) => Freshness::Covering(vec![upto]),
                None => Freshness::Latest,
            },
            (Some(UpdatedSince::Position(position)), None) => {
                Freshness::Covering(position.snapshots())
            }
            (Some(UpdatedSince::Time(_)) | None, None) => Freshness::Any,
        }
    }

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
            .map(UpdatedSince::parse)
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

        let limit = parse_limit(params)?;

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

    /// Refuses `role` without `company` where no other company is implied (every event
    /// list but a company's own).
    pub fn check_role(&self) -> Result<(), ParamError> {
        if self.role.is_some() && self.companies.is_empty() {
            return Err(ParamError::new(
                "role",
                "needs `company`: the role a company took part in",
            ));
        }
        Ok(())
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
            self.updated_since.as_ref().map(UpdatedSince::to_string),
            self.sort.code(),
        );
        super::cursor::fingerprint_of(&canonical)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Tag;
    use crate::model::list::DEFAULT_LIMIT;
    use crate::model::list::cursor::CursorKey;
    use utoipa::IntoParams;

    #[test]
    fn the_documented_parameters_are_the_accepted_ones() {
        let names = |params: Vec<utoipa::openapi::path::Parameter>| -> Vec<String> {
            params.into_iter().map(|p| p.name).collect()
        };
        let filters = names(EventFilterParams::into_params(|| None));
        let paging = names(EventPagingParams::into_params(|| None));
        assert_eq!(filters, EVENT_FILTER_PARAMS);
        assert_eq!(paging, EVENT_PAGING_PARAMS);
        assert_eq!([filters, paging].concat(), EVENT_LIST_PARAMS);
    }

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
            upto: None,
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
}
