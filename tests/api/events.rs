//! Creating, reading, patching and deleting events.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, amazon_and_anthropic, amazon_anthropic_deal, event, reference_story,
};

#[tokio::test]
async fn creating_the_reference_story_answers_201_with_location_etag_and_the_event() {
    let app = TestApp::new().await;
    let res = app.post_json("/v1/events", reference_story()).await;
    res.assert_status(StatusCode::CREATED);
    let body = res.json();
    let id = body["id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    assert_eq!(
        res.header("location"),
        Some(format!("/v1/events/{id}").as_str())
    );
    assert_eq!(
        res.header("etag"),
        Some(format!("\"{}-1\"", id.replace('-', "")).as_str())
    );
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(
        body["slug"],
        "amazon-completes-4-billion-investment-in-anthropic"
    );
    assert_eq!(body["occurred_on"], "2024-03-27");
    assert_eq!(body["category"], "industry");
    assert_eq!(body["significance"], "major");
    assert_eq!(
        body["tags"],
        json!([
            "investment",
            "cloud-computing",
            "partnership",
            "consolidation"
        ])
    );
    assert_eq!(body["sources"][0]["title"], "Amazon newsroom");
    assert_eq!(body["version"], 1);
    assert_eq!(body["created_at"], body["updated_at"]);
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn an_event_is_found_by_id_and_by_slug_with_the_same_etag() {
    let app = TestApp::new().await;
    let created = app.create_event(reference_story()).await;
    let by_id = app
        .get(&format!("/v1/events/{}", created["id"].as_str().unwrap()))
        .await;
    let by_slug = app
        .get(&format!("/v1/events/{}", created["slug"].as_str().unwrap()))
        .await;
    by_id.assert_status(StatusCode::OK);
    by_slug.assert_status(StatusCode::OK);
    assert_eq!(by_id.json(), created);
    assert_eq!(by_slug.json(), created);
    assert_eq!(by_id.header("etag"), by_slug.header("etag"));
    assert!(by_id.header("last-modified").unwrap().ends_with("GMT"));
}

#[tokio::test]
async fn unknown_or_impossible_refs_are_404_problems() {
    let app = TestApp::new().await;
    for path in [
        "/v1/events/no-such-event",
        "/v1/events/0190f7c2-1b2a-7c3d-8e4f-5a6b7c8d9e0f",
        "/v1/events/..%2F..%2Fetc%2Fpasswd",
        "/v1/events/Robert'%3B%20DROP%20TABLE%20events",
        &format!("/v1/events/{}", "a".repeat(300)),
    ] {
        let body = app.get(path).await.assert_problem(StatusCode::NOT_FOUND);
        assert!(
            body["detail"].as_str().unwrap().contains("no event"),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn a_taken_explicit_slug_is_a_409_but_a_derived_one_gets_a_suffix() {
    let app = TestApp::new().await;
    let mut first = event("Same title", "2024-01-01", &[], "minor");
    first["slug"] = json!("chosen");
    app.create_event(first.clone()).await;
    let body = app
        .post_json("/v1/events", first)
        .await
        .assert_problem(StatusCode::CONFLICT);
    assert!(body["detail"].as_str().unwrap().contains("chosen"));
    assert_eq!(body["errors"][0]["field"], "slug");
    assert_eq!(body["errors"][0]["message"], body["detail"]);

    let a = app
        .create_event(event("Same title", "2024-01-01", &[], "minor"))
        .await;
    let b = app
        .create_event(event("Same title", "2024-01-02", &[], "minor"))
        .await;
    assert_eq!(a["slug"], "same-title");
    let b_slug = b["slug"].as_str().unwrap();
    assert!(
        b_slug.starts_with("same-title-") && b_slug.len() == "same-title-".len() + 8,
        "{b_slug}"
    );
}

#[tokio::test]
async fn a_title_without_ascii_letters_gets_a_fallback_slug() {
    let app = TestApp::new().await;
    let created = app
        .create_event(event("日本の出来事", "2024-01-01", &[], "minor"))
        .await;
    assert_eq!(created["slug"], "event");
}

#[tokio::test]
async fn every_bad_field_is_listed_in_one_422() {
    let app = TestApp::new().await;
    let res = app
        .post_json(
            "/v1/events",
            json!({
                "title": "x".repeat(301),
                "occurred_on": "2024-13-01",
                "category": "gossip",
                "significance": 3,
                "summary": "s".repeat(2001),
                "why_it_matters": "nul \u{0000} inside",
                "tags": ["ok", "c++", 5],
                "sources": [{"url": "ftp://example.com/x", "title": "t"}, {"title": "no url"}],
                "slug": "Not A Slug",
                "id": "0190f7c2-1b2a-7c3d-8e4f-5a6b7c8d9e0f",
                "colour": "red"
            }),
        )
        .await;
    res.assert_invalid_fields(&[
        "title",
        "occurred_on",
        "category",
        "significance",
        "summary",
        "why_it_matters",
        "tags[2]",
        "sources[0].url",
        "sources[1].url",
        "slug",
        "id",
        "colour",
    ]);
    let count: i64 = sqlx::query_scalar("select count(*) from events")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing is written");
}

#[tokio::test]
async fn missing_required_fields_and_non_objects_are_422() {
    let app = TestApp::new().await;
    app.post_json("/v1/events", json!({}))
        .await
        .assert_invalid_fields(&["title", "occurred_on", "category", "significance"]);
    app.post_json("/v1/events", json!([1, 2]))
        .await
        .assert_invalid_fields(&[""]);
    app.post_json("/v1/events", json!("text"))
        .await
        .assert_invalid_fields(&[""]);
    let mut too_many = event("Tags", "2024-01-01", &[], "minor");
    too_many["tags"] = json!((0..21).map(|i| format!("t{i}")).collect::<Vec<_>>());
    app.post_json("/v1/events", too_many)
        .await
        .assert_invalid_fields(&["tags"]);
    let mut sources = event("Sources", "2024-01-01", &[], "minor");
    sources["sources"] = json!(
        (0..21)
            .map(|i| json!({"url": format!("https://e.com/{i}")}))
            .collect::<Vec<_>>()
    );
    app.post_json("/v1/events", sources)
        .await
        .assert_invalid_fields(&["sources"]);
}

#[tokio::test]
async fn duplicate_tags_merge_and_twenty_distinct_is_the_limit() {
    let app = TestApp::new().await;
    let mut body = event("Tags", "2024-01-01", &[], "minor");
    let mut tags: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
    tags.push("T0".into());
    tags.push("#t1".into());
    body["tags"] = json!(tags);
    let created = app.create_event(body).await;
    assert_eq!(created["tags"].as_array().unwrap().len(), 20);
}

#[tokio::test]
async fn patch_merges_bumps_the_version_and_changes_the_etag() {
    let app = TestApp::new().await;
    let created = app.create_event(reference_story()).await;
    let uri = format!("/v1/events/{}", created["id"].as_str().unwrap());
    let res = app
        .patch_json(&uri, json!({"title": "Amazon completes its Anthropic investment", "summary": null, "tags": ["AI"]}))
        .await;
    res.assert_status(StatusCode::OK);
    let patched = res.json();
    assert_eq!(
        patched["title"],
        "Amazon completes its Anthropic investment"
    );
    assert_eq!(
        patched["slug"], created["slug"],
        "the slug stays unless asked"
    );
    assert_eq!(patched["summary"], "", "null removes an optional field");
    assert_eq!(patched["tags"], json!(["ai"]));
    assert_eq!(patched["what_happened"], created["what_happened"]);
    assert_eq!(patched["version"], 2);
    assert_eq!(patched["created_at"], created["created_at"]);
    assert_ne!(patched["updated_at"], created["updated_at"]);
    assert_eq!(
        res.header("etag"),
        Some(format!("\"{}-2\"", created["id"].as_str().unwrap().replace('-', "")).as_str())
    );

    let again = app.patch_json(&uri, json!({"slug": null})).await.json();
    assert_eq!(
        again["slug"], "amazon-completes-its-anthropic-investment",
        "a removed slug is derived again"
    );
    assert_eq!(app.get(&uri).await.json(), again);
}

#[tokio::test]
async fn patch_accepts_plain_json_and_rejects_other_types() {
    let app = TestApp::new().await;
    let created = app.create_event(reference_story()).await;
    let uri = format!("/v1/events/{}", created["slug"].as_str().unwrap());
    let request = app
        .authed(Method::PATCH, &uri)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from(r#"{"significance":"landmark"}"#))
        .unwrap();
    let res = app.send(request).await;
    res.assert_status(StatusCode::OK);
    assert_eq!(res.json()["significance"], "landmark");
    let request = app
        .authed(Method::PATCH, &uri)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(r#"{"significance":"minor"}"#))
        .unwrap();
    app.send(request)
        .await
        .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn a_bad_patch_is_a_422_and_changes_nothing() {
    let app = TestApp::new().await;
    let created = app.create_event(reference_story()).await;
    let uri = format!("/v1/events/{}", created["id"].as_str().unwrap());
    app.patch_json(
        &uri,
        json!({"title": null, "occurred_on": "yesterday", "version": 5, "extra": 1}),
    )
    .await
    .assert_invalid_fields(&["title", "occurred_on", "version", "extra"]);
    assert_eq!(app.get(&uri).await.json(), created);
}

#[tokio::test]
async fn patch_to_a_taken_slug_is_a_409() {
    let app = TestApp::new().await;
    let a = app
        .create_event(event("First", "2024-01-01", &[], "minor"))
        .await;
    app.create_event(event("Second", "2024-01-02", &[], "minor"))
        .await;
    app.patch_json(
        &format!("/v1/events/{}", a["id"].as_str().unwrap()),
        json!({"slug": "second"}),
    )
    .await
    .assert_problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn if_match_guards_patch_and_delete() {
    let app = TestApp::new().await;
    let created = app.create_event(reference_story()).await;
    let uri = format!("/v1/events/{}", created["id"].as_str().unwrap());
    let v1 = app.get(&uri).await.header("etag").unwrap().to_owned();

    let ok = app
        .patch_with(
            &uri,
            json!({"significance": "landmark"}),
            &[("if-match", &v1)],
        )
        .await;
    ok.assert_status(StatusCode::OK);
    let v2 = ok.header("etag").unwrap().to_owned();

    let stale = app
        .patch_with(&uri, json!({"significance": "minor"}), &[("if-match", &v1)])
        .await;
    stale.assert_problem(StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        stale.header("etag"),
        Some(v2.as_str()),
        "a 412 tells the current tag"
    );
    let weak = format!("W/{v2}");
    app.patch_with(
        &uri,
        json!({"significance": "minor"}),
        &[("if-match", &weak)],
    )
    .await
    .assert_problem(StatusCode::PRECONDITION_FAILED);
    app.patch_with(
        &uri,
        json!({"significance": "minor"}),
        &[("if-match", &format!("\"x\", {v2}"))],
    )
    .await
    .assert_status(StatusCode::OK);
    app.patch_with(
        &uri,
        json!({"significance": "notable"}),
        &[("if-match", "*")],
    )
    .await
    .assert_status(StatusCode::OK);

    app.delete_with(&uri, &[("if-match", &v2)])
        .await
        .assert_problem(StatusCode::PRECONDITION_FAILED);
    let current = app.get(&uri).await.header("etag").unwrap().to_owned();
    let res = app.delete_with(&uri, &[("if-match", &current)]).await;
    res.assert_status(StatusCode::NO_CONTENT);
    assert!(res.body.is_empty());
}

#[tokio::test]
async fn a_deleted_event_is_gone_everywhere_but_updated_since() {
    let app = TestApp::new().await;
    let created = app.create_event(reference_story()).await;
    let id = created["id"].as_str().unwrap();
    let uri = format!("/v1/events/{id}");
    app.delete_with(&uri, &[])
        .await
        .assert_status(StatusCode::NO_CONTENT);

    app.get(&uri).await.assert_problem(StatusCode::NOT_FOUND);
    app.get("/v1/events/amazon-completes-4-billion-investment-in-anthropic")
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    app.delete_with(&uri, &[])
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    app.patch_json(&uri, json!({"title": "x"}))
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    assert_eq!(app.get("/v1/events").await.json()["data"], json!([]));
    assert_eq!(
        app.get("/v1/events?tag=investment").await.json()["data"],
        json!([])
    );
    assert_eq!(app.get("/v1/tags").await.json()["data"], json!([]));

    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let polled = app
        .get(&format!("/v1/events?updated_since={yesterday}"))
        .await
        .json();
    let tombstone = &polled["data"][0];
    assert_eq!(tombstone["id"], id);
    assert_eq!(tombstone["slug"], created["slug"]);
    assert_eq!(tombstone["deleted"], true);
    assert!(tombstone["updated_at"].as_str().unwrap() > created["updated_at"].as_str().unwrap());
    assert_eq!(
        tombstone.as_object().unwrap().len(),
        4,
        "a tombstone has exactly four fields"
    );

    // The slug is free again.
    app.create_event(reference_story()).await;
}

#[tokio::test]
async fn get_honours_if_none_match_and_if_modified_since() {
    let app = TestApp::new().await;
    let created = app.create_event(reference_story()).await;
    let uri = format!("/v1/events/{}", created["id"].as_str().unwrap());
    let first = app.get(&uri).await;
    let etag = first.header("etag").unwrap().to_owned();
    let last_modified = first.header("last-modified").unwrap().to_owned();

    let res = app.get_with(&uri, &[("if-none-match", &etag)]).await;
    res.assert_status(StatusCode::NOT_MODIFIED);
    assert!(res.body.is_empty());
    assert_eq!(res.header("etag"), Some(etag.as_str()));
    app.get_with(&uri, &[("if-none-match", &format!("W/{etag}"))])
        .await
        .assert_status(StatusCode::NOT_MODIFIED);
    app.get_with(&uri, &[("if-none-match", "\"other\"")])
        .await
        .assert_status(StatusCode::OK);
    app.get_with(&uri, &[("if-modified-since", &last_modified)])
        .await
        .assert_status(StatusCode::NOT_MODIFIED);
    app.get_with(
        &uri,
        &[("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT")],
    )
    .await
    .assert_status(StatusCode::OK);

    app.patch_json(&uri, json!({"significance": "landmark"}))
        .await
        .assert_status(StatusCode::OK);
    app.get_with(&uri, &[("if-none-match", &etag)])
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn text_is_stored_and_returned_literally() {
    let app = TestApp::new().await;
    let nasty = "Robert'); DROP TABLE events;-- <script>alert(1)</script> 💥 \\ % _ \"quoted\"";
    let mut body = event(nasty, "2024-01-01", &[], "minor");
    body["what_happened"] = json!(nasty);
    let created = app.create_event(body).await;
    assert_eq!(created["title"], nasty);
    let fetched = app
        .get(&format!("/v1/events/{}", created["id"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(fetched["what_happened"], nasty);
}

#[tokio::test]
async fn a_request_with_unknown_method_on_an_event_is_405() {
    let app = TestApp::new().await;
    let request = Request::builder()
        .method(Method::PUT)
        .uri("/v1/events/x")
        .body(Body::empty())
        .unwrap();
    app.send(request)
        .await
        .assert_problem(StatusCode::METHOD_NOT_ALLOWED);
}

/// A write answers with the event it stored, built from what it sent (the row is not read
/// back): the same document a read returns, links, sources and literal text included,
/// after a create, a patch and an import, and the same one each revision keeps.
#[tokio::test]
async fn what_a_write_answers_is_what_a_read_returns_and_its_revision_keeps() {
    let app = TestApp::new().await;
    amazon_and_anthropic(&app).await;
    app.post_json("/v1/partnerships", amazon_anthropic_deal("4000000000"))
        .await
        .assert_status(StatusCode::CREATED);
    let mut body = reference_story();
    body["what_happened"] = json!("Ünïcödé 💥, \"quoted\", back\\slash\nand a second line.");
    body["companies"] = json!([
        {"company": "amazon", "role": "investor"},
        {"company": "anthropic", "role": "investee"}
    ]);
    body["partnerships"] = json!(["amazon-anthropic"]);
    body["sources"] = json!([
        {"url": "https://example.com/a", "title": "A"},
        {"url": "https://example.com/b?x=1&y=2", "title": "B, with a comma"}
    ]);
    let created = app.create_event(body).await;
    assert_eq!(created["companies"][1]["name"], "Anthropic");
    assert_eq!(created["partnerships"][0]["slug"], "amazon-anthropic");
    let uri = format!("/v1/events/{}", created["id"].as_str().unwrap());
    let assert_read_and_kept = |written: Value| {
        let app = &app;
        let uri = uri.clone();
        async move {
            assert_eq!(app.get(&uri).await.json(), written);
            let revisions = app.get(&format!("{uri}/revisions")).await.json();
            assert_eq!(revisions["data"][0]["data"], written);
        }
    };
    assert_read_and_kept(created.clone()).await;

    let patched = app
        .patch_json(
            &uri,
            json!({"tags": ["Zeta", "alpha"], "companies": [{"company": "anthropic", "role": "subject"}],
                   "partnerships": [], "significance": "landmark"}),
        )
        .await;
    patched.assert_status(StatusCode::OK);
    let patched = patched.json();
    assert_eq!(patched["version"], 2);
    assert_eq!(patched["tags"], json!(["zeta", "alpha"]));
    assert_read_and_kept(patched.clone()).await;

    // An import's update answers no document, so what it wrote is checked through the
    // revision it keeps and the read.
    let mut record = patched.clone();
    for field in ["created_at", "updated_at", "version"] {
        record.as_object_mut().unwrap().remove(field);
    }
    record["companies"] = json!([{"company": "amazon", "role": "acquirer"}]);
    record["summary"] = json!("Imported over the top.");
    let imported = app
        .send(
            app.authed(Method::POST, "/v1/events/import?on_conflict=update")
                .header(header::CONTENT_TYPE, "application/x-ndjson")
                .body(Body::from(record.to_string()))
                .unwrap(),
        )
        .await;
    imported.assert_status(StatusCode::CREATED);
    assert_eq!(imported.json()["updated"], 1);
    let read = app.get(&uri).await.json();
    assert_eq!(read["version"], 3);
    assert_eq!(read["summary"], "Imported over the top.");
    assert_eq!(read["companies"][0]["role"], "acquirer");
    assert_read_and_kept(read).await;
}
