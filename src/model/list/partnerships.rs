//! The partnership list: filters, cursor and documented parameters.

use chrono::NaiveDate;
use uuid::Uuid;

use super::params::QueryParams;
use crate::model::partnership::{PartnershipKind, PartnershipStatus};
use crate::model::schema::{RefText, TagName};
use crate::model::{ParamError, Ref, Tag, fields};

/// Every parameter the partnership list accepts.
pub const PARTNERSHIP_LIST_PARAMS: &[&str] = &[
    "company", "kind", "status", "tag", "from", "to", "limit", "cursor",
];

/// The parameters of a partnership list.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PartnershipListParams {
    /// A party (id or slug); an unknown one is a 400. Not on `/v1/companies/{ref}/partnerships`.
    company: Option<RefText>,
    /// Any of these kinds.
    #[param(max_items = 20)]
    kind: Option<Vec<PartnershipKind>>,
    /// Any of these statuses.
    #[param(max_items = 20)]
    status: Option<Vec<PartnershipStatus>>,
    /// All of these tags.
    #[param(max_items = 20)]
    tag: Option<Vec<TagName>>,
    /// `announced_on` on or after.
    from: Option<NaiveDate>,
    /// `announced_on` on or before.
    to: Option<NaiveDate>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The previous page's `next_cursor`.
    #[param(max_length = 4000)]
    cursor: Option<String>,
}

/// Where the next page of partnerships starts: after this `(announced_on, id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnershipCursor {
    /// A hash of the filters it was made under.
    pub fingerprint: u64,
    /// The last row's `announced_on`.
    pub announced_on: NaiveDate,
    /// The last row's id.
    pub id: Uuid,
}

const PARTNERSHIP_CURSOR_VERSION: &str = "p1";

impl PartnershipCursor {
    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        let key = self.announced_on.format("%Y-%m-%d").to_string();
        super::cursor::encode_token(PARTNERSHIP_CURSOR_VERSION, self.fingerprint, self.id, &key)
    }

    /// Reads a cursor; `None` for anything this service did not produce.
    pub fn decode(text: &str) -> Option<Self> {
        let (fingerprint, id, key) = super::cursor::decode_token(text, PARTNERSHIP_CURSOR_VERSION)?;
        Some(Self {
            fingerprint,
            announced_on: fields::parse_date(&key).ok()?,
            id,
        })
    }
}

/// A validated partnership list request, newest announced first.
#[derive(Debug, Clone)]
pub struct PartnershipFilter {
    /// A party (by id or slug); resolved by the repository.
    pub company: Option<Ref>,
    /// Any of these kinds.
    pub kinds: Vec<PartnershipKind>,
    /// Any of these statuses.
    pub statuses: Vec<PartnershipStatus>,
    /// All of these tags.
    pub tags: Vec<Tag>,
    /// `announced_on` on or after.
    pub from: Option<NaiveDate>,
    /// `announced_on` on or before.
    pub to: Option<NaiveDate>,
    /// Page size.
    pub limit: u32,
    /// Where this page starts.
    pub cursor: Option<PartnershipCursor>,
}

impl PartnershipFilter {
    /// Reads and checks every parameter of a partnership list.
    pub fn from_params(params: &QueryParams) -> Result<Self, ParamError> {
        let company = params
            .single("company")?
            .map(|raw| {
                Ref::parse(raw)
                    .ok_or_else(|| ParamError::new("company", "is not a company id or slug"))
            })
            .transpose()?;
        let kinds = params.enums("kind", PartnershipKind::parse, PartnershipKind::NAMES)?;
        let statuses =
            params.enums("status", PartnershipStatus::parse, PartnershipStatus::NAMES)?;
        let tags = params.tags("tag")?;
        let date = |name: &str| -> Result<Option<NaiveDate>, ParamError> {
            params
                .single(name)?
                .map(|s| fields::parse_date(s).map_err(|m| ParamError::new(name, m)))
                .transpose()
        };
        let (from, to) = (date("from")?, date("to")?);
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            return Err(ParamError::new("from", "must not be after `to`"));
        }
        let limit = super::parse_limit(params)?;
        let filter = Self {
            company,
            kinds,
            statuses,
            tags,
            from,
            to,
            limit,
            cursor: None,
        };
        let cursor = params.cursor(
            PartnershipCursor::decode,
            |c| c.fingerprint,
            filter.fingerprint(),
        )?;
        Ok(Self { cursor, ..filter })
    }

    /// A stable hash of everything that decides which rows match.
    pub fn fingerprint(&self) -> u64 {
        let company = self
            .company
            .as_ref()
            .map(Ref::to_string)
            .unwrap_or_default();
        let tags: Vec<&str> = self.tags.iter().map(Tag::as_str).collect();
        super::cursor::fingerprint_of(&format!(
            "partnerships|{company}|{:?}|{:?}|{}|{:?}|{:?}",
            self.kinds,
            self.statuses,
            tags.join(","),
            self.from,
            self.to
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::IntoParams;

    #[test]
    fn the_documented_parameters_are_the_accepted_ones() {
        let documented: Vec<String> = PartnershipListParams::into_params(|| None)
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(documented, PARTNERSHIP_LIST_PARAMS);
    }
}
