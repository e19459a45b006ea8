//! The pages' bodies, one function each, from the records the handlers read. Text is
//! escaped by the templates; the only outside addresses are a record's own links
//! (sources, a company's website).

use maud::{Markup, html};

use super::format::{money, words};
use super::layout::dot;
use crate::model::partnership::{Partnership, TimelineEvent};
use crate::model::party::CompanyRole;
use crate::model::{Company, Event};
use crate::repo::tags::TagUsage;

/// How many events a list on a page shows.
pub const LIST_LIMIT: u32 = 20;

/// The link to an event's page.
pub fn event_href(slug: &str) -> String {
    format!("/events/{}", path_segment(slug))
}

/// The link to a tag's page.
pub fn tag_href(tag: &str) -> String {
    format!("/tags/{}", path_segment(tag))
}

fn company_href(slug: &str) -> String {
    format!("/companies/{}", path_segment(slug))
}

fn partnership_href(slug: &str) -> String {
    format!("/partnerships/{}", path_segment(slug))
}

/// What stays as it is in a path segment or a query value: RFC 3986's unreserved
/// characters.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` as one path segment or query value. Slugs and tags are already URL-safe;
/// encoding them anyway keeps a link correct whatever the rules become.
pub fn path_segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, UNRESERVED).to_string()
}

/// One event in a list; `live.js` builds the same markup for events that arrive later.
pub fn event_item(event: &Event) -> Markup {
    html! {
        li data-id=(event.id) data-date=(event.occurred_on) {
            article {
                h3 { a href=(event_href(&event.slug)) { (event.title) } }
                p.meta {
                    time datetime=(event.occurred_on) { (event.occurred_on) }
                    (dot()) (event.category.as_str()) (dot()) (event.significance.as_str())
                }
                p { (event.summary) }
            }
        }
    }
}

/// A list of events, or a sentence saying there are none.
fn event_list(events: &[Event], empty: &str) -> Markup {
    html! {
        @if events.is_empty() {
            p { (empty) }
        } @else {
            ul.events { @for event in events { (event_item(event)) } }
        }
    }
}

/// A row of tag links.
fn tag_list(tags: &[String]) -> Markup {
    html! {
        @if !tags.is_empty() {
            ul.tags aria-label="Tags" {
                @for tag in tags { li { a href=(tag_href(tag)) { (tag) } } }
            }
        }
    }
}

/// Companies with the part each played.
fn company_roles(companies: &[CompanyRole]) -> Markup {
    html! {
        ul {
            @for company in companies {
                li {
                    a href=(company_href(&company.slug)) { (company.name) }
                    " (" (words(company.role.as_str())) ")"
                }
            }
        }
    }
}

/// `/`: search results or the latest events, the most used tags, the way to the API.
pub fn home(query: Option<&str>, events: &[Event], tags: &[TagUsage]) -> Markup {
    html! {
        @match query {
            Some(query) => {
                h1 { "Events matching “" (query) "”" }
                (event_list(events, "No event matches this search."))
            }
            None => {
                h1 { "What is happening in the industry" }
                p.lead {
                    "Investments, partnerships, launches, rulings: the events of the industry, \
                     the companies in them and the deals that tie them together. Everything here \
                     is also served as JSON by the "
                    a href="/docs" { "API" } "."
                }
                h2 { "Most used tags" }
                @if tags.is_empty() {
                    p { "No tags yet." }
                } @else {
                    ul.tags aria-label="Most used tags" {
                        @for tag in tags {
                            li {
                                a href=(tag_href(&tag.tag)) {
                                    (tag.tag) " " span.count { "(" (tag.events) ")" }
                                }
                            }
                        }
                    }
                }
                h2 { "Latest events" }
                (event_list(events, "No events yet."))
            }
        }
    }
}

/// `/tags/{tag}`: the tag's chart and latest events; `live.js` keeps the list current
/// from `since`, the position the list was read at.
pub fn tag(tag: &str, events: &[Event], chart_src: &str, since: &str) -> Markup {
    html! {
        h1 { "Events tagged " (tag) }
        p.meta {
            a href=(format!("/v1/feeds/events.atom?tag={}", path_segment(tag))) { "Atom feed" }
            (dot())
            a href=(format!("/v1/events?tag={}", path_segment(tag))) { "JSON" }
        }
        figure.chart {
            img src=(chart_src) width="600" height="200"
                alt=(format!("Bar chart: events tagged {tag} per month"));
        }
        h2 #latest { "Latest events" }
        p #live-status.live-status role="status" aria-live="polite" {}
        ul #events.events aria-labelledby="latest" data-tag=(tag) data-since=(since)
            data-limit=(LIST_LIMIT) {
            @for event in events { (event_item(event)) }
        }
        @if events.is_empty() {
            p #no-events { "No events with this tag yet; new ones will appear here." }
        }
    }
}

/// `/events/{ref}`: the story as the record tells it, with its deals in full.
pub fn event(event: &Event, deals: &[Partnership]) -> Markup {
    html! {
        article {
            h1 { (event.title) }
            p.meta {
                time datetime=(event.occurred_on) { (event.occurred_on) }
                (dot()) (event.category.as_str()) (dot()) (event.significance.as_str())
            }
            p.lead { (event.summary) }
            h2 { "What happened" }
            p.prose { (event.what_happened) }
            h2 { "Why it matters" }
            p.prose { (event.why_it_matters) }
            @if !event.companies.is_empty() {
                h2 { "Companies" }
                (company_roles(&event.companies))
            }
            @if !deals.is_empty() {
                h2 { @if deals.len() == 1 { "The deal" } @else { "The deals" } }
                @for deal in deals { (deal_summary(deal)) }
            }
            @if !event.sources.is_empty() {
                h2 { "Sources" }
                ul {
                    @for source in &event.sources {
                        li { a href=(source.url) rel="noopener noreferrer" { (source.title) } }
                    }
                }
            }
            @if !event.tags.is_empty() {
                h2 { "Tags" }
                (tag_list(&event.tags))
            }
        }
    }
}

/// A deal inside an event's page: its facts, tranches and terms.
fn deal_summary(deal: &Partnership) -> Markup {
    html! {
        section.deal aria-label=(deal.title) {
            h3 { a href=(partnership_href(&deal.slug)) { (deal.title) } }
            (deal_facts(deal))
            (tranches(deal))
            (terms(deal))
        }
    }
}

fn deal_facts(deal: &Partnership) -> Markup {
    html! {
        dl.facts {
            dt { "Kind" } dd { (words(deal.kind.as_str())) }
            dt { "Status" } dd { (words(deal.status.as_str())) }
            dt { "Announced" } dd { time datetime=(deal.announced_on) { (deal.announced_on) } }
            @if let Some(ended) = deal.ended_on {
                dt { "Ended" } dd { time datetime=(ended) { (ended) } }
            }
            @if let Some(total) = &deal.total {
                dt { "Total" } dd { (money(total)) }
            }
            dt { "Exclusive" } dd { @if deal.exclusive { "yes" } @else { "no" } }
        }
    }
}

fn tranches(deal: &Partnership) -> Markup {
    html! {
        @if !deal.tranches.is_empty() {
            div.table-scroll {
                table {
                    caption.meta { "Tranches" }
                    thead { tr { th scope="col" { "Date" } th scope="col" { "Amount" } th scope="col" { "Note" } } }
                    tbody {
                        @for tranche in &deal.tranches {
                            tr {
                                td { time datetime=(tranche.on) { (tranche.on) } }
                                td.amount { (money(&tranche.amount)) }
                                td { (tranche.note) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn terms(deal: &Partnership) -> Markup {
    html! {
        @if !deal.terms.is_empty() {
            p.meta { "Terms" }
            ul { @for term in &deal.terms { li { (term) } } }
        }
    }
}

/// `/companies/{ref}`: who the company is, its deals and its latest events.
pub fn company(company: &Company, deals: &[Partnership], events: &[Event]) -> Markup {
    html! {
        h1 { (company.name) }
        dl.facts {
            dt { "Kind" } dd { (words(company.kind.as_str())) }
            @if let Some(country) = &company.country {
                dt { "Country" } dd { (country) }
            }
            @if let Some(website) = &company.website {
                dt { "Website" } dd { a href=(website) rel="noopener noreferrer" { (website) } }
            }
        }
        @if !company.description.is_empty() {
            p.prose { (company.description) }
        }
        (tag_list(&company.tags))
        h2 { "Deals" }
        @if deals.is_empty() {
            p { "No deals recorded." }
        } @else {
            ul {
                @for deal in deals {
                    li {
                        a href=(partnership_href(&deal.slug)) { (deal.title) }
                        span.meta {
                            (dot()) (words(deal.kind.as_str())) (dot()) (words(deal.status.as_str()))
                            @if let Some(total) = &deal.total { (dot()) (money(total)) }
                        }
                    }
                }
            }
        }
        h2 { "Latest events" }
        (event_list(events, "No events name this company yet."))
    }
}

/// `/partnerships/{ref}`: the parties, the money, the terms and the timeline.
pub fn partnership(deal: &Partnership) -> Markup {
    html! {
        h1 { (deal.title) }
        (deal_facts(deal))
        h2 { "Parties" }
        (company_roles(&deal.parties))
        @if !deal.tranches.is_empty() {
            h2 { "Tranches" }
            (tranches(deal))
        }
        @if !deal.terms.is_empty() {
            h2 { "Terms" }
            ul { @for term in &deal.terms { li { (term) } } }
        }
        h2 { "Timeline" }
        (timeline(&deal.events))
        @if !deal.tags.is_empty() {
            h2 { "Tags" }
            (tag_list(&deal.tags))
        }
    }
}

fn timeline(events: &[TimelineEvent]) -> Markup {
    html! {
        @if events.is_empty() {
            p { "No events on this deal's timeline yet." }
        } @else {
            ol.timeline reversed {
                @for event in events {
                    li {
                        time datetime=(event.occurred_on) { (event.occurred_on) }
                        (dot())
                        a href=(event_href(&event.slug)) { (event.title) }
                    }
                }
            }
        }
    }
}

/// A page that is not there, or a request the pages cannot answer.
pub fn problem(heading: &str, detail: &str) -> Markup {
    html! {
        h1 { (heading) }
        p { (detail) }
        p { a href="/" { "Back to the latest events" } }
    }
}
