//! What every operation of the document shares, added in one place so no path can
//! forget it: problem+json errors, the bearer scheme, operation ids, merge-patch
//! bodies derived from the create bodies.

use utoipa::Modify;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{
    KnownFormat, Object, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, RefOr};

use crate::model::ResourceKind;

/// Adds what every operation shares, so no path can forget it: the problem+json
/// errors each kind of request can end in, the bearer scheme on writes and the audit
/// trail, and merge-patch bodies derived from the create bodies.
pub struct Conventions;

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
        for kind in ResourceKind::ALL {
            let input = format!("{}Input", kind.schema_name());
            if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get(&input) {
                let patch_schema = merge_patch_of(object);
                components.schemas.insert(
                    patch_schema_name(*kind),
                    RefOr::T(Schema::Object(patch_schema)),
                );
            }
        }
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get("SubscriptionInput")
        {
            let patch_schema = merge_patch_of(object);
            components.schemas.insert(
                WEBHOOK_PATCH_SCHEMA.into(),
                RefOr::T(Schema::Object(patch_schema)),
            );
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

/// A position (see `model::position`), or for `updated_since` also an RFC 3339 time.
fn position_schema(or_time: bool) -> RefOr<Schema> {
    let position = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(crate::model::position::POSITION_PATTERN))
        .description(Some(
            "A position: `Next-Updated-Since`, or a stream message's id.",
        ))
        .build();
    if !or_time {
        return Schema::Object(position).into();
    }
    let time = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .description(Some(
            "A time: changes by transactions that started after it.",
        ))
        .build();
    Schema::OneOf(OneOfBuilder::new().item(position).item(time).build()).into()
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
    let has_ref = path.contains("{ref}") || path.contains("{id}");
    // Routes whose reads need an admin token too.
    let audit = path == "/v1/audit" || path.starts_with("/v1/webhooks");
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
            parameters.retain(|p| !matches!(p, RefOr::T(p) if p.name == "company"));
        }
        // Unique, stable ids: generators and Swagger UI key operations by them.
        operation.operation_id = Some(operation_id(method, path));
        for parameter in operation.parameters.iter_mut().flatten() {
            let RefOr::T(parameter) = parameter else {
                continue;
            };
            // `since` is a position on the stream only (on the audit trail it is a time).
            if parameter.name == "updated_since"
                || (parameter.name == "since" && path == "/v1/events/stream")
            {
                parameter.schema = Some(position_schema(parameter.name == "updated_since"));
            }
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
        if api {
            consistency_token(method, operation);
        }
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
        let patch_schema = match kind_of(path) {
            Some(kind) => Some(patch_schema_name(kind)),
            None if path == "/v1/webhooks/{id}" => Some(WEBHOOK_PATCH_SCHEMA.to_owned()),
            None => None,
        };
        if method == "patch"
            && let Some(schema) = patch_schema
        {
            let body = RefOr::Ref(utoipa::openapi::Ref::from_schema_name(schema));
            operation.request_body = Some(RefOr::T(
                utoipa::openapi::request_body::RequestBodyBuilder::new()
                    .description(Some(
                        "A JSON Merge Patch (RFC 7396): absent fields stay, `null` removes an optional field, \
                         and the result is validated like a create.",
                    ))
                    .content("application/merge-patch+json", Content::new(Some(body.clone())))
                    .content("application/json", Content::new(Some(body)))
                    .required(Some(utoipa::openapi::Required::True))
                    .build(),
            ));
        }
        if method == "delete" && kind_of(path) == Some(ResourceKind::Company) {
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

/// `Consistency-Token`: a header every read may send (a copy without that write does
/// not answer it), and every successful write answers with.
fn consistency_token(method: &str, operation: &mut Operation) {
    let schema = || {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("A write's position in the primary's WAL."))
            .build()
    };
    if method == "get" {
        let parameter = utoipa::openapi::path::ParameterBuilder::new()
            .name("Consistency-Token")
            .parameter_in(utoipa::openapi::path::ParameterIn::Header)
            .required(utoipa::openapi::Required::False)
            .description(Some(
                "From a write's answer: only a copy of the database that has that write \
                 answers (read your writes across replicas). A value that is not one is \
                 ignored.",
            ))
            .schema(Some(schema()))
            .build();
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .push(RefOr::T(parameter));
        return;
    }
    for (status, response) in operation.responses.responses.iter_mut() {
        if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
            response.headers.insert(
                "Consistency-Token".into(),
                RefOr::T(
                    utoipa::openapi::HeaderBuilder::new()
                        .schema(Some(schema()))
                        .description(Some(
                            "Send it back on a read to see this write (see `DATABASE_READ_URL`).",
                        ))
                        .build(),
                ),
            );
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

/// The resource one of whose records a path names.
fn kind_of(path: &str) -> Option<ResourceKind> {
    ResourceKind::ALL
        .iter()
        .copied()
        .find(|kind| path.starts_with(&format!("{}/", kind.collection())))
}

/// The merge-patch schema of a webhook subscription.
const WEBHOOK_PATCH_SCHEMA: &str = "SubscriptionPatch";

/// The merge-patch schema of a resource: `EventPatch`.
fn patch_schema_name(kind: ResourceKind) -> String {
    format!("{}Patch", kind.schema_name())
}
