//! Pages for people: `/`, `/tags/{tag}`, `/events/{ref}`, `/companies/{ref}` and
//! `/partnerships/{ref}`, server-rendered HTML from compiled `maud` templates over the
//! same reads as the API. Every asset is in the binary ([`assets`]) and the pages say
//! `Content-Security-Policy: default-src 'self'`, so they work with no internet and
//! nothing on them can load from elsewhere. They read well without JavaScript; the tag
//! page's script only adds the live list.
//!
//! The pages are not part of the OpenAPI document (they are for browsers, not clients),
//! but they answer to the same read rules as the API (`READ_REQUIRES_TOKEN`).

pub mod assets;
mod format;
mod layout;
mod views;

pub use views::event_href;

use axum::Router;
use axum::body::Body;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::Markup;

use self::layout::Frame;
use self::views::LIST_LIMIT;
use super::consistency::ReadPools;
use super::{AppState, respond};
use crate::error::ApiError;
use crate::model::list::params::QueryParams;
use crate::model::partnership::Partnership;
use crate::model::position::Position;
use crate::model::{EventFilter, ListScope, Ref, Tag, TagFilter};
use crate::repo;
use crate::repo::companies::Companies;
use crate::repo::events::Events;
use crate::repo::partnerships::Partnerships;
use crate::repo::records::Table;

/// What every page answers with: nothing loads from anywhere but this service.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'";

/// The HTML media type.
const HTML: &str = "text/html; charset=utf-8";

/// Tags listed on the home page.
const HOME_TAGS: u32 = 24;

/// Deals listed on a company's page.
const COMPANY_DEALS: u32 = 50;

/// The pages, which read the database (guarded like the API's reads).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/tags/{tag}", get(tag))
        .route("/events/{ref}", get(event))
        .route("/companies/{ref}", get(company))
        .route("/partnerships/{ref}", get(partnership))
}

/// The pages' embedded files (no state, no guard: they hold no data).
pub fn asset_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/assets/{file}", get(assets::serve))
}

/// A page ready to send: its frame and body.
struct Rendered {
    title: String,
    description: String,
    feed: Option<(String, String)>,
    json: Option<String>,
    live: bool,
    query: String,
    body: Markup,
}

impl Rendered {
    fn new(title: impl Into<String>, description: impl Into<String>, body: Markup) -> Self {
        Self {
            title: title.into(),
            description: description.into(),
            feed: None,
            json: None,
            live: false,
            query: String::new(),
            body,
        }
    }

    fn document(&self) -> String {
        let frame = Frame {
            title: &self.title,
            description: &self.description,
            feed: self.feed.as_ref().map(|(t, h)| (t.as_str(), h.clone())),
            json: self.json.clone(),
            live: self.live,
            query: &self.query,
        };
        layout::page(&frame, &self.body).into_string()
    }
}

/// What a page handler ends with: the page, a 404 page, or a redirect.
enum Outcome {
    Page(Rendered),
    Missing(String),
    Moved(String),
}

/// The answer to a page request: the page with its `ETag` (a 304 when unchanged), or
/// the failure as a page with the status the API would have used.
fn answer(headers: &HeaderMap, outcome: Result<Outcome, ApiError>) -> Response {
    let mut response = match outcome {
        Ok(Outcome::Page(page)) => {
            respond::content_tagged(headers, HTML, page.document().into_bytes())
        }
        Ok(Outcome::Moved(to)) => return Redirect::permanent(&to).into_response(),
        Ok(Outcome::Missing(what)) => failure_page(
            StatusCode::NOT_FOUND.into_response(),
            "Not found",
            &format!("There is no {what} here."),
        ),
        Err(error) => {
            let status = error.status();
            let detail = if status.is_server_error() {
                "Something went wrong on our side; please try again in a moment.".to_owned()
            } else {
                error.to_string()
            };
            let heading = status.canonical_reason().unwrap_or("Error").to_owned();
            // The API's answer keeps its headers (`Retry-After`) and what the failure log
            // reads; only the body becomes a page.
            failure_page(error.into_response(), &heading, &detail)
        }
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// `response` with its body replaced by a page saying `heading` and `detail`.
fn failure_page(response: Response, heading: &str, detail: &str) -> Response {
    let page = Rendered::new(heading, detail, views::problem(heading, detail));
    let (mut parts, _) = response.into_parts();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(HTML));
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Response::from_parts(parts, Body::from(page.document()))
}

/// An event filter with no parameters: every live event, newest first.
fn every_event() -> Result<EventFilter, ApiError> {
    let mut filter = EventFilter::from_params(&QueryParams::parse(None, &[])?)?;
    filter.limit = LIST_LIMIT;
    Ok(filter)
}

/// `GET /`: the latest events and the most used tags, or the results of `q`.
async fn home(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let outcome = async {
        let params = QueryParams::parse(query.as_deref(), &["q"])?;
        let mut filter = EventFilter::from_params(&params)?;
        filter.limit = LIST_LIMIT;
        let q = filter.q.clone();
        let scopes = ListScope::of_events(&filter);
        let reads = app.reads(&headers);
        let listed = super::events::read_page(&app, &reads, &filter, &scopes, &[], &uri).await?;
        let events = listed.page.into_events();
        let tags = match q {
            Some(_) => Vec::new(),
            None => {
                repo::tags::list(
                    reads.db,
                    &TagFilter {
                        prefix: None,
                        limit: HOME_TAGS,
                    },
                )
                .await?
            }
        };
        let body = views::home(q.as_deref(), &events, &tags);
        let mut page = match &q {
            Some(q) => Rendered::new(format!("Search: {q}"), format!("Events matching {q}"), body),
            None => Rendered::new(
                "Latest events",
                "The latest events of the industry, the companies in them and their deals.",
                body,
            ),
        };
        page.feed = Some((
            "Latest events".to_owned(),
            "/v1/feeds/events.atom".to_owned(),
        ));
        page.query = q.unwrap_or_default();
        Ok(Outcome::Page(page))
    }
    .await;
    answer(&headers, outcome)
}

/// `GET /tags/{tag}`: the tag's timeline chart and latest events, kept current live.
async fn tag(State(app): State<AppState>, Path(raw): Path<String>, headers: HeaderMap) -> Response {
    let outcome = async {
        let Ok(tag) = Tag::parse(&raw) else {
            return Ok(Outcome::Missing("such tag".to_owned()));
        };
        if tag.as_str() != raw {
            // `/tags/Cloud%20Computing` is `/tags/cloud-computing`: one address a tag.
            return Ok(Outcome::Moved(views::tag_href(tag.as_str())));
        }
        let mut filter = every_event()?;
        filter.all_tags = vec![tag.clone()];
        let reads = app.reads(&headers);
        let listed = repo::events::list(reads.db, reads.fixed, &filter, &[]).await?;
        let since = Position::at(app.live.origin().await?, listed.snapshot.clone()).to_string();
        let events = listed.page.into_events();
        let encoded = views::path_segment(tag.as_str());
        let chart = format!("/v1/events/timeline.svg?tag={encoded}&interval=month");
        let body = views::tag(tag.as_str(), &events, &chart, &since);
        let mut page = Rendered::new(
            format!("Tagged {}", tag.as_str()),
            format!("Events tagged {}, with their timeline.", tag.as_str()),
            body,
        );
        page.feed = Some((
            format!("Events tagged {}", tag.as_str()),
            format!("/v1/feeds/events.atom?tag={encoded}"),
        ));
        page.json = Some(format!("/v1/events?tag={encoded}"));
        page.live = true;
        Ok(Outcome::Page(page))
    }
    .await;
    answer(&headers, outcome)
}

/// `GET /events/{ref}`: the event with its companies, deals, sources and tags.
async fn event(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Response {
    let outcome = async {
        let reads = app.reads(&headers);
        let Some(event) = find::<Events>(&reads, &raw).await? else {
            return Ok(Outcome::Missing("such event".to_owned()));
        };
        let mut deals: Vec<Partnership> = Vec::with_capacity(event.partnerships.len());
        for deal in &event.partnerships {
            if let Some(found) = Partnerships::find(reads.fixed, &Ref::Id(deal.id)).await? {
                deals.push(found);
            }
        }
        let mut page = Rendered::new(
            event.title.clone(),
            event.summary.clone(),
            views::event(&event, &deals),
        );
        page.json = Some(format!("/v1/events/{}", event.id));
        Ok(Outcome::Page(page))
    }
    .await;
    answer(&headers, outcome)
}

/// `GET /companies/{ref}`: the company, its deals and its latest events.
async fn company(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Response {
    let outcome = async {
        let reads = app.reads(&headers);
        let Some(company) = find::<Companies>(&reads, &raw).await? else {
            return Ok(Outcome::Missing("such company".to_owned()));
        };
        let mut deal_filter = crate::model::list::partnerships::PartnershipFilter::from_params(
            &QueryParams::parse(None, &[])?,
        )?;
        deal_filter.limit = COMPANY_DEALS;
        let deals = repo::partnerships::list(reads.db, &deal_filter, Some(company.id))
            .await?
            .items;
        let filter = every_event()?;
        let listed = repo::events::list(reads.db, reads.fixed, &filter, &[company.id]).await?;
        let events = listed.page.into_events();
        let description = if company.description.is_empty() {
            format!("{}: its deals and events.", company.name)
        } else {
            company.description.clone()
        };
        let mut page = Rendered::new(
            company.name.clone(),
            description,
            views::company(&company, &deals, &events),
        );
        page.json = Some(format!("/v1/companies/{}", company.id));
        Ok(Outcome::Page(page))
    }
    .await;
    answer(&headers, outcome)
}

/// `GET /partnerships/{ref}`: the deal's parties, tranches, terms and timeline.
async fn partnership(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Response {
    let outcome = async {
        let Some(deal) = find::<Partnerships>(&app.reads(&headers), &raw).await? else {
            return Ok(Outcome::Missing("such deal".to_owned()));
        };
        let mut page = Rendered::new(
            deal.title.clone(),
            format!("{}: parties, tranches, terms and timeline.", deal.title),
            views::partnership(&deal),
        );
        page.json = Some(format!("/v1/partnerships/{}", deal.id));
        Ok(Outcome::Page(page))
    }
    .await;
    answer(&headers, outcome)
}

/// A record by the id or slug in a page's path; `None` when there is none (or the text
/// could name none).
async fn find<T: Table>(reads: &ReadPools<'_>, raw: &str) -> Result<Option<T::Record>, ApiError> {
    match Ref::parse(raw) {
        Some(reference) => T::find(reads.fixed, &reference).await,
        None => Ok(None),
    }
}
