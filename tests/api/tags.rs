//! `GET /v1/tags`.

use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, event};

#[tokio::test]
async fn tags_are_counted_with_their_latest_date_most_used_first() {
    let app = TestApp::new().await;
    app.create_event(event("A", "2024-01-01", &["ai", "cloud"], "minor"))
        .await;
    app.create_event(event("B", "2024-03-01", &["ai"], "minor"))
        .await;
    let c = app
        .create_event(event("C", "2024-02-01", &["AI", "#Chips"], "minor"))
        .await;
    app.create_event(event("D", "2023-05-01", &["cloud"], "minor"))
        .await;

    let res = app.get("/v1/tags").await;
    res.assert_status(StatusCode::OK);
    assert!(res.header("etag").is_some());
    assert_eq!(
        res.json(),
        json!({"data": [
            {"tag": "ai", "events": 3, "latest": "2024-03-01"},
            {"tag": "cloud", "events": 2, "latest": "2024-01-01"},
            {"tag": "chips", "events": 1, "latest": "2024-02-01"},
        ], "next_cursor": null})
    );

    let res = app.get("/v1/tags?prefix=c").await.json();
    assert_eq!(res["data"].as_array().unwrap().len(), 2);
    let res = app.get("/v1/tags?prefix=%23CH").await.json();
    assert_eq!(
        res["data"],
        json!([{"tag": "chips", "events": 1, "latest": "2024-02-01"}])
    );
    let res = app.get("/v1/tags?limit=1").await.json();
    assert_eq!(res["data"][0]["tag"], "ai");

    // Changes follow writes: a retag and a delete.
    let uri = format!("/v1/events/{}", c["id"].as_str().unwrap());
    app.patch_json(&uri, json!({"tags": ["chips"]}))
        .await
        .assert_status(StatusCode::OK);
    app.delete_with("/v1/events/b", &[])
        .await
        .assert_status(StatusCode::NO_CONTENT);
    let res = app.get("/v1/tags").await.json();
    assert_eq!(
        res["data"],
        json!([
            {"tag": "cloud", "events": 2, "latest": "2024-01-01"},
            {"tag": "ai", "events": 1, "latest": "2024-01-01"},
            {"tag": "chips", "events": 1, "latest": "2024-02-01"},
        ])
    );
}

#[tokio::test]
async fn bad_tag_parameters_are_400() {
    let app = TestApp::new().await;
    app.get("/v1/tags?prefix=c%2B%2B")
        .await
        .assert_bad_param("prefix");
    app.get("/v1/tags?limit=0").await.assert_bad_param("limit");
    app.get("/v1/tags?limit=1001")
        .await
        .assert_bad_param("limit");
    app.get("/v1/tags?sort=name").await.assert_bad_param("sort");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_counters_match_the_events_after_concurrent_writes() {
    let app = TestApp::new().await;
    let tags = ["ai", "chips", "cloud", "funding", "policy"];
    let mut ids = Vec::new();
    for i in 0..12 {
        let mine: Vec<&str> = tags
            .iter()
            .copied()
            .filter(|t| (t.len() + i) % 3 != 0)
            .collect();
        let created = app
            .create_event(event(
                &format!("E{i}"),
                &format!("2024-01-{:02}", i + 1),
                &mine,
                "minor",
            ))
            .await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    // Retag, move in time and delete concurrently, with tag sets in opposite orders.
    let writes = ids.iter().enumerate().map(|(i, id)| {
        let app = &app;
        async move {
            let uri = format!("/v1/events/{id}");
            let res = match i % 3 {
                0 => {
                    app.patch_json(
                        &uri,
                        json!({"tags": ["policy", "cloud", "ai"], "occurred_on": "2023-06-01"}),
                    )
                    .await
                }
                1 => {
                    app.patch_json(&uri, json!({"tags": ["ai", "chips", "new-tag"]}))
                        .await
                }
                _ => app.delete_with(&uri, &[]).await,
            };
            assert!(
                res.status.is_success(),
                "{}",
                String::from_utf8_lossy(&res.body)
            );
        }
    });
    futures::future::join_all(writes).await;
    assert_eq!(served(&app).await, counted(&app).await);
}

/// What the events say, as `GET /v1/tags` should.
async fn counted(app: &TestApp) -> Vec<(String, i64, String)> {
    sqlx::query_as(
        "select t, count(*), max(occurred_on)::text from events, unnest(tags) t \
         where deleted_at is null group by t order by count(*) desc, t",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

async fn served(app: &TestApp) -> Vec<(String, i64, String)> {
    app.get("/v1/tags").await.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tag"].as_str().unwrap().to_owned(),
                t["events"].as_i64().unwrap(),
                t["latest"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn counts_are_exact_whether_pending_changes_are_folded_or_not() {
    use industry_events::repo::tags::fold_counts;
    let app = TestApp::new().await;
    let a = app
        .create_event(event("A", "2024-01-01", &["ai", "cloud"], "minor"))
        .await;
    app.create_event(event("B", "2024-03-01", &["ai"], "minor"))
        .await;
    assert_eq!(served(&app).await, counted(&app).await, "all pending");
    assert_eq!(fold_counts(&app.db).await.unwrap(), 2);
    let pending: i64 = sqlx::query_scalar("select count(*) from tag_stats_pending")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(pending, 0);
    assert_eq!(served(&app).await, counted(&app).await, "all folded");

    // Half folded: a move in time (the newest date changes, the count does not), a
    // delete, and a retag, with a fold in between.
    let uri = format!("/v1/events/{}", a["id"].as_str().unwrap());
    app.patch_json(&uri, json!({"occurred_on": "2024-06-01"}))
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(served(&app).await[0], ("ai".into(), 2, "2024-06-01".into()));
    fold_counts(&app.db).await.unwrap();
    app.delete_with("/v1/events/b", &[])
        .await
        .assert_status(StatusCode::NO_CONTENT);
    assert_eq!(served(&app).await, counted(&app).await);
    app.patch_json(&uri, json!({"tags": ["chips"]}))
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(served(&app).await, counted(&app).await);
    fold_counts(&app.db).await.unwrap();
    assert_eq!(
        served(&app).await,
        [("chips".to_owned(), 1, "2024-06-01".to_owned())]
    );
    let kept: Vec<String> = sqlx::query_scalar("select tag from tag_stats order by tag")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(kept, ["chips"], "counters that reach zero go");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folding_while_writers_write_keeps_counts_exact() {
    use industry_events::repo::tags::fold_counts;
    let app = TestApp::new().await;
    let writes = (0..24).map(|i| {
        let app = &app;
        async move {
            let tags: &[&str] = if i % 2 == 0 { &["ai", "hot"] } else { &["hot"] };
            app.create_event(event(
                &format!("W{i}"),
                &format!("2024-02-{:02}", i + 1),
                tags,
                "minor",
            ))
            .await;
        }
    });
    let folds = async {
        for _ in 0..10 {
            fold_counts(&app.db).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    futures::future::join(futures::future::join_all(writes), folds).await;
    assert_eq!(served(&app).await, counted(&app).await);
    fold_counts(&app.db).await.unwrap();
    assert_eq!(served(&app).await, counted(&app).await);
    assert_eq!(
        served(&app).await[0],
        ("hot".into(), 24, "2024-02-24".into())
    );
}

/// The tag index is kept by triggers alone (no foreign key cascades into it): removing
/// events, one by one or all at once, takes their tag rows with them.
#[tokio::test]
async fn removing_events_removes_their_tag_rows() {
    let app = TestApp::new().await;
    let kept = app
        .create_event(event("Kept", "2024-01-01", &["ai", "cloud"], "minor"))
        .await;
    let gone = app
        .create_event(event("Gone", "2024-01-02", &["ai", "chips"], "minor"))
        .await;
    let rows = |db: sqlx::PgPool| async move {
        sqlx::query_as::<_, (String, String)>(
            "select tag::text, event_id::text from event_tags order by 1, 2",
        )
        .fetch_all(&db)
        .await
        .unwrap()
    };
    assert_eq!(rows(app.db.clone()).await.len(), 4);

    sqlx::query("delete from events where id = $1::uuid")
        .bind(gone["id"].as_str().unwrap())
        .execute(&app.db)
        .await
        .unwrap();
    let id = kept["id"].as_str().unwrap().to_owned();
    assert_eq!(
        rows(app.db.clone()).await,
        [("ai".to_owned(), id.clone()), ("cloud".to_owned(), id)]
    );

    sqlx::query("truncate events cascade")
        .execute(&app.db)
        .await
        .unwrap();
    assert!(rows(app.db.clone()).await.is_empty());

    // A TRUNCATE that names the tag table too (as a reload script does) works as well.
    app.create_event(event("Again", "2024-01-03", &["ai"], "minor"))
        .await;
    assert_eq!(rows(app.db.clone()).await.len(), 1);
    sqlx::query("truncate events, event_tags cascade")
        .execute(&app.db)
        .await
        .unwrap();
    assert!(rows(app.db.clone()).await.is_empty());
}
