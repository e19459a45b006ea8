//! Bounded history: a poll from before the tombstone horizon is a 410, and the purge
//! removes tombstones, audit rows and clock notes past their retention.

use axum::http::StatusCode;
use sqlx::PgPool;

use crate::helpers::{TestApp, encode, event, ids};

/// Moves the transaction clock so that a note dated `days_ago` exists with an id that
/// every position taken so far has not reached, and reads the horizon again: as if
/// everything before this call had happened `days_ago` days ago.
pub async fn age_everything(app: &TestApp, days_ago: i32) {
    sqlx::query(
        "insert into xid_clock (xid, at) \
         values (pg_current_xact_id(), now() - make_interval(days => $1))",
    )
    .bind(days_ago)
    .execute(&app.db)
    .await
    .unwrap();
    app.state.horizon.refresh(&app.db).await.unwrap();
}

#[tokio::test]
async fn a_poll_from_before_the_horizon_is_a_410_and_one_after_it_is_not() {
    let app = TestApp::with_config(|c| c.tombstone_retention_days = 30).await;
    app.create_event(event("Old news", "2024-01-01", &["ai"], "minor"))
        .await;
    let old = app
        .get("/v1/events")
        .await
        .header("next-updated-since")
        .unwrap()
        .to_owned();
    age_everything(&app, 31).await;
    let fresh = app
        .get("/v1/events")
        .await
        .header("next-updated-since")
        .unwrap()
        .to_owned();

    let gone = app
        .get(&format!("/v1/events?updated_since={}", encode(&old)))
        .await;
    let problem = gone.assert_problem(StatusCode::GONE);
    assert_eq!(
        problem["type"],
        "urn:problem:industry-events:resync-required"
    );
    assert_eq!(problem["parameter"], "updated_since");
    // The same on a company's events, and for a time before the horizon.
    let long_ago = (chrono::Utc::now() - chrono::Duration::days(31)).to_rfc3339();
    app.get(&format!("/v1/events?updated_since={}", encode(&long_ago)))
        .await
        .assert_problem(StatusCode::GONE);

    let later = app
        .create_event(event("New news", "2024-02-01", &["ai"], "minor"))
        .await;
    let res = app
        .get(&format!("/v1/events?updated_since={}", encode(&fresh)))
        .await;
    res.assert_status(StatusCode::OK);
    assert_eq!(ids(&res.json()), [later["id"].as_str().unwrap()]);
    let recent = (chrono::Utc::now() - chrono::Duration::days(29)).to_rfc3339();
    app.get(&format!("/v1/events?updated_since={}", encode(&recent)))
        .await
        .assert_status(StatusCode::OK);
}

async fn count(db: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

#[tokio::test]
async fn the_purge_removes_what_is_past_retention_and_keeps_the_rest() {
    let app = TestApp::new().await;
    let old = app
        .create_event(event("Deleted long ago", "2024-01-01", &["ai"], "minor"))
        .await;
    let recent = app
        .create_event(event("Deleted lately", "2024-01-02", &["ai"], "minor"))
        .await;
    for e in [&old, &recent] {
        app.delete_with(&format!("/v1/events/{}", e["id"].as_str().unwrap()), &[])
            .await
            .assert_status(StatusCode::NO_CONTENT);
    }
    sqlx::query("update events set deleted_at = now() - interval '40 days' where id = $1::uuid")
        .bind(old["id"].as_str().unwrap())
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "update audit_log set at = now() - interval '50 days' where resource_id = $1::uuid",
    )
    .bind(old["id"].as_str().unwrap())
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "insert into xid_clock (xid, at) values (pg_current_xact_id(), now() - interval '45 days')",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "insert into xid_clock (xid, at) values (pg_current_xact_id(), now() - interval '35 days')",
    )
    .execute(&app.db)
    .await
    .unwrap();

    // Audit rows kept forever by default: only the old tombstone and the clock's note
    // that no longer dates anything go.
    let gone = industry_events::repo::retention::purge(&app.db, 30, 0)
        .await
        .unwrap();
    assert_eq!(gone, 2);
    assert_eq!(
        count(
            &app.db,
            "select count(*) from events where deleted_at is not null"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app.db,
            "select count(*) from xid_clock where at < now() - interval '30 days'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app.db,
            "select count(*) from audit_log where at < now() - interval '30 days'"
        )
        .await,
        2
    );
    // With AUDIT_RETENTION_DAYS, old audit rows go too (never sooner than tombstones).
    let gone = industry_events::repo::retention::purge(&app.db, 30, 10)
        .await
        .unwrap();
    assert_eq!(gone, 2);
    assert_eq!(count(&app.db, "select count(*) from audit_log").await, 2);
    // The purged event's history is gone; the recent one's stays.
    let revisions = app
        .get(&format!(
            "/v1/events/{}/revisions",
            recent["id"].as_str().unwrap()
        ))
        .await;
    revisions.assert_status(StatusCode::OK);
    assert_eq!(revisions.json()["data"].as_array().unwrap().len(), 2);
}
