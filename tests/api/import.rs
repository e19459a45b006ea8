//! Imports: NDJSON and CSV, atomic and partial, each conflict rule, bad records named
//! by line and field, limits, idempotency, and an export that imports back unchanged.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, TestResponse, amazon_and_anthropic, amazon_anthropic_deal,
    assert_links_as_the_database_renders_them, count_statements, event, ids, reference_story,
};
use industry_events::model::Scope;

const NDJSON: &str = "application/x-ndjson";
const CSV: &str = "text/csv; charset=utf-8";

async fn import(app: &TestApp, path: &str, content_type: &str, body: &str) -> TestResponse {
    import_with(app, path, content_type, body, &[]).await
}

async fn import_with(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> TestResponse {
    let mut request = app
        .authed(Method::POST, path)
        .header(header::CONTENT_TYPE, content_type);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.send(request.body(Body::from(body.to_owned())).unwrap())
        .await
}

/// Under `on_conflict=error`, records that repeat stored ones are each named (by the
/// key that names the stored one) and the rest of their batch is still written together,
/// not a record at a time; a record refused for another reason beside them is named too.
#[tokio::test]
async fn a_partial_import_repeating_stored_records_names_each_and_stores_the_rest_together() {
    let app = TestApp::new().await;
    amazon_and_anthropic(&app).await;
    let id = |n: u32| format!("0193f1a0-0000-7000-8000-0000{n:08x}");
    // Every record has its slug; every tenth has its id too. Every fifth is stored
    // first: those ending in 0 are then matched by id, those ending in 5 by slug.
    let record = |n: u32| {
        let mut record = event(&format!("Record {n}"), "2024-01-01", &["ai"], "minor");
        record["slug"] = json!(format!("record-{n}"));
        record["companies"] = json!([{"company": "amazon", "role": "investor"}]);
        if n.is_multiple_of(10) {
            record["id"] = json!(id(n));
        }
        record
    };
    let stored: Vec<Value> = (0..300u32)
        .filter(|n| n.is_multiple_of(5))
        .map(record)
        .collect();
    import(&app, "/v1/events/import", NDJSON, &ndjson(&stored))
        .await
        .assert_status(StatusCode::CREATED);

    let all: Vec<Value> = (0..300).map(record).collect();
    let count = count_statements();
    let res = import(
        &app,
        "/v1/events/import?mode=partial",
        NDJSON,
        &ndjson(&all),
    )
    .await;
    let statements = count.get();
    drop(count);
    res.assert_status(StatusCode::OK);
    let report = res.json();
    assert_eq!(report["created"], 240);
    assert_eq!(report["failed"], 60);
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 60);
    for (error, n) in errors
        .iter()
        .zip((0..300u32).filter(|n| n.is_multiple_of(5)))
    {
        assert_eq!(error["line"], n + 1, "{error}");
        let (field, named) = if n.is_multiple_of(10) {
            ("id", id(n))
        } else {
            ("slug", format!("record-{n}"))
        };
        assert_eq!(error["field"], field, "{error}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("event `{named}` exists (on_conflict=error")),
            "{message}"
        );
    }
    // Two batches of a few statements each, not several statements a record.
    assert!(statements < 80, "{statements} statements for 300 records");
    let stored_again = app.get("/v1/events/record-299").await.json();
    assert_eq!(stored_again["companies"][0]["slug"], "amazon");

    // Beside them, a new record naming an unknown company: its batch's new records go
    // the slow way, which names it, and the others are stored.
    let mut more: Vec<Value> = (300..310).map(record).collect();
    more.push(record(0));
    more[3]["companies"] = json!([{"company": "nobody", "role": "investor"}]);
    let res = import(
        &app,
        "/v1/events/import?mode=partial",
        NDJSON,
        &ndjson(&more),
    )
    .await;
    res.assert_status(StatusCode::OK);
    let report = res.json();
    assert_eq!(report["created"], 9);
    assert_eq!(report["failed"], 2);
    assert_eq!(report["errors"][0]["line"], 4);
    assert_eq!(report["errors"][0]["field"], "companies[0].company");
    assert_eq!(report["errors"][1]["line"], 11);
    assert_eq!(report["errors"][1]["field"], "id");
    assert_eq!(
        app.get("/v1/events/record-303").await.status,
        StatusCode::NOT_FOUND
    );
    app.get("/v1/events/record-309")
        .await
        .assert_status(StatusCode::OK);
    assert_links_as_the_database_renders_them(&app.db).await;
}

fn ndjson(records: &[Value]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

/// Posts `records` as NDJSON to the events import with `on_conflict=update`.
async fn update_events(app: &TestApp, records: &[Value]) -> TestResponse {
    import(
        app,
        "/v1/events/import?on_conflict=update",
        NDJSON,
        &ndjson(records),
    )
    .await
}

/// Copies of `records`, each changed by `change` (given its index).
fn changed(records: &[Value], change: impl Fn(usize, &mut Value)) -> Vec<Value> {
    records
        .iter()
        .enumerate()
        .map(|(n, record)| {
            let mut record = record.clone();
            change(n, &mut record);
            record
        })
        .collect()
}

async fn all_events(app: &TestApp) -> Vec<Value> {
    app.get("/v1/events?limit=100&sort=title").await.json()["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn an_ndjson_import_stores_every_record_as_a_post_would() {
    let app = TestApp::new().await;
    amazon_and_anthropic(&app).await;
    let before = app
        .get("/v1/events")
        .await
        .header("next-updated-since")
        .unwrap()
        .to_owned();
    let id = "0193f1a0-0000-7000-8000-0000000000aa";
    let mut story = event(
        "Amazon invests in Anthropic",
        "2024-03-27",
        &["AI", "investment"],
        "major",
    );
    story["id"] = json!(id);
    story["companies"] = json!([{"company": "amazon", "role": "investor"}, {"company": "anthropic", "role": "investee"}]);
    let body = ndjson(&[
        story,
        event("Second", "2024-01-01", &["ai"], "minor"),
        event("Third", "2023-01-01", &["legal"], "minor"),
    ]);
    let res = import(&app, "/v1/events/import", NDJSON, &body).await;
    res.assert_status(StatusCode::CREATED);
    assert_eq!(
        res.json(),
        json!({"created": 3, "updated": 0, "skipped": 0, "failed": 0})
    );

    let stored = app.get(&format!("/v1/events/{id}")).await;
    stored.assert_status(StatusCode::OK);
    let stored = stored.json();
    assert_eq!(stored["slug"], "amazon-invests-in-anthropic");
    assert_eq!(stored["tags"], json!(["ai", "investment"]));
    assert_eq!(stored["companies"][0]["slug"], "amazon");
    assert_eq!(stored["version"], 1);
    // A revision and an audit row each, as for POST.
    let revisions = app.get(&format!("/v1/events/{id}/revisions")).await;
    revisions.assert_status(StatusCode::OK);
    assert_eq!(revisions.json()["data"].as_array().unwrap().len(), 1);
    // Tag counts, and the filters that read the links.
    let tags = app.get("/v1/tags").await.json();
    let ai = tags["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == "ai")
        .cloned()
        .unwrap();
    assert_eq!(ai["events"], 2);
    let investor = app.get("/v1/events?company=amazon&role=investor").await;
    assert_eq!(ids(&investor.json()), [id]);
    // The change records streams and polls read.
    let changes = app
        .get(&format!(
            "/v1/events?updated_since={}",
            crate::helpers::encode(&before)
        ))
        .await;
    assert_eq!(changes.json()["data"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn an_atomic_import_with_a_bad_record_stores_nothing_and_names_each_by_line_and_field() {
    let app = TestApp::new().await;
    amazon_and_anthropic(&app).await;
    let mut unknown = event("Unknown company", "2024-02-02", &["ai"], "minor");
    unknown["companies"] = json!([{"company": "amazn", "role": "investor"}]);
    let body = format!(
        "{}\n{{not json\n\n{}{}{}",
        event("Fine", "2024-01-01", &["ai"], "minor"),
        ndjson(&[event("Bad date", "2024-13-01", &["ai"], "minor")]),
        ndjson(&[unknown]),
        ndjson(&[json!({"id": "nope", "title": "x"})]),
    );
    let res = import(&app, "/v1/events/import", NDJSON, &body).await;
    let problem = res.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem["type"],
        "urn:problem:industry-events:import-rejected"
    );
    assert_eq!(problem["failed"], 4);
    let errors = problem["errors"].as_array().unwrap();
    let at = |line: u64| -> Vec<String> {
        errors
            .iter()
            .filter(|e| e["line"] == line)
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(at(1), Vec::<String>::new());
    assert_eq!(at(2), [""]);
    assert!(
        errors
            .iter()
            .any(|e| e["line"] == 2 && e["message"].as_str().unwrap().starts_with("not JSON"))
    );
    assert_eq!(at(4), ["occurred_on"]);
    assert_eq!(at(5), ["companies[0].company"]);
    assert_eq!(at(6), ["id"]);
    assert!(all_events(&app).await.is_empty(), "nothing stored");
}

#[tokio::test]
async fn a_partial_import_stores_the_good_records_and_lists_the_bad() {
    let app = TestApp::new().await;
    app.create_event(
        json!({"slug": "taken", "title": "Taken", "occurred_on": "2024-01-01",
        "category": "other", "significance": "minor", "summary": "s", "what_happened": "w",
        "why_it_matters": "y"}),
    )
    .await;
    let mut dup = event("Wants a taken slug", "2024-01-02", &["ai"], "minor");
    dup["slug"] = json!("taken-too");
    let mut clash = event("Clashes in the file", "2024-01-03", &["ai"], "minor");
    clash["slug"] = json!("taken-too");
    let body = ndjson(&[
        event("Good one", "2024-01-01", &["ai"], "minor"),
        event("", "2024-01-01", &["ai"], "minor"),
        dup,
        clash,
        event("Good two", "2024-01-05", &["ai"], "minor"),
    ]);
    let res = import(&app, "/v1/events/import?mode=partial", NDJSON, &body).await;
    res.assert_status(StatusCode::OK);
    let summary = res.json();
    assert_eq!(summary["created"], 3);
    assert_eq!(summary["failed"], 2);
    let errors = summary["errors"].as_array().unwrap();
    assert_eq!(errors[0]["line"], 2);
    assert_eq!(errors[0]["field"], "title");
    // The second record to want `taken-too` finds it taken by the first (on_conflict=error).
    assert_eq!(errors[1]["line"], 4);
    assert_eq!(errors[1]["field"], "slug");
    let titles: Vec<String> = all_events(&app)
        .await
        .iter()
        .map(|e| e["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        titles,
        ["Good one", "Good two", "Taken", "Wants a taken slug"]
    );
    // Every good record stored in a batch with a bad one kept its single revision.
    let good = app.get("/v1/events/good-one/revisions").await.json();
    assert_eq!(good["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn csv_with_bom_crlf_quotes_and_empty_cells_imports_and_lines_count_quoted_newlines() {
    let app = TestApp::new().await;
    amazon_and_anthropic(&app).await;
    let csv = "\u{feff}title,occurred_on,category,significance,summary,what_happened,why_it_matters,tags,sources,companies,slug\r\n\
        \"Amazon, again\",2024-03-27,funding,major,\"Two\r\nlines, with commas\",w,y,ai;investment,\"[{\"\"url\"\":\"\"https://example.com/a\"\",\"\"title\"\":\"\"A\"\"}]\",\"[{\"\"company\"\":\"\"amazon\"\",\"\"role\"\":\"\"investor\"\"}]\",\r\n\
        Plain,2024-01-01,other,minor,s,w,y,,,,plain-one\r\n\
        Bad,2024-01-01,nonsense,minor,s,w,y,,,,\r\n";
    let res = import(&app, "/v1/events/import?mode=partial", CSV, csv).await;
    res.assert_status(StatusCode::OK);
    let summary = res.json();
    assert_eq!(summary["created"], 2, "{summary}");
    assert_eq!(summary["failed"], 1);
    // Header on 1, the first record on 2 and 3 (a quoted line break), then 4 and 5.
    assert_eq!(
        summary["errors"],
        json!([{"line": 5, "field": "category", "message": summary["errors"][0]["message"]}])
    );
    let first = app.get("/v1/events/amazon-again").await.json();
    assert_eq!(first["summary"], "Two\r\nlines, with commas");
    assert_eq!(first["tags"], json!(["ai", "investment"]));
    assert_eq!(first["sources"][0]["url"], "https://example.com/a");
    assert_eq!(first["companies"][0]["role"], "investor");
    let plain = app.get("/v1/events/plain-one").await.json();
    assert_eq!(plain["tags"], json!([]));
    assert_eq!(plain["sources"], json!([]));
}

#[tokio::test]
async fn each_conflict_rule_by_id_and_by_slug() {
    let app = TestApp::new().await;
    let id = "0193f1a0-0000-7000-8000-0000000000bb";
    let mut first = event("First title", "2024-01-01", &["ai"], "minor");
    first["id"] = json!(id);
    let mut by_slug = event("Slugged", "2024-01-01", &["ai"], "minor");
    by_slug["slug"] = json!("slugged");
    import(
        &app,
        "/v1/events/import",
        NDJSON,
        &ndjson(&[first.clone(), by_slug.clone()]),
    )
    .await
    .assert_status(StatusCode::CREATED);

    first["title"] = json!("Changed title");
    by_slug["summary"] = json!("Changed summary");
    let again = ndjson(&[first, by_slug]);

    let res = import(&app, "/v1/events/import", NDJSON, &again).await;
    let problem = res.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["failed"], 2);
    assert_eq!(problem["errors"][0]["field"], "id");
    assert_eq!(problem["errors"][1]["field"], "slug");
    // Written as new first, refused by the unique indexes, then looked up and named.
    for error in problem["errors"].as_array().unwrap() {
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("exists (on_conflict=error"), "{message}");
    }
    // In partial mode the new record beside them is stored.
    let mut with_new = again.clone();
    with_new.push_str(&ndjson(&[event("Third", "2024-01-02", &["ai"], "minor")]));
    let res = import(&app, "/v1/events/import?mode=partial", NDJSON, &with_new).await;
    res.assert_status(StatusCode::OK);
    assert_eq!(res.json()["created"], 1);
    assert_eq!(res.json()["failed"], 2);
    assert_eq!(res.json()["errors"][1]["line"], 2);

    let res = import(&app, "/v1/events/import?on_conflict=skip", NDJSON, &again).await;
    res.assert_status(StatusCode::CREATED);
    assert_eq!(
        res.json(),
        json!({"created": 0, "updated": 0, "skipped": 2, "failed": 0})
    );
    assert_eq!(
        app.get(&format!("/v1/events/{id}")).await.json()["title"],
        "First title"
    );

    let res = import(&app, "/v1/events/import?on_conflict=update", NDJSON, &again).await;
    res.assert_status(StatusCode::CREATED);
    assert_eq!(
        res.json(),
        json!({"created": 0, "updated": 2, "skipped": 0, "failed": 0})
    );
    let updated = app.get(&format!("/v1/events/{id}")).await.json();
    assert_eq!(updated["title"], "Changed title");
    assert_eq!(updated["version"], 2);
    assert_eq!(
        updated["slug"], "first-title",
        "a replaced record keeps its slug"
    );
    let slugged = app.get("/v1/events/slugged").await.json();
    assert_eq!(slugged["summary"], "Changed summary");
    assert_eq!(slugged["version"], 2);
}

#[tokio::test]
async fn limits_media_types_and_tokens() {
    let app = TestApp::with_config(|c| c.max_import_bytes = 2048).await;
    let big = ndjson(&vec![event("Filler", "2024-01-01", &["ai"], "minor"); 20]);
    assert!(big.len() > 2048);
    import(&app, "/v1/events/import", NDJSON, &big)
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE);
    // Without a Content-Length (a stream), the limit is counted as the body arrives.
    let chunks: Vec<Result<String, std::io::Error>> = vec![Ok(big.clone())];
    let request = app
        .authed(Method::POST, "/v1/events/import")
        .header(header::CONTENT_TYPE, NDJSON)
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap();
    app.send(request)
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE);
    assert!(all_events(&app).await.is_empty());

    import(&app, "/v1/events/import", "application/json", "{}")
        .await
        .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let anonymous = Request::post("/v1/events/import")
        .header(header::CONTENT_TYPE, NDJSON)
        .body(Body::from("{}"))
        .unwrap();
    app.send(anonymous)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    let reader = app.token("reader", Scope::Read).await;
    let read_only = Request::post("/v1/companies/import")
        .header(header::CONTENT_TYPE, NDJSON)
        .header(header::AUTHORIZATION, format!("Bearer {reader}"))
        .body(Body::from("{}"))
        .unwrap();
    app.send(read_only)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    import(&app, "/v1/events/import?mode=all", NDJSON, "")
        .await
        .assert_bad_param("mode");
    import(&app, "/v1/events/import", CSV, "title,title\nA,B\n")
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
    let unknown = import(&app, "/v1/companies/import", CSV, "name,colour\nA,red\n")
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
    assert!(unknown["detail"].as_str().unwrap().contains("`colour`"));
    for format in [CSV, NDJSON] {
        let empty = import(&app, "/v1/events/import", format, "").await;
        empty.assert_status(StatusCode::CREATED);
        assert_eq!(
            empty.json(),
            json!({"created": 0, "updated": 0, "skipped": 0, "failed": 0})
        );
    }
}

#[tokio::test]
async fn an_idempotency_key_replays_the_answer_and_stores_nothing_twice() {
    let app = TestApp::new().await;
    let body = ndjson(&[event("Once", "2024-01-01", &["ai"], "minor")]);
    let key = [("idempotency-key", "import-1")];
    let first = import_with(&app, "/v1/events/import", NDJSON, &body, &key).await;
    first.assert_status(StatusCode::CREATED);
    let again = import_with(&app, "/v1/events/import", NDJSON, &body, &key).await;
    again.assert_status(StatusCode::CREATED);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json(), first.json());
    assert_eq!(all_events(&app).await.len(), 1);
    let other = ndjson(&[event("Other", "2024-01-01", &["ai"], "minor")]);
    let res = import_with(&app, "/v1/events/import", NDJSON, &other, &key).await;
    res.assert_invalid_fields(&["Idempotency-Key"]);
    // The options are part of the request.
    let res = import_with(
        &app,
        "/v1/events/import?on_conflict=skip",
        NDJSON,
        &body,
        &key,
    )
    .await;
    res.assert_invalid_fields(&["Idempotency-Key"]);
    assert_eq!(all_events(&app).await.len(), 1);
}

#[tokio::test]
async fn companies_import_and_an_export_imports_back_unchanged_into_a_fresh_database() {
    let source = TestApp::new().await;
    let companies_csv = "name,kind,country,website,description,tags\n\
        Amazon,cloud_provider,US,https://www.aboutamazon.com,\"Sells, things\",cloud;retail\n\
        Anthropic,ai_lab,,,,\n";
    let res = import(&source, "/v1/companies/import", "text/csv", companies_csv).await;
    res.assert_status(StatusCode::CREATED);
    assert_eq!(res.json()["created"], 2);
    let mut story = event(
        "Amazon invests in Anthropic",
        "2024-03-27",
        &["ai", "investment"],
        "major",
    );
    story["summary"] = json!("Amazon, again: \"$2.75 billion\".\nA second line.");
    story["companies"] = json!([{"company": "amazon", "role": "investor"}, {"company": "anthropic", "role": "investee"}]);
    story["sources"] = json!([{"url": "https://example.com/a", "title": "A, \"quoted\""}]);
    source.create_event(story).await;
    source
        .create_event(event("Older news", "2023-01-01", &["ai"], "minor"))
        .await;

    let events_csv = source.get("/v1/events/export?format=csv").await;
    events_csv.assert_status(StatusCode::OK);
    let companies_out = source.get("/v1/companies/export?format=csv").await;

    let mirror = TestApp::new().await;
    let text = |res: &TestResponse| String::from_utf8(res.body.clone()).unwrap();
    import(
        &mirror,
        "/v1/companies/import",
        "text/csv",
        &text(&companies_out),
    )
    .await
    .assert_status(StatusCode::CREATED);
    let res = import(&mirror, "/v1/events/import", "text/csv", &text(&events_csv)).await;
    res.assert_status(StatusCode::CREATED);
    assert_eq!(res.json()["created"], 2);
    assert_eq!(
        text(&mirror.get("/v1/events/export?format=csv").await),
        text(&events_csv)
    );
    assert_eq!(
        text(&mirror.get("/v1/companies/export?format=csv").await),
        text(&companies_out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_command_reports_progress_a_summary_and_the_bad_lines() {
    use std::process::Stdio;

    use crate::ops::binary;

    let app = TestApp::new().await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("events.csv");
    std::fs::write(
        &good,
        "title,occurred_on,category,significance,summary,what_happened,why_it_matters,tags\n\
         From a file,2024-02-01,funding,minor,s,\"w,\nover two lines\",y,ai;cli\n\
         Another,2024-02-02,other,notable,s,w,y,\n",
    )
    .unwrap();
    // Running instances are told, as after their own writes.
    let mut listener = sqlx::postgres::PgListener::connect_with(&app.db)
        .await
        .unwrap();
    listener.listen("industry_events_changed").await.unwrap();
    let output = binary(app.database())
        .args(["import", "events"])
        .arg(&good)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{said}");
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        summary,
        json!({"created": 2, "updated": 0, "skipped": 0, "failed": 0})
    );
    assert!(said.contains("import: 2 records in"), "{said}");
    let told = tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv())
        .await
        .expect("the import command notified running instances")
        .unwrap();
    assert_eq!(told.payload(), "outside");
    assert_eq!(
        app.get("/v1/events?tag=cli").await.json()["data"][0]["title"],
        "From a file"
    );

    let bad = dir.path().join("more.ndjson");
    std::fs::write(
        &bad,
        format!(
            "{}\n{}\n",
            event("Good", "2024-03-01", &["ai"], "minor"),
            event("Bad", "2024-03-32", &["ai"], "minor")
        ),
    )
    .unwrap();
    for (mode, stored) in [("atomic", 2), ("partial", 3)] {
        let output = binary(app.database())
            .args(["import", "events", "--mode", mode])
            .arg(&bad)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            !output.status.success(),
            "{mode}: a bad record fails the command"
        );
        assert!(
            said.contains(&format!("{}:2: occurred_on: ", bad.display())),
            "{mode}: {said}"
        );
        assert_eq!(all_events(&app).await.len(), stored, "{mode}");
    }
}

#[tokio::test]
async fn a_large_import_of_new_records_gets_what_posts_one_after_another_would() {
    let app = TestApp::new().await;
    amazon_and_anthropic(&app).await;
    app.post_json(
        "/v1/events",
        event("Same title", "2024-01-01", &["ai"], "minor"),
    )
    .await
    .assert_status(StatusCode::CREATED);
    let id = |n: u32| format!("0193f1a0-0000-7000-8000-0000{n:08x}");
    let with_id = |n: u32, mut record: Value| {
        record["id"] = json!(id(n));
        record
    };
    let mut chosen = event("Chosen by hand", "2024-01-05", &["ai"], "minor");
    chosen["slug"] = json!("chosen");
    let mut linked = event("Linked", "2024-01-07", &["ai"], "major");
    linked["companies"] = json!([
        {"company": "anthropic", "role": "investee"},
        {"company": "amazon", "role": "investor"}
    ]);
    let mut records = vec![
        with_id(1, event("Same title", "2024-01-02", &["ai"], "minor")),
        with_id(2, event("Same title", "2024-01-03", &["ai"], "minor")),
        with_id(3, event("Fresh title", "2024-01-04", &["ai"], "minor")),
        with_id(4, event("Fresh title", "2024-01-04", &["ai"], "minor")),
        with_id(5, chosen),
        with_id(6, event("Chosen", "2024-01-06", &["ai"], "minor")),
        with_id(7, linked),
        with_id(8, event("Stream", "2024-01-08", &["ai"], "minor")),
    ];
    // Enough for several of the import's batches.
    for n in 0..600 {
        records.push(event(
            &format!("Bulk {n}"),
            "2023-06-01",
            &["bulk"],
            "minor",
        ));
    }
    let res = import(&app, "/v1/events/import", NDJSON, &ndjson(&records)).await;
    res.assert_status(StatusCode::CREATED);
    assert_eq!(res.json()["created"], 608);

    // Slugs as if each had been written after the ones before it.
    let slug_of = |n: u32| {
        let app = &app;
        async move { app.get(&format!("/v1/events/{}", id(n))).await.json()["slug"].clone() }
    };
    let suffix = |n: u32| format!("{n:08x}");
    assert_eq!(slug_of(1).await, format!("same-title-{}", suffix(1)));
    assert_eq!(slug_of(2).await, format!("same-title-{}", suffix(2)));
    assert_eq!(slug_of(3).await, "fresh-title");
    assert_eq!(slug_of(4).await, format!("fresh-title-{}", suffix(4)));
    assert_eq!(slug_of(5).await, "chosen");
    assert_eq!(slug_of(6).await, format!("chosen-{}", suffix(6)));
    assert_eq!(slug_of(8).await, format!("stream-{}", suffix(8)));
    // Links in the order given, in the row and in the tables the filters read.
    let linked = app.get(&format!("/v1/events/{}", id(7))).await.json();
    assert_eq!(linked["companies"][0]["slug"], "anthropic");
    assert_eq!(linked["companies"][0]["role"], "investee");
    assert_eq!(linked["companies"][1]["slug"], "amazon");
    let investee = app.get("/v1/events?company=anthropic&role=investee").await;
    assert_eq!(ids(&investee.json()), [id(7)]);
    assert_links_as_the_database_renders_them(&app.db).await;
    // One audit row (and so one revision) each, tag counts, every record listed.
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where resource = 'event' and action = 'create'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audited, 609);
    let revisions = app.get(&format!("/v1/events/{}/revisions", id(3))).await;
    assert_eq!(revisions.json()["data"].as_array().unwrap().len(), 1);
    let tags = app.get("/v1/tags").await.json();
    let count = |tag: &str| {
        tags["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tag"] == tag)
            .map(|t| t["events"].clone())
    };
    assert_eq!(count("bulk"), Some(json!(600)));
    assert_eq!(count("ai"), Some(json!(9)));
    let bulk = app.get("/v1/events?tag=bulk&limit=100").await.json();
    assert_eq!(bulk["data"].as_array().unwrap().len(), 100);
}

/// The search vectors of an import's events are computed on a second connection while
/// the batch before is written: every imported event gets exactly the vector the
/// database's own definition gives its texts, none of them computed by the import's
/// writes (the table's trigger is made to count what it computes), and search finds
/// them at once. A write that sends no vector (a `POST`, a `PATCH` of a text, a change
/// made by hand) still gets the right one from the trigger.
#[tokio::test]
async fn an_imports_search_vectors_are_computed_ahead_and_equal_the_databases() {
    let app = TestApp::new().await;
    sqlx::raw_sql(
        "create table search_fills (event_id uuid not null);
         create or replace function fill_event_search() returns trigger
         language plpgsql as $$
         begin
             insert into search_fills values (new.id);
             new.search := event_search_vector(new.title, new.summary, new.what_happened,
                                               new.why_it_matters);
             return new;
         end
         $$;",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let count = |sql: &'static str| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    let wrong = "select count(*) from events \
                 where search is distinct from \
                       event_search_vector(title, summary, what_happened, why_it_matters)";
    let fills = "select count(*) from search_fills";

    // Two full batches and a part of one: the last, too, is prepared ahead.
    let mut records: Vec<Value> = (0..610)
        .map(|n| {
            let mut record = event(&format!("Harbour {n}"), "2024-03-01", &["ports"], "minor");
            record["why_it_matters"] = json!(format!("Shipping lanes reopened after {n} storms"));
            record
        })
        .collect();
    // Text with quotes, backslashes and non-ASCII letters: its vector must go back in
    // exactly as the helper received it.
    records[5]["what_happened"] = json!(
        "O'Brien's \"deal\" at C:\\ports\\x and https://example.com/a'b?q=1 -- café naïve 東京"
    );
    let res = import(&app, "/v1/events/import", NDJSON, &ndjson(&records)).await;
    res.assert_status(StatusCode::CREATED);
    assert_eq!(res.json()["created"], 610);
    assert_eq!(
        count(fills).await,
        0,
        "no imported vector computed by the write"
    );
    assert_eq!(count(wrong).await, 0);
    assert_eq!(
        count("select count(*) from events where search @@ to_tsquery('english', 'storm')").await,
        610
    );
    let found = app.get("/v1/events?q=brien").await.json();
    assert_eq!(found["data"][0]["title"], "Harbour 5");
    let found = app.get("/v1/events?q=%22609%20storms%22").await.json();
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    assert_eq!(found["data"][0]["title"], "Harbour 609");

    // Updated by a re-import: the new texts' vectors, again computed ahead.
    let again = changed(&records[..260], |n, record| {
        record["slug"] = json!(format!("harbour-{n}"));
        record["why_it_matters"] = json!("Dredging resumed");
    });
    let res = update_events(&app, &again).await;
    res.assert_status(StatusCode::CREATED);
    assert_eq!(res.json()["updated"], 260);
    assert_eq!(count(fills).await, 0);
    assert_eq!(count(wrong).await, 0);
    let dredging = app.get("/v1/events?q=dredge&limit=100").await.json();
    assert_eq!(dredging["data"].as_array().unwrap().len(), 100);
    assert!(dredging["next_cursor"].is_string());

    // Updated again with the same texts (only the tags change): each stored vector is
    // taken over, none computed again. Shown by one stored vector that the function
    // would not make (written directly): it stays.
    let marked = "update events set search = to_tsvector('simple', 'marker') \
                  where slug = 'harbour-3'";
    sqlx::query(marked).execute(&app.db).await.unwrap();
    let retagged = changed(&again, |_, record| {
        record["tags"] = json!(["ports", "dredging"])
    });
    let res = update_events(&app, &retagged).await;
    assert_eq!(res.json()["updated"], 260);
    assert_eq!(count(fills).await, 0);
    assert_eq!(count(wrong).await, 1);
    let kept: String =
        sqlx::query_scalar("select search::text from events where slug = 'harbour-3'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(kept, "'marker':1");
    assert_eq!(
        app.get("/v1/events/harbour-3").await.json()["tags"],
        json!(["ports", "dredging"])
    );
    sqlx::query(
        "update events set search = event_search_vector(title, summary, what_happened, \
                                                         why_it_matters) \
         where slug = 'harbour-3'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    assert_eq!(count(wrong).await, 0);

    // Writes that send no vector.
    let posted = app
        .post_json(
            "/v1/events",
            event("Quiet quay", "2024-03-02", &["ports"], "minor"),
        )
        .await;
    posted.assert_status(StatusCode::CREATED);
    assert_eq!(count(fills).await, 1);
    app.patch_json(
        "/v1/events/quiet-quay",
        json!({"what_happened": "Icebreakers cleared the channel"}),
    )
    .await
    .assert_status(StatusCode::OK);
    assert_eq!(count(fills).await, 2);
    let found = app.get("/v1/events?q=icebreaker").await.json();
    assert_eq!(ids(&found), [posted.json()["id"].as_str().unwrap()]);
    sqlx::query("update events set summary = 'Tugboats idle' where slug = 'harbour-300'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(count(fills).await, 3);
    // A change that leaves the texts alone computes nothing.
    sqlx::query("update events set tags = '{docks}' where slug = 'harbour-301'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(count(fills).await, 3);
    assert_eq!(count(wrong).await, 0);
    let found = app.get("/v1/events?q=tugboat").await.json();
    assert_eq!(found["data"][0]["slug"], "harbour-300");

    // A skip import prepares nothing (its records mostly exist and are not written):
    // its few new records get their vectors from the trigger.
    let mut skipping = again.clone();
    for n in 0..5 {
        skipping.push(event(
            &format!("Pier {n}"),
            "2024-03-03",
            &["ports"],
            "minor",
        ));
    }
    let res = import(
        &app,
        "/v1/events/import?on_conflict=skip",
        NDJSON,
        &ndjson(&skipping),
    )
    .await;
    res.assert_status(StatusCode::CREATED);
    assert_eq!(res.json()["skipped"], 260);
    assert_eq!(res.json()["created"], 5);
    assert_eq!(count(fills).await, 8);
    assert_eq!(count(wrong).await, 0);
}

/// An import merges the entries waiting in the pending lists of the events' two GIN
/// indexes (search and tags) as it goes, on its helper connection, after about every
/// MiB of event text, so that its own inserts never stop to merge them. Here 2,500
/// events with 1 KB of text each, and the lists' own limit raised so that no insert
/// merges them: at most the entries written after the last merge (the last MiB, and
/// the batches written while the helper ran ahead) are still pending afterwards, where
/// without the merges all of them would be.
#[tokio::test]
async fn an_import_merges_the_gin_indexes_pending_entries_as_it_goes() {
    let app = TestApp::new().await;
    sqlx::raw_sql(
        "create extension if not exists pgstattuple;
         alter index events_search_idx set (gin_pending_list_limit = 65536);
         alter index events_tags_idx set (gin_pending_list_limit = 65536);",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let records: Vec<Value> = (0..2500)
        .map(|n| {
            let mut record = event(
                &format!("Lighthouse {n}"),
                "2024-04-01",
                &["coast"],
                "minor",
            );
            let words: Vec<String> = (0..120).map(|w| format!("beam{}", (n + w) % 400)).collect();
            record["what_happened"] = json!(words.join(" "));
            record
        })
        .collect();
    let res = import(&app, "/v1/events/import", NDJSON, &ndjson(&records)).await;
    res.assert_status(StatusCode::CREATED);
    assert_eq!(res.json()["created"], 2500);
    let pending = |index: &'static str| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>("select pending_tuples from pgstatginindex($1::regclass)")
                .bind(index)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    // One tag an event: one entry each.
    let tags_pending = pending("events_tags_idx").await;
    assert!(tags_pending <= 1500, "{tags_pending} tag entries pending");
    let search_entries: i64 = sqlx::query_scalar("select sum(length(search))::int8 from events")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let search_pending = pending("events_search_idx").await;
    assert!(
        search_pending * 5 <= search_entries * 3,
        "{search_pending} of {search_entries} search entries pending"
    );
    // What is still pending is found like the rest.
    let found = app
        .get("/v1/events?q=lighthouse&tag=coast&limit=100")
        .await
        .json();
    assert_eq!(found["data"].as_array().unwrap().len(), 100);
    let last = app.get("/v1/events?q=%222499%22").await.json();
    assert_eq!(last["data"][0]["title"], "Lighthouse 2499");
    // Long texts keep the helper busy, so the writer may have computed some vectors
    // itself (the helper's share): every one is still the database's definition.
    let wrong: i64 = sqlx::query_scalar(
        "select count(*) from events \
         where search is distinct from \
               event_search_vector(title, summary, what_happened, why_it_matters)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(wrong, 0);
}

/// A nightly file of records that mostly exist: updated (or skipped) together, batch by
/// batch, with what updating them one after another would leave: versions, slugs,
/// links in the row and in the tables filters read, tag counts, one audit row each.
/// Batches the set-based write cannot take (a record named twice, a slug that moves
/// and frees the old one for a later record) still come out as one-at-a-time writes.
#[tokio::test]
async fn a_large_import_over_existing_records_updates_them_as_one_at_a_time_would() {
    let app = TestApp::new().await;
    amazon_and_anthropic(&app).await;
    let id = |n: u32| format!("0193f1a0-0000-7000-8000-0000{n:08x}");
    let record = |n: u32, title: &str, tag: &str, role: &str| {
        let mut record = event(title, "2024-02-01", &[tag], "minor");
        record["id"] = json!(id(n));
        record["companies"] = json!([{"company": "anthropic", "role": role}]);
        record
    };
    let first: Vec<Value> = (0..300)
        .map(|n| record(n, &format!("Story {n}"), "before", "investee"))
        .collect();
    let mut moving = event("Moving", "2024-02-02", &["before"], "minor");
    moving["slug"] = json!("moving");
    let mut all = first.clone();
    all.push(moving.clone());
    import(&app, "/v1/events/import", NDJSON, &ndjson(&all))
        .await
        .assert_status(StatusCode::CREATED);

    // The same records, changed: new titles, tags and roles; ten new records among them.
    let mut again: Vec<Value> = Vec::new();
    for n in 0..300 {
        again.push(record(
            n,
            &format!("Story {n}, revised"),
            "after",
            "investor",
        ));
        if n % 30 == 0 {
            again.push(event(
                &format!("New {n}"),
                "2024-03-01",
                &["after"],
                "minor",
            ));
        }
    }
    let count = count_statements();
    let res = update_events(&app, &again).await;
    let statements = count.get();
    drop(count);
    res.assert_status(StatusCode::CREATED);
    assert_eq!(
        res.json(),
        json!({"created": 10, "updated": 300, "skipped": 0, "failed": 0})
    );
    // Two batches of a few statements each, not several statements a record.
    assert!(statements < 80, "{statements} statements for 310 records");

    let story = app.get(&format!("/v1/events/{}", id(7))).await.json();
    assert_eq!(story["title"], "Story 7, revised");
    assert_eq!(story["slug"], "story-7", "a replaced record keeps its slug");
    assert_eq!(story["version"], 2);
    assert_eq!(story["tags"], json!(["after"]));
    assert_eq!(story["companies"][0]["role"], "investor");
    let revisions = app.get(&format!("/v1/events/{}/revisions", id(7))).await;
    assert_eq!(revisions.json()["data"].as_array().unwrap().len(), 2);
    let investors = app
        .get("/v1/events?company=anthropic&role=investor&limit=100")
        .await
        .json();
    assert_eq!(investors["data"].as_array().unwrap().len(), 100);
    let investees = app.get("/v1/events?company=anthropic&role=investee").await;
    assert_eq!(investees.json()["data"], json!([]));
    let updates: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where resource = 'event' and action = 'update'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(updates, 300);
    let tags = app.get("/v1/tags").await.json();
    assert_eq!(
        tags["data"],
        json!([
            {"tag": "after", "events": 310, "latest": "2024-03-01"},
            {"tag": "before", "events": 1, "latest": "2024-02-02"},
        ])
    );

    // A batch with a record named twice, and a slug that moves to free the old one
    // for a record after it: written one at a time, as in order.
    let mut moved = moving.clone();
    moved["slug"] = json!("moved");
    let mut takes_old = event("Takes the old slug", "2024-02-03", &["before"], "minor");
    takes_old["slug"] = json!("moving");
    let tricky = vec![
        record(1, "Story 1, third", "after", "investor"),
        moved,
        takes_old,
        record(1, "Story 1, fourth", "after", "investor"),
    ];
    let res = update_events(&app, &tricky).await;
    res.assert_status(StatusCode::CREATED);
    assert_eq!(
        res.json(),
        json!({"created": 1, "updated": 3, "skipped": 0, "failed": 0})
    );
    let story = app.get(&format!("/v1/events/{}", id(1))).await.json();
    assert_eq!(story["title"], "Story 1, fourth");
    assert_eq!(story["version"], 4);
    assert_eq!(app.get("/v1/events/moved").await.json()["title"], "Moving");
    assert_eq!(
        app.get("/v1/events/moving").await.json()["title"],
        "Takes the old slug"
    );

    // Skipping them all touches none.
    let known: Vec<Value> = again
        .iter()
        .filter(|r| r.get("id").is_some())
        .cloned()
        .collect();
    let res = import(
        &app,
        "/v1/events/import?on_conflict=skip",
        NDJSON,
        &ndjson(&known),
    )
    .await;
    res.assert_status(StatusCode::CREATED);
    assert_eq!(
        res.json(),
        json!({"created": 0, "updated": 0, "skipped": 300, "failed": 0})
    );
    let story = app.get(&format!("/v1/events/{}", id(7))).await.json();
    assert_eq!(story["version"], 2);
}

/// A body streamed as these pieces, each sent after its pause; `then_stall` leaves the
/// body open with nothing more, as a client that stopped sending does.
fn slow_body(pieces: Vec<(u64, String)>, then_stall: bool) -> Body {
    use futures_util::StreamExt;
    let sent = futures_util::stream::iter(pieces).then(|(pause, piece)| async move {
        tokio::time::sleep(std::time::Duration::from_secs(pause)).await;
        Ok::<_, std::io::Error>(axum::body::Bytes::from(piece))
    });
    if then_stall {
        Body::from_stream(sent.chain(futures_util::stream::pending()))
    } else {
        Body::from_stream(sent)
    }
}

/// A client that stops sending mid-import gets a 408 once no record has come for a few
/// seconds (before the database would end the idle transaction itself), and nothing of
/// the import is stored.
#[tokio::test]
async fn an_import_whose_body_stops_arriving_is_a_408_and_stores_nothing() {
    let app = TestApp::new().await;
    let first = format!("{}\n", event("Sent", "2024-01-01", &["ai"], "minor"));
    let request = app
        .authed(Method::POST, "/v1/events/import")
        .header(header::CONTENT_TYPE, NDJSON)
        .body(slow_body(vec![(0, first)], true))
        .unwrap();
    let started = std::time::Instant::now();
    let res = app.send(request).await;
    let problem = res.assert_problem(StatusCode::REQUEST_TIMEOUT);
    assert!(problem["type"].as_str().unwrap().ends_with("body-stalled"));
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("nothing of it stored"),
        "{problem}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(all_events(&app).await.is_empty());
}

/// A client that sends slowly but keeps sending is served: its transaction runs a
/// statement while it waits, so it outlives the database's idle-in-transaction limit
/// (10 s).
#[tokio::test]
async fn a_slow_but_steady_import_outlives_the_idle_transaction_limit() {
    let app = TestApp::new().await;
    let pieces: Vec<(u64, String)> = (0..5)
        .map(|n| {
            let record = event(&format!("Slow {n}"), "2024-01-01", &["ai"], "minor");
            (if n == 0 { 0 } else { 3 }, format!("{record}\n"))
        })
        .collect();
    let request = app
        .authed(Method::POST, "/v1/events/import")
        .header(header::CONTENT_TYPE, NDJSON)
        .body(slow_body(pieces, false))
        .unwrap();
    let res = app.send(request).await;
    res.assert_status(StatusCode::CREATED);
    assert_eq!(
        res.json(),
        json!({"created": 5, "updated": 0, "skipped": 0, "failed": 0})
    );
    assert_eq!(all_events(&app).await.len(), 5);
}

/// Companies are imported, and re-imported over themselves, a batch at a time too, with
/// what writing them one by one would leave (names in the events that show them, a
/// second company of a taken name named by line).
#[tokio::test]
async fn companies_are_imported_and_updated_a_batch_at_a_time() {
    let app = TestApp::new().await;
    let company = |n: u32, description: &str| {
        json!({"slug": format!("company-{n}"), "name": format!("Company {n}"),
               "kind": "other", "description": description, "tags": ["bulk"]})
    };
    let first: Vec<Value> = (0..300).map(|n| company(n, "first")).collect();
    let count = count_statements();
    let res = import(&app, "/v1/companies/import", NDJSON, &ndjson(&first)).await;
    let created_in = count.get();
    drop(count);
    res.assert_status(StatusCode::CREATED);
    assert_eq!(res.json()["created"], 300);
    assert!(created_in < 60, "{created_in} statements for 300 companies");
    let mut story = event("Company 7 news", "2024-01-01", &["ai"], "minor");
    story["companies"] = json!([{"company": "company-7", "role": "subject"}]);
    let story = app.create_event(story).await;

    let mut again: Vec<Value> = (0..300).map(|n| company(n, "second")).collect();
    again[7]["name"] = json!("Company Seven");
    let count = count_statements();
    let res = import(
        &app,
        "/v1/companies/import?on_conflict=update",
        NDJSON,
        &ndjson(&again),
    )
    .await;
    let updated_in = count.get();
    drop(count);
    res.assert_status(StatusCode::CREATED);
    assert_eq!(
        res.json(),
        json!({"created": 0, "updated": 300, "skipped": 0, "failed": 0})
    );
    assert!(updated_in < 60, "{updated_in} statements for 300 companies");
    let seven = app.get("/v1/companies/company-7").await.json();
    assert_eq!(seven["name"], "Company Seven");
    assert_eq!(seven["description"], "second");
    assert_eq!(seven["version"], 2);
    let shown = app
        .get(&format!("/v1/events/{}", story["id"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(shown["companies"][0]["name"], "Company Seven");

    // A new company whose made slug is taken is refused and named; the rest are stored.
    let res = import(
        &app,
        "/v1/companies/import?mode=partial",
        NDJSON,
        &ndjson(&[
            json!({"name": "Fresh", "kind": "other"}),
            json!({"name": "Company 3", "kind": "other"}),
        ]),
    )
    .await;
    res.assert_status(StatusCode::OK);
    let answer = res.json();
    assert_eq!(answer["created"], 1);
    assert_eq!(answer["failed"], 1);
    assert_eq!(answer["errors"][0]["line"], 2);
    assert_eq!(answer["errors"][0]["field"], "slug");
}

#[tokio::test]
async fn an_update_that_changes_nothing_leaves_the_record_as_it_is() {
    let app = TestApp::new().await;
    amazon_and_anthropic(&app).await;
    app.post_json("/v1/partnerships", amazon_anthropic_deal("1250000000.50"))
        .await
        .assert_status(StatusCode::CREATED);
    let id = |n: u32| format!("0193f1a0-0000-7000-8000-0000{n:08x}");
    let records: Vec<Value> = (0..300)
        .map(|n| {
            let mut record = reference_story();
            record["id"] = json!(id(n));
            record["title"] = json!(format!("Story {n}"));
            record["companies"] = json!([{"company": "amazon", "role": "investor"}, {"company": "anthropic", "role": "investee"}]);
            record["partnerships"] = json!(["amazon-anthropic"]);
            record
        })
        .collect();
    import(&app, "/v1/events/import", NDJSON, &ndjson(&records))
        .await
        .assert_status(StatusCode::CREATED);
    let update_rows = || async {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from audit_log where resource = 'event' and action = 'update'",
        )
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    let since = app
        .get("/v1/events")
        .await
        .header("next-updated-since")
        .unwrap()
        .to_owned();
    let polled = || async {
        app.get(&format!("/v1/events?updated_since={since}&limit=100"))
            .await
            .json()["data"]
            .as_array()
            .unwrap()
            .len()
    };
    let nothing_changed = json!({"created": 0, "updated": 0, "skipped": 300, "failed": 0});

    // The same file again (the nightly re-import), written together: nothing to write.
    let res = update_events(&app, &records).await;
    res.assert_status(StatusCode::CREATED);
    assert_eq!(res.json(), nothing_changed);
    // The same records as an export writes them, and with the companies and the deal
    // named by id instead of by slug, are the same.
    let exported = app.get("/v1/events/export?format=csv").await;
    let csv = String::from_utf8(exported.body.clone()).unwrap();
    let res = import(&app, "/v1/events/import?on_conflict=update", CSV, &csv).await;
    assert_eq!(res.json(), nothing_changed);
    let stored = app.get(&format!("/v1/events/{}", id(0))).await.json();
    let by_id = changed(&records, |_, record| {
        record["companies"] = json!([
            {"company": stored["companies"][0]["id"], "role": "investor"},
            {"company": stored["companies"][1]["id"], "role": "investee"},
        ]);
        record["partnerships"] = json!([stored["partnerships"][0]["id"]]);
    });
    let res = update_events(&app, &by_id).await;
    assert_eq!(res.json(), nothing_changed);
    assert_eq!(update_rows().await, 0);
    assert_eq!(polled().await, 0, "no new version for a poll to see");
    assert_eq!(
        app.get(&format!("/v1/events/{}", id(0))).await.json()["version"],
        1
    );

    // Each change of one field, however small, is an update; the stored slug given
    // explicitly is no change.
    let mut edited = records.clone();
    edited[1]["tags"] = json!([
        "consolidation",
        "partnership",
        "#Cloud Computing",
        "investment"
    ]);
    edited[2]["sources"][0]["title"] = json!("Amazon's newsroom");
    edited[3]["companies"] = json!([{"company": "anthropic", "role": "investee"}, {"company": "amazon", "role": "investor"}]);
    edited[4]["partnerships"] = json!([]);
    edited[5]["why_it_matters"] = json!("It ties a leading AI lab to AWS.");
    edited[6]["slug"] = json!("story-6");
    let res = update_events(&app, &edited).await;
    assert_eq!(
        res.json(),
        json!({"created": 0, "updated": 5, "skipped": 295, "failed": 0})
    );
    assert_eq!(update_rows().await, 5);
    assert_eq!(polled().await, 5);
    for (n, version) in [(0, 1), (1, 2), (2, 2), (3, 2), (4, 2), (5, 2), (6, 1)] {
        let event = app.get(&format!("/v1/events/{}", id(n))).await.json();
        assert_eq!(event["version"], version, "event {n}");
    }
    let revisions = app.get(&format!("/v1/events/{}/revisions", id(0))).await;
    assert_eq!(revisions.json()["data"].as_array().unwrap().len(), 1);

    // Written one at a time (a record named twice goes the slow way): the second,
    // equal to what the first left, changes nothing.
    let mut twice = edited[1].clone();
    twice["title"] = json!("Story 1, revised");
    let res = update_events(&app, &[twice.clone(), twice]).await;
    assert_eq!(
        res.json(),
        json!({"created": 0, "updated": 1, "skipped": 1, "failed": 0})
    );
    assert_eq!(
        app.get(&format!("/v1/events/{}", id(1))).await.json()["version"],
        3
    );

    // Companies: their export imported over them changes nothing; a new description does.
    let companies_csv = String::from_utf8(
        app.get("/v1/companies/export?format=csv")
            .await
            .body
            .clone(),
    )
    .unwrap();
    let res = import(
        &app,
        "/v1/companies/import?on_conflict=update",
        CSV,
        &companies_csv,
    )
    .await;
    assert_eq!(
        res.json(),
        json!({"created": 0, "updated": 0, "skipped": 2, "failed": 0})
    );
    let amazon = json!({"slug": "amazon", "name": "Amazon", "kind": "cloud_provider", "description": "Sells things"});
    let anthropic = json!({"slug": "anthropic", "name": "Anthropic", "kind": "ai_lab"});
    let res = import(
        &app,
        "/v1/companies/import?on_conflict=update",
        NDJSON,
        &ndjson(&[amazon, anthropic]),
    )
    .await;
    assert_eq!(
        res.json(),
        json!({"created": 0, "updated": 1, "skipped": 1, "failed": 0})
    );
    assert_eq!(app.get("/v1/companies/amazon").await.json()["version"], 2);
    assert_eq!(
        app.get("/v1/companies/anthropic").await.json()["version"],
        1
    );
}
