//! Webhooks: what a subscription is, how a client registers and changes one, which
//! changes it is sent, what a message and a delivery look like. The address rule,
//! the signature scheme and the retry schedule have a module each.

pub mod address;
pub mod schedule;
pub mod signature;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::fields::{self, ObjectReader, json_kind, truncate};
use super::list::matching::FilterFacts;
use super::list::params::QueryParams;
use super::schema::{RefText, TagName, WebhookUrl};
use super::{Category, EventFilter, FieldError, ResourceKind, Significance};

/// The message types a subscription may ask for; `*` is every one of them.
pub const SUBSCRIBABLE_TYPES: &[&str] = &[
    "*",
    "event.created",
    "event.updated",
    "event.deleted",
    "company.created",
    "company.updated",
    "company.deleted",
    "partnership.created",
    "partnership.updated",
    "partnership.deleted",
];

/// The type of the message `ping` sends.
pub const PING_TYPE: &str = "webhook.ping";

/// The longest description accepted.
pub const MAX_DESCRIPTION_LEN: usize = 500;

/// What a change did to a record, as the second half of a message type says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeVerb {
    /// `*.created`.
    Created,
    /// `*.updated`.
    Updated,
    /// `*.deleted`.
    Deleted,
}

/// The message type of `verb` done to a record of `kind`: `event.created`.
pub fn message_type(kind: ResourceKind, verb: ChangeVerb) -> String {
    let verb = match verb {
        ChangeVerb::Created => "created",
        ChangeVerb::Updated => "updated",
        ChangeVerb::Deleted => "deleted",
    };
    format!("{}.{verb}", kind.singular())
}

/// Whether a subscription to `types` is sent messages of `message_type`.
pub fn wants(types: &[String], message_type: &str) -> bool {
    types.iter().any(|t| t == "*" || t == message_type)
}

/// `active` or `disabled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// Messages are delivered.
    Active,
    /// Messages are kept but not delivered (by an admin, after a 410, or after
    /// failing for `WEBHOOK_DISABLE_AFTER_SECS`).
    Disabled,
}

impl SubscriptionStatus {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    /// The status a stored name names (anything unknown is treated as disabled).
    pub fn from_stored(s: &str) -> Self {
        if s == "active" {
            Self::Active
        } else {
            Self::Disabled
        }
    }
}

/// Which events a subscription is sent (events only; other resources ignore it): the
/// event list's filters of the same names, with their meanings. Tags are normalised,
/// companies are refs as the client gave them (resolved to ids at registration).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookFilter {
    /// The event has ALL of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<TagName>, max_items = 20)]
    pub tag: Vec<String>,
    /// The event has AT LEAST ONE of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<TagName>, max_items = 20)]
    pub any_tag: Vec<String>,
    /// The event has NONE of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<TagName>, max_items = 20)]
    pub exclude_tag: Vec<String>,
    /// The event is in one of these categories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 20)]
    pub category: Vec<Category>,
    /// At least this significance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_significance: Option<Significance>,
    /// The event names ALL of these companies (ids or slugs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<RefText>, max_items = 20)]
    pub company: Vec<String>,
}

/// The filter's lists, in the order they are read.
const LIST_FIELDS: [&str; 5] = ["tag", "any_tag", "exclude_tag", "category", "company"];

impl WebhookFilter {
    /// Reads a `filter` object, with the event list's rules for each value (every
    /// broken rule named under `prefix`).
    pub fn parse(value: &Value, prefix: &str) -> Result<Self, Vec<FieldError>> {
        let named = |field: &str| format!("{prefix}.{field}");
        let Value::Object(object) = value else {
            return Err(vec![FieldError::new(
                prefix,
                format!("must be an object, not {}", json_kind(value)),
            )]);
        };
        let mut errors = Vec::new();
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in object {
            if value.is_null()
                && (LIST_FIELDS.contains(&name.as_str()) || name == "min_significance")
            {
                // Absent, as in a merge patch.
                continue;
            }
            if LIST_FIELDS.contains(&name.as_str()) {
                match string_list(value) {
                    Ok(items) => {
                        for item in items {
                            query.append_pair(name, item);
                        }
                    }
                    Err(message) => errors.push(FieldError::new(named(name), message)),
                }
            } else if name == "min_significance" {
                match value {
                    Value::String(s) => {
                        query.append_pair(name, s);
                    }
                    other => errors.push(FieldError::new(
                        named(name),
                        format!("must be a string, not {}", json_kind(other)),
                    )),
                }
            } else {
                errors.push(FieldError::new(named(name), "is not a known field"));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let query = query.finish();
        let to_field = |e: super::ParamError| vec![FieldError::new(named(&e.name), e.reason)];
        let filter = event_filter(&query).map_err(to_field)?;
        let texts = |tags: &[super::Tag]| tags.iter().map(|t| t.as_str().to_owned()).collect();
        Ok(Self {
            tag: texts(&filter.all_tags),
            any_tag: texts(&filter.any_tags),
            exclude_tag: texts(&filter.exclude_tags),
            category: filter.categories.clone(),
            min_significance: filter.min_significance,
            company: filter.companies.iter().map(ToString::to_string).collect(),
        })
    }

    /// Whether an event (as GET shows it) passes the filter, by the event list's own
    /// rules; `company_ids` are the filter's companies, resolved.
    pub fn admits(&self, company_ids: &[Uuid], event: &Value) -> bool {
        self.matcher().admits(company_ids, event)
    }

    /// The filter read into the event list's matcher once, to judge many events (a
    /// write of many records is judged against each subscription's filter).
    pub fn matcher(&self) -> FilterMatcher {
        // A stored filter was read by the same parser, so it reads again.
        FilterMatcher(event_filter(&self.to_query()).ok())
    }

    /// The filter as the event list's query parameters.
    fn to_query(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        let lists: [(&str, Vec<&str>); 5] = [
            ("tag", self.tag.iter().map(String::as_str).collect()),
            ("any_tag", self.any_tag.iter().map(String::as_str).collect()),
            (
                "exclude_tag",
                self.exclude_tag.iter().map(String::as_str).collect(),
            ),
            (
                "category",
                self.category.iter().map(|c| c.as_str()).collect(),
            ),
            ("company", self.company.iter().map(String::as_str).collect()),
        ];
        for (name, values) in lists {
            for value in values {
                query.append_pair(name, value);
            }
        }
        if let Some(significance) = self.min_significance {
            query.append_pair("min_significance", significance.as_str());
        }
        query.finish()
    }
}

/// A [`WebhookFilter`] as the event list's filter, ready to judge events.
pub struct FilterMatcher(Option<EventFilter>);

impl FilterMatcher {
    /// Whether an event (as GET shows it) passes; `company_ids` are the filter's
    /// companies, resolved.
    pub fn admits(&self, company_ids: &[Uuid], event: &Value) -> bool {
        let (Some(filter), Ok(facts)) = (&self.0, FilterFacts::deserialize(event)) else {
            return false;
        };
        filter.admits(&facts, company_ids, true)
    }
}

/// The event list's filter that these query parameters describe (only the ones a
/// webhook filter has).
fn event_filter(query: &str) -> Result<EventFilter, super::ParamError> {
    let params = QueryParams::parse(
        Some(query),
        &[
            "tag",
            "any_tag",
            "exclude_tag",
            "category",
            "min_significance",
            "company",
        ],
    )?;
    EventFilter::from_params(&params)
}

/// A JSON array of at most 20 strings.
fn string_list(value: &Value) -> Result<Vec<&str>, String> {
    fields::array(value, 20)?
        .iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.as_str()),
            other => Err(format!("must hold strings, not {}", json_kind(other))),
        })
        .collect()
}

/// A subscription as a client creates it (`POST`); the document's description only.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SubscriptionCreate {
    /// Where messages are POSTed: `https` (or `http` with `WEBHOOK_ALLOW_HTTP`), no
    /// credentials, every address of its host public (or in `WEBHOOK_ALLOWED_NETWORKS`).
    #[schema(value_type = WebhookUrl)]
    url: String,
    /// Message types to send, at least one; `*` for all.
    #[schema(min_items = 1, max_items = 10)]
    types: Vec<SubscribableType>,
    /// Which events are sent (events only).
    filter: Option<WebhookFilter>,
    /// A note for people.
    #[schema(max_length = 500, pattern = r"^[^\u0000]*$")]
    description: Option<String>,
}

/// A message type a subscription may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub enum SubscribableType {
    /// Every type.
    #[serde(rename = "*")]
    All,
    /// An event was created.
    #[serde(rename = "event.created")]
    EventCreated,
    /// An event changed.
    #[serde(rename = "event.updated")]
    EventUpdated,
    /// An event was deleted.
    #[serde(rename = "event.deleted")]
    EventDeleted,
    /// A company was created.
    #[serde(rename = "company.created")]
    CompanyCreated,
    /// A company changed.
    #[serde(rename = "company.updated")]
    CompanyUpdated,
    /// A company was deleted.
    #[serde(rename = "company.deleted")]
    CompanyDeleted,
    /// A partnership was created.
    #[serde(rename = "partnership.created")]
    PartnershipCreated,
    /// A partnership changed.
    #[serde(rename = "partnership.updated")]
    PartnershipUpdated,
    /// A partnership was deleted.
    #[serde(rename = "partnership.deleted")]
    PartnershipDeleted,
}

/// The document a `PATCH` is merged into: a subscription's writable fields.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionInput {
    /// Where messages are POSTed.
    #[schema(value_type = WebhookUrl)]
    pub url: String,
    /// Message types to send, at least one; `*` for all.
    #[schema(value_type = Vec<SubscribableType>, min_items = 1, max_items = 10)]
    pub types: Vec<String>,
    /// Which events are sent (events only).
    pub filter: WebhookFilter,
    /// A note for people.
    #[schema(max_length = 500, pattern = r"^[^\u0000]*$")]
    pub description: String,
    /// `disabled` stops deliveries; `active` resumes them (and restarts the failure clock).
    pub status: SubscriptionStatus,
}

/// A validated subscription write. The URL's form is checked here; its addresses
/// are checked by the caller, who can resolve names.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSubscription {
    /// The parsed URL.
    pub url: url::Url,
    /// Message types, duplicates merged.
    pub types: Vec<String>,
    /// The event filter.
    pub filter: WebhookFilter,
    /// A note for people.
    pub description: String,
    /// The status (always active on creation).
    pub status: SubscriptionStatus,
}

impl NewSubscription {
    /// Validates a request document; `status` is accepted only when `patching`, and
    /// `http` URLs only when `allow_http`.
    pub fn parse(value: Value, allow_http: bool, patching: bool) -> Result<Self, Vec<FieldError>> {
        let mut r = ObjectReader::new(value)?;
        let url = r.required("url", |v| webhook_url(v, allow_http));
        let types = r.required("types", parse_types);
        let filter = r.nested("filter", WebhookFilter::parse);
        let description = r.optional("description", |v| fields::text(v, MAX_DESCRIPTION_LEN));
        let status = if patching {
            r.optional("status", |v| {
                fields::one_of(v, &["active", "disabled"]).map(|i| {
                    if i == 0 {
                        SubscriptionStatus::Active
                    } else {
                        SubscriptionStatus::Disabled
                    }
                })
            })
        } else {
            None
        };
        r.refuse_read_only(&[
            "id",
            "secret",
            "created_at",
            "updated_at",
            "version",
            "disabled_reason",
            "failing_since",
            "last_success_at",
        ]);
        r.finish()?;
        match (url, types) {
            (Some(url), Some(types)) => Ok(Self {
                url,
                types,
                filter: filter.unwrap_or_default(),
                description: description.unwrap_or_default(),
                status: status.unwrap_or(SubscriptionStatus::Active),
            }),
            _ => Err(vec![FieldError::new("", "required fields are missing")]),
        }
    }
}

/// A URL a webhook may be registered with, by its form alone.
pub fn webhook_url(value: &Value, allow_http: bool) -> Result<url::Url, String> {
    let text = fields::text(value, 2000)?;
    let url = url::Url::parse(&text).map_err(|e| format!("is not a valid URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return Err("must be an https URL (http is not allowed here)".into()),
        other => return Err(format!("must be an https URL, not {}", truncate(other, 20))),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials (user name or password)".into());
    }
    if url.host().is_none() {
        return Err("must have a host".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment (#...)".into());
    }
    Ok(url)
}

fn parse_types(value: &Value) -> Result<Vec<String>, String> {
    let items = fields::array(value, SUBSCRIBABLE_TYPES.len())?;
    if items.is_empty() {
        return Err("must name at least one type (or `*`)".into());
    }
    let mut types: Vec<String> = Vec::new();
    for item in items {
        let index = fields::one_of(item, SUBSCRIBABLE_TYPES)?;
        let name = SUBSCRIBABLE_TYPES[index].to_owned();
        if !types.contains(&name) {
            types.push(name);
        }
    }
    Ok(types)
}

/// A subscription as the API shows it (never with its secret, except once).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Subscription {
    /// Time-ordered UUID (v7).
    pub id: Uuid,
    /// Where messages are POSTed.
    pub url: String,
    /// Message types sent; `*` for all.
    pub types: Vec<String>,
    /// Which events are sent.
    pub filter: WebhookFilter,
    /// A note for people.
    pub description: String,
    /// `active` or `disabled`.
    pub status: SubscriptionStatus,
    /// Why it was disabled; `null` when active.
    pub disabled_reason: Option<String>,
    /// Since when deliveries have failed without a success; `null` when they succeed.
    pub failing_since: Option<DateTime<Utc>>,
    /// The last successful delivery.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Until when the previous secret also signs, after a rotation.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Grows by one with each change.
    pub version: i64,
}

impl From<&Subscription> for SubscriptionInput {
    fn from(s: &Subscription) -> Self {
        Self {
            url: s.url.clone(),
            types: s.types.clone(),
            filter: s.filter.clone(),
            description: s.description.clone(),
            status: s.status,
        }
    }
}

/// A new subscription, or a rotated secret: the only answers that carry the secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubscriptionWithSecret {
    /// The subscription.
    #[serde(flatten)]
    pub subscription: Subscription,
    /// The signing secret (`whsec_...`): shown this once.
    pub secret: String,
}

/// One attempt to deliver a message, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// The attempt's id.
    pub id: Uuid,
    /// The message's `webhook-id`, the same on every attempt.
    pub message_id: String,
    /// The message type.
    pub r#type: String,
    /// Counts from 1.
    pub attempt: i32,
    /// `pending`, `succeeded` or `failed`.
    pub status: DeliveryStatus,
    /// The endpoint's status code; `null` when it gave none (timeout, refused).
    pub response_status: Option<i32>,
    /// What went wrong; `null` on success.
    pub error: Option<String>,
    /// How long the attempt took; `null` while pending.
    pub latency_ms: Option<i32>,
    /// When it was made (while pending: when it was scheduled).
    pub at: DateTime<Utc>,
    /// While pending: when it is due; after a failure: when the next attempt is due;
    /// `null` when no attempt follows.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// A delivery attempt's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not made yet.
    Pending,
    /// The endpoint answered 2xx.
    Succeeded,
    /// Anything else.
    Failed,
}

impl DeliveryStatus {
    /// The status a stored name names.
    pub fn from_stored(s: &str) -> Self {
        match s {
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// The `webhook-id` of a message: `msg_` and its UUID's hex.
pub fn message_id(id: Uuid) -> String {
    format!("msg_{}", id.simple())
}

/// The body of a message, as sent and signed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookMessage<'a> {
    /// `event.created`, ..., or `webhook.ping`.
    pub r#type: &'a str,
    /// When the change was made (RFC 3339).
    pub timestamp: DateTime<Utc>,
    /// The record as GET shows it; for a deletion, the tombstone
    /// `{id, slug, deleted: true, updated_at}`; for a ping, the subscription's id.
    #[schema(value_type = Object)]
    pub data: &'a Value,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(body: Value) -> Result<NewSubscription, Vec<FieldError>> {
        NewSubscription::parse(body, false, false)
    }

    fn fields_of(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_full_subscription_parses_and_normalises() {
        let new = parse(json!({
            "url": "https://hooks.example.com/in?k=1",
            "types": ["event.created", "*", "event.created"],
            "filter": {"tag": ["#Cloud Computing"], "min_significance": "major", "company": ["amazon"]},
            "description": "newsroom"
        }))
        .expect("valid");
        assert_eq!(new.types, ["event.created", "*"]);
        assert_eq!(new.filter.tag, ["cloud-computing"]);
        assert_eq!(new.filter.min_significance, Some(Significance::Major));
        assert_eq!(new.filter.company, ["amazon"]);
        assert_eq!(new.status, SubscriptionStatus::Active);
    }

    #[test]
    fn every_bad_field_is_named() {
        let errors = parse(json!({
            "url": "http://example.com/",
            "types": ["event.exploded"],
            "filter": {"tag": ["no way!"], "colour": ["red"]},
            "status": "disabled"
        }))
        .unwrap_err();
        assert_eq!(
            fields_of(errors),
            ["url", "types", "filter.colour", "status"]
        );
        let errors =
            parse(json!({"url": "https://x.example", "types": [], "filter": {"tag": ["no way!"]}}))
                .unwrap_err();
        assert_eq!(fields_of(errors), ["types", "filter.tag"]);
        assert_eq!(fields_of(parse(json!({})).unwrap_err()), ["url", "types"]);
    }

    #[test]
    fn urls_need_https_and_no_credentials() {
        for bad in [
            "http://example.com/",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://user@example.com/",
            "https://example.com/#top",
            "not a url",
        ] {
            assert!(webhook_url(&json!(bad), false).is_err(), "{bad}");
        }
        assert!(webhook_url(&json!("http://example.com/"), true).is_ok());
        // The parser reads every spelling of an IPv4 address; the address rule judges it.
        let url = webhook_url(&json!("https://2130706433/"), false).expect("parses");
        assert_eq!(url.host_str(), Some("127.0.0.1"));
        let url = webhook_url(&json!("https://0x7f000001/"), false).expect("parses");
        assert_eq!(url.host_str(), Some("127.0.0.1"));
    }

    #[test]
    fn filters_admit_as_the_list_does() {
        let filter = WebhookFilter::parse(
            &json!({"tag": ["ai"], "any_tag": ["cloud", "chips"], "exclude_tag": ["rumour"],
                    "category": ["funding"], "min_significance": "major"}),
            "filter",
        )
        .expect("valid");
        let amazon = Uuid::now_v7();
        let event = |tags: &[&str], significance: &str| {
            json!({"tags": tags, "category": "funding", "significance": significance,
                   "occurred_on": "2024-03-27",
                   "companies": [{"id": amazon, "slug": "amazon", "name": "Amazon", "role": "investor"}]})
        };
        assert!(filter.admits(&[], &event(&["ai", "cloud"], "major")));
        assert!(filter.admits(&[amazon], &event(&["ai", "chips"], "landmark")));
        assert!(!filter.admits(&[Uuid::now_v7()], &event(&["ai", "chips"], "landmark")));
        assert!(!filter.admits(&[], &event(&["ai"], "major")));
        assert!(!filter.admits(&[], &event(&["ai", "cloud", "rumour"], "major")));
        assert!(!filter.admits(&[], &event(&["ai", "cloud"], "notable")));
        assert!(WebhookFilter::default().admits(&[], &event(&[], "minor")));
    }

    #[test]
    fn types_match_exactly_or_by_star() {
        let types = vec!["event.created".to_owned()];
        assert!(wants(&types, "event.created"));
        assert!(!wants(&types, "event.updated"));
        assert!(wants(&["*".to_owned()], "partnership.deleted"));
        assert_eq!(
            message_type(ResourceKind::Company, ChangeVerb::Deleted),
            "company.deleted"
        );
    }
}
