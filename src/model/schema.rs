//! The string types of the API (tags, slugs, references, URLs, terms) as OpenAPI
//! schemas with their patterns and lengths, for the request types to point at. The
//! rules themselves are enforced by the model's parsers; these describe them.

use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

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
    /// Where a webhook is sent.
    WebhookUrl,
    "An https URL (http with WEBHOOK_ALLOW_HTTP) with no credentials or fragment; every address its host resolves to must be public (or in WEBHOOK_ALLOWED_NETWORKS).",
    r"^https?://[A-Za-z0-9.-]+(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?(/[^\s\u0000#?]*)?(\?[^\s\u0000#]*)?$", 8, 2000, "https://hooks.example.com/industry-events"
);
string_schema!(
    /// An http or https URL.
    HttpUrl,
    "An http or https URL with a host.",
    r"^https?://[A-Za-z0-9.-]+(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?(/[^\s\u0000]*)?$", 8, 2000, "https://www.anthropic.com"
);
