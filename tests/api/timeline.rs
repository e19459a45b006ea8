//! Timelines: counts per bucket equal to the list's, zero-filled, bounded; the chart.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, event};

async fn world(app: &TestApp) {
    for (title, day, tags) in [
        ("January one", "2024-01-03", vec!["ai"]),
        ("January two", "2024-01-31", vec!["ai", "cloud"]),
        ("March", "2024-03-15", vec!["ai"]),
        ("April, not ai", "2024-04-01", vec!["legal"]),
        ("May", "2024-05-20", vec!["ai"]),
    ] {
        app.create_event(event(title, day, &tags, "minor")).await;
    }
}

fn counts(body: &Value) -> Vec<(String, i64)> {
    body["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["start"].as_str().unwrap().to_owned(),
                b["count"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_timeline_counts_what_the_list_returns_with_every_bucket_present() {
    let app = TestApp::new().await;
    world(&app).await;
    let res = app.get("/v1/events/timeline?tag=ai").await;
    res.assert_status(StatusCode::OK);
    let body = res.json();
    assert_eq!(body["interval"], "month");
    assert_eq!(body["from"], "2024-01-01");
    assert_eq!(body["to"], "2024-05-31");
    assert_eq!(body["total"], 4);
    let month = |m: &str, n: i64| (format!("2024-{m}-01"), n);
    assert_eq!(
        counts(&body),
        [
            month("01", 2),
            month("02", 0),
            month("03", 1),
            month("04", 0),
            month("05", 1)
        ]
    );
    // The list agrees, between the answer's bounds.
    let listed = app
        .get("/v1/events?tag=ai&from=2024-01-01&to=2024-05-31&limit=100")
        .await
        .json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 4);

    // The same by tag path, any other filter applying; a week starts on Monday.
    let weeks = app
        .get("/v1/tags/ai/timeline?interval=week&from=2024-01-01&to=2024-01-31")
        .await
        .json();
    assert_eq!(weeks["from"], "2024-01-01");
    assert_eq!(weeks["to"], "2024-02-04");
    assert_eq!(weeks["buckets"].as_array().unwrap().len(), 5);
    assert_eq!(weeks["total"], 2);
    let two_tags = app
        .get("/v1/tags/ai/timeline?tag=cloud&interval=year")
        .await
        .json();
    assert_eq!(counts(&two_tags), [("2024-01-01".to_owned(), 1)]);
    // A deleted event is counted nowhere, by tag alone or with other filters.
    app.delete_with("/v1/events/may", &[])
        .await
        .assert_status(StatusCode::NO_CONTENT);
    for uri in [
        "/v1/tags/ai/timeline",
        "/v1/events/timeline?tag=ai",
        "/v1/events/timeline?tag=ai&category=industry",
    ] {
        assert_eq!(app.get(uri).await.json()["total"], 3, "{uri}");
    }
    let none = app.get("/v1/events/timeline?tag=nothing").await.json();
    assert_eq!(
        none,
        json!({"interval": "month", "from": null, "to": null, "total": 0, "buckets": []})
    );
}

#[tokio::test]
async fn timelines_are_bounded_conditional_and_named_in_their_errors() {
    let app = TestApp::new().await;
    world(&app).await;
    let first = app.get("/v1/events/timeline?interval=quarter").await;
    first.assert_status(StatusCode::OK);
    let etag = first.header("etag").unwrap().to_owned();
    app.get_with(
        "/v1/events/timeline?interval=quarter",
        &[("if-none-match", &etag)],
    )
    .await
    .assert_status(StatusCode::NOT_MODIFIED);
    app.create_event(event("June", "2024-06-01", &["ai"], "minor"))
        .await;
    let changed = app
        .get_with(
            "/v1/events/timeline?interval=quarter",
            &[("if-none-match", &etag)],
        )
        .await;
    changed.assert_status(StatusCode::OK);
    assert_eq!(changed.json()["total"], 6);

    for (uri, parameter) in [
        ("/v1/events/timeline?interval=hour", "interval"),
        (
            "/v1/events/timeline?interval=day&from=2000-01-01&to=2024-01-01",
            "interval",
        ),
        ("/v1/events/timeline?limit=5", "limit"),
        ("/v1/events/timeline?from=2024-02-01&to=2024-01-01", "from"),
        ("/v1/tags/c%2B%2B/timeline", "tag"),
        ("/v1/events/timeline.svg?interval=hour", "interval"),
    ] {
        app.get(uri).await.assert_bad_param(parameter);
    }
    let thousand = app
        .get("/v1/events/timeline?interval=day&from=2024-01-01&to=2026-09-26")
        .await;
    thousand.assert_status(StatusCode::OK);
    assert_eq!(thousand.json()["buckets"].as_array().unwrap().len(), 1000);
}

#[tokio::test]
async fn the_chart_is_svg_with_one_titled_bar_per_bucket() {
    let app = TestApp::new().await;
    world(&app).await;
    let res = app.get("/v1/events/timeline.svg?tag=ai").await;
    res.assert_status(StatusCode::OK);
    assert_eq!(res.header("content-type"), Some("image/svg+xml"));
    assert!(res.header("etag").is_some());
    let text = std::str::from_utf8(&res.body).unwrap();
    // Well-formed XML, walked with a real parser.
    let mut reader = quick_xml::Reader::from_str(text);
    let (mut bars, mut titles, mut depth_ok) = (0, Vec::new(), true);
    let mut in_bar = false;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(e)) if e.name().as_ref() == b"rect" => {
                bars += 1;
                in_bar = true;
            }
            Ok(quick_xml::events::Event::End(e)) if e.name().as_ref() == b"rect" => in_bar = false,
            Ok(quick_xml::events::Event::Text(t)) if in_bar => {
                titles.push(String::from_utf8(t.to_vec()).unwrap());
            }
            Ok(quick_xml::events::Event::Eof) => break,
            Err(e) => {
                depth_ok = false;
                eprintln!("{e}");
                break;
            }
            _ => {}
        }
    }
    assert!(depth_ok, "the SVG is not well-formed: {text}");
    assert_eq!(bars, 5, "one bar per month, January to May");
    assert_eq!(titles[0], "2024-01: 2 events");
    assert_eq!(titles[1], "2024-02: 0 events");
    assert!(text.contains("prefers-color-scheme:dark"));
    assert!(text.contains("Events tagged ai per month"));
    assert!(!text.contains("http://") || text.contains("xmlns=\"http://www.w3.org/2000/svg\""));
}
