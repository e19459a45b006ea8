//! Partnerships: the deals between companies, with their parties, money and terms.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::event::{MAX_TITLE_LEN, parse_tags};
use super::fields::{self, ObjectReader};
use super::money::Money;
use super::role::Role;
use super::wire::wire_enum;
use super::{FieldError, Ref, Slug, Tag};

/// Most parties of one deal.
pub const MAX_PARTIES: usize = 20;
/// Most tranches of one deal.
pub const MAX_TRANCHES: usize = 50;
/// Most terms of one deal.
pub const MAX_TERMS: usize = 50;
/// Longest term.
pub const MAX_TERM_LEN: usize = 500;

wire_enum! {
    /// What a deal is about.
    PartnershipKind {
        /// Equity or debt investment.
        Investment = "investment",
        /// Cloud capacity or services.
        Cloud = "cloud",
        /// Chips supply or co-design.
        Chips = "chips",
        /// Selling or distributing products.
        Distribution = "distribution",
        /// One buys the other.
        Acquisition = "acquisition",
        /// Licensing of technology or people.
        Licensing = "licensing",
        /// Joint research.
        Research = "research",
        /// Anything else.
        Other = "other",
    }
}

wire_enum! {
    /// Where a deal stands.
    PartnershipStatus {
        /// Announced, not yet in effect.
        Announced = "announced",
        /// In effect.
        Active = "active",
        /// Done (e.g. all money paid).
        Completed = "completed",
        /// Being reviewed by a regulator.
        UnderReview = "under_review",
        /// Over.
        Ended = "ended",
    }
}

/// A party as the client names it: a company reference and its role.
#[derive(Debug, Clone, PartialEq)]
pub struct PartyInput {
    /// The company's id or slug.
    pub company: Ref,
    /// Its role in the deal.
    pub role: Role,
}

/// One payment of a deal.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Tranche {
    /// How much.
    pub amount: Money,
    /// When.
    pub on: NaiveDate,
    /// What it was.
    pub note: String,
}

/// A validated partnership as a client wants it stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPartnership {
    /// The slug the client chose; `None` derives one from the title.
    pub slug: Option<Slug>,
    /// The deal's name.
    pub title: String,
    /// What it is about.
    pub kind: PartnershipKind,
    /// Where it stands.
    pub status: PartnershipStatus,
    /// At least two parties.
    pub parties: Vec<PartyInput>,
    /// When it was announced.
    pub announced_on: NaiveDate,
    /// When it ended, if it has.
    pub ended_on: Option<NaiveDate>,
    /// The total: as given, else the sum of the tranches, else unknown.
    pub total: Option<Money>,
    /// The payments, in order.
    pub tranches: Vec<Tranche>,
    /// Short statements of the terms.
    pub terms: Vec<String>,
    /// Whether the deal is exclusive.
    pub exclusive: bool,
    /// Normalised tags.
    pub tags: Vec<Tag>,
}

impl NewPartnership {
    /// Validates a JSON document, reporting every broken rule at once.
    pub fn from_json(value: Value) -> Result<Self, Vec<FieldError>> {
        let mut r = ObjectReader::new(value)?;
        let slug = r.optional("slug", |v| {
            fields::text(v, 200).and_then(|s| Slug::parse(&s))
        });
        let title = r.required("title", |v| fields::non_blank_text(v, MAX_TITLE_LEN));
        let kind = r.required("kind", PartnershipKind::from_json);
        let status = r.required("status", PartnershipStatus::from_json);
        let parties = r.nested("parties", parse_parties);
        if parties.is_none() && !r.has_error_for("parties") {
            r.push_error(FieldError::new(
                "parties",
                "is required (at least two parties)",
            ));
        }
        let announced_on = r.required("announced_on", fields::date);
        let ended_on = r.optional("ended_on", fields::date);
        let total = r.nested("total", Money::from_json);
        let tranches = r.nested("tranches", parse_tranches).unwrap_or_default();
        let terms = r.nested("terms", parse_terms).unwrap_or_default();
        let exclusive = r.optional("exclusive", |v| {
            v.as_bool()
                .ok_or_else(|| format!("must be true or false, not {}", fields::json_kind(v)))
        });
        let tags = r.nested("tags", parse_tags).unwrap_or_default();
        for read_only in ["id", "created_at", "updated_at", "version", "events"] {
            if r.optional(read_only, |_| Ok(())).is_some() {
                r.push_error(FieldError::new(read_only, "is read-only and cannot be set"));
            }
        }
        if let (Some(announced), Some(ended)) = (announced_on, ended_on)
            && ended < announced
        {
            r.push_error(FieldError::new(
                "ended_on",
                "must not be before `announced_on`",
            ));
        }
        let total = match check_total(total, &tranches) {
            Ok(total) => total,
            Err(error) => {
                r.push_error(error);
                None
            }
        };
        r.finish()?;
        match (title, kind, status, parties, announced_on) {
            (Some(title), Some(kind), Some(status), Some(parties), Some(announced_on)) => {
                Ok(Self {
                    slug,
                    title,
                    kind,
                    status,
                    parties,
                    announced_on,
                    ended_on,
                    total,
                    tranches,
                    terms,
                    exclusive: exclusive.unwrap_or(false),
                    tags,
                })
            }
            _ => Err(vec![FieldError::new("", "required fields are missing")]),
        }
    }
}

/// The total a deal stores: the client's, which must equal the tranches' exact sum
/// when there are tranches; else that sum; else none.
fn check_total(total: Option<Money>, tranches: &[Tranche]) -> Result<Option<Money>, FieldError> {
    let Some(first) = tranches.first() else {
        return Ok(total);
    };
    let currency = &first.amount.currency;
    if let Some(i) = tranches.iter().position(|t| &t.amount.currency != currency) {
        return Err(FieldError::new(
            format!("tranches[{i}].amount.currency"),
            format!("every tranche must be in the same currency ({currency})"),
        ));
    }
    let sum = Money::sum(tranches.iter().map(|t| &t.amount))
        .ok_or_else(|| FieldError::new("tranches", "the sum of the tranches is too large"))?;
    match total {
        None => Ok(Some(Money {
            amount: sum,
            currency: currency.clone(),
        })),
        Some(total) if &total.currency != currency => Err(FieldError::new(
            "total",
            format!(
                "is in {} but the tranches are in {currency}",
                total.currency
            ),
        )),
        Some(total) if total.amount != sum => Err(FieldError::new(
            "total",
            format!("is {} but the tranches add up to {sum}", total.amount),
        )),
        Some(total) => Ok(Some(total)),
    }
}

/// Reads `[{company, role}]`: at least two, each company once per role.
fn parse_parties(value: &Value, field: &str) -> Result<Vec<PartyInput>, Vec<FieldError>> {
    let items = fields::array(value, MAX_PARTIES).map_err(|m| vec![FieldError::new(field, m)])?;
    let parties = parse_company_roles(items, field)?;
    if parties.len() < 2 {
        return Err(vec![FieldError::new(
            field,
            "must name at least two parties",
        )]);
    }
    Ok(parties)
}

/// Reads a list of `{company: ref, role}`; a company may appear once per role.
pub fn parse_company_roles(
    items: &[Value],
    field: &str,
) -> Result<Vec<PartyInput>, Vec<FieldError>> {
    let mut parties: Vec<PartyInput> = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("{field}[{i}]");
        let Ok(mut r) = ObjectReader::new(item.clone()) else {
            errors.push(FieldError::new(
                &prefix,
                "must be an object {company, role}",
            ));
            continue;
        };
        let company = r.required("company", |v| {
            let s = fields::text(v, 200)?;
            Ref::parse(&s).ok_or_else(|| {
                format!("`{}` is not a company id or slug", fields::truncate(&s, 40))
            })
        });
        let role = r.required("role", Role::from_json);
        match (r.finish(), company, role) {
            (Ok(()), Some(company), Some(role)) => {
                if parties
                    .iter()
                    .any(|p| p.company == company && p.role == role)
                {
                    errors.push(FieldError::new(
                        format!("{prefix}.company"),
                        "is listed twice with the same role",
                    ));
                } else {
                    parties.push(PartyInput { company, role });
                }
            }
            (Err(inner), _, _) => errors.extend(
                inner
                    .into_iter()
                    .map(|e| FieldError::new(format!("{prefix}.{}", e.field), e.message)),
            ),
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(parties)
    } else {
        Err(errors)
    }
}

fn parse_tranches(value: &Value, field: &str) -> Result<Vec<Tranche>, Vec<FieldError>> {
    let items = fields::array(value, MAX_TRANCHES).map_err(|m| vec![FieldError::new(field, m)])?;
    let mut tranches = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("{field}[{i}]");
        let Ok(mut r) = ObjectReader::new(item.clone()) else {
            errors.push(FieldError::new(
                &prefix,
                "must be an object {amount, on, note}",
            ));
            continue;
        };
        let amount = r.nested("amount", Money::from_json);
        if amount.is_none() && !r.has_error_for("amount") {
            r.push_error(FieldError::new("amount", "is required"));
        }
        if amount.as_ref().is_some_and(|m| m.amount.is_zero()) {
            r.push_error(FieldError::new("amount.amount", "must be more than zero"));
        }
        let on = r.required("on", fields::date);
        let note = r.optional("note", |v| fields::text(v, MAX_TITLE_LEN));
        match (r.finish(), amount, on) {
            (Ok(()), Some(amount), Some(on)) => tranches.push(Tranche {
                amount,
                on,
                note: note.unwrap_or_default(),
            }),
            (Err(inner), _, _) => errors.extend(
                inner
                    .into_iter()
                    .map(|e| FieldError::new(format!("{prefix}.{}", e.field), e.message)),
            ),
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(tranches)
    } else {
        Err(errors)
    }
}

fn parse_terms(value: &Value, field: &str) -> Result<Vec<String>, Vec<FieldError>> {
    let items = fields::array(value, MAX_TERMS).map_err(|m| vec![FieldError::new(field, m)])?;
    let mut terms = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match fields::non_blank_text(item, MAX_TERM_LEN) {
            Ok(term) => terms.push(term),
            Err(m) => errors.push(FieldError::new(format!("{field}[{i}]"), m)),
        }
    }
    if errors.is_empty() {
        Ok(terms)
    } else {
        Err(errors)
    }
}

/// A company as a deal or an event shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CompanyRole {
    /// The company's id.
    pub id: Uuid,
    /// Its slug.
    pub slug: String,
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// A deal as an event lists it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PartnershipRef {
    /// The deal's id.
    pub id: Uuid,
    /// Its slug.
    pub slug: String,
    /// Its title.
    pub title: String,
}

/// An event on a deal's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TimelineEvent {
    /// The event's id.
    pub id: Uuid,
    /// Its slug.
    pub slug: String,
    /// Its title.
    pub title: String,
    /// When it happened.
    pub occurred_on: NaiveDate,
}

/// A stored partnership.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Partnership {
    /// Time-ordered UUID (v7).
    pub id: Uuid,
    /// Unique slug.
    #[schema(example = "amazon-anthropic-strategic-collaboration")]
    pub slug: String,
    /// The deal's name.
    #[schema(example = "Amazon-Anthropic strategic collaboration")]
    pub title: String,
    /// What it is about.
    pub kind: PartnershipKind,
    /// Where it stands.
    pub status: PartnershipStatus,
    /// The parties with their roles.
    pub parties: Vec<CompanyRole>,
    /// When it was announced.
    pub announced_on: NaiveDate,
    /// When it ended.
    pub ended_on: Option<NaiveDate>,
    /// The total, when known.
    pub total: Option<Money>,
    /// The payments, in order.
    pub tranches: Vec<Tranche>,
    /// The terms.
    pub terms: Vec<String>,
    /// Whether it is exclusive.
    pub exclusive: bool,
    /// Normalised tags.
    pub tags: Vec<String>,
    /// The deal's timeline, newest first.
    pub events: Vec<TimelineEvent>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Grows by one with each change.
    pub version: i64,
}

impl Partnership {
    /// The writable fields as a client would send them, for JSON Merge Patch.
    pub fn to_input_document(&self) -> Value {
        json!({
            "slug": self.slug,
            "title": self.title,
            "kind": self.kind,
            "status": self.status,
            "parties": self.parties.iter().map(|p| json!({"company": p.slug, "role": p.role})).collect::<Vec<_>>(),
            "announced_on": self.announced_on,
            "ended_on": self.ended_on,
            "total": self.total,
            "tranches": self.tranches,
            "terms": self.terms,
            "exclusive": self.exclusive,
            "tags": self.tags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amazon_anthropic() -> Value {
        json!({
            "title": "Amazon-Anthropic strategic collaboration",
            "kind": "investment",
            "status": "completed",
            "parties": [{"company": "amazon", "role": "investor"}, {"company": "anthropic", "role": "investee"}],
            "announced_on": "2023-09-25",
            "tranches": [
                {"amount": {"amount": "1250000000", "currency": "USD"}, "on": "2023-09-25", "note": "initial"},
                {"amount": {"amount": "2750000000", "currency": "USD"}, "on": "2024-03-27", "note": "completion"}
            ],
            "terms": ["AWS is the primary cloud provider"],
            "exclusive": false,
            "tags": ["investment", "Cloud Computing"]
        })
    }

    #[test]
    fn the_total_is_derived_from_the_tranches() {
        let deal = NewPartnership::from_json(amazon_anthropic()).unwrap();
        let total = deal.total.unwrap();
        assert_eq!(
            (total.amount.to_string().as_str(), total.currency.as_str()),
            ("4000000000", "USD")
        );
        assert_eq!(deal.parties.len(), 2);
    }

    #[test]
    fn a_total_that_is_not_the_sum_is_refused() {
        let mut doc = amazon_anthropic();
        doc["total"] = json!({"amount": "4000000001", "currency": "USD"});
        let errors = NewPartnership::from_json(doc.clone()).unwrap_err();
        assert_eq!(errors[0].field, "total");
        doc["total"] = json!({"amount": "4000000000.00", "currency": "USD"});
        assert!(
            NewPartnership::from_json(doc.clone()).is_ok(),
            "equal amounts at another scale are equal"
        );
        doc["total"] = json!({"amount": "4000000000", "currency": "EUR"});
        assert_eq!(
            NewPartnership::from_json(doc).unwrap_err()[0].field,
            "total"
        );
    }

    #[test]
    fn every_bad_field_is_listed() {
        let errors = NewPartnership::from_json(json!({
            "title": "x",
            "kind": "merger",
            "status": "done",
            "parties": [{"company": "amazon", "role": "investor"}],
            "announced_on": "2024-05-01",
            "ended_on": "2024-01-01",
            "tranches": [{"amount": {"amount": 5, "currency": "USD"}, "on": "2024-01-01"}, {"amount": {"amount": "0", "currency": "USD"}, "on": "x"}],
            "terms": [""],
            "exclusive": "no",
            "events": []
        }))
        .unwrap_err();
        let mut fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "ended_on",
                "events",
                "exclusive",
                "kind",
                "parties",
                "status",
                "terms[0]",
                "tranches[0].amount.amount",
                "tranches[1].amount.amount",
                "tranches[1].on"
            ]
        );
    }

    #[test]
    fn parties_are_required_and_unique_per_role() {
        let mut doc = amazon_anthropic();
        doc.as_object_mut().unwrap().remove("parties");
        assert_eq!(
            NewPartnership::from_json(doc.clone()).unwrap_err()[0].field,
            "parties"
        );
        doc["parties"] = json!([{"company": "amazon", "role": "investor"}, {"company": "amazon", "role": "investor"}]);
        assert_eq!(
            NewPartnership::from_json(doc.clone()).unwrap_err()[0].field,
            "parties[1].company"
        );
        doc["parties"] = json!([{"company": "amazon", "role": "investor"}, {"company": "Not a slug", "role": "boss"}]);
        let errors = NewPartnership::from_json(doc).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["parties[1].company", "parties[1].role"]);
    }
}

/// Every parameter the partnership list accepts.
pub const PARTNERSHIP_LIST_PARAMS: &[&str] = &[
    "company", "kind", "status", "tag", "from", "to", "limit", "cursor",
];

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
    pub fn from_params(params: &super::params::QueryParams) -> Result<Self, super::ParamError> {
        use super::ParamError;
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
        let limit = super::filter::parse_limit(params)?;
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
