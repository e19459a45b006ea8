//! The OpenAPI 3.1 document (`/openapi.json`), generated from the handlers' annotations
//! and the model's types, and the interactive docs page (`/docs`), whose scripts and
//! styles are embedded in the binary so it works with no internet.
//!
//! Request bodies are validated by hand (every bad field reported at once), so their
//! schemas are written here as documentation types that mirror those rules.

use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, RefOr};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use crate::model::company::CompanyKind;
use crate::model::partnership::{PartnershipKind, PartnershipStatus};
use crate::model::role::Role;
use crate::model::{Category, Significance};
use crate::state::AppState;

/// Defines a string type of the API with its pattern and length, as a schema.
macro_rules! string_schema {
    ($(#[$doc:meta])* $name:ident, $description:literal, $pattern:expr, $min:expr, $max:expr, $example:literal) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some($description))
                    .pattern(Some($pattern))
                    .min_length(Some($min))
                    .max_length(Some($max))
                    .examples([$example])
                    .into()
            }
        }

        impl ToSchema for $name {}
    };
}

string_schema!(
    /// A tag in its normal form.
    TagName,
    "A tag in its normal form (input is normalised first: `#Cloud Computing` is `cloud-computing`).",
    r"^[a-z0-9]+(-[a-z0-9]+)*$", 1, 50, "cloud-computing"
);
string_schema!(
    /// A slug.
    SlugText,
    "Lowercase letters and digits in groups joined by single hyphens.",
    r"^[a-z0-9]+(-[a-z0-9]+)*$", 1, 100, "amazon"
);
string_schema!(
    /// A reference to a resource.
    RefText,
    "The resource's id (a UUID) or its slug.",
    r"^([a-z0-9]+(-[a-z0-9]+)*|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$",
    1, 100, "amazon"
);
string_schema!(
    /// One term of a deal.
    TermText,
    "A short statement of one term; not blank.",
    r"^[^\u0000]*[^\s\u0000][^\u0000]*$", 1, 500, "AWS is Anthropic's primary cloud provider"
);
string_schema!(
    /// An http or https URL.
    HttpUrl,
    "An http or https URL with a host.",
    r"^https?://[A-Za-z0-9.-]+(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?(/[^\s\u0000]*)?$", 8, 2000, "https://www.anthropic.com"
);

/// A cited page.
#[derive(ToSchema)]
pub struct SourceInput {
    /// The page's URL.
    pub url: HttpUrl,
    /// Its title.
    #[schema(max_length = 300, pattern = r"^[^\u0000]*$")]
    pub title: Option<String>,
}

/// A company and the part it played.
#[derive(ToSchema)]
pub struct CompanyRoleInput {
    /// The company's id or slug.
    pub company: RefText,
    /// Its role.
    pub role: Role,
}

/// An event as a client creates it. `slug` is derived from the title when absent.
#[derive(ToSchema)]
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
    pub slug: Option<SlugText>,
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
    #[schema(max_length = 2000, pattern = r"^[^\u0000]*$")]
    pub summary: Option<String>,
    /// The facts, at length.
    #[schema(max_length = 20000, pattern = r"^[^\u0000]*$")]
    pub what_happened: Option<String>,
    /// The analysis.
    #[schema(max_length = 20000, pattern = r"^[^\u0000]*$")]
    pub why_it_matters: Option<String>,
    /// At most 20 distinct tags.
    #[schema(max_items = 20)]
    pub tags: Option<Vec<TagName>>,
    /// At most 20 sources.
    #[schema(max_items = 20)]
    pub sources: Option<Vec<SourceInput>>,
    /// The companies involved, each at most once per role.
    #[schema(max_items = 50)]
    pub companies: Option<Vec<CompanyRoleInput>>,
    /// The deals it belongs to, each once.
    #[schema(max_items = 20)]
    pub partnerships: Option<Vec<RefText>>,
}

/// A company as a client creates it. `slug` is derived from the name when absent.
#[derive(ToSchema)]
#[schema(example = json!({
    "name": "Anthropic", "kind": "ai_lab", "country": "US",
    "website": "https://www.anthropic.com", "tags": ["foundation-models", "ai-safety"]
}))]
pub struct CompanyInput {
    /// Unique.
    pub slug: Option<SlugText>,
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
    #[schema(pattern = "^[A-Z]{2}$")]
    pub country: Option<String>,
    /// Its website.
    pub website: Option<HttpUrl>,
    /// A description.
    #[schema(max_length = 20000, pattern = r"^[^\u0000]*$")]
    pub description: Option<String>,
    /// At most 20 distinct tags.
    #[schema(max_items = 20)]
    pub tags: Option<Vec<TagName>>,
}

/// One payment of a deal.
#[derive(ToSchema)]
pub struct TrancheInput {
    /// More than zero; every tranche of a deal in one currency.
    pub amount: crate::model::money::Money,
    /// When.
    pub on: NaiveDate,
    /// What it was.
    #[schema(max_length = 300, pattern = r"^[^\u0000]*$")]
    pub note: Option<String>,
}

/// A deal as a client creates it. With tranches, `total` must equal their exact sum
/// (it is derived when absent).
#[derive(ToSchema)]
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
    pub slug: Option<SlugText>,
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
    pub ended_on: Option<NaiveDate>,
    /// The total.
    pub total: Option<crate::model::money::Money>,
    /// The payments.
    #[schema(max_items = 50)]
    pub tranches: Option<Vec<TrancheInput>>,
    /// Short statements of the terms.
    #[schema(max_items = 50)]
    pub terms: Option<Vec<TermText>>,
    /// Whether the deal is exclusive.
    pub exclusive: Option<bool>,
    /// At most 20 distinct tags.
    #[schema(max_items = 20)]
    pub tags: Option<Vec<TagName>>,
}

/// One bad field of a request body.
#[derive(ToSchema)]
pub struct FieldProblem {
    /// The field's path, e.g. `occurred_on` or `sources[2].url`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// An RFC 9457 problem: every error of this API.
#[derive(ToSchema)]
#[schema(example = json!({
    "type": "urn:problem:industry-events:validation", "title": "Unprocessable Entity", "status": 422,
    "detail": "the request body has invalid fields",
    "errors": [{"field": "occurred_on", "message": "`2024-13-01` is not a real calendar date"}]
}))]
pub struct Problem {
    /// A URN naming the kind of problem.
    #[schema(rename = "type")]
    pub kind: String,
    /// The HTTP status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for people.
    pub detail: String,
    /// For 422: every bad field.
    pub errors: Option<Vec<FieldProblem>>,
    /// For a bad query parameter: its name.
    pub parameter: Option<String>,
}

/// Defines a `{data, next_cursor}` page schema.
macro_rules! page {
    ($name:ident, $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(ToSchema)]
        pub struct $name {
            /// The items of this page.
            pub data: Vec<$item>,
            /// Pass back as `cursor` for the next page; `null` on the last.
            pub next_cursor: Option<String>,
        }
    };
}

page!(
    EventPage,
    crate::model::EventListItem,
    "A page of events (with tombstones for `updated_since`)."
);
page!(
    CompanyPage,
    crate::model::company::Company,
    "A page of companies."
);
page!(
    PartnershipPage,
    crate::model::partnership::Partnership,
    "A page of deals."
);
page!(
    TagPage,
    crate::repo::tags::TagUsage,
    "Tags by use (one page: `next_cursor` is always null)."
);
page!(
    AuditPage,
    crate::repo::audit::AuditEntry,
    "A page of the audit trail."
);
page!(
    RevisionPage,
    crate::repo::audit::Revision,
    "Every version of a record (one page)."
);

/// The sort orders of an event list.
#[derive(ToSchema, Serialize)]
pub enum EventSortParam {
    /// Newest first (the default, unless `q` is given).
    #[serde(rename = "-occurred_on")]
    OccurredOnDesc,
    /// Oldest first.
    #[serde(rename = "occurred_on")]
    OccurredOnAsc,
    /// Most recently changed first.
    #[serde(rename = "-updated_at")]
    UpdatedAtDesc,
    /// Least recently changed first (the natural order for polling).
    #[serde(rename = "updated_at")]
    UpdatedAtAsc,
    /// Alphabetical.
    #[serde(rename = "title")]
    Title,
    /// Most significant first.
    #[serde(rename = "-significance")]
    SignificanceDesc,
}

/// The parameters of an event list. Repeatable parameters take repeats and
/// comma-separated values, at most 20.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct EventListParams {
    /// The event has ALL of these tags.
    #[param(max_items = 20)]
    tag: Option<Vec<TagName>>,
    /// The event has AT LEAST ONE of these tags.
    #[param(max_items = 20)]
    any_tag: Option<Vec<TagName>>,
    /// The event has NONE of these tags.
    #[param(max_items = 20)]
    exclude_tag: Option<Vec<TagName>>,
    /// The event names ALL of these companies (ids or slugs); an unknown one is a 400.
    #[param(max_items = 20)]
    company: Option<Vec<RefText>>,
    /// With `company`: each took part in this role.
    role: Option<Role>,
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
    /// Only events changed after this time, deletions included as tombstones.
    updated_since: Option<DateTime<Utc>>,
    /// The order; ties are broken by id.
    sort: Option<EventSortParam>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The previous page's `next_cursor`, with every other parameter unchanged.
    #[param(max_length = 4000)]
    cursor: Option<String>,
}

/// The parameters of a company list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct CompanyListParams {
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
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The previous page's `next_cursor`.
    #[param(max_length = 4000)]
    cursor: Option<String>,
}

/// The parameters of a partnership list.
#[derive(IntoParams)]
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

/// The parameters of the tag list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct TagListParams {
    /// Only tags starting with this.
    prefix: Option<TagName>,
    /// How many tags.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// The resources of the audit trail.
#[derive(ToSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditedResource {
    /// Events.
    Event,
    /// Companies.
    Company,
    /// Partnerships.
    Partnership,
}

/// The parameters of the audit list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AuditListParams {
    /// Only this kind of record.
    resource: Option<AuditedResource>,
    /// Only writes by this token name.
    #[param(min_length = 1, max_length = 100, pattern = r"^[^\u0000]+$")]
    token: Option<String>,
    /// Only writes after this time.
    since: Option<DateTime<Utc>>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The previous page's `next_cursor`.
    #[param(max_length = 4000)]
    cursor: Option<String>,
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Industry Events API",
        description = "What happens in an industry, the companies involved and the deals that tie them \
                       together. The reference record: *Amazon completes $4 billion investment in Anthropic* \
                       (2024-03-27). Reads are public (unless the server requires a `read` token); writes \
                       need `Authorization: Bearer <token>` with the `write` scope. Every error is \
                       `application/problem+json` (RFC 9457).",
        license(name = "MIT OR Apache-2.0")
    ),
    paths(
        super::events::list, super::events::create, super::events::get_one, super::events::patch,
        super::events::delete, super::events::list_for_company,
        super::companies::list, super::companies::create, super::companies::get_one,
        super::companies::patch, super::companies::delete,
        super::partnerships::list, super::partnerships::create, super::partnerships::get_one,
        super::partnerships::patch, super::partnerships::delete, super::partnerships::list_for_company,
        super::tags::list,
        super::audit::list, super::audit::event_revisions, super::audit::company_revisions,
        super::audit::partnership_revisions,
        super::health::healthz, super::health::readyz, super::metrics::render, openapi_json
    ),
    components(schemas(Problem, EventInput, CompanyInput, PartnershipInput, EventSortParam, AuditedResource)),
    modifiers(&Conventions),
    tags(
        (name = "events", description = "What happened."),
        (name = "companies", description = "Who took part."),
        (name = "partnerships", description = "The deals between them."),
        (name = "tags", description = "Tags by use."),
        (name = "audit", description = "Who changed what."),
        (name = "operations", description = "Health, readiness, metrics, this document.")
    )
)]
pub struct ApiDoc;

/// Adds what every operation shares, so no path can forget it: the problem+json
/// errors each kind of request can end in, the bearer scheme on writes and the audit
/// trail, and merge-patch bodies derived from the create bodies.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A token minted by `industry-events tokens create`."))
                    .build(),
            ),
        );
        // Before the patch schemas are derived, so they inherit it.
        if let Some(RefOr::T(Schema::Object(company))) = components.schemas.get_mut("CompanyInput")
            && let Some(RefOr::T(Schema::Object(country))) = company.properties.get_mut("country")
        {
            country.enum_values = Some(
                crate::model::country::ALPHA2
                    .iter()
                    .map(|c| (*c).into())
                    .collect(),
            );
        }
        // A tranche pays something: its amount is more than zero.
        if let Some(RefOr::T(Schema::Object(money))) = components.schemas.get("Money") {
            let mut positive = money.clone();
            if let Some(RefOr::T(Schema::Object(amount))) = positive.properties.get_mut("amount") {
                amount.pattern = Some(format!(
                    "^(?=[0-9.]*[1-9])[0-9]{{1,{}}}(\\.[0-9]{{1,{}}})?$",
                    crate::model::money::MAX_INTEGER_DIGITS,
                    crate::model::money::MAX_FRACTION_DIGITS
                ));
            }
            positive.description = Some("An exact amount, more than zero.".into());
            components
                .schemas
                .insert("PositiveMoney".into(), RefOr::T(Schema::Object(positive)));
            if let Some(RefOr::T(Schema::Object(tranche))) =
                components.schemas.get_mut("TrancheInput")
            {
                tranche.properties.insert(
                    "amount".into(),
                    RefOr::Ref(utoipa::openapi::Ref::from_schema_name("PositiveMoney")),
                );
            }
        }
        // Unknown fields are a 422, so every input object is closed.
        for name in [
            "EventInput",
            "CompanyInput",
            "PartnershipInput",
            "SourceInput",
            "CompanyRoleInput",
            "TrancheInput",
        ] {
            if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) {
                object.additional_properties = Some(Box::new(
                    utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
                ));
            }
        }
        for (input, patch) in [
            ("EventInput", "EventPatch"),
            ("CompanyInput", "CompanyPatch"),
            ("PartnershipInput", "PartnershipPatch"),
        ] {
            if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get(input) {
                let patch_schema = merge_patch_of(object);
                components
                    .schemas
                    .insert(patch.into(), RefOr::T(Schema::Object(patch_schema)));
            }
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            conventions_for(path, item);
        }
    }
}

/// The merge-patch form of a create body: nothing required, and `null` allowed (it
/// removes a field) for every field that is optional on create.
fn merge_patch_of(input: &Object) -> Object {
    let mut patch = input.clone();
    let required = std::mem::take(&mut patch.required);
    for (name, property) in patch.properties.iter_mut() {
        if required.contains(name) {
            continue;
        }
        if let RefOr::T(Schema::Object(object)) = property {
            object.schema_type = match &object.schema_type {
                utoipa::openapi::schema::SchemaType::Type(t) if *t != Type::Null => {
                    utoipa::openapi::schema::SchemaType::from_iter([t.clone(), Type::Null])
                }
                other => other.clone(),
            };
        }
    }
    patch.description =
        Some("A JSON Merge Patch (RFC 7396) of the resource's writable fields.".into());
    patch.examples = Vec::new();
    patch
}

fn problem(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                "Problem",
            )))),
        )
        .build()
}

fn conventions_for(path: &str, item: &mut PathItem) {
    let has_ref = path.contains("{ref}");
    let audit = path == "/v1/audit";
    let operations: [(&str, &mut Option<Operation>); 4] = [
        ("get", &mut item.get),
        ("post", &mut item.post),
        ("patch", &mut item.patch),
        ("delete", &mut item.delete),
    ];
    for (method, operation) in operations {
        let Some(operation) = operation.as_mut() else {
            continue;
        };
        // The company of a company's deal list is its path, not a parameter.
        if path == "/v1/companies/{ref}/partnerships"
            && let Some(parameters) = operation.parameters.as_mut()
        {
            parameters.retain(|p| p.name != "company");
        }
        // Unique, stable ids: generators and Swagger UI key operations by them.
        operation.operation_id = Some(operation_id(method, path));
        for parameter in operation.parameters.iter_mut().flatten() {
            if parameter.parameter_in == utoipa::openapi::path::ParameterIn::Header {
                // A header is absent or a string, never null.
                parameter.required = utoipa::openapi::Required::False;
                let mut schema = ObjectBuilder::new().schema_type(Type::String);
                if parameter.name == "Idempotency-Key" {
                    schema = schema
                        .min_length(Some(1))
                        .max_length(Some(255))
                        .pattern(Some(r"^[\x21-\x7E]+$"));
                }
                parameter.schema = Some(schema.into());
            }
        }
        let api = path.starts_with("/v1/");
        let mut add = |status: &str, description: &str| {
            operation
                .responses
                .responses
                .entry(status.into())
                .or_insert_with(|| RefOr::T(problem(description)));
        };
        if api {
            add(
                "429",
                "Rate limited; see `Retry-After` and the `RateLimit-*` headers.",
            );
            add(
                "503",
                "The database is unreachable or the request timed out; see `Retry-After`.",
            );
            add(
                "400",
                "A bad query parameter (named in `parameter`), cursor, header or malformed body.",
            );
        }
        if has_ref {
            add("404", "No such resource.");
        }
        let write = method != "get";
        if write || audit {
            add("401", "No valid bearer token (`WWW-Authenticate: Bearer`).");
            add("403", "The token lacks the scope.");
        } else if api {
            add(
                "401",
                "Only when the server requires a `read` token for reads.",
            );
        }
        if method == "post" || method == "patch" {
            add("413", "The body is larger than the limit.");
            add("415", "The body is not JSON.");
            add(
                "422",
                "Well-formed JSON that breaks a rule; `errors` lists every bad field.",
            );
            add("409", "The slug is taken.");
        }
        if method == "patch" || method == "delete" {
            add("412", "`If-Match` does not match the current `ETag`.");
        }
        if method == "patch"
            && let Some(schema) = patch_schema_for(path)
        {
            let body = RefOr::Ref(utoipa::openapi::Ref::from_schema_name(schema));
            operation.request_body = Some(
                utoipa::openapi::request_body::RequestBodyBuilder::new()
                    .description(Some(
                        "A JSON Merge Patch (RFC 7396): absent fields stay, `null` removes an optional field, \
                         and the result is validated like a create.",
                    ))
                    .content("application/merge-patch+json", Content::new(Some(body.clone())))
                    .content("application/json", Content::new(Some(body)))
                    .required(Some(utoipa::openapi::Required::True))
                    .build(),
            );
        }
        if method == "delete" && path.starts_with("/v1/companies") {
            add("409", "Events or partnerships still name the company.");
        }
        if write || audit {
            operation.security = Some(vec![SecurityRequirement::new(
                "bearer",
                Vec::<String>::new(),
            )]);
        }
    }
}

/// `get /v1/companies/{ref}/events` is `get_v1_companies_ref_events`.
fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<&str> = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    format!("{method}_{}", words.join("_"))
}

/// The merge-patch schema of the resource a path names.
fn patch_schema_for(path: &str) -> Option<&'static str> {
    if path.starts_with("/v1/events/") {
        Some("EventPatch")
    } else if path.starts_with("/v1/companies/") {
        Some("CompanyPatch")
    } else if path.starts_with("/v1/partnerships/") {
        Some("PartnershipPatch")
    } else {
        None
    }
}

/// The document as JSON, built once.
pub fn document() -> &'static [u8] {
    static JSON: OnceLock<Vec<u8>> = OnceLock::new();
    JSON.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .map(String::into_bytes)
            .unwrap_or_default()
    })
}

/// `GET /openapi.json`: the OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json", body = Object))
)]
pub async fn openapi_json() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        document(),
    )
        .into_response()
}

/// The routes of this module that share the service's state.
pub fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi_json))
}

/// `/docs`: Swagger UI, its scripts and styles embedded in the binary.
pub fn docs() -> Router {
    swagger_ui_dist::generate_routes(swagger_ui_dist::ApiDefinition {
        uri_prefix: "/docs",
        api_definition: swagger_ui_dist::OpenApiSource::Uri("/openapi.json"),
        title: Some("Industry Events API"),
    })
}
