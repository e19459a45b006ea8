//! Schema and parameter types the document shares across resources: the problem
//! body, the page shape, and the `{ref}`, `If-Match` and `Idempotency-Key` parameters.

use utoipa::{IntoParams, ToSchema};

use crate::model::schema::RefText;

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
    /// For 422: every bad field; for a 409 about a taken `slug` or `id`, that field.
    pub errors: Option<Vec<FieldProblem>>,
    /// For a bad query parameter: its name.
    pub parameter: Option<String>,
}

/// The 422 of an atomic import with bad records: nothing was stored.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({
    "type": "urn:problem:industry-events:import-rejected", "title": "Unprocessable Entity", "status": 422,
    "detail": "2 of the records are bad, so nothing was stored (mode=atomic); `errors` lists them by line",
    "failed": 2,
    "errors": [{"line": 3, "field": "occurred_on", "message": "`2024-13-01` is not a real calendar date"},
               {"line": 7, "field": "companies[0].company", "message": "no company matches `amazn`"}]
}))]
pub struct ImportProblem {
    /// `urn:problem:industry-events:import-rejected` (or `validation` for a reused
    /// `Idempotency-Key`).
    #[schema(rename = "type")]
    pub kind: String,
    /// The HTTP status's reason phrase.
    pub title: String,
    /// 422.
    pub status: u16,
    /// What went wrong, for people.
    pub detail: String,
    /// The bad records, by the line each starts on (at most 1,000).
    pub errors: Vec<ImportProblemError>,
    /// How many records are bad (all of them, listed or not).
    pub failed: Option<u64>,
}

/// One broken rule of one record of an import.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ImportProblemError {
    /// The line of the file on which the record starts, from 1 (absent for a reused
    /// `Idempotency-Key`, which is about the request, not a record).
    pub line: Option<u64>,
    /// The field, or empty when the record as a whole is wrong.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Defines a `{data, next_cursor}` page schema; each resource's handlers module
/// declares its own.
macro_rules! page {
    ($name:ident, $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(utoipa::ToSchema)]
        #[allow(dead_code)]
        pub struct $name {
            /// The items of this page.
            pub data: Vec<$item>,
            /// Pass back as `cursor` for the next page; `null` on the last.
            pub next_cursor: Option<String>,
        }
    };
}
pub(crate) use page;

/// The `{ref}` of a path: a record's id or slug.
#[derive(IntoParams)]
#[into_params(names("ref"), parameter_in = Path)]
#[allow(dead_code)]
pub struct RefParam(
    /// The id (UUID) or the slug.
    #[param(value_type = RefText)]
    String,
);

/// `If-Match` on a write.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IfMatchParam {
    /// The ETag you read; 412 if the record changed since.
    #[param(rename = "If-Match")]
    if_match: Option<String>,
}

/// `Idempotency-Key` on a create.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyParam {
    /// A retry with the same key and body returns the first answer.
    #[param(rename = "Idempotency-Key")]
    idempotency_key: Option<String>,
}
