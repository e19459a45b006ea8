//! Atom and JSON Feed: what a feed reader gets, and its conditional requests.

use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, event, reference_story};

#[tokio::test]
async fn the_atom_feed_parses_and_holds_the_newest_matching_events() {
    let app = TestApp::new().await;
    let story = app.create_event(reference_story()).await;
    app.create_event(event("Older news", "2023-01-01", &["investment"], "minor"))
        .await;
    app.create_event(event("Unrelated", "2024-06-01", &["legal"], "minor"))
        .await;
    let res = app
        .get_with(
            "/v1/feeds/events.atom?tag=investment",
            &[("host", "events.example")],
        )
        .await;
    res.assert_status(StatusCode::OK);
    assert_eq!(res.header("content-type"), Some("application/atom+xml"));
    assert!(res.header("etag").is_some() && res.header("last-modified").is_some());
    let feed = atom_syndication::Feed::read_from(&res.body[..]).expect("a valid Atom document");
    assert_eq!(feed.title().as_str(), "Industry events");
    assert_eq!(
        feed.links()[0].href(),
        "http://events.example/v1/feeds/events.atom?tag=investment"
    );
    assert_eq!(feed.links()[0].rel(), "self");
    let titles: Vec<&str> = feed.entries().iter().map(|e| e.title().as_str()).collect();
    assert_eq!(
        titles,
        [
            "Amazon completes $4 billion investment in Anthropic",
            "Older news"
        ]
    );
    let entry = &feed.entries()[0];
    assert_eq!(
        entry.id(),
        format!("urn:uuid:{}", story["id"].as_str().unwrap())
    );
    assert_eq!(
        entry.links()[0].href(),
        format!(
            "http://events.example/events/{}",
            story["slug"].as_str().unwrap()
        )
    );
    assert_eq!(
        entry.published().unwrap().to_rfc3339(),
        "2024-03-27T00:00:00+00:00"
    );
    assert_eq!(
        entry.summary().unwrap().as_str(),
        story["summary"].as_str().unwrap()
    );
    let content = entry.content().unwrap().value().unwrap();
    assert!(content.contains("second investment") && content.contains("ties a leading AI lab"));
    let terms: Vec<&str> = entry.categories().iter().map(|c| c.term()).collect();
    assert!(terms.contains(&"cloud-computing"), "{terms:?}");
}

#[tokio::test]
async fn the_json_feed_has_every_required_member() {
    let app = TestApp::new().await;
    let story = app.create_event(reference_story()).await;
    let res = app.get("/v1/feeds/events.json").await;
    res.assert_status(StatusCode::OK);
    assert_eq!(res.header("content-type"), Some("application/feed+json"));
    let feed = res.json();
    assert_eq!(feed["version"], "https://jsonfeed.org/version/1.1");
    assert_eq!(feed["title"], "Industry events");
    assert!(
        feed["feed_url"]
            .as_str()
            .unwrap()
            .ends_with("/v1/feeds/events.json")
    );
    let items = feed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(
        item["id"],
        format!("urn:uuid:{}", story["id"].as_str().unwrap())
    );
    assert!(
        item["content_text"]
            .as_str()
            .unwrap()
            .contains("second investment")
    );
    assert_eq!(item["title"], story["title"]);
    assert_eq!(item["date_published"], "2024-03-27T00:00:00Z");
    assert_eq!(item["date_modified"], story["updated_at"]);
    assert_eq!(item["tags"], story["tags"]);
    assert!(
        item["url"]
            .as_str()
            .unwrap()
            .ends_with(story["slug"].as_str().unwrap())
    );
}

#[tokio::test]
async fn feeds_answer_304_while_unchanged_and_take_list_filters_and_limits() {
    let app = TestApp::new().await;
    for i in 0..55 {
        app.create_event(event(
            &format!("Item {i}"),
            "2024-01-01",
            &["many"],
            "minor",
        ))
        .await;
    }
    for path in ["/v1/feeds/events.json", "/v1/feeds/events.atom"] {
        let first = app.get(path).await;
        first.assert_status(StatusCode::OK);
        let etag = first.header("etag").unwrap().to_owned();
        let modified = first.header("last-modified").unwrap().to_owned();
        let same = app.get_with(path, &[("if-none-match", &etag)]).await;
        same.assert_status(StatusCode::NOT_MODIFIED);
        assert!(same.body.is_empty());
        assert_eq!(same.header("etag"), Some(etag.as_str()));
        app.get_with(path, &[("if-modified-since", &modified)])
            .await
            .assert_status(StatusCode::NOT_MODIFIED);
        app.get_with(
            path,
            &[("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT")],
        )
        .await
        .assert_status(StatusCode::OK);
    }
    let json_feed = |query: &'static str| {
        let app = &app;
        async move {
            let res = app.get(&format!("/v1/feeds/events.json{query}")).await;
            res.assert_status(StatusCode::OK);
            res.json()["items"].as_array().unwrap().len()
        }
    };
    assert_eq!(json_feed("").await, 50, "50 by default");
    let item = app.get("/v1/feeds/events.json?limit=1").await.json()["items"][0].clone();
    assert_eq!(
        item["content_text"], item["summary"],
        "an event with no long texts has its summary as content"
    );
    assert_eq!(json_feed("?limit=100").await, 55);
    assert_eq!(json_feed("?limit=3&tag=many").await, 3);
    assert_eq!(json_feed("?tag=none").await, 0);
    // A change to the feed's events moves its ETag.
    let before = app.get("/v1/feeds/events.json?limit=1").await;
    app.patch_json("/v1/events/item-54", json!({"title": "Item 54, corrected"}))
        .await
        .assert_status(StatusCode::OK);
    app.get_with(
        "/v1/feeds/events.json?limit=1",
        &[("if-none-match", before.header("etag").unwrap())],
    )
    .await
    .assert_status(StatusCode::OK);
    for (query, parameter) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=abc", "cursor"),
        ("sort=title", "sort"),
        ("tag=c%2B%2B", "tag"),
        ("company=nobody", "company"),
    ] {
        app.get(&format!("/v1/feeds/events.atom?{query}"))
            .await
            .assert_bad_param(parameter);
    }
}

#[tokio::test]
async fn event_slugs_cannot_take_the_words_of_routes_under_events() {
    let app = TestApp::new().await;
    let mut chosen = event("Anything", "2024-01-01", &[], "minor");
    chosen["slug"] = json!("stream");
    app.post_json("/v1/events", chosen)
        .await
        .assert_invalid_fields(&["slug"]);
    let derived = app
        .create_event(event("Stream", "2024-01-01", &[], "minor"))
        .await;
    let slug = derived["slug"].as_str().unwrap();
    assert!(
        slug.starts_with("stream-") && slug.len() > "stream-".len(),
        "{slug}"
    );
    app.get(&format!("/v1/events/{slug}"))
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn characters_xml_cannot_hold_are_left_out_of_the_atom_feed() {
    let app = TestApp::new().await;
    let mut story = event(
        "Bell\u{7} and\u{12} tab\tkept",
        "2024-01-01",
        &["ai"],
        "minor",
    );
    story["summary"] = json!("Nul-like \u{1} controls \u{ffff} gone");
    app.create_event(story).await;
    let res = app.get("/v1/feeds/events.atom").await;
    res.assert_status(StatusCode::OK);
    let text = String::from_utf8(res.body.clone()).unwrap();
    assert!(
        !text.contains(['\u{7}', '\u{12}', '\u{1}', '\u{ffff}']),
        "{text}"
    );
    let feed = atom_syndication::Feed::read_from(&res.body[..]).expect("a valid Atom document");
    assert_eq!(feed.entries()[0].title().as_str(), "Bell and tab\tkept");
    assert_eq!(
        feed.entries()[0].summary().unwrap().as_str(),
        "Nul-like  controls  gone"
    );
}

#[tokio::test]
async fn an_event_without_a_summary_has_no_empty_summary_element() {
    let app = TestApp::new().await;
    let mut story = event("No summary", "2024-01-01", &["ai"], "minor");
    story["summary"] = json!("");
    app.create_event(story).await;
    let res = app.get("/v1/feeds/events.atom").await;
    let text = String::from_utf8(res.body.clone()).unwrap();
    assert!(!text.contains("<summary"), "{text}");
    let feed = atom_syndication::Feed::read_from(&res.body[..]).expect("a valid Atom document");
    assert!(feed.entries()[0].content().is_some());
}
