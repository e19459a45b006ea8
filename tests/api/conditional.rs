//! Conditional list requests answered from the change notes: a poll of an unchanged
//! list is one statement, no committed change to what it shows, however it was made, is
//! answered with a 304, and changes elsewhere (other tags) leave it a 304.

use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, TestResponse, count_statements, event};

const LIST: &str = "/v1/events?tag=watched";

/// Two watched events; returns the list's ETag after a conditional poll has taught the
/// server that ETag (the first conditional request builds the page).
async fn watched(app: &TestApp) -> String {
    app.create_event(event("Watched one", "2024-01-01", &["watched"], "minor"))
        .await;
    app.create_event(event("Watched two", "2024-01-02", &["watched"], "major"))
        .await;
    let etag = app.get(LIST).await.header("etag").unwrap().to_owned();
    poll(app, &etag)
        .await
        .assert_status(StatusCode::NOT_MODIFIED);
    etag
}

async fn poll(app: &TestApp, etag: &str) -> TestResponse {
    app.get_with(LIST, &[("if-none-match", etag)]).await
}

fn assert_bare_not_modified(res: &TestResponse, etag: &str) {
    res.assert_status(StatusCode::NOT_MODIFIED);
    assert!(res.body.is_empty());
    assert_eq!(res.header("etag"), Some(etag));
    assert_eq!(res.header("cache-control"), Some("no-cache"));
    assert_eq!(res.header("link"), None);
    assert_eq!(res.header("next-updated-since"), None);
}

#[tokio::test]
async fn a_poll_of_an_unchanged_list_costs_one_statement_and_not_the_page() {
    let app = TestApp::new().await;
    let etag = watched(&app).await;
    let count = count_statements();
    let res = poll(&app, &etag).await;
    let statements = count.get();
    drop(count);
    assert_bare_not_modified(&res, &etag);
    assert_eq!(statements, 1, "only the change marker is read");
    // Weak comparison, and lists of tags, still apply.
    let strong = etag.trim_start_matches("W/");
    assert_bare_not_modified(&poll(&app, strong).await, &etag);
    assert_bare_not_modified(&poll(&app, &format!("\"other\", {etag}")).await, &etag);
}

#[tokio::test]
async fn the_uncached_304_has_the_same_headers_as_the_cached_one() {
    let app = TestApp::new().await;
    for title in ["Watched one", "Watched two"] {
        app.create_event(event(title, "2024-01-01", &["watched"], "minor"))
            .await;
    }
    let first = app.get(&format!("{LIST}&limit=1")).await;
    assert!(first.header("link").is_some());
    let etag = first.header("etag").unwrap();
    // The first conditional request builds the page; the second is served from the
    // marker. Neither repeats the 200's link or watermark.
    for _ in 0..2 {
        let res = app
            .get_with(&format!("{LIST}&limit=1"), &[("if-none-match", etag)])
            .await;
        assert_bare_not_modified(&res, etag);
    }
}

#[tokio::test]
async fn an_other_etag_gets_the_current_page() {
    let app = TestApp::new().await;
    let etag = watched(&app).await;
    let res = poll(&app, "W/\"something-else\"").await;
    res.assert_status(StatusCode::OK);
    assert_eq!(res.header("etag"), Some(etag.as_str()));
    assert_eq!(res.json()["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_change_made_with_plain_sql_is_seen_by_the_next_poll() {
    let app = TestApp::new().await;
    let etag = watched(&app).await;
    sqlx::query("update events set title = 'Renamed by hand' where slug = 'watched-one'")
        .execute(&app.db)
        .await
        .unwrap();
    let res = poll(&app, &etag).await;
    res.assert_status(StatusCode::OK);
    assert_eq!(res.json()["data"][1]["title"], "Renamed by hand");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_committed_after_a_page_was_remembered_is_seen() {
    let app = TestApp::new().await;
    let etag = watched(&app).await;
    // A write in flight while the server answers (and remembers) the poll...
    let mut slow = app.db.begin().await.unwrap();
    sqlx::query("update events set summary = 'committed late' where slug = 'watched-two'")
        .execute(&mut *slow)
        .await
        .unwrap();
    assert_bare_not_modified(&poll(&app, &etag).await, &etag);
    // ...is seen as soon as it commits.
    slow.commit().await.unwrap();
    let res = poll(&app, &etag).await;
    res.assert_status(StatusCode::OK);
    assert_eq!(res.json()["data"][0]["summary"], "committed late");
}

#[tokio::test]
async fn a_rolled_back_write_moves_nothing() {
    let app = TestApp::new().await;
    let etag = watched(&app).await;
    let mut tx = app.db.begin().await.unwrap();
    sqlx::query("update events set title = 'Never' where slug = 'watched-one'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let count = count_statements();
    let res = poll(&app, &etag).await;
    assert_eq!(count.get(), 1);
    assert_bare_not_modified(&res, &etag);
}

#[tokio::test]
async fn renaming_a_company_changes_the_event_lists_that_name_it() {
    let app = TestApp::new().await;
    app.post_json(
        "/v1/companies",
        json!({"slug": "anthropic", "name": "Anthropic", "kind": "ai_lab"}),
    )
    .await
    .assert_status(StatusCode::CREATED);
    let mut body = event("Watched one", "2024-01-01", &["watched"], "minor");
    body["companies"] = json!([{"company": "anthropic", "role": "subject"}]);
    app.create_event(body).await;
    let etag = app.get(LIST).await.header("etag").unwrap().to_owned();
    assert_bare_not_modified(&poll(&app, &etag).await, &etag);

    app.patch_json("/v1/companies/anthropic", json!({"name": "Anthropic PBC"}))
        .await
        .assert_status(StatusCode::OK);
    let res = poll(&app, &etag).await;
    res.assert_status(StatusCode::OK);
    assert_eq!(
        res.json()["data"][0]["companies"][0]["name"],
        "Anthropic PBC"
    );
}

#[tokio::test]
async fn every_list_is_answered_from_the_marker() {
    let app = TestApp::new().await;
    let admin = app
        .token("admin", industry_events::model::Scope::Admin)
        .await;
    app.post_json(
        "/v1/companies",
        json!({"slug": "anthropic", "name": "Anthropic", "kind": "ai_lab"}),
    )
    .await
    .assert_status(StatusCode::CREATED);
    app.create_event(event("Watched one", "2024-01-01", &["watched"], "minor"))
        .await;
    let auth = format!("Bearer {admin}");
    for list in [
        "/v1/events",
        "/v1/companies",
        "/v1/companies/anthropic/events",
        "/v1/companies/anthropic/partnerships",
        "/v1/companies/anthropic/revisions",
        "/v1/events/watched-one/revisions",
        "/v1/partnerships",
        "/v1/tags",
        "/v1/audit",
    ] {
        let etag = app
            .get_with(list, &[("authorization", &auth)])
            .await
            .header("etag")
            .unwrap()
            .to_owned();
        let conditional = [("authorization", auth.as_str()), ("if-none-match", &etag)];
        app.get_with(list, &conditional)
            .await
            .assert_status(StatusCode::NOT_MODIFIED);
        let count = count_statements();
        let res = app.get_with(list, &conditional).await;
        let statements = count.get();
        drop(count);
        assert_bare_not_modified(&res, &etag);
        // The admin token is checked first on /v1/audit (and counted), then the notes.
        let expected = if list == "/v1/audit" { 2 } else { 1 };
        assert_eq!(statements, expected, "{list}");
    }
}

#[tokio::test]
async fn a_conditional_request_still_validates_its_parameters() {
    let app = TestApp::new().await;
    let etag = watched(&app).await;
    app.get_with(
        "/v1/events?tag=watched&limit=0",
        &[("if-none-match", &etag)],
    )
    .await
    .assert_bad_param("limit");
    app.get_with("/v1/companies/nobody/events", &[("if-none-match", "*")])
        .await
        .assert_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_list_by_tag_stays_304_while_other_tags_change_and_not_when_its_own_do() {
    let app = TestApp::new().await;
    let etag = watched(&app).await;
    let other = app
        .create_event(event("Elsewhere", "2024-02-01", &["other"], "minor"))
        .await;
    app.patch_json(
        &format!("/v1/events/{}", other["id"].as_str().unwrap()),
        json!({"summary": "still elsewhere"}),
    )
    .await
    .assert_status(StatusCode::OK);
    let count = count_statements();
    let res = poll(&app, &etag).await;
    assert_eq!(count.get(), 1, "one probe of the change notes");
    drop(count);
    assert_bare_not_modified(&res, &etag);

    // A list without a tag shows every event, so it did change.
    let all = app
        .get("/v1/events")
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    app.get_with("/v1/events", &[("if-none-match", &all)])
        .await
        .assert_status(StatusCode::NOT_MODIFIED);
    app.create_event(event("Elsewhere too", "2024-02-02", &["other"], "minor"))
        .await;
    app.get_with("/v1/events", &[("if-none-match", &all)])
        .await
        .assert_status(StatusCode::OK);

    // An event that takes the tag enters the list...
    let res = app
        .patch_json(
            &format!("/v1/events/{}", other["id"].as_str().unwrap()),
            json!({"tags": ["other", "watched"]}),
        )
        .await;
    res.assert_status(StatusCode::OK);
    let res = poll(&app, &etag).await;
    res.assert_status(StatusCode::OK);
    assert_eq!(res.json()["data"].as_array().unwrap().len(), 3);
    let etag = res.header("etag").unwrap().to_owned();
    assert_bare_not_modified(&poll(&app, &etag).await, &etag);
    // ...and one that drops it leaves, seen through the tags it had.
    app.patch_json(
        &format!("/v1/events/{}", other["id"].as_str().unwrap()),
        json!({"tags": ["other"]}),
    )
    .await
    .assert_status(StatusCode::OK);
    let res = poll(&app, &etag).await;
    res.assert_status(StatusCode::OK);
    assert_eq!(res.json()["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn change_notes_are_written_once_per_scope_and_purged_when_old() {
    let app = TestApp::new().await;
    app.create_event(event("Noted", "2024-01-01", &["a", "b"], "minor"))
        .await;
    let scopes: Vec<String> = sqlx::query_scalar("select scope from list_changes order by scope")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(scopes, ["event", "event-tag:a", "event-tag:b"]);
    sqlx::query("update list_changes set at = now() - interval '11 minutes'")
        .execute(&app.db)
        .await
        .unwrap();
    // A TRUNCATE cannot say what it removed: it changes every list.
    sqlx::query("truncate partnership_tranches")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(
        industry_events::repo::changes::purge(&app.db)
            .await
            .unwrap(),
        3
    );
    let left: Vec<String> = sqlx::query_scalar("select scope from list_changes")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(left, ["*"], "the recent note stays");
}

/// A note is written when its statement runs, so a transaction open longer than notes
/// are kept commits with notes the purge may take at once. A snapshot taken while it was
/// open never saw it: with its notes gone, that snapshot must count as changed, while
/// one taken after the commit still checks as unchanged.
#[tokio::test]
async fn a_snapshot_older_than_a_purged_transaction_counts_as_changed() {
    use industry_events::model::ListScope;
    use industry_events::repo::changes;

    let app = TestApp::new().await;
    let mut long = app.db.begin().await.unwrap();
    sqlx::query(
        "insert into events (id, slug, title, occurred_on, category, significance, tags) \
         values (gen_random_uuid(), 'long-one', 'Long one', '2024-01-01', 'other', 0, '{slow}')",
    )
    .execute(&mut *long)
    .await
    .unwrap();
    let long_xid: String = sqlx::query_scalar("select pg_current_xact_id()::text")
        .fetch_one(&mut *long)
        .await
        .unwrap();
    let during = changes::snapshot(&app.db).await.unwrap();
    long.commit().await.unwrap();
    // Snapshots are the cluster's: another test's open transaction holds every
    // snapshot's xmin back. Wait until one is taken with the long transaction behind
    // it, as it would be on a quiet server.
    let xmin = |snapshot: &changes::Snapshot| -> u64 {
        snapshot
            .as_str()
            .split(':')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let long_xid: u64 = long_xid.parse().unwrap();
    let mut after = changes::snapshot(&app.db).await.unwrap();
    for _ in 0..200 {
        if xmin(&after) > long_xid {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        after = changes::snapshot(&app.db).await.unwrap();
    }
    assert!(
        xmin(&after) > long_xid,
        "other transactions kept the xmin back"
    );
    let scopes = [ListScope::Events];

    // While the notes are there, both answers come from them.
    assert!(
        changes::changed_since(&app.db, &during, &scopes)
            .await
            .unwrap()
            .0
    );
    assert!(
        !changes::changed_since(&app.db, &after, &scopes)
            .await
            .unwrap()
            .0
    );

    // The notes look as old as the transaction's start, and go.
    sqlx::query("update list_changes set at = now() - interval '11 minutes'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(changes::purge(&app.db).await.unwrap(), 2);
    assert_eq!(
        changes::purge(&app.db).await.unwrap(),
        0,
        "nothing left to purge"
    );
    assert!(
        changes::changed_since(&app.db, &during, &scopes)
            .await
            .unwrap()
            .0,
        "a snapshot from before the purged commit cannot be checked: changed"
    );
    assert!(
        !changes::changed_since(&app.db, &after, &scopes)
            .await
            .unwrap()
            .0,
        "a snapshot from after it still checks as unchanged"
    );
}
