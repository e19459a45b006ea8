//! Failure: cancelled writes, and the database going away and coming back.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use industry_events::config::ServeConfig;
use industry_events::db::local::StopMode;
use industry_events::{AppState, app};
use tower::ServiceExt;

use crate::helpers::{PrivateServer, TestApp, event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_aborted_at_random_moments_leave_no_session_inside_a_transaction() {
    let app = TestApp::new().await;
    // Waves smaller than the pool, so that requests are cancelled while they talk to
    // the database (where BEGIN can be in flight), not while they queue for a connection.
    for wave in 0..120u64 {
        let mut tasks = Vec::new();
        for j in 0..8u64 {
            let i = wave * 8 + j;
            let router = app.router.clone();
            // Mostly writes, and some reads: a cancelled read must not break a
            // connection for the next request either.
            let request = if j % 4 == 3 {
                Request::get("/v1/events?tag=abort&q=aborted")
                    .body(Body::empty())
                    .unwrap()
            } else {
                app.authed(axum::http::Method::POST, "/v1/events")
                    .header("content-type", "application/json")
                    .body(Body::from(
                        event(&format!("Aborted {i}"), "2024-01-01", &["abort"], "minor")
                            .to_string(),
                    ))
                    .unwrap()
            };
            // Abort points spread over the whole life of a write (0 to 4 ms).
            let deadline = Duration::from_micros((i * 7919) % 4000);
            tasks.push(tokio::spawn(async move {
                let _ = tokio::time::timeout(deadline, router.oneshot(request)).await;
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    }
    // Give detached writes time to finish, then look for leftovers.
    let started = Instant::now();
    loop {
        let stuck: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity \
             where datname = current_database() and state like 'idle in transaction%'",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        if stuck == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{stuck} sessions left idle in a transaction"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for i in 0..40 {
        app.get("/v1/events?tag=abort")
            .await
            .assert_status(StatusCode::OK);
        let res = app
            .post_json(
                "/v1/events",
                event(&format!("After {i}"), "2024-01-02", &[], "minor"),
            )
            .await;
        res.assert_status(StatusCode::CREATED);
    }
    let count: i64 = sqlx::query_scalar("select count(*) from events where title like 'After %'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_down_requests_get_a_quick_503_and_the_service_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let PrivateServer {
        cluster,
        pool,
        token,
    } = PrivateServer::start(dir.path(), "outage").await;
    let router = app(AppState::new(pool.clone(), ServeConfig::defaults()));
    let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
    let post = || {
        Request::post("/v1/events")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from(
                event("Outage", "2024-01-01", &[], "minor").to_string(),
            ))
            .unwrap()
    };
    assert_eq!(
        router
            .clone()
            .oneshot(get("/v1/events"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        router.clone().oneshot(post()).await.unwrap().status(),
        StatusCode::CREATED
    );

    cluster.stop(StopMode::Immediate).await.unwrap();
    for request in [
        get("/v1/events"),
        get("/v1/events/outage"),
        get("/v1/tags"),
        get("/readyz"),
        post(),
    ] {
        let uri = request.uri().clone();
        let started = Instant::now();
        let res = router.clone().oneshot(request).await.unwrap();
        let took = started.elapsed();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert!(took < Duration::from_secs(4), "{uri} took {took:?}");
        assert!(res.headers().contains_key("retry-after"), "{uri}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
    assert_eq!(
        router
            .clone()
            .oneshot(get("/healthz"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    cluster.pg_ctl_start().await.unwrap();
    let started = Instant::now();
    loop {
        let status = router
            .clone()
            .oneshot(get("/v1/events"))
            .await
            .unwrap()
            .status();
        if status == StatusCode::OK {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no recovery: still {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        router.clone().oneshot(post()).await.unwrap().status(),
        StatusCode::CREATED
    );
    assert_eq!(
        router.oneshot(get("/readyz")).await.unwrap().status(),
        StatusCode::OK
    );
    pool.close().await;
    cluster.stop(StopMode::Fast).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_timeout_gets_a_503_problem_and_its_write_still_completes_whole() {
    let app = TestApp::with_config(|c| c.request_timeout_secs = 1).await;
    let created = app
        .create_event(event("Locked", "2024-01-01", &["slow"], "minor"))
        .await;
    let uri = format!("/v1/events/{}", created["id"].as_str().unwrap());
    // Another session holds the row, so the PATCH waits past the timeout.
    let mut blocker = app.db.begin().await.unwrap();
    sqlx::query("select 1 from events where slug = 'locked' for update")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let started = Instant::now();
    let res = app
        .patch_json(&uri, serde_json::json!({"significance": "landmark"}))
        .await;
    let body = res.assert_problem(StatusCode::SERVICE_UNAVAILABLE);
    assert!(body["detail"].as_str().unwrap().contains("too long"));
    assert!(res.header("retry-after").is_some());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    blocker.rollback().await.unwrap();
    // The abandoned write was not cancelled half-way: it completes, whole.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let event = app.get(&uri).await.json();
        if event["version"] == 2 {
            assert_eq!(event["significance"], "landmark");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the write never completed: {event}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What one writer saw while PostgreSQL was restarted and crashed under it.
#[derive(Default)]
struct WriterLog {
    /// `(idempotency key, id)` of every write the service acknowledged with a 201.
    acknowledged: Vec<(String, String)>,
    /// Answers that should never happen (a 500, a 503 without `Retry-After`, ...).
    wrong: Vec<String>,
    /// How many 503s it retried.
    unavailable: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_write_load_a_restart_and_a_crash_lose_no_acknowledged_write() {
    const WRITERS: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let PrivateServer {
        cluster,
        pool,
        token,
    } = PrivateServer::start(dir.path(), "faults").await;
    let router = app(AppState::new(pool.clone(), ServeConfig::defaults()));

    // Steady writers: each write is retried with its Idempotency-Key until it is
    // acknowledged, as a careful client would.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (router, token, done) = (router.clone(), token.clone(), done.clone());
        writers.push(tokio::spawn(async move {
            let mut log = WriterLog::default();
            let mut n = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let key = format!("load-{writer}-{n}");
                let body = event(
                    &format!("Load {writer}-{n}"),
                    "2024-01-01",
                    &["load"],
                    "minor",
                );
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let request = Request::post("/v1/events")
                        .header("authorization", format!("Bearer {token}"))
                        .header("content-type", "application/json")
                        .header("idempotency-key", &key)
                        .body(Body::from(body.to_string()))
                        .unwrap();
                    let response = router.clone().oneshot(request).await.unwrap();
                    let status = response.status();
                    let retry_after = response.headers().contains_key("retry-after");
                    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                        .await
                        .unwrap_or_default();
                    match status {
                        StatusCode::CREATED => {
                            let created: serde_json::Value =
                                serde_json::from_slice(&bytes).unwrap();
                            let id = created["id"].as_str().unwrap().to_owned();
                            log.acknowledged.push((key.clone(), id));
                            break;
                        }
                        StatusCode::SERVICE_UNAVAILABLE if retry_after => {
                            log.unavailable += 1;
                        }
                        other => log.wrong.push(format!(
                            "{key}: {other} {}",
                            String::from_utf8_lossy(&bytes)
                        )),
                    }
                    if Instant::now() > deadline {
                        log.wrong.push(format!("{key}: never acknowledged"));
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                // Steady, not flat out: a few dozen writes a second each.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            log
        }));
    }

    // A clean restart, then a crash, while the writers write.
    tokio::time::sleep(Duration::from_millis(700)).await;
    cluster.stop(StopMode::Fast).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    cluster.pg_ctl_start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    cluster.stop(StopMode::Immediate).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    cluster.pg_ctl_start().await.unwrap();
    // Writes go on a while after the crash, to show the service recovered by itself.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);

    let mut acknowledged = Vec::new();
    let mut wrong = Vec::new();
    let mut unavailable = 0;
    for writer in writers {
        let log = writer.await.unwrap();
        acknowledged.extend(log.acknowledged);
        wrong.extend(log.wrong);
        unavailable += log.unavailable;
    }
    assert!(wrong.is_empty(), "answers that must not happen: {wrong:#?}");
    assert!(acknowledged.len() > 100, "{} writes", acknowledged.len());
    assert!(
        unavailable > 0,
        "the outages were not felt: the test proved nothing"
    );

    // Every acknowledged write is there, exactly once, under the id it was answered with.
    let rows: Vec<(String, String)> =
        sqlx::query_as("select title, id::text from events where 'load' = any(tags)")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), acknowledged.len(), "no write lost, none twice");
    let stored: std::collections::HashMap<String, String> = rows.into_iter().collect();
    for (key, id) in &acknowledged {
        let title = key.replacen("load-", "Load ", 1);
        assert_eq!(stored.get(&title), Some(id), "{key}");
    }
    // And the same router serves again, without a restart.
    let ready = router
        .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    pool.close().await;
    cluster.stop(StopMode::Fast).await.unwrap();
}
