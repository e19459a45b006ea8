//! Exports: every matching record, NDJSON or CSV, from one snapshot, with the position
//! to go on from; and the `export` command.

use std::process::Stdio;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, event};
use crate::ops::binary;

fn csv_rows(body: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

async fn linked_world(app: &TestApp) -> Value {
    app.post_json(
        "/v1/companies",
        json!({"name": "Amazon", "kind": "cloud_provider", "tags": ["cloud"]}),
    )
    .await
    .assert_status(StatusCode::CREATED);
    app.post_json(
        "/v1/companies",
        json!({"name": "Anthropic", "kind": "ai_lab", "description": "Makes Claude, and more."}),
    )
    .await
    .assert_status(StatusCode::CREATED);
    let mut story = event(
        "Amazon invests in Anthropic",
        "2024-03-27",
        &["ai", "investment"],
        "major",
    );
    story["summary"] = json!("Amazon, again: $2.75 billion.\nA second line.");
    story["companies"] = json!([{"company": "amazon", "role": "investor"}, {"company": "anthropic", "role": "investee"}]);
    story["sources"] = json!([{"url": "https://example.com/a", "title": "A, \"quoted\""}]);
    let story = app.create_event(story).await;
    app.create_event(event("Older AI news", "2023-01-01", &["ai"], "minor"))
        .await;
    app.create_event(event("Legal news", "2024-06-01", &["legal"], "minor"))
        .await;
    story
}

#[tokio::test]
async fn events_export_as_ndjson_from_one_snapshot_with_the_position_to_go_on_from() {
    let app = TestApp::new().await;
    let story = linked_world(&app).await;
    let res = app.get("/v1/events/export?tag=ai").await;
    res.assert_status(StatusCode::OK);
    assert_eq!(res.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(
        res.header("content-disposition"),
        Some("attachment; filename=\"events.ndjson\"")
    );
    let lines: Vec<Value> = std::str::from_utf8(&res.body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "newest first, only the tag's");
    assert_eq!(lines[0], story, "each line is the event as a list shows it");
    assert_eq!(lines[1]["title"], "Older AI news");
    let position = res.header("next-updated-since").unwrap().to_owned();

    // The hand-over: a poll from the export's position sees what came after, only.
    app.create_event(event("After the export", "2024-07-01", &["ai"], "minor"))
        .await;
    let since: String = form_urlencoded::byte_serialize(position.as_bytes()).collect();
    let after = app
        .get(&format!("/v1/events?tag=ai&updated_since={since}"))
        .await
        .json();
    let titles: Vec<&str> = after["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["After the export"]);

    // Compressed on request, streamed all the same.
    let gzipped = app
        .get_with(
            "/v1/events/export?format=csv",
            &[("accept-encoding", "gzip")],
        )
        .await;
    gzipped.assert_status(StatusCode::OK);
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    assert!(gzipped.body.starts_with(&[0x1f, 0x8b]), "a gzip stream");

    // Nothing matches: an empty body, still with its position.
    let none = app.get("/v1/events/export?tag=nothing").await;
    none.assert_status(StatusCode::OK);
    assert!(none.body.is_empty());
    assert!(none.header("next-updated-since").is_some());
}

#[tokio::test]
async fn events_export_as_csv_in_the_import_columns() {
    let app = TestApp::new().await;
    let story = linked_world(&app).await;
    let res = app
        .get("/v1/events/export?format=csv&company=anthropic")
        .await;
    res.assert_status(StatusCode::OK);
    assert_eq!(res.header("content-type"), Some("text/csv; charset=utf-8"));
    let rows = csv_rows(&res.body);
    assert_eq!(
        rows[0],
        [
            "id",
            "slug",
            "title",
            "occurred_on",
            "category",
            "significance",
            "summary",
            "what_happened",
            "why_it_matters",
            "tags",
            "sources",
            "companies",
            "partnerships"
        ]
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    let row = &rows[1];
    assert_eq!(row[0], story["id"].as_str().unwrap());
    assert_eq!(row[2], "Amazon invests in Anthropic");
    assert_eq!(row[5], "major");
    assert_eq!(row[6], "Amazon, again: $2.75 billion.\nA second line.");
    assert_eq!(row[9], "ai;investment");
    let sources: Value = serde_json::from_str(&row[10]).unwrap();
    assert_eq!(sources, story["sources"]);
    let companies: Value = serde_json::from_str(&row[11]).unwrap();
    assert_eq!(
        companies,
        json!([{"company": "amazon", "role": "investor"}, {"company": "anthropic", "role": "investee"}]),
        "the input form, as an import reads it"
    );
    assert_eq!(row[12], "[]");
}

#[tokio::test]
async fn companies_export_by_name_in_both_formats_and_bad_requests_are_400() {
    let app = TestApp::new().await;
    linked_world(&app).await;
    let ndjson = app.get("/v1/companies/export").await;
    ndjson.assert_status(StatusCode::OK);
    let names: Vec<String> = std::str::from_utf8(&ndjson.body)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(names, ["Amazon", "Anthropic"]);
    let csv = app.get("/v1/companies/export?format=csv&tag=cloud").await;
    csv.assert_status(StatusCode::OK);
    let rows = csv_rows(&csv.body);
    assert_eq!(
        rows[0],
        [
            "id",
            "slug",
            "name",
            "kind",
            "country",
            "website",
            "description",
            "tags"
        ]
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][1], "amazon");
    assert_eq!(rows[1][7], "cloud");

    for (uri, parameter) in [
        ("/v1/events/export?format=xml", "format"),
        ("/v1/events/export?limit=10", "limit"),
        ("/v1/events/export?cursor=x", "cursor"),
        ("/v1/events/export?role=investor", "role"),
        ("/v1/events/export?company=nobody", "company"),
        ("/v1/companies/export?format=json", "format"),
        ("/v1/companies/export?kind=planet", "kind"),
    ] {
        app.get(uri).await.assert_bad_param(parameter);
    }
    // The route words are not slugs.
    app.post_json(
        "/v1/companies",
        json!({"name": "X", "kind": "other", "slug": "export"}),
    )
    .await
    .assert_invalid_fields(&["slug"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_command_writes_the_records_and_says_where_to_go_on() {
    let app = TestApp::new().await;
    linked_world(&app).await;
    let output = binary(app.database())
        .args(["export", "events", "--format", "csv", "--tag", "ai"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows = csv_rows(&output.stdout);
    assert_eq!(rows.len(), 3, "a header and two events");
    assert_eq!(rows[1][2], "Amazon invests in Anthropic");
    let said = String::from_utf8(output.stderr).unwrap();
    assert!(
        said.contains("exported 2 events") && said.contains("updated_since="),
        "{said}"
    );

    let output = binary(app.database())
        .args(["export", "companies", "--filter", "kind=ai_lab"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(output.status.success());
    let line: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(line["slug"], "anthropic");

    let output = binary(app.database())
        .args(["export", "events", "--filter", "colour=red"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("colour"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_waits_for_a_reader_that_pauses_longer_than_an_idle_transaction_may() {
    use axum::body::Body;
    use axum::http::{Method, Request, header};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let app = TestApp::new().await;
    let body: String = (0..1_500)
        .map(|n| {
            format!(
                "{}\n",
                event(&format!("Paused {n}"), "2024-01-01", &["paused"], "minor")
            )
        })
        .collect();
    let imported = app
        .send(
            app.authed(Method::POST, "/v1/events/import")
                .header(header::CONTENT_TYPE, "application/x-ndjson")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    imported.assert_status(StatusCode::CREATED);
    let response = app
        .router
        .clone()
        .oneshot(
            Request::get("/v1/events/export")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut read = body
        .frame()
        .await
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap()
        .to_vec();
    // Longer than the pool's idle-in-transaction limit (10 s), with most of the export
    // still to be read from the database.
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            read.extend_from_slice(&data);
        }
    }
    let lines: Vec<Value> = read
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 1_500);
}

#[tokio::test]
async fn exports_of_events_and_companies_one_after_another_each_read_their_own_columns() {
    let app = TestApp::new().await;
    linked_world(&app).await;
    // Over the pool's connections, so one connection reads both kinds in turn.
    for kind in [
        "events",
        "companies",
        "companies",
        "events",
        "events",
        "events",
        "companies",
    ]
    .iter()
    .cycle()
    .take(21)
    {
        let res = app.get(&format!("/v1/{kind}/export?format=csv")).await;
        res.assert_status(StatusCode::OK);
        let rows = csv_rows(&res.body);
        assert!(rows.len() > 1, "{kind}: {rows:?}");
    }
}
