//! Safe writes: concurrent If-Match, Idempotency-Key (including races), the audit
//! trail and revisions.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use futures::future::join_all;
use industry_events::model::Scope;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, TestResponse, amazon_and_anthropic, amazon_anthropic_deal, event, reference_story,
};

#[tokio::test]
async fn of_twenty_concurrent_patches_with_one_if_match_exactly_one_wins() {
    let app = TestApp::new().await;
    let created = app.post_json("/v1/events", reference_story()).await;
    let etag = created.header("etag").unwrap().to_owned();
    let uri = format!("/v1/events/{}", created.json()["id"].as_str().unwrap());
    let patches = (0..20).map(|i| {
        let (app, uri, etag) = (&app, uri.clone(), etag.clone());
        async move {
            app.patch_with(
                &uri,
                json!({"summary": format!("writer {i}")}),
                &[("if-match", &etag)],
            )
            .await
        }
    });
    let results: Vec<TestResponse> = join_all(patches).await;
    let ok = results
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let stale = results
        .iter()
        .filter(|r| r.status == StatusCode::PRECONDITION_FAILED)
        .count();
    assert_eq!(
        (ok, stale),
        (1, 19),
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(app.get(&uri).await.json()["version"], 2);
}

fn post_with_key(app: &TestApp, path: &str, key: &str, body: &Value) -> Request<Body> {
    app.authed(Method::POST, path)
        .header(header::CONTENT_TYPE, "application/json")
        .header("idempotency-key", key)
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let sql = match table {
        "events" => "select count(*) from events",
        "companies" => "select count(*) from companies",
        _ => "select count(*) from partnerships",
    };
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn a_retried_post_returns_the_first_answer_and_creates_nothing() {
    let app = TestApp::new().await;
    let body = reference_story();
    let first = app
        .send(post_with_key(&app, "/v1/events", "key-1", &body))
        .await;
    first.assert_status(StatusCode::CREATED);
    let retry = app
        .send(post_with_key(&app, "/v1/events", "key-1", &body))
        .await;
    retry.assert_status(StatusCode::CREATED);
    assert_eq!(retry.body, first.body, "the same body, byte for byte");
    assert_eq!(retry.header("location"), first.header("location"));
    assert_eq!(retry.header("etag"), first.header("etag"));
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.header("idempotent-replayed"), None);
    assert_eq!(count(&app, "events").await, 1);

    // The same body with its fields in another order is the same request.
    let mut reordered = serde_json::Map::new();
    for (k, v) in body.as_object().unwrap().iter().rev() {
        reordered.insert(k.clone(), v.clone());
    }
    let again = app
        .send(post_with_key(
            &app,
            "/v1/events",
            "key-1",
            &Value::Object(reordered),
        ))
        .await;
    assert_eq!(again.body, first.body);

    // The same key with another body is a 422, and creates nothing.
    let other = event("Another", "2024-01-01", &[], "minor");
    let res = app
        .send(post_with_key(&app, "/v1/events", "key-1", &other))
        .await;
    let problem = res.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(count(&app, "events").await, 1);

    // Keys belong to their client: another token's identical key is another request.
    let other_token = app.token("other-writer", Scope::Write).await;
    let request = Request::post("/v1/events")
        .header(header::AUTHORIZATION, format!("Bearer {other_token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header("idempotency-key", "key-1")
        .body(Body::from(other.to_string()))
        .unwrap();
    app.send(request).await.assert_status(StatusCode::CREATED);
    assert_eq!(count(&app, "events").await, 2);
}

#[tokio::test]
async fn concurrent_posts_with_one_key_create_one_resource() {
    let app = TestApp::new().await;
    let body = event("Raced", "2024-01-01", &["race"], "minor");
    let posts = (0..12).map(|_| app.send(post_with_key(&app, "/v1/events", "race-key", &body)));
    let results: Vec<TestResponse> = join_all(posts).await;
    assert!(
        results.iter().all(|r| r.status == StatusCode::CREATED),
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let ids: std::collections::HashSet<String> = results
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "one resource, one id in every answer");
    assert_eq!(count(&app, "events").await, 1);
}

#[tokio::test]
async fn every_post_honours_idempotency_keys_and_bad_keys_are_400() {
    let app = TestApp::new().await;
    let company = json!({"name": "Amazon", "kind": "cloud_provider"});
    for _ in 0..2 {
        app.send(post_with_key(&app, "/v1/companies", "c", &company))
            .await
            .assert_status(StatusCode::CREATED);
    }
    app.post_json(
        "/v1/companies",
        json!({"name": "Anthropic", "kind": "ai_lab"}),
    )
    .await
    .assert_status(StatusCode::CREATED);
    assert_eq!(count(&app, "companies").await, 2);
    let deal = json!({
        "title": "Deal", "kind": "investment", "status": "active", "announced_on": "2024-01-01",
        "parties": [{"company": "amazon", "role": "investor"}, {"company": "anthropic", "role": "investee"}]
    });
    for _ in 0..2 {
        app.send(post_with_key(&app, "/v1/partnerships", "p", &deal))
            .await
            .assert_status(StatusCode::CREATED);
    }
    assert_eq!(count(&app, "partnerships").await, 1);

    let body = event("Keyed", "2024-01-01", &[], "minor");
    for bad in ["", &"k".repeat(256), "with space", "naïve"] {
        let request = app
            .authed(Method::POST, "/v1/events")
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                "idempotency-key",
                axum::http::HeaderValue::from_bytes(bad.as_bytes()).unwrap(),
            )
            .body(Body::from(body.to_string()))
            .unwrap();
        app.send(request)
            .await
            .assert_problem(StatusCode::BAD_REQUEST);
    }
    // A failed create stores no key: the corrected retry under the same key succeeds.
    let broken = json!({"title": "Keyed"});
    app.send(post_with_key(&app, "/v1/events", "fix-me", &broken))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.send(post_with_key(&app, "/v1/events", "fix-me", &body))
        .await
        .assert_status(StatusCode::CREATED);
}

#[tokio::test]
async fn every_write_is_in_the_audit_trail_which_only_admins_read() {
    let app = TestApp::new().await;
    let request = app
        .authed(Method::POST, "/v1/events")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-request-id", "req-create-1")
        .body(Body::from(reference_story().to_string()))
        .unwrap();
    let created = app.send(request).await.json();
    let id = created["id"].as_str().unwrap();
    let uri = format!("/v1/events/{id}");
    app.patch_json(&uri, json!({"significance": "landmark"}))
        .await
        .assert_status(StatusCode::OK);
    // Refused writes leave no trace.
    app.patch_with(
        &uri,
        json!({"significance": "minor"}),
        &[("if-match", "\"stale\"")],
    )
    .await
    .assert_problem(StatusCode::PRECONDITION_FAILED);
    app.patch_json(&uri, json!({"title": null}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.delete_with(&uri, &[])
        .await
        .assert_status(StatusCode::NO_CONTENT);
    app.post_json(
        "/v1/companies",
        json!({"name": "Amazon", "kind": "cloud_provider"}),
    )
    .await
    .assert_status(StatusCode::CREATED);

    let admin = app.token("auditor", Scope::Admin).await;
    let auth = format!("Bearer {admin}");
    let res = app.get_with("/v1/audit", &[("authorization", &auth)]).await;
    res.assert_status(StatusCode::OK);
    let entries = res.json()["data"].as_array().unwrap().clone();
    let actions: Vec<(&str, &str, i64)> = entries
        .iter()
        .map(|e| {
            (
                e["resource"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["version"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("company", "create", 1),
            ("event", "delete", 3),
            ("event", "update", 2),
            ("event", "create", 1)
        ]
    );
    let first = entries.last().unwrap();
    assert_eq!(first["id"], id);
    assert_eq!(first["token"], "test-writer");
    assert_eq!(first["request_id"], "req-create-1");
    assert!(first["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(first.as_object().unwrap().len(), 7, "{first}");

    let only_events = app
        .get_with(
            "/v1/audit?resource=event&limit=2",
            &[("authorization", &auth)],
        )
        .await
        .json();
    assert_eq!(only_events["data"].as_array().unwrap().len(), 2);
    let cursor = only_events["next_cursor"].as_str().unwrap();
    let rest = app
        .get_with(
            &format!("/v1/audit?resource=event&limit=2&cursor={cursor}"),
            &[("authorization", &auth)],
        )
        .await
        .json();
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    let none = app
        .get_with("/v1/audit?token=nobody", &[("authorization", &auth)])
        .await
        .json();
    assert_eq!(none["data"], json!([]));
    let since = entries[1]["at"].as_str().unwrap();
    let recent = app
        .get_with(
            &format!("/v1/audit?since={since}"),
            &[("authorization", &auth)],
        )
        .await
        .json();
    assert_eq!(recent["data"].as_array().unwrap().len(), 1);

    app.get_with("/v1/audit?resource=user", &[("authorization", &auth)])
        .await
        .assert_bad_param("resource");
    app.get_with("/v1/audit?since=yesterday", &[("authorization", &auth)])
        .await
        .assert_bad_param("since");
    app.get("/v1/audit")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    let writer = format!("Bearer {}", app.write_token);
    app.get_with("/v1/audit", &[("authorization", &writer)])
        .await
        .assert_problem(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn revisions_hold_every_version_newest_first() {
    let app = TestApp::new().await;
    let created = app.create_event(reference_story()).await;
    let uri = format!("/v1/events/{}", created["slug"].as_str().unwrap());
    app.patch_json(
        &uri,
        json!({"title": "Amazon completes its Anthropic investment"}),
    )
    .await
    .assert_status(StatusCode::OK);
    app.patch_json(&uri, json!({"significance": "landmark"}))
        .await
        .assert_status(StatusCode::OK);
    let res = app.get(&format!("{uri}/revisions")).await;
    res.assert_status(StatusCode::OK);
    assert!(res.header("etag").is_some());
    let revisions = res.json()["data"].as_array().unwrap().clone();
    let versions: Vec<i64> = revisions
        .iter()
        .map(|r| r["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [3, 2, 1]);
    assert_eq!(revisions[2]["action"], "create");
    assert_eq!(revisions[2]["data"]["title"], created["title"]);
    assert_eq!(
        revisions[1]["data"]["title"],
        "Amazon completes its Anthropic investment"
    );
    assert_eq!(revisions[0]["data"]["significance"], "landmark");
    assert_eq!(revisions[0]["changed_by"], "test-writer");
    assert!(revisions[0]["changed_at"].is_string());
    assert_eq!(
        revisions[0]["data"],
        app.get(&uri).await.json(),
        "the newest revision is the event as it is"
    );

    app.post_json(
        "/v1/companies",
        json!({"name": "Amazon", "kind": "cloud_provider"}),
    )
    .await
    .assert_status(StatusCode::CREATED);
    app.patch_json("/v1/companies/amazon", json!({"country": "US"}))
        .await
        .assert_status(StatusCode::OK);
    let company = app.get("/v1/companies/amazon/revisions").await.json();
    assert_eq!(company["data"].as_array().unwrap().len(), 2);
    app.get("/v1/events/nope/revisions")
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    app.get("/v1/partnerships/nope/revisions")
        .await
        .assert_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_seed_writes_as_the_seed_actor() {
    let app = TestApp::new().await;
    industry_events::seed::load_demo(&app.db).await.unwrap();
    let revisions = app
        .get("/v1/events/amazon-completes-4-billion-investment-in-anthropic/revisions")
        .await
        .json();
    assert_eq!(revisions["data"][0]["changed_by"], "seed");
}

#[tokio::test]
async fn a_deleted_records_revisions_stay_readable_by_id_and_end_with_its_delete() {
    let app = TestApp::new().await;
    let amazon = app
        .post_json(
            "/v1/companies",
            json!({"name": "Amazon", "kind": "cloud_provider"}),
        )
        .await
        .json();
    let anthropic = app
        .post_json(
            "/v1/companies",
            json!({"name": "Anthropic", "kind": "ai_lab"}),
        )
        .await
        .json();
    let deal = app
        .post_json(
            "/v1/partnerships",
            json!({
                "title": "Amazon-Anthropic", "kind": "investment", "status": "active",
                "announced_on": "2023-09-25",
                "parties": [{"company": "amazon", "role": "investor"}, {"company": "anthropic", "role": "investee"}]
            }),
        )
        .await
        .json();
    let event = app.create_event(reference_story()).await;
    let cases = [
        ("events", event),
        ("partnerships", deal),
        ("companies", anthropic),
    ];
    for (collection, record) in &cases {
        let id = record["id"].as_str().unwrap();
        let slug = record["slug"].as_str().unwrap();
        app.delete_with(&format!("/v1/{collection}/{id}"), &[])
            .await
            .assert_status(StatusCode::NO_CONTENT);
        let res = app.get(&format!("/v1/{collection}/{id}/revisions")).await;
        res.assert_status(StatusCode::OK);
        let revisions = res.json()["data"].as_array().unwrap().clone();
        let actions: Vec<&str> = revisions
            .iter()
            .map(|r| r["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["delete", "create"], "{collection}");
        assert_eq!(revisions[0]["changed_by"], "test-writer", "who deleted it");
        assert_eq!(revisions[0]["data"]["slug"], slug, "what it was");
        // Its slug names nothing now (and may name another record later).
        app.get(&format!("/v1/{collection}/{slug}/revisions"))
            .await
            .assert_problem(StatusCode::NOT_FOUND);
    }
    let never = "0190f7c2-1b2a-7c3d-8e4f-5a6b7c8d9e0f";
    for collection in ["events", "companies", "partnerships"] {
        app.get(&format!("/v1/{collection}/{never}/revisions"))
            .await
            .assert_problem(StatusCode::NOT_FOUND);
    }
    // An id of another kind of record is not this kind's.
    let amazon_id = amazon["id"].as_str().unwrap();
    app.get(&format!("/v1/events/{amazon_id}/revisions"))
        .await
        .assert_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_audit_resource_filter_takes_the_singular_and_the_paths_plural() {
    let app = TestApp::new().await;
    let admin = format!("Bearer {}", app.token("auditor", Scope::Admin).await);
    app.create_event(reference_story()).await;
    app.post_json(
        "/v1/companies",
        json!({"name": "Amazon", "kind": "cloud_provider"}),
    )
    .await
    .assert_status(StatusCode::CREATED);
    for (singular, plural) in [
        ("event", "events"),
        ("company", "companies"),
        ("partnership", "partnerships"),
    ] {
        let one = app
            .get_with(
                &format!("/v1/audit?resource={singular}"),
                &[("authorization", &admin)],
            )
            .await;
        one.assert_status(StatusCode::OK);
        let other = app
            .get_with(
                &format!("/v1/audit?resource={plural}"),
                &[("authorization", &admin)],
            )
            .await;
        other.assert_status(StatusCode::OK);
        assert_eq!(one.json()["data"], other.json()["data"], "{plural}");
        for entry in one.json()["data"].as_array().unwrap() {
            assert_eq!(entry["resource"], singular, "rows say the singular");
        }
    }
    let events = app
        .get_with("/v1/audit?resource=events", &[("authorization", &admin)])
        .await
        .json();
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_patch_that_changes_nothing_makes_no_new_version() {
    let app = TestApp::new().await;
    let created = app.post_json("/v1/events", reference_story()).await;
    created.assert_status(StatusCode::CREATED);
    let etag = created.header("etag").unwrap().to_owned();
    let stored = created.json();
    let uri = format!("/v1/events/{}", stored["id"].as_str().unwrap());
    for patch in [
        json!({}),
        json!({"title": stored["title"], "significance": "major", "tags": stored["tags"]}),
        json!({"slug": stored["slug"], "sources": stored["sources"]}),
        // The slug made again from the title is the one it has.
        json!({"slug": null}),
    ] {
        let res = app
            .patch_with(&uri, patch.clone(), &[("if-match", &etag)])
            .await;
        res.assert_status(StatusCode::OK);
        assert_eq!(res.header("etag"), Some(etag.as_str()), "{patch}");
        assert_eq!(res.json(), stored, "{patch}");
    }
    // The precondition still holds a patch that would change nothing.
    app.patch_with(&uri, json!({}), &[("if-match", "\"stale\"")])
        .await
        .assert_problem(StatusCode::PRECONDITION_FAILED);
    let updates = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from audit_log where action = 'update'")
            .fetch_one(&app.db)
            .await
            .unwrap()
    };
    assert_eq!(updates().await, 0);
    let revisions = app.get(&format!("{uri}/revisions")).await.json();
    assert_eq!(revisions["data"].as_array().unwrap().len(), 1);

    // A change, however small, is a version.
    let res = app
        .patch_json(&uri, json!({"tags": ["partnership", "investment"]}))
        .await;
    res.assert_status(StatusCode::OK);
    assert_eq!(res.json()["version"], 2);
    assert_eq!(updates().await, 1);

    // Companies and deals alike; a deal's amount written at another scale is a change.
    amazon_and_anthropic(&app).await;
    let res = app
        .patch_json(
            "/v1/companies/amazon",
            json!({"name": "Amazon", "tags": []}),
        )
        .await;
    assert_eq!(res.json()["version"], 1);
    let deal = app
        .post_json("/v1/partnerships", amazon_anthropic_deal("1.50"))
        .await
        .json();
    let deal_uri = "/v1/partnerships/amazon-anthropic";
    let same = app
        .patch_json(
            deal_uri,
            json!({"tranches": deal["tranches"], "exclusive": false}),
        )
        .await;
    same.assert_status(StatusCode::OK);
    assert_eq!(same.json()["version"], 1);
    let mut rescaled = deal["tranches"].clone();
    rescaled[0]["amount"]["amount"] = json!("1.5");
    let changed = app
        .patch_json(deal_uri, json!({"tranches": rescaled, "total": null}))
        .await;
    changed.assert_status(StatusCode::OK);
    assert_eq!(changed.json()["version"], 2);
    assert_eq!(changed.json()["tranches"][0]["amount"]["amount"], "1.5");
    assert_eq!(updates().await, 2);
}

#[tokio::test]
async fn clearing_a_slug_is_a_version_only_when_the_slug_made_again_differs() {
    let app = TestApp::new().await;
    let mut story = reference_story();
    story["slug"] = json!("amazon-anthropic-4b");
    let created = app.post_json("/v1/events", story).await;
    created.assert_status(StatusCode::CREATED);
    let uri = format!("/v1/events/{}", created.json()["id"].as_str().unwrap());
    let res = app.patch_json(&uri, json!({"slug": null})).await;
    res.assert_status(StatusCode::OK);
    let made = res.json();
    assert_eq!(made["version"], 2);
    assert_eq!(
        made["slug"],
        "amazon-completes-4-billion-investment-in-anthropic"
    );
    // Cleared again: the slug made from the title is the one it now has.
    let res = app.patch_json(&uri, json!({"slug": null})).await;
    res.assert_status(StatusCode::OK);
    assert_eq!(res.json(), made);

    // A suffixed slug (another event held the title's when it was made) stays too.
    let twin = app.post_json("/v1/events", reference_story()).await;
    twin.assert_status(StatusCode::CREATED);
    let twin = twin.json();
    assert_ne!(twin["slug"], made["slug"]);
    let twin_uri = format!("/v1/events/{}", twin["id"].as_str().unwrap());
    let res = app.patch_json(&twin_uri, json!({"slug": null})).await;
    res.assert_status(StatusCode::OK);
    assert_eq!(res.json(), twin);
}
