//! The frame every page shares: head, site header with search, main landmark, footer.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::assets;

/// What a page puts in the shared frame.
pub struct Frame<'a> {
    /// The document title (the site's name is appended).
    pub title: &'a str,
    /// One sentence describing the page, for search engines and link previews.
    pub description: &'a str,
    /// Feeds of the page's content, as `(title, atom URL)`.
    pub feed: Option<(&'a str, String)>,
    /// The JSON this page shows, for people who want the API's view.
    pub json: Option<String>,
    /// Whether the page runs the live-list script.
    pub live: bool,
    /// The search box's current text.
    pub query: &'a str,
}

/// The site's name.
pub const SITE: &str = "Industry Events";

/// The whole document around `body`.
pub fn page(frame: &Frame<'_>, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (frame.title) " · " (SITE) }
                meta name="description" content=(frame.description);
                link rel="stylesheet" href=(assets::url("style.css"));
                link rel="icon" type="image/svg+xml" href=(assets::url("icon.svg"));
                @if let Some((title, href)) = &frame.feed {
                    link rel="alternate" type="application/atom+xml" title=(title) href=(href);
                }
                @if let Some(json) = &frame.json {
                    link rel="alternate" type="application/json" href=(json);
                }
                @if frame.live {
                    script src=(assets::url("live.js")) defer {}
                }
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.site {
                    div.wrap {
                        a.brand href="/" { (SITE) }
                        nav aria-label="Site" {
                            ul {
                                li { a href="/" { "Latest" } }
                                li { a href="/docs" { "API docs" } }
                            }
                        }
                        form.search role="search" action="/" method="get" {
                            label.visually-hidden for="q" { "Search events" }
                            input #q type="search" name="q" value=(frame.query) maxlength="200"
                                placeholder="Search events" autocomplete="off";
                            button type="submit" { "Search" }
                        }
                    }
                }
                main #main.wrap tabindex="-1" {
                    (body)
                }
                footer.site {
                    div.wrap {
                        p {
                            "Every page here is also JSON: see the "
                            a href="/docs" { "API documentation" }
                            @if let Some(json) = &frame.json {
                                " or " a href=(json) { "this record's JSON" }
                            }
                            "."
                        }
                    }
                }
            }
        }
    }
}

/// A non-breaking "·" separator between facts on one line.
pub fn dot() -> PreEscaped<&'static str> {
    PreEscaped(" &middot; ")
}
