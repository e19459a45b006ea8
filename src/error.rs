//! The one error type every request can end in, rendered as RFC 9457 problem+json.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::model::import::LineError;
use crate::model::{FieldError, ParamError, ResourceKind};

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Seconds a client is asked to wait when the database is unreachable.
const UNAVAILABLE_RETRY_AFTER_SECS: u32 = 2;

/// The cause chain of a failed request (a 5xx), left in the response's extensions for
/// the one middleware that logs it; never sent to the client.
#[derive(Debug, Clone)]
pub struct FailureReport(pub String);

/// An error a request can end in; each variant has exactly one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request itself is malformed (bad JSON, bad encoding).
    #[error("{0}")]
    BadRequest(String),
    /// 400: one query parameter is unknown or has a bad value.
    #[error("query parameter `{name}` is invalid: {reason}")]
    BadParam {
        /// The parameter's name as the client sent it.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// 401: no token, or one that is unknown, revoked or expired.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: a valid token without the scope the route needs.
    #[error("this request needs a token with the `{needed}` scope")]
    Forbidden {
        /// The scope the route needs.
        needed: &'static str,
    },
    /// 404: no resource matches the reference.
    #[error("no {kind} matches `{reference}`")]
    NotFound {
        /// The kind of resource.
        kind: ResourceKind,
        /// The id or slug the client asked for.
        reference: String,
    },
    /// 404: no webhook subscription or delivery has this id.
    #[error("no {what} has the id `{reference}`")]
    NoSuch {
        /// `webhook subscription` or `delivery`.
        what: &'static str,
        /// The id the client asked for.
        reference: String,
    },
    /// 404: no route matches the path.
    #[error("no route matches `{0}`")]
    RouteNotFound(String),
    /// 405: the route exists but not with this method.
    #[error("method {0} is not allowed on this route")]
    MethodNotAllowed(String),
    /// 409: a delete is blocked by references, or the state of the resource refuses
    /// the request.
    #[error("{0}")]
    Conflict(String),
    /// 409: the value of one field of the record written is taken (its `slug`, its
    /// `id`); an import names that field in its report of the record.
    #[error("{message}")]
    FieldConflict {
        /// The field whose value is taken.
        field: &'static str,
        /// What is taken, and by what.
        message: String,
    },
    /// 412: `If-Match` does not match the current ETag.
    #[error("the resource has changed: `If-Match` does not match its current ETag {current}")]
    PreconditionFailed {
        /// The current ETag, so the client can re-read and retry.
        current: String,
    },
    /// 408: a streamed body (an import's) stopped arriving while its transaction was
    /// open; the work done so far was rolled back.
    #[error(
        "no more of the body arrived for {secs} s, so the import was stopped and nothing of it stored; send the body without pauses"
    )]
    BodyStalled {
        /// How long the body was waited for.
        secs: u64,
    },
    /// 413: the body is larger than the configured limit.
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415: a write whose content type is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    /// 422: well-formed JSON that breaks one or more rules.
    #[error("the request body has invalid fields")]
    Validation(Vec<FieldError>),
    /// 410: a position or time from before the tombstone horizon.
    #[error(
        "`updated_since` is older than the tombstone horizon ({days} days): deletions before it may be forgotten, so reload the list without it and poll from its `Next-Updated-Since`"
    )]
    ResyncRequired {
        /// `TOMBSTONE_RETENTION_DAYS`.
        days: u32,
    },
    /// 422: records of an atomic import are bad; nothing was stored.
    #[error(
        "{failed} of the records are bad, so nothing was stored (mode=atomic); `errors` lists them by line"
    )]
    ImportRejected {
        /// How many records are bad.
        failed: u64,
        /// The first of them (at most 1,000), by line.
        errors: Vec<LineError>,
    },
    /// 429: the client spent its rate-limit allowance; it may retry after the wait.
    #[error("too many requests: retry in {retry_after_secs} s")]
    RateLimited {
        /// Whole seconds until the next request can succeed (sent as `Retry-After`).
        retry_after_secs: u64,
    },
    /// 503: the database cannot be reached right now.
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// 503: the service cannot serve yet (e.g. migrations not applied).
    #[error("{0}")]
    NotReady(&'static str),
    /// 503: too many connections are open; only health, readiness and metrics are
    /// answered on this one.
    #[error("the server has too many open connections; retry shortly")]
    TooManyConnections,
    /// 503: this server already holds `MAX_STREAMS` event streams.
    #[error(
        "this server holds as many event streams as it may ({max}); retry shortly, perhaps on another instance"
    )]
    TooManyStreams {
        /// `MAX_STREAMS`.
        max: u32,
    },
    /// 503: the request took longer than the configured timeout.
    #[error("the request took too long and was abandoned")]
    Timeout,
    /// 500: a bug or an unexpected state; the detail is logged, never shown.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::BadParam { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } | Self::NoSuch { .. } | Self::RouteNotFound(_) => {
                StatusCode::NOT_FOUND
            }
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) | Self::FieldConflict { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::BodyStalled { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) | Self::ImportRejected { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::ResyncRequired { .. } => StatusCode::GONE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_)
            | Self::NotReady(_)
            | Self::Timeout
            | Self::TooManyConnections
            | Self::TooManyStreams { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable, machine-readable problem type (the last part of the `type` URI).
    fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad-request",
            Self::BadParam { .. } => "invalid-parameter",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden { .. } => "forbidden",
            Self::NotFound { .. } | Self::NoSuch { .. } => "not-found",
            Self::RouteNotFound(_) => "no-such-route",
            Self::MethodNotAllowed(_) => "method-not-allowed",
            Self::Conflict(_) | Self::FieldConflict { .. } => "conflict",
            Self::PreconditionFailed { .. } => "precondition-failed",
            Self::BodyStalled { .. } => "body-stalled",
            Self::PayloadTooLarge { .. } => "payload-too-large",
            Self::UnsupportedMediaType(_) => "unsupported-media-type",
            Self::Validation(_) => "validation",
            Self::ImportRejected { .. } => "import-rejected",
            Self::ResyncRequired { .. } => "resync-required",
            Self::RateLimited { .. } => "rate-limited",
            Self::Unavailable(_) => "unavailable",
            Self::NotReady(_) => "not-ready",
            Self::Timeout => "timeout",
            Self::TooManyConnections => "too-many-connections",
            Self::TooManyStreams { .. } => "too-many-streams",
            Self::Internal(_) => "internal",
        }
    }

    /// A 404 for a `kind` of resource the client named by `reference`.
    pub fn not_found(kind: ResourceKind, reference: impl std::fmt::Display) -> Self {
        Self::NotFound {
            kind,
            reference: reference.to_string(),
        }
    }

    /// Shorthand for a 400 naming a query parameter.
    pub fn bad_param(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::BadParam {
            name: name.into(),
            reason: reason.into(),
        }
    }
}

/// The RFC 9457 body.
#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<ProblemErrors<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter: Option<&'a str>,
}

/// A problem's `errors`: by field for one record, by line and field for an import.
#[derive(Serialize)]
#[serde(untagged)]
enum ProblemErrors<'a> {
    Fields(&'a [FieldError]),
    Lines(&'a [LineError]),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // A refused connection is the limits working, not a failure to look into.
        let report = (status.is_server_error()
            && !matches!(self, Self::TooManyConnections | Self::TooManyStreams { .. }))
        .then(|| FailureReport(cause_chain(&self)));
        // A taken value names its field as a 422 names a bad one.
        let conflicting: Option<[FieldError; 1]> = match &self {
            Self::FieldConflict { field, message } => Some([FieldError::new(*field, message)]),
            _ => None,
        };
        let problem = Problem {
            kind: format!("urn:problem:industry-events:{}", self.kind()),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.to_string(),
            errors: match &self {
                Self::Validation(errors) => Some(ProblemErrors::Fields(errors)),
                Self::ImportRejected { errors, .. } => Some(ProblemErrors::Lines(errors)),
                _ => conflicting.as_ref().map(|one| ProblemErrors::Fields(one)),
            },
            failed: match &self {
                Self::ImportRejected { failed, .. } => Some(*failed),
                _ => None,
            },
            parameter: match &self {
                Self::BadParam { name, .. } => Some(name),
                Self::ResyncRequired { .. } => Some("updated_since"),
                _ => None,
            },
        };
        let body = serde_json::to_vec(&problem).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, body).into_response();
        if let Some(report) = report {
            response.extensions_mut().insert(report);
        }
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match &self {
            Self::Unauthorized(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="industry-events""#),
                );
            }
            Self::Unavailable(_)
            | Self::NotReady(_)
            | Self::Timeout
            | Self::TooManyConnections
            | Self::TooManyStreams { .. } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
                );
            }
            Self::RateLimited { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::PreconditionFailed { current } => {
                if let Ok(value) = HeaderValue::from_str(current) {
                    headers.insert(header::ETAG, value);
                }
            }
            _ => {}
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if is_unavailable(&error) {
            Self::Unavailable(error)
        } else {
            Self::Internal(anyhow::Error::new(error).context("database query failed"))
        }
    }
}

impl From<ParamError> for ApiError {
    fn from(error: ParamError) -> Self {
        Self::BadParam {
            name: error.name,
            reason: error.reason,
        }
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(error: serde_json::Error) -> Self {
        Self::Internal(anyhow::Error::new(error).context("(de)serialising JSON"))
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Validation(errors)
    }
}

/// `error` and its causes, outermost first: `internal error: database query failed:
/// error returned from database: ...`.
pub fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

/// Whether a database error means "the server cannot be reached or is going away"
/// rather than "this query is wrong": the first is a 503 the client may retry.
fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 57P0x: admin/crash shutdown, cannot connect now;
            // 40001/40P01: serialization failure, deadlock: the retry will succeed.
            code.starts_with("08") || code.starts_with("57P") || code == "40001" || code == "40P01"
        }),
        _ => false,
    }
}
