//! A deal as a client sends it: the request schema, and its validation into a
//! [`NewPartnership`] (parties, exact money, terms) that reports every broken rule.

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;

use super::terms::{check_total, parse_terms, parse_tranches};
use super::{MAX_PARTIES, Partnership, PartnershipKind, PartnershipStatus, Tranche};
use crate::model::fields::{self, MAX_TITLE_LEN, ObjectReader};
use crate::model::money::Money;
use crate::model::party::{CompanyRoleInput, PartyInput, parse_company_roles, same_parties};
use crate::model::schema::{SlugText, TagName, TermText};
use crate::model::tag::{Tag, parse_tags, same_tags};
use crate::model::{FieldError, Slug};

/// One payment of a deal, as a client sends it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrancheInput {
    /// More than zero; every tranche of a deal in one currency.
    pub amount: Money,
    /// When.
    pub on: NaiveDate,
    /// What it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 300, pattern = r"^[^\u0000]*$")]
    pub note: Option<String>,
}

/// A deal as a client creates it. With tranches, `total` must equal their exact sum
/// (it is derived when absent). The document a `PATCH` is merged into is this type,
/// made from the stored deal.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "Amazon-Anthropic strategic collaboration",
    "kind": "investment", "status": "completed", "announced_on": "2023-09-25",
    "parties": [{"company": "amazon", "role": "investor"}, {"company": "anthropic", "role": "investee"}],
    "tranches": [
        {"amount": {"amount": "1250000000", "currency": "USD"}, "on": "2023-09-25", "note": "initial investment"},
        {"amount": {"amount": "2750000000", "currency": "USD"}, "on": "2024-03-27", "note": "completes the commitment"}
    ],
    "terms": ["AWS is Anthropic's primary cloud provider", "Trainium chips for training", "models on Amazon Bedrock"],
    "exclusive": false,
    "tags": ["investment", "cloud-computing"]
}))]
pub struct PartnershipInput {
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
    pub title: String,
    /// What the deal is about.
    pub kind: PartnershipKind,
    /// Where it stands.
    pub status: PartnershipStatus,
    /// At least two parties, each company at most once per role.
    #[schema(min_items = 2, max_items = 20)]
    pub parties: Vec<CompanyRoleInput>,
    /// When it was announced.
    pub announced_on: NaiveDate,
    /// When it ended; not before `announced_on`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_on: Option<NaiveDate>,
    /// The total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<Money>,
    /// The payments.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 50)]
    pub tranches: Option<Vec<TrancheInput>>,
    /// Short statements of the terms.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<TermText>>, max_items = 50)]
    pub terms: Option<Vec<String>>,
    /// Whether the deal is exclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclusive: Option<bool>,
    /// At most 20 distinct tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<TagName>>, max_items = 20)]
    pub tags: Option<Vec<String>>,
}

impl From<&Partnership> for PartnershipInput {
    /// The writable fields of a stored deal as a client would send them. Every field
    /// is named, so a field added to either type without a place here fails to compile.
    fn from(deal: &Partnership) -> Self {
        let Partnership {
            id: _,
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
            exclusive,
            tags,
            events: _,
            created_at: _,
            updated_at: _,
            version: _,
        } = deal;
        Self {
            slug: Some(slug.clone()),
            title: title.clone(),
            kind: *kind,
            status: *status,
            parties: parties.iter().map(CompanyRoleInput::from).collect(),
            announced_on: *announced_on,
            ended_on: *ended_on,
            total: total.clone(),
            tranches: Some(
                tranches
                    .iter()
                    .map(|Tranche { amount, on, note }| TrancheInput {
                        amount: amount.clone(),
                        on: *on,
                        note: Some(note.clone()),
                    })
                    .collect(),
            ),
            terms: Some(terms.clone()),
            exclusive: Some(*exclusive),
            tags: Some(tags.clone()),
        }
    }
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
        r.refuse_read_only(&["id", "created_at", "updated_at", "version", "events"]);
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

impl NewPartnership {
    /// Whether storing this over `deal` would leave it as it is: every field it writes
    /// equal (amounts written the same way) and the same parties in the same order and
    /// roles. Without a slug it keeps the deal's.
    pub fn restates(&self, deal: &Partnership) -> bool {
        let Self {
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
            exclusive,
            tags,
        } = self;
        let Partnership {
            id: _,
            slug: stored_slug,
            title: stored_title,
            kind: stored_kind,
            status: stored_status,
            parties: stored_parties,
            announced_on: stored_announced_on,
            ended_on: stored_ended_on,
            total: stored_total,
            tranches: stored_tranches,
            terms: stored_terms,
            exclusive: stored_exclusive,
            tags: stored_tags,
            // Written by events, not by the deal.
            events: _,
            created_at: _,
            updated_at: _,
            version: _,
        } = deal;
        let same_total = match (total, stored_total) {
            (Some(total), Some(stored)) => total.same_as_written(stored),
            (None, None) => true,
            _ => false,
        };
        slug.as_ref()
            .is_none_or(|slug| slug.as_str() == stored_slug)
            && title == stored_title
            && kind == stored_kind
            && status == stored_status
            && same_parties(parties, stored_parties)
            && announced_on == stored_announced_on
            && ended_on == stored_ended_on
            && same_total
            && tranches.len() == stored_tranches.len()
            && tranches
                .iter()
                .zip(stored_tranches)
                .all(|(tranche, stored)| {
                    tranche.amount.same_as_written(&stored.amount)
                        && tranche.on == stored.on
                        && tranche.note == stored.note
                })
            && terms == stored_terms
            && exclusive == stored_exclusive
            && same_tags(tags, stored_tags)
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    /// The deal `new` describes as stored, its parties 1 (Amazon) and 2 (Anthropic).
    fn stored(new: &NewPartnership) -> Partnership {
        let party = |n: u128, slug: &str, party: &PartyInput| crate::model::party::CompanyRole {
            id: uuid::Uuid::from_u128(n),
            slug: slug.to_owned(),
            name: slug.to_uppercase(),
            role: party.role,
        };
        Partnership {
            id: uuid::Uuid::nil(),
            slug: "amazon-anthropic".to_owned(),
            title: new.title.clone(),
            kind: new.kind,
            status: new.status,
            parties: vec![
                party(1, "amazon", &new.parties[0]),
                party(2, "anthropic", &new.parties[1]),
            ],
            announced_on: new.announced_on,
            ended_on: new.ended_on,
            total: new.total.clone(),
            tranches: new.tranches.clone(),
            terms: new.terms.clone(),
            exclusive: new.exclusive,
            tags: new.tags.iter().map(|t| t.as_str().to_owned()).collect(),
            events: Vec::new(),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            version: 1,
        }
    }

    #[test]
    fn a_deal_is_restated_only_by_the_same_fields_written_the_same_way() {
        let deal = stored(&NewPartnership::from_json(amazon_anthropic()).unwrap());
        let restates = |doc: Value| NewPartnership::from_json(doc).unwrap().restates(&deal);
        assert!(restates(amazon_anthropic()));
        let mut doc = amazon_anthropic();
        doc["slug"] = json!("amazon-anthropic");
        doc["parties"][0]["company"] = json!("00000000-0000-0000-0000-000000000001");
        assert!(restates(doc), "the stored slug, a party named by id");

        let mut other_scale = amazon_anthropic();
        other_scale["tranches"][0]["amount"]["amount"] = json!("1250000000.00");
        let mut swapped = amazon_anthropic();
        swapped["parties"] = json!([{"company": "anthropic", "role": "investee"}, {"company": "amazon", "role": "investor"}]);
        let mut renamed = amazon_anthropic();
        renamed["slug"] = json!("another-slug");
        let mut untagged = amazon_anthropic();
        untagged["tags"] = json!(["investment"]);
        for (changed, why) in [
            (other_scale, "an amount at another scale"),
            (swapped, "the parties in another order"),
            (renamed, "another slug"),
            (untagged, "a tag fewer"),
        ] {
            assert!(!restates(changed), "{why}");
        }
    }
}
