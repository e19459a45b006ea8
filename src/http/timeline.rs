//! Timelines: `GET /v1/events/timeline` (JSON), `/v1/events/timeline.svg` (a chart)
//! and `GET /v1/tags/{tag}/timeline`.

use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use utoipa::IntoParams;

use super::list_cache::conditional_list_on;
use super::openapi::schemas::Problem;
use super::{AppState, chart, resolve, respond};
use crate::error::ApiError;
use crate::model::list::events::{EVENT_FILTER_PARAMS, EventFilterParams};
use crate::model::list::params::QueryParams;
use crate::model::schema::TagName;
use crate::model::timeline::{Interval, Timeline};
use crate::model::{EventFilter, EventSort, ListScope, Tag};
use crate::repo;

/// The width of a timeline's buckets.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct IntervalParams {
    /// `day`, `week` (Monday to Sunday), `month` (default), `quarter` or `year`.
    #[param(inline, schema_with = interval_schema)]
    interval: Option<String>,
}

fn interval_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(Interval::NAMES.iter().copied()))
        .build()
}

/// The tag of a tag's timeline.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct TagPath {
    /// A tag (normalised as on input).
    #[param(value_type = TagName)]
    tag: String,
}

/// `GET /v1/events/timeline`.
#[utoipa::path(get, path = "/v1/events/timeline", tag = "events",
    params(EventFilterParams, IntervalParams),
    responses(
        (status = 200, description = "Events per bucket, every bucket from `from` to `to` (empty ones with 0); at most 1,000 buckets.", body = Timeline, headers(("ETag" = String))),
        (status = 304, description = "Unchanged (`If-None-Match`)."),
        (status = 400, description = "A bad filter, or more than 1,000 buckets (naming `interval`).", body = Problem, content_type = "application/problem+json")))]
pub async fn events_timeline(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    answer(&app, query.as_deref(), None, &uri, &headers, Format::Json).await
}

/// `GET /v1/events/timeline.svg`.
#[utoipa::path(get, path = "/v1/events/timeline.svg", tag = "events",
    params(EventFilterParams, IntervalParams),
    responses(
        (status = 200, description = "The timeline as an SVG bar chart (600 by 200, light and dark), one bar per bucket, each with a `<title>`.", content_type = "image/svg+xml", body = String, headers(("ETag" = String))),
        (status = 304, description = "Unchanged (`If-None-Match`)."),
        (status = 400, description = "A bad filter, or more than 1,000 buckets (naming `interval`).", body = Problem, content_type = "application/problem+json")))]
pub async fn events_timeline_svg(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    answer(&app, query.as_deref(), None, &uri, &headers, Format::Svg).await
}

/// `GET /v1/tags/{tag}/timeline`.
#[utoipa::path(get, path = "/v1/tags/{tag}/timeline", tag = "tags",
    params(TagPath, EventFilterParams, IntervalParams),
    responses(
        (status = 200, description = "The tag's events per bucket (its other filters apply).", body = Timeline, headers(("ETag" = String))),
        (status = 304, description = "Unchanged (`If-None-Match`)."),
        (status = 400, description = "A bad tag or filter, or more than 1,000 buckets.", body = Problem, content_type = "application/problem+json")))]
pub async fn tag_timeline(
    State(app): State<AppState>,
    Path(tag): Path<String>,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tag = Tag::parse(&tag).map_err(|reason| ApiError::bad_param("tag", reason))?;
    answer(
        &app,
        query.as_deref(),
        Some(tag),
        &uri,
        &headers,
        Format::Json,
    )
    .await
}

/// What a timeline is answered as.
#[derive(Clone, Copy)]
enum Format {
    Json,
    Svg,
}

/// Reads the filters (with `tag` added), counts, zero-fills and answers, with the
/// list's `ETag` and 304 rules.
async fn answer(
    app: &AppState,
    query: Option<&str>,
    tag: Option<Tag>,
    uri: &Uri,
    headers: &HeaderMap,
    format: Format,
) -> Result<Response, ApiError> {
    let accepted = [EVENT_FILTER_PARAMS, &["interval"]].concat();
    let params = QueryParams::parse(query, &accepted)?;
    let interval = Interval::from_param(params.single("interval")?)?;
    let mut filter = EventFilter::from_params(&params)?;
    filter.check_role()?;
    // Counted from `occurred_on`, so the tag's index serves it (a `q` still filters).
    filter.sort = EventSort::OccurredOnDesc;
    if let Some(tag) = tag
        && !filter.all_tags.contains(&tag)
    {
        filter.all_tags.insert(0, tag);
    }
    let scopes = ListScope::of_events(&filter);
    let reads = app.fresh_reads(headers, &filter.freshness());
    conditional_list_on(app, reads.db, headers, uri, &scopes, async {
        let company_ids = resolve::company_params(reads.db, &filter.companies).await?;
        let counted =
            repo::events::timeline_counts(reads.db, &filter, &company_ids, interval).await?;
        let timeline = Timeline::fill(interval, filter.from, filter.to, counted)?;
        Ok(match format {
            Format::Json => {
                respond::content_tagged(headers, "application/json", respond::to_json(&timeline)?)
            }
            Format::Svg => {
                let what = match filter.all_tags.as_slice() {
                    [one] => format!("Events tagged {}", one.as_str()),
                    _ => "Events".to_owned(),
                };
                respond::content_tagged(
                    headers,
                    "image/svg+xml",
                    chart::svg(&timeline, interval, &what).into_bytes(),
                )
            }
        })
    })
    .await
}
