//! Pages for people: each page answers with its record's content, the security policy,
//! its assets from the binary, and no address outside the service but a record's own.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestResponse, event, reference_story};

const CSP: &str = "default-src 'self'";

async fn company(app: &TestApp, body: Value) {
    app.post_json("/v1/companies", body)
        .await
        .assert_status(StatusCode::CREATED);
}

/// Amazon and Anthropic, their deal, and the reference story naming both.
async fn the_reference_graph(app: &TestApp) -> Value {
    company(
        app,
        json!({"slug": "amazon", "name": "Amazon", "kind": "cloud_provider", "country": "US",
               "website": "https://www.aboutamazon.com", "description": "Sells things and rents computers."}),
    )
    .await;
    company(
        app,
        json!({"slug": "anthropic", "name": "Anthropic", "kind": "ai_lab", "country": "US"}),
    )
    .await;
    app.post_json(
        "/v1/partnerships",
        json!({
            "title": "Amazon-Anthropic strategic collaboration",
            "kind": "investment",
            "status": "completed",
            "parties": [{"company": "amazon", "role": "investor"}, {"company": "anthropic", "role": "investee"}],
            "announced_on": "2023-09-25",
            "tranches": [
                {"amount": {"amount": "1250000000", "currency": "USD"}, "on": "2023-09-25", "note": "initial investment"},
                {"amount": {"amount": "2750000000", "currency": "USD"}, "on": "2024-03-27", "note": "completes the commitment"}
            ],
            "terms": ["AWS is the primary cloud provider", "Trainium chips for training"],
            "exclusive": false,
            "tags": ["investment"]
        }),
    )
    .await
    .assert_status(StatusCode::CREATED);
    let mut story = reference_story();
    story["companies"] = json!([{"company": "amazon", "role": "investor"}, {"company": "anthropic", "role": "investee"}]);
    story["partnerships"] = json!(["amazon-anthropic-strategic-collaboration"]);
    app.create_event(story).await
}

fn html(res: &TestResponse) -> String {
    String::from_utf8(res.body.clone()).expect("utf-8 HTML")
}

/// A page as every page must be: 200, HTML, the policy, an ETag; its text.
#[track_caller]
fn page(res: &TestResponse) -> String {
    res.assert_status(StatusCode::OK);
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(res.header("content-security-policy"), Some(CSP));
    assert!(res.header("etag").is_some());
    let body = html(res);
    assert!(
        body.starts_with("<!DOCTYPE html><html lang=\"en\">"),
        "{body}"
    );
    assert!(
        body.contains("<main class=\"wrap\" id=\"main\""),
        "a main landmark: {body}"
    );
    assert!(
        body.contains("<label class=\"visually-hidden\" for=\"q\">Search events</label>"),
        "the search box is labelled: {body}"
    );
    body
}

/// Every `href` and `src` value of a page, unescaped.
fn links(body: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in [" href=\"", " src=\""] {
        let mut rest = body;
        while let Some(at) = rest.find(attribute) {
            rest = &rest[at + attribute.len()..];
            let end = rest.find('"').expect("a closing quote");
            found.push(rest[..end].replace("&amp;", "&"));
            rest = &rest[end..];
        }
    }
    found
}

/// Every link of `body` stays on the service except `outside`, the record's own
/// addresses; the stylesheet, script and icon it names are served from the binary.
async fn assert_self_contained(app: &TestApp, body: &str, outside: &[&str]) {
    for link in links(body) {
        if link.starts_with("http://") || link.starts_with("https://") {
            assert!(
                outside.contains(&link.as_str()),
                "an outside address: {link}"
            );
        } else {
            assert!(
                link.starts_with('/') || link.starts_with('#'),
                "not a path: {link}"
            );
        }
        if link.starts_with("/assets/") {
            let asset = app.get(&link).await;
            asset.assert_status(StatusCode::OK);
            assert_eq!(
                asset.header("cache-control"),
                Some("public, max-age=31536000, immutable")
            );
            let text = html(&asset);
            assert!(
                !text.contains("http://") && !text.contains("https://") || link.ends_with(".svg"),
                "{link} names an outside address"
            );
        }
    }
    for asset in [".css\"", ".js\"", ".svg\""] {
        if asset == ".js\"" && !body.contains("data-since") {
            continue;
        }
        assert!(
            body.contains(asset),
            "the page links its {asset} asset: {body}"
        );
    }
}

#[tokio::test]
async fn the_event_page_tells_the_story_with_its_companies_deal_sources_and_tags() {
    let app = TestApp::new().await;
    let story = the_reference_graph(&app).await;
    let slug = story["slug"].as_str().unwrap();
    let res = app.get(&format!("/events/{slug}")).await;
    let body = page(&res);
    for text in [
        "<title>Amazon completes $4 billion investment in Anthropic · Industry Events</title>",
        "<h1>Amazon completes $4 billion investment in Anthropic</h1>",
        "<time datetime=\"2024-03-27\">2024-03-27</time>",
        "Amazon invested a further $2.75 billion in Anthropic",
        "<h2>What happened</h2>",
        "Amazon made its second investment in Anthropic, of $2.75 billion.",
        "<h2>Why it matters</h2>",
        "It ties a leading AI lab to AWS for cloud and chips.",
        "<a href=\"/companies/amazon\">Amazon</a> (investor)",
        "<a href=\"/companies/anthropic\">Anthropic</a> (investee)",
        "<a href=\"/partnerships/amazon-anthropic-strategic-collaboration\">Amazon-Anthropic strategic collaboration</a>",
        "USD 4,000,000,000",
        "USD 2,750,000,000",
        "completes the commitment",
        "AWS is the primary cloud provider",
        "Amazon newsroom",
        "<a href=\"/tags/cloud-computing\">cloud-computing</a>",
    ] {
        assert!(body.contains(text), "missing {text:?} in {body}");
    }
    assert_self_contained(
        &app,
        &body,
        &["https://www.aboutamazon.com/news/company-news/amazon-anthropic-ai-investment"],
    )
    .await;
    // By id too, and a 304 for the same page.
    let by_id = app
        .get(&format!("/events/{}", story["id"].as_str().unwrap()))
        .await;
    assert_eq!(page(&by_id), body);
    let etag = res.header("etag").unwrap();
    let again = app
        .get_with(&format!("/events/{slug}"), &[("if-none-match", etag)])
        .await;
    again.assert_status(StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn text_from_records_is_escaped() {
    let app = TestApp::new().await;
    let mut hostile = event(
        "<script>alert(1)</script> & \"quotes\"",
        "2024-01-02",
        &["ai"],
        "minor",
    );
    hostile["summary"] = json!("<img src=x onerror=alert(1)>");
    let created = app.create_event(hostile).await;
    let body = page(
        &app.get(&format!("/events/{}", created["slug"].as_str().unwrap()))
            .await,
    );
    assert!(!body.contains("<script>alert"), "{body}");
    assert!(!body.contains("<img src=x"), "{body}");
    assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"));
    assert!(body.contains("&lt;img src=x onerror=alert(1)&gt;"));
}

#[tokio::test]
async fn the_company_page_lists_its_deals_and_events() {
    let app = TestApp::new().await;
    let story = the_reference_graph(&app).await;
    app.create_event(event("Unrelated news", "2024-05-01", &["legal"], "minor"))
        .await;
    let body = page(&app.get("/companies/amazon").await);
    for text in [
        "<h1>Amazon</h1>",
        "cloud provider",
        "Sells things and rents computers.",
        "<a href=\"https://www.aboutamazon.com\" rel=\"noopener noreferrer\">",
        "<a href=\"/partnerships/amazon-anthropic-strategic-collaboration\">",
        "USD 4,000,000,000",
        &format!(
            "<a href=\"/events/{}\">Amazon completes $4 billion investment in Anthropic</a>",
            story["slug"].as_str().unwrap()
        ),
    ] {
        assert!(body.contains(text), "missing {text:?} in {body}");
    }
    assert!(!body.contains("Unrelated news"), "{body}");
    assert_self_contained(&app, &body, &["https://www.aboutamazon.com"]).await;
}

#[tokio::test]
async fn the_partnership_page_has_parties_tranches_terms_and_timeline() {
    let app = TestApp::new().await;
    let story = the_reference_graph(&app).await;
    let body = page(
        &app.get("/partnerships/amazon-anthropic-strategic-collaboration")
            .await,
    );
    for text in [
        "<h1>Amazon-Anthropic strategic collaboration</h1>",
        "<dt>Status</dt><dd>completed</dd>",
        "<a href=\"/companies/anthropic\">Anthropic</a> (investee)",
        "<td class=\"amount\">USD 1,250,000,000</td>",
        "initial investment",
        "Trainium chips for training",
        "<h2>Timeline</h2>",
        &format!(
            "<a href=\"/events/{}\">Amazon completes $4 billion investment in Anthropic</a>",
            story["slug"].as_str().unwrap()
        ),
    ] {
        assert!(body.contains(text), "missing {text:?} in {body}");
    }
    assert_self_contained(&app, &body, &[]).await;
}

#[tokio::test]
async fn the_tag_page_shows_the_chart_and_latest_events_and_starts_its_stream_where_it_was_read() {
    let app = TestApp::new().await;
    app.create_event(event("Older", "2023-01-05", &["investment"], "minor"))
        .await;
    app.create_event(reference_story()).await;
    app.create_event(event("Elsewhere", "2024-06-01", &["legal"], "minor"))
        .await;
    let body = page(&app.get("/tags/investment").await);
    assert!(body.contains("<h1>Events tagged investment</h1>"));
    let newest = body
        .find("Amazon completes $4 billion investment in Anthropic")
        .expect("the story");
    let older = body.find(">Older</a>").expect("the older event");
    assert!(newest < older, "newest first");
    assert!(!body.contains("Elsewhere"));
    let chart = links(&body)
        .into_iter()
        .find(|l| l.starts_with("/v1/events/timeline.svg"))
        .expect("the chart");
    assert_eq!(
        chart,
        "/v1/events/timeline.svg?tag=investment&interval=month"
    );
    let svg = app.get(&chart).await;
    svg.assert_status(StatusCode::OK);
    assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
    assert!(body.contains("role=\"status\" aria-live=\"polite\""));
    assert_self_contained(&app, &body, &[]).await;

    // The list's position: a change after the page was read is exactly what a stream
    // (or a poll) from it hands over.
    let since = body
        .split("data-since=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("data-since");
    let later = app
        .create_event(event("Later", "2024-07-01", &["investment"], "minor"))
        .await;
    let changes = app
        .get(&format!(
            "/v1/events?tag=investment&updated_since={}",
            crate::helpers::encode(since)
        ))
        .await;
    changes.assert_status(StatusCode::OK);
    assert_eq!(
        crate::helpers::ids(&changes.json()),
        [later["id"].as_str().unwrap()]
    );
}

#[tokio::test]
async fn a_tag_is_found_at_its_normalised_address() {
    let app = TestApp::new().await;
    let res = app.get("/tags/Cloud%20Computing").await;
    res.assert_status(StatusCode::PERMANENT_REDIRECT);
    assert_eq!(res.header("location"), Some("/tags/cloud-computing"));
    // A tag without events is a page that waits for them.
    let body = page(&app.get("/tags/cloud-computing").await);
    assert!(body.contains("No events with this tag yet"));
}

#[tokio::test]
async fn the_home_page_has_tags_latest_events_search_and_the_docs() {
    let app = TestApp::new().await;
    let story = the_reference_graph(&app).await;
    app.create_event(event(
        "Chips export rules",
        "2024-04-01",
        &["policy"],
        "minor",
    ))
    .await;
    let body = page(&app.get("/").await);
    for text in [
        "<a href=\"/docs\">",
        "<a href=\"/tags/investment\">investment <span class=\"count\">(1)</span></a>",
        "Chips export rules",
        &format!("/events/{}", story["slug"].as_str().unwrap()),
        "<form class=\"search\" role=\"search\" action=\"/\" method=\"get\">",
    ] {
        assert!(body.contains(text), "missing {text:?} in {body}");
    }
    assert_self_contained(&app, &body, &[]).await;

    let found = page(&app.get("/?q=anthropic").await);
    assert!(found.contains("Events matching “anthropic”"));
    assert!(found.contains("Amazon completes $4 billion"));
    assert!(!found.contains("Chips export rules"));
    assert!(
        found.contains("value=\"anthropic\""),
        "the box keeps the search"
    );
}

#[tokio::test]
async fn a_page_that_cannot_be_shown_is_a_page_with_the_right_status() {
    let app = TestApp::new().await;
    for uri in [
        "/events/no-such-event",
        "/events/NOT%20A%20SLUG",
        "/companies/nobody",
        "/partnerships/nothing",
        "/tags/%20",
    ] {
        let res = app.get(uri).await;
        res.assert_status(StatusCode::NOT_FOUND);
        assert_eq!(
            res.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{uri}"
        );
        assert_eq!(res.header("content-security-policy"), Some(CSP), "{uri}");
        assert!(html(&res).contains("<h1>Not found</h1>"), "{uri}");
    }
    for uri in ["/?q=", "/?tag=ai"] {
        let res = app.get(uri).await;
        res.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(
            res.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{uri}"
        );
        assert!(html(&res).contains("<h1>Bad Request</h1>"), "{uri}");
    }
    let res = app.get("/assets/style.0000.css").await;
    res.assert_status(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pages_follow_the_read_rule_and_assets_do_not_need_it() {
    let app = TestApp::with_config(|c| c.read_requires_token = true).await;
    let res = app.get("/").await;
    res.assert_status(StatusCode::UNAUTHORIZED);
    let res = app
        .get_with(
            "/",
            &[("authorization", &format!("Bearer {}", app.write_token))],
        )
        .await;
    let body = page(&res);
    let css = links(&body)
        .into_iter()
        .find(|l| l.ends_with(".css"))
        .expect("the stylesheet");
    app.get(&css).await.assert_status(StatusCode::OK);
}
