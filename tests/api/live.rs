//! Positions, long polls and event streams: every change handed over once, whatever
//! order transactions commit in, on every instance.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use industry_events::config::ServeConfig;
use industry_events::{AppState, app as router_of};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::helpers::{TestApp, event};

/// Percent-encodes a position (or anything) for a query string.
fn encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The titles of a list body's items, tombstones as `deleted:<slug>`.
fn titles(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| match e["title"].as_str() {
            Some(title) => title.to_owned(),
            None => format!("deleted:{}", e["slug"].as_str().unwrap()),
        })
        .collect()
}

/// Polls from `position`: the page's titles and the next position.
async fn poll(app: &TestApp, position: &str, extra: &str) -> (Vec<String>, String) {
    let res = app
        .get(&format!(
            "/v1/events?updated_since={}&sort=updated_at{extra}",
            encoded(position)
        ))
        .await;
    res.assert_status(StatusCode::OK);
    let next = res.header("next-updated-since").unwrap().to_owned();
    (titles(&res.json()), next)
}

/// The position a plain list hands over now.
async fn position_now(app: &TestApp) -> String {
    let res = app.get("/v1/events?limit=1").await;
    res.assert_status(StatusCode::OK);
    res.header("next-updated-since").unwrap().to_owned()
}

async fn set_summary_uncommitted(
    app: &TestApp,
    id: &str,
) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut slow = app.db.begin().await.unwrap();
    sqlx::query("update events set summary = 'committed late' where id = $1")
        .bind(uuid::Uuid::parse_str(id).unwrap())
        .execute(&mut *slow)
        .await
        .unwrap();
    slow
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_from_positions_hand_over_each_change_once_even_when_commits_come_out_of_order() {
    let app = TestApp::new().await;
    let a = app
        .create_event(event("Slow one", "2024-01-01", &["poll"], "minor"))
        .await;
    let start = position_now(&app).await;
    assert!(
        start.split('.').count() == 2 && start.contains(':'),
        "a readable position: {start}"
    );
    // A write that starts first and commits last.
    let slow = set_summary_uncommitted(&app, a["id"].as_str().unwrap()).await;
    app.create_event(event("Fast one", "2024-01-02", &["poll"], "minor"))
        .await;
    let (first, after_first) = poll(&app, &start, "").await;
    assert_eq!(
        first,
        ["Fast one"],
        "the uncommitted change is not visible yet"
    );
    slow.commit().await.unwrap();
    let (second, after_second) = poll(&app, &after_first, "").await;
    assert_eq!(
        second,
        ["Slow one"],
        "the late commit is not missed, the fast one not repeated"
    );
    let (third, after_third) = poll(&app, &after_second, "").await;
    assert!(third.is_empty(), "nothing twice: {third:?}");

    // Two successive updates, each polled: each handed over once.
    app.patch_json("/v1/events/fast-one", json!({"summary": "v2"}))
        .await
        .assert_status(StatusCode::OK);
    let (fourth, after_fourth) = poll(&app, &after_third, "").await;
    assert_eq!(fourth, ["Fast one"]);
    let (fifth, _) = poll(&app, &after_fourth, "").await;
    assert!(fifth.is_empty(), "{fifth:?}");

    // A deletion is a tombstone, once.
    app.delete_with("/v1/events/slow-one", &[])
        .await
        .assert_status(StatusCode::NO_CONTENT);
    let (sixth, after_sixth) = poll(&app, &after_fourth, "").await;
    assert_eq!(sixth, ["deleted:slow-one"]);
    assert!(poll(&app, &after_sixth, "").await.0.is_empty());
    // Filters apply to polls from a position as to any list.
    let (tagged, _) = poll(&app, &start, "&tag=other").await;
    assert!(tagged.is_empty(), "{tagged:?}");
}

#[tokio::test]
async fn every_page_of_a_walk_hands_over_one_position_and_later_changes_wait_for_the_next_poll() {
    let app = TestApp::new().await;
    let start = position_now(&app).await;
    for i in 0..5 {
        app.create_event(event(
            &format!("Walk {i}"),
            "2024-01-01",
            &["walk"],
            "minor",
        ))
        .await;
    }
    let first = app
        .get(&format!(
            "/v1/events?updated_since={}&sort=updated_at&limit=2",
            encoded(&start)
        ))
        .await;
    first.assert_status(StatusCode::OK);
    let position = first.header("next-updated-since").unwrap().to_owned();
    let mut seen = titles(&first.json());
    let mut cursor = first.json()["next_cursor"].as_str().map(str::to_owned);
    // A change in the middle of the walk: to an event not yet walked, and a new one.
    app.patch_json("/v1/events/walk-4", json!({"summary": "changed mid-walk"}))
        .await
        .assert_status(StatusCode::OK);
    app.create_event(event("Walk 5", "2024-01-01", &["walk"], "minor"))
        .await;
    while let Some(c) = cursor {
        let page = app
            .get(&format!(
                "/v1/events?updated_since={}&sort=updated_at&limit=2&cursor={c}",
                encoded(&start)
            ))
            .await;
        page.assert_status(StatusCode::OK);
        assert_eq!(page.header("next-updated-since"), Some(position.as_str()));
        seen.extend(titles(&page.json()));
        cursor = page.json()["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, ["Walk 0", "Walk 1", "Walk 2", "Walk 3"]);
    let (next, _) = poll(&app, &position, "").await;
    assert_eq!(next, ["Walk 4", "Walk 5"], "the walk's later changes, once");
}

#[tokio::test]
async fn a_position_that_is_not_ours_is_a_400_and_times_still_work() {
    let app = TestApp::new().await;
    let ours = position_now(&app).await;
    let (_, seen) = ours.split_once('.').unwrap();
    let origin = ours.split('.').next().unwrap();
    let foreign = format!(
        "{}.{seen}",
        if origin == "00000000" {
            "11111111"
        } else {
            "00000000"
        }
    );
    // Ours in form and origin, but a snapshot PostgreSQL would refuse.
    let impossible = format!("{origin}.0:0:");
    for bad in [
        foreign.as_str(),
        impossible.as_str(),
        "12:10:",
        "deadbeef.12:10:",
        "not-a-position",
    ] {
        app.get(&format!("/v1/events?updated_since={}", encoded(bad)))
            .await
            .assert_bad_param("updated_since");
    }
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ");
    app.get(&format!("/v1/events?updated_since={yesterday}"))
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_waits_for_a_change_or_for_its_time() {
    let app = TestApp::new().await;
    let start = position_now(&app).await;
    // Nothing changes: an empty page after about `wait` seconds.
    let began = Instant::now();
    let (empty, next) = poll(&app, &start, "&wait=1").await;
    let waited = began.elapsed();
    assert!(empty.is_empty());
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(10),
        "waited {waited:?}"
    );
    // A change during the wait answers at once with it.
    let writer = {
        let app_router = app.router.clone();
        let token = app.write_token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let request = Request::post("/v1/events")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(Body::from(
                    event("Arrives", "2024-01-01", &["lp"], "minor").to_string(),
                ))
                .unwrap();
            app_router.oneshot(request).await.unwrap().status()
        })
    };
    let began = Instant::now();
    let (arrived, _) = poll(&app, &next, "&wait=30").await;
    assert_eq!(arrived, ["Arrives"]);
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(writer.await.unwrap(), StatusCode::CREATED);
    for bad in ["wait=0", "wait=61", "wait=soon", "wait=1&wait=2"] {
        app.get(&format!(
            "/v1/events?updated_since={}&{bad}",
            encoded(&start)
        ))
        .await
        .assert_bad_param("wait");
    }
    app.get("/v1/events?wait=5").await.assert_bad_param("wait");
}

// ---- Streams -----------------------------------------------------------------------

/// One message of a stream.
#[derive(Debug, Clone, Default)]
struct Message {
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
    retry: Option<String>,
    comment: Option<String>,
}

impl Message {
    fn json(&self) -> Value {
        serde_json::from_str(self.data.as_deref().unwrap()).unwrap()
    }
}

/// A stream read incrementally.
struct Stream {
    status: StatusCode,
    headers: HeaderMap,
    body: Body,
    buffer: String,
}

impl Stream {
    async fn open(router: &axum::Router, uri: &str, headers: &[(&str, &str)]) -> Self {
        let mut request = Request::get(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        Self {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.into_body(),
            buffer: String::new(),
        }
    }

    /// The next block (message or comment) within `within`; `None` on timeout or end.
    async fn next_block(&mut self, within: Duration) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut message = Message::default();
                for line in block.lines() {
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
                    match field {
                        "" => {
                            message.comment = Some(message.comment.unwrap_or_default() + &value);
                        }
                        "id" => message.id = Some(value),
                        "event" => message.event = Some(value),
                        "data" => message.data = Some(value),
                        "retry" => message.retry = Some(value),
                        other => panic!("unknown field {other}"),
                    }
                }
                return Some(message);
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .ok()??
                .unwrap();
            if let Ok(data) = frame.into_data() {
                self.buffer.push_str(std::str::from_utf8(&data).unwrap());
            }
        }
    }

    /// The next message that is not a heartbeat.
    async fn next(&mut self, within: Duration) -> Option<Message> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let block = self.next_block(left).await?;
            if block.event.is_some() || block.retry.is_some() {
                return Some(block);
            }
        }
    }

    /// Asserts that no message comes within `within`.
    async fn assert_quiet(&mut self, within: Duration) {
        if let Some(message) = self.next(within).await {
            panic!("expected nothing, got {message:?}");
        }
    }
}

const SOON: Duration = Duration::from_secs(10);

/// `(event, title or slug)` of a message.
fn summary(message: &Message) -> (String, String) {
    let data = message.json();
    let name = data["title"]
        .as_str()
        .or(data["slug"].as_str())
        .unwrap()
        .to_owned();
    (message.event.clone().unwrap(), name)
}

async fn expect(stream: &mut Stream, kind: &str, name: &str) -> Message {
    let message = stream
        .next(SOON)
        .await
        .unwrap_or_else(|| panic!("no `{kind}` for {name}"));
    assert_eq!(
        summary(&message),
        (kind.to_owned(), name.to_owned()),
        "{message:?}"
    );
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_sends_created_updated_and_deleted_for_its_filter() {
    let app = TestApp::new().await;
    let mut stream = Stream::open(&app.router, "/v1/events/stream?tag=ai", &[]).await;
    assert_eq!(stream.status, StatusCode::OK);
    let header = |name: &str| stream.headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(header("content-type"), Some("text/event-stream"));
    assert_eq!(header("cache-control"), Some("no-store"));
    assert_eq!(header("x-accel-buffering"), Some("no"));

    app.create_event(event("Other", "2024-01-01", &["cloud"], "minor"))
        .await;
    let created = app
        .create_event(event("Model launch", "2024-01-02", &["ai"], "minor"))
        .await;
    let message = expect(&mut stream, "created", "Model launch").await;
    assert_eq!(message.json(), created, "the event as a list shows it");
    assert!(message.id.as_deref().is_some_and(|id| id.contains(':')));

    app.patch_json("/v1/events/model-launch", json!({"summary": "v2"}))
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(
        expect(&mut stream, "updated", "Model launch").await.json()["summary"],
        "v2"
    );
    // Leaving the filter is a `deleted` for this stream; entering it an `updated`.
    app.patch_json("/v1/events/model-launch", json!({"tags": ["cloud"]}))
        .await
        .assert_status(StatusCode::OK);
    let gone = expect(&mut stream, "deleted", "model-launch").await.json();
    assert_eq!(gone["deleted"], true);
    assert_eq!(gone["id"], created["id"]);
    app.patch_json("/v1/events/other", json!({"tags": ["ai"]}))
        .await
        .assert_status(StatusCode::OK);
    expect(&mut stream, "updated", "Other").await;
    app.delete_with("/v1/events/other", &[])
        .await
        .assert_status(StatusCode::NO_CONTENT);
    expect(&mut stream, "deleted", "other").await;
    // Changes to events the filter never held send nothing.
    app.patch_json("/v1/events/model-launch", json!({"summary": "v3"}))
        .await
        .assert_status(StatusCode::OK);
    stream.assert_quiet(Duration::from_millis(700)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_resumes_after_a_disconnect_with_no_loss_and_no_duplicate() {
    let app = TestApp::new().await;
    let mut stream = Stream::open(&app.router, "/v1/events/stream?tag=r", &[]).await;
    app.create_event(event("One", "2024-01-01", &["r"], "minor"))
        .await;
    app.create_event(event("Two", "2024-01-01", &["r"], "minor"))
        .await;
    expect(&mut stream, "created", "One").await;
    let last = expect(&mut stream, "created", "Two").await.id.unwrap();
    drop(stream);

    // While disconnected: a change to one it has, a new one, a deletion.
    app.patch_json("/v1/events/one", json!({"summary": "v2"}))
        .await
        .assert_status(StatusCode::OK);
    app.create_event(event("Three", "2024-01-01", &["r"], "minor"))
        .await;
    app.delete_with("/v1/events/two", &[])
        .await
        .assert_status(StatusCode::NO_CONTENT);
    let mut resumed = Stream::open(
        &app.router,
        "/v1/events/stream?tag=r",
        &[("last-event-id", &last)],
    )
    .await;
    let mut replay = Vec::new();
    for _ in 0..3 {
        replay.push(summary(&resumed.next(SOON).await.unwrap()));
    }
    replay.sort();
    assert_eq!(
        replay,
        [
            ("created".to_owned(), "Three".to_owned()),
            ("deleted".to_owned(), "two".to_owned()),
            ("updated".to_owned(), "One".to_owned()),
        ]
    );
    resumed.assert_quiet(Duration::from_millis(700)).await;
    // Then live, with no gap.
    app.create_event(event("Four", "2024-01-01", &["r"], "minor"))
        .await;
    let four = expect(&mut resumed, "created", "Four").await.id.unwrap();

    // `since` takes a position from anywhere: here a message id, and a list's.
    app.create_event(event("Five", "2024-01-01", &["r"], "minor"))
        .await;
    let mut from_id = Stream::open(
        &app.router,
        &format!("/v1/events/stream?tag=r&since={}", encoded(&four)),
        &[],
    )
    .await;
    expect(&mut from_id, "created", "Five").await;
    from_id.assert_quiet(Duration::from_millis(500)).await;
    let listed = position_now(&app).await;
    app.create_event(event("Six", "2024-01-01", &["r"], "minor"))
        .await;
    let mut from_list = Stream::open(
        &app.router,
        &format!("/v1/events/stream?tag=r&since={}", encoded(&listed)),
        &[],
    )
    .await;
    expect(&mut from_list, "created", "Six").await;
    from_list.assert_quiet(Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_committed_out_of_order_is_never_missed_by_a_stream() {
    let app = TestApp::with_config(|c: &mut ServeConfig| c.stream_catch_up_secs = 1).await;
    let a = app
        .create_event(event("Slow one", "2024-01-01", &["o"], "minor"))
        .await;
    let mut stream = Stream::open(&app.router, "/v1/events/stream?tag=o", &[]).await;
    let slow = set_summary_uncommitted(&app, a["id"].as_str().unwrap()).await;
    app.create_event(event("Fast one", "2024-01-01", &["o"], "minor"))
        .await;
    let fast = expect(&mut stream, "created", "Fast one").await.id.unwrap();
    slow.commit().await.unwrap();
    // Written outside the service: no notification, so the periodic catch-up finds it.
    let late = expect(&mut stream, "updated", "Slow one").await;
    assert_eq!(late.json()["summary"], "committed late");
    // A stream resumed from the position before the late commit gets it too, once.
    let mut resumed = Stream::open(
        &app.router,
        "/v1/events/stream?tag=o",
        &[("last-event-id", &fast)],
    )
    .await;
    expect(&mut resumed, "updated", "Slow one").await;
    resumed.assert_quiet(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn positions_a_stream_cannot_serve_get_a_reset_and_bad_parameters_a_400() {
    let app = TestApp::new().await;
    for header in ["garbage", "00000000.1:1:"] {
        let mut stream = Stream::open(
            &app.router,
            "/v1/events/stream",
            &[("last-event-id", header)],
        )
        .await;
        assert_eq!(stream.status, StatusCode::OK);
        let reset = stream.next(SOON).await.unwrap();
        assert_eq!(reset.event.as_deref(), Some("reset"));
        assert!(reset.json()["reason"].is_string());
        assert!(reset.id.as_deref().is_some_and(|id| id.contains(':')));
        // Then it goes on, live, from the reset's id.
        app.create_event(event(
            &format!("After {header}"),
            "2024-01-01",
            &[],
            "minor",
        ))
        .await;
        assert_eq!(
            stream.next(SOON).await.unwrap().event.as_deref(),
            Some("created")
        );
    }
    for (query, parameter) in [
        ("cursor=abc", "cursor"),
        ("limit=5", "limit"),
        ("sort=title", "sort"),
        ("updated_since=2024-01-01T00:00:00Z", "updated_since"),
        ("since=not-a-position", "since"),
        ("tag=c%2B%2B", "tag"),
        ("role=investor", "role"),
        ("company=nobody", "company"),
        ("colour=red", "colour"),
    ] {
        app.get(&format!("/v1/events/stream?{query}"))
            .await
            .assert_bad_param(parameter);
    }
}

#[tokio::test]
async fn streams_beyond_max_streams_get_a_503_and_heartbeats_keep_them_alive() {
    let app = TestApp::with_config(|c: &mut ServeConfig| {
        c.max_streams = 1;
        c.stream_heartbeat_secs = 1;
    })
    .await;
    let mut first = Stream::open(&app.router, "/v1/events/stream", &[]).await;
    assert_eq!(first.status, StatusCode::OK);
    let refused = app.get("/v1/events/stream").await;
    let problem = refused.assert_problem(StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("too-many-streams")
    );
    assert!(refused.header("retry-after").is_some());
    // A heartbeat comment within about a second.
    let beat = first.next_block(Duration::from_secs(5)).await.unwrap();
    assert_eq!(beat.comment.as_deref(), Some("heartbeat"), "{beat:?}");
    // Closing one frees its place.
    drop(first);
    let again = Stream::open(&app.router, "/v1/events/stream", &[]).await;
    assert_eq!(again.status, StatusCode::OK);
}

#[tokio::test]
async fn on_shutdown_every_stream_ends_with_a_retry_hint_and_readiness_fails() {
    let app = TestApp::new().await;
    app.get("/readyz").await.assert_status(StatusCode::OK);
    let mut stream = Stream::open(&app.router, "/v1/events/stream", &[]).await;
    app.state.live.stop().await;
    let ready = app.get("/readyz").await;
    let problem = ready.assert_problem(StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("shutting down")
    );
    assert!(ready.header("retry-after").is_some());
    app.get("/healthz").await.assert_status(StatusCode::OK);
    let last = stream.next(SOON).await.unwrap();
    assert_eq!(last.retry.as_deref(), Some("1000"), "{last:?}");
    assert!(stream.next_block(SOON).await.is_none(), "the stream ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_instance_reaches_a_stream_on_another() {
    let app = TestApp::new().await;
    // A second instance: its own pool, state, hub and listener, on the same database.
    let other_pool = app.database().pool().await;
    // Its catch-up is too slow to matter: only the notification can wake it in time.
    let mut config = ServeConfig::defaults();
    config.stream_catch_up_secs = 3600;
    let other = router_of(AppState::new(other_pool, config));
    let mut stream = Stream::open(&other, "/v1/events/stream?tag=x", &[]).await;
    // Let the other instance's listener connect before the write.
    stream.assert_quiet(Duration::from_millis(500)).await;
    app.create_event(event("Across", "2024-01-01", &["x"], "minor"))
        .await;
    expect(&mut stream, "created", "Across").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_too_far_behind_is_reset_and_the_others_go_on() {
    let app = TestApp::with_config(|c: &mut ServeConfig| c.stream_max_replay = 3).await;
    let start = position_now(&app).await;
    let mut live = Stream::open(&app.router, "/v1/events/stream?tag=far", &[]).await;
    for i in 0..5 {
        app.create_event(event(&format!("Far {i}"), "2024-01-01", &["far"], "minor"))
            .await;
        expect(&mut live, "created", &format!("Far {i}")).await;
    }
    let mut behind = Stream::open(
        &app.router,
        &format!("/v1/events/stream?tag=far&since={}", encoded(&start)),
        &[],
    )
    .await;
    let reset = behind.next(SOON).await.unwrap();
    assert_eq!(reset.event.as_deref(), Some("reset"), "{reset:?}");
    assert!(
        reset.json()["reason"]
            .as_str()
            .unwrap()
            .contains("more than 3")
    );
    // Both go on from there, the live one without a reset.
    app.create_event(event("Far 5", "2024-01-01", &["far"], "minor"))
        .await;
    expect(&mut live, "created", "Far 5").await;
    expect(&mut behind, "created", "Far 5").await;
    // A poll from the reset's id sees what came after it, once.
    let (after, _) = poll(&app, reset.id.as_deref().unwrap(), "").await;
    assert_eq!(after, ["Far 5"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_ends_its_streams_with_a_retry_hint_on_sigterm_without_waiting_for_them() {
    use crate::helpers::TestDb;
    use crate::ops::binary;
    use crate::serving::Serving;
    let database = TestDb::create().await;
    let mut server = Serving::start(binary(&database)).await;
    let base = server.base();
    let client = reqwest::Client::new();
    let mut stream = client
        .get(format!("{base}/v1/events/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), reqwest::StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    server.terminate();
    let mut received = String::new();
    while let Ok(Some(chunk)) = tokio::time::timeout(SOON, stream.chunk()).await.unwrap() {
        received.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(
        received.contains("retry: 1000") || received.contains("retry:1000"),
        "{received:?}"
    );
    let exit = server.exit(Duration::from_secs(30)).await;
    assert!(exit.success(), "{exit:?}");
    // Well inside the drain's 25 s: the open stream did not hold the shutdown.
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );
}

#[tokio::test]
async fn a_page_with_a_next_page_keeps_its_etag_while_unrelated_transactions_commit() {
    let app = TestApp::new().await;
    for title in ["Kept one", "Kept two"] {
        app.create_event(event(title, "2024-01-01", &["kept"], "minor"))
            .await;
    }
    let first = app.get("/v1/events?tag=kept&limit=1").await;
    let etag = first.header("etag").unwrap().to_owned();
    let cursor = first.json()["next_cursor"].as_str().unwrap().to_owned();
    // Other transactions move every snapshot on, and so the cursor's walk snapshot.
    app.create_event(event("Elsewhere", "2024-01-01", &["other"], "minor"))
        .await;
    let again = app.get("/v1/events?tag=kept&limit=1").await;
    assert_ne!(again.json()["next_cursor"].as_str().unwrap(), cursor);
    assert_eq!(
        again.header("etag"),
        Some(etag.as_str()),
        "same content, same ETag"
    );
    app.get_with("/v1/events?tag=kept&limit=1", &[("if-none-match", &etag)])
        .await
        .assert_status(StatusCode::NOT_MODIFIED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_resumed_from_before_the_tombstone_horizon_is_reset() {
    let app = TestApp::new().await;
    let old = app
        .get("/v1/events")
        .await
        .header("next-updated-since")
        .unwrap()
        .to_owned();
    crate::retention::age_everything(&app, 31).await;
    let mut stream =
        Stream::open(&app.router, "/v1/events/stream", &[("last-event-id", &old)]).await;
    assert_eq!(stream.status, StatusCode::OK);
    let reset = stream.next(SOON).await.unwrap();
    assert_eq!(reset.event.as_deref(), Some("reset"));
    assert!(
        reset.json()["reason"]
            .as_str()
            .unwrap()
            .contains("tombstone horizon")
    );
    // Then it goes on, live, from the reset's id.
    app.create_event(event("After the reset", "2024-01-01", &[], "minor"))
        .await;
    expect(&mut stream, "created", "After the reset").await;
}
