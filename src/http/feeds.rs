//! `/v1/feeds/events.atom` and `/v1/feeds/events.json`: the newest events matching a
//! list's filters as an Atom feed (RFC 4287) or a JSON Feed 1.1, for feed readers.

use atom_syndication as atom;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::Serialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::schemas::Problem;
use super::{AppState, resolve, respond};
use crate::error::ApiError;
use crate::model::list::events::{EVENT_FILTER_PARAMS, EventFilterParams};
use crate::model::list::params::QueryParams;
use crate::model::{Event, EventFilter, EventSort};
use crate::repo;

/// Entries in a feed unless `limit` says otherwise.
const DEFAULT_ENTRIES: u32 = 50;

/// The feed's title.
const TITLE: &str = "Industry events";

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(atom_feed))
        .routes(routes!(json_feed))
}

/// How many entries a feed holds.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct FeedParams {
    /// Entries, newest first by `occurred_on` (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// `GET /v1/feeds/events.atom`.
#[utoipa::path(get, path = "/v1/feeds/events.atom", tag = "feeds",
    params(EventFilterParams, FeedParams),
    responses(
        (status = 200, description = "An Atom feed of the newest matching events.", content_type = "application/atom+xml", body = String,
         headers(("ETag" = String), ("Last-Modified" = String))),
        (status = 304, description = "Unchanged (`If-None-Match`, `If-Modified-Since`)."),
        (status = 400, description = "A bad filter.", body = Problem, content_type = "application/problem+json")))]
async fn atom_feed(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let feed = read(&app, query.as_deref(), &uri, &headers).await?;
    let body = feed.atom().to_string().into_bytes();
    Ok(answer(&headers, "application/atom+xml", body, feed.updated))
}

/// `GET /v1/feeds/events.json`.
#[utoipa::path(get, path = "/v1/feeds/events.json", tag = "feeds",
    params(EventFilterParams, FeedParams),
    responses(
        (status = 200, description = "A JSON Feed 1.1 of the newest matching events.", content_type = "application/feed+json", body = JsonFeed,
         headers(("ETag" = String), ("Last-Modified" = String))),
        (status = 304, description = "Unchanged (`If-None-Match`, `If-Modified-Since`)."),
        (status = 400, description = "A bad filter.", body = Problem, content_type = "application/problem+json")))]
async fn json_feed(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let feed = read(&app, query.as_deref(), &uri, &headers).await?;
    let body = respond::to_json(&feed.json())?;
    Ok(answer(
        &headers,
        "application/feed+json",
        body,
        feed.updated,
    ))
}

/// A feed's events and where it lives.
struct Feed {
    /// Its own URL, filters included.
    self_url: String,
    /// The service's base URL.
    base: String,
    events: Vec<Event>,
    /// The newest `updated_at` among its events (the epoch when it has none, so an
    /// empty feed's validators do not move).
    updated: DateTime<Utc>,
}

/// Reads the feed a request asks for.
async fn read(
    app: &AppState,
    query: Option<&str>,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Feed, ApiError> {
    let accepted = [EVENT_FILTER_PARAMS, &["limit"]].concat();
    let params = QueryParams::parse(query, &accepted)?;
    let mut filter = EventFilter::from_params(&params)?;
    filter.check_role()?;
    // Newest first whatever the filters, `q` included.
    filter.sort = EventSort::OccurredOnDesc;
    if params.single("limit")?.is_none() {
        filter.limit = DEFAULT_ENTRIES;
    }
    let reads = app.fresh_reads(headers, &filter.freshness());
    let company_ids = resolve::company_params(reads.db, &filter.companies).await?;
    let listed = repo::events::list(reads.db, reads.fixed, &filter, &company_ids).await?;
    let events = listed.page.into_events();
    let updated = events
        .iter()
        .map(|e| e.updated_at)
        .max()
        .unwrap_or(DateTime::UNIX_EPOCH);
    let base = respond::base_url(app.config.public_url.as_deref(), headers);
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    Ok(Feed {
        self_url: format!("{}{path}", base.trim_end_matches('/')),
        base,
        events,
        updated,
    })
}

impl Feed {
    /// The event's link: its page for people.
    fn link(&self, event: &Event) -> String {
        format!(
            "{}{}",
            self.base.trim_end_matches('/'),
            super::pages::event_href(&event.slug)
        )
    }

    fn atom(&self) -> atom::Feed {
        let entries: Vec<atom::Entry> = self
            .events
            .iter()
            .map(|event| {
                let mut entry = atom::Entry::default();
                entry.set_id(format!("urn:uuid:{}", event.id));
                entry.set_title(atom::Text::plain(xml_text(&event.title)));
                entry.set_updated(fixed(event.updated_at));
                entry.set_published(Some(fixed(midnight(event.occurred_on))));
                // Optional in Atom: an event without a summary gets no empty element.
                let summary = xml_text(&event.summary);
                entry.set_summary((!summary.is_empty()).then(|| atom::Text::plain(summary)));
                let mut content = atom::Content::default();
                content.set_content_type(Some("text".to_owned()));
                content.set_value(Some(xml_text(&content_text(event))));
                entry.set_content(Some(content));
                entry.set_links(vec![link(&self.link(event), "alternate")]);
                entry.set_categories(
                    event
                        .tags
                        .iter()
                        .map(|tag| {
                            let mut category = atom::Category::default();
                            category.set_term(tag.clone());
                            category
                        })
                        .collect::<Vec<_>>(),
                );
                entry
            })
            .collect();
        let mut author = atom::Person::default();
        author.set_name(TITLE);
        let mut feed = atom::Feed::default();
        feed.set_id(self.self_url.clone());
        feed.set_title(atom::Text::plain(TITLE));
        feed.set_updated(fixed(self.updated));
        feed.set_authors(vec![author]);
        feed.set_links(vec![link(&self.self_url, "self")]);
        feed.set_entries(entries);
        feed
    }

    fn json(&self) -> JsonFeed<'_> {
        JsonFeed {
            version: "https://jsonfeed.org/version/1.1",
            title: TITLE,
            home_page_url: &self.base,
            feed_url: &self.self_url,
            items: self
                .events
                .iter()
                .map(|event| JsonFeedItem {
                    id: format!("urn:uuid:{}", event.id),
                    url: self.link(event),
                    title: &event.title,
                    summary: &event.summary,
                    content_text: content_text(event),
                    date_published: midnight(event.occurred_on),
                    date_modified: event.updated_at,
                    tags: &event.tags,
                })
                .collect(),
        }
    }
}

/// A JSON Feed 1.1 document.
#[derive(Serialize, utoipa::ToSchema)]
pub struct JsonFeed<'a> {
    /// `https://jsonfeed.org/version/1.1`.
    version: &'static str,
    /// The feed's title.
    title: &'static str,
    /// The service.
    home_page_url: &'a str,
    /// This feed, with its filters.
    feed_url: &'a str,
    /// The newest matching events.
    items: Vec<JsonFeedItem<'a>>,
}

/// One JSON Feed item: an event.
#[derive(Serialize, utoipa::ToSchema)]
pub struct JsonFeedItem<'a> {
    /// `urn:uuid:<event id>`.
    id: String,
    /// The event.
    url: String,
    /// Its title.
    title: &'a str,
    /// Its summary.
    summary: &'a str,
    /// What happened, then why it matters.
    content_text: String,
    /// `occurred_on`, at midnight UTC.
    date_published: DateTime<Utc>,
    /// `updated_at`.
    date_modified: DateTime<Utc>,
    /// Its tags.
    tags: &'a [String],
}

/// What an entry's content says: what happened, then why it matters; the summary, or
/// else the title, for an event that has neither (a feed item must have content).
fn content_text(event: &Event) -> String {
    let text = [event.what_happened.as_str(), event.why_it_matters.as_str()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    match text.is_empty() {
        false => text,
        true if !event.summary.is_empty() => event.summary.clone(),
        true => event.title.clone(),
    }
}

/// `text` without the characters XML 1.0 cannot hold even escaped (most C0 controls,
/// U+FFFE, U+FFFF): a record may contain them (its text is stored as written), and one
/// of them would make the whole feed unreadable to every feed reader.
fn xml_text(text: &str) -> String {
    text.chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r')
                || ('\u{20}'..='\u{D7FF}').contains(&c)
                || ('\u{E000}'..='\u{FFFD}').contains(&c)
                || c >= '\u{10000}'
        })
        .collect()
}

fn link(href: &str, rel: &str) -> atom::Link {
    let mut link = atom::Link::default();
    link.set_href(href);
    link.set_rel(rel);
    link
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

fn fixed(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    at.fixed_offset()
}

/// The feed with its `ETag` and `Last-Modified`, or a 304 when the client's copy is
/// current.
fn answer(
    request: &HeaderMap,
    content_type: &'static str,
    body: Vec<u8>,
    updated: DateTime<Utc>,
) -> Response {
    let etag = respond::content_etag(&body);
    let last_modified = updated.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let mut response = if respond::is_fresh(request, &etag, updated) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    for (name, value) in [(header::ETAG, etag), (header::LAST_MODIFIED, last_modified)] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
