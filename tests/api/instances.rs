//! Several instances of the service over one PostgreSQL (and one Redis): what one
//! promises, all keep. Each instance is its own `AppState` and router, as a separate
//! process would be; the shared state is only what the service shares on purpose.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use industry_events::AppState;
use industry_events::config::{RateLimitStore, ServeConfig};
use industry_events::model::Scope;
use serde_json::Value;

use crate::helpers::{TestApp, TestResponse, reference_story};

/// A `redis-server` of this test's own on a free loopback port, so the test can stop
/// and restart it; killed when dropped.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl PrivateRedis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self {
            port,
            child: None,
            dir: tempfile::tempdir().unwrap(),
        };
        redis.run();
        redis
    }

    fn run(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (.ci/run installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A second instance of `app`'s service: the same database, its own state.
fn another_instance(app: &TestApp, change: impl FnOnce(&mut ServeConfig)) -> Router {
    let mut config = ServeConfig::defaults();
    change(&mut config);
    industry_events::app(AppState::new(app.db.clone(), config))
}

async fn send(router: &Router, request: Request<Body>) -> TestResponse {
    crate::helpers::send_to(router, request).await
}

fn list() -> Request<Body> {
    Request::get("/v1/events?limit=1")
        .body(Body::empty())
        .unwrap()
}

/// What a limited answer says: status, `RateLimit-Limit`, `RateLimit-Remaining`,
/// `Retry-After`.
fn limit_headers(response: &TestResponse) -> (u16, Option<String>, Option<String>, Option<String>) {
    let header = |name: &str| response.header(name).map(str::to_owned);
    (
        response.status.as_u16(),
        header("ratelimit-limit"),
        header("ratelimit-remaining"),
        header("retry-after"),
    )
}

fn shared_limit(redis: &PrivateRedis, rps: u32, burst: u32) -> impl Fn(&mut ServeConfig) {
    let url = redis.url();
    move |config: &mut ServeConfig| {
        config.rate_limit_rps = rps;
        config.rate_limit_burst = burst;
        config.rate_limit_store = RateLimitStore::Redis;
        config.redis_url = url.clone();
    }
}

#[tokio::test]
async fn with_redis_two_instances_spend_one_allowance() {
    let redis = PrivateRedis::start();
    let first = TestApp::with_config(shared_limit(&redis, 1, 3)).await;
    let second = another_instance(&first, shared_limit(&redis, 1, 3));
    let mut answers = Vec::new();
    for n in 0..4 {
        let response = if n % 2 == 0 {
            first.send(list()).await
        } else {
            send(&second, list()).await
        };
        answers.push(limit_headers(&response));
    }
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        answers,
        [
            (200, some("3"), some("2"), None),
            (200, some("3"), some("1"), None),
            (200, some("3"), some("0"), None),
            (429, some("3"), some("0"), some("1")),
        ]
    );
}

#[tokio::test]
async fn the_redis_limiter_answers_as_the_memory_one_does() {
    let redis = PrivateRedis::start();
    let shared = TestApp::with_config(shared_limit(&redis, 2, 4)).await;
    let local = TestApp::with_config(|config| {
        config.rate_limit_rps = 2;
        config.rate_limit_burst = 4;
    })
    .await;
    let mut from_redis = Vec::new();
    let mut from_memory = Vec::new();
    for _ in 0..6 {
        from_redis.push(limit_headers(&shared.send(list()).await));
        from_memory.push(limit_headers(&local.send(list()).await));
    }
    assert_eq!(from_redis, from_memory);
    assert_eq!(from_redis[5].0, 429, "{from_redis:?}");
}

/// A token's request is counted against its token and then its address's ceiling, both
/// in one round trip to Redis: the token's burst, then its 429; then made-up tokens from
/// the same address, each with a burst of its own, until the address's ceiling (ten
/// times a client's burst) refuses them.
#[tokio::test]
async fn with_redis_a_tokens_allowance_and_its_addresss_ceiling_both_hold() {
    let redis = PrivateRedis::start();
    let app = TestApp::with_config(shared_limit(&redis, 1, 2)).await;
    let with_token = |token: String| {
        Request::get("/v1/events?limit=1")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    let token = app.token("reader", Scope::Read).await;
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(limit_headers(&app.send(with_token(token.clone())).await));
    }
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        answers,
        [
            (200, some("2"), some("1"), None),
            (200, some("2"), some("0"), None),
            (429, some("2"), some("0"), some("1")),
        ]
    );
    // The two requests the token was allowed count against the ceiling of 20; the
    // refused one does not. Each made-up token is a client with a full burst (the
    // limiter counts before any token is looked up).
    let mut refused = None;
    for n in 0..200 {
        let response = app.send(with_token(format!("ie_made-up-{n}"))).await;
        let (status, limit, _, retry) = limit_headers(&response);
        if status == 429 {
            refused = Some((n, limit, retry));
            break;
        }
        assert_eq!((status, limit.as_deref()), (200, Some("2")), "request {n}");
    }
    let (n, limit, retry) = refused.expect("the address's ceiling never refused");
    assert_eq!(limit.as_deref(), Some("20"), "refused by the ceiling");
    assert!(retry.is_some());
    assert!(
        n >= 18,
        "the ceiling refused after {n} requests, before its burst"
    );
}

#[tokio::test]
async fn without_redis_requests_go_ahead_and_limits_return_when_it_does() {
    let mut redis = PrivateRedis::start();
    let app = TestApp::with_config(shared_limit(&redis, 1, 2)).await;
    assert_eq!(
        app.send(list()).await.header("ratelimit-remaining"),
        Some("1")
    );
    redis.stop();
    let started = Instant::now();
    for _ in 0..5 {
        let response = app.send(list()).await;
        response.assert_status(StatusCode::OK);
        assert_eq!(
            response.header("ratelimit-limit"),
            None,
            "no headers that would guess"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a dead store costs requests nothing"
    );
    let metrics = String::from_utf8(app.get("/metrics").await.body).unwrap();
    assert!(
        metrics.contains("rate_limit_store_errors_total"),
        "{metrics}"
    );
    assert!(metrics.contains("rate_limit_store_up"), "{metrics}");

    redis.run();
    let back = Instant::now();
    loop {
        let response = app.send(list()).await;
        if response.header("ratelimit-limit").is_some() {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(20),
            "still not limiting"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Limited again: the fresh Redis counts from a full allowance.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(app.send(list()).await.status.as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn two_instances_given_one_idempotency_key_create_one_record() {
    let first = TestApp::new().await;
    let second = another_instance(&first, |_| {});
    let post = || {
        Request::post("/v1/events")
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", first.write_token),
            )
            .header(header::CONTENT_TYPE, "application/json")
            .header("idempotency-key", "one-key")
            .body(Body::from(reference_story().to_string()))
            .unwrap()
    };
    let (a, b) = tokio::join!(first.send(post()), send(&second, post()));
    a.assert_status(StatusCode::CREATED);
    b.assert_status(StatusCode::CREATED);
    assert_eq!(a.body, b.body, "the same answer from both");
    let replayed = [
        a.header("idempotent-replayed"),
        b.header("idempotent-replayed"),
    ];
    assert!(
        replayed.contains(&Some("true")) && replayed.contains(&None),
        "{replayed:?}"
    );
    let events: i64 = sqlx::query_scalar("select count(*) from events")
        .fetch_one(&first.db)
        .await
        .unwrap();
    assert_eq!(events, 1);
}

#[tokio::test]
async fn two_instances_agree_on_a_lists_etag_and_positions() {
    let first = TestApp::new().await;
    let second = another_instance(&first, |_| {});
    first.create_event(reference_story()).await;
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let uri = format!("/v1/events?tag=investment&updated_since={yesterday}");
    let uri = uri.as_str();
    let get = || Request::get(uri).body(Body::empty()).unwrap();
    let a = first.send(get()).await;
    let b = send(&second, get()).await;
    a.assert_status(StatusCode::OK);
    assert_eq!(a.header("etag"), b.header("etag"));
    let body: Value = serde_json::from_slice(&b.body).unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    // One instance's ETag is a 304 on the other.
    let etag = a.header("etag").unwrap().to_owned();
    let conditional = Request::get(uri)
        .header(header::IF_NONE_MATCH, etag)
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        send(&second, conditional).await.status,
        StatusCode::NOT_MODIFIED
    );
    // Positions are snapshots of the whole server's transactions, so two reads a moment
    // apart may name different ones; what matters is that a position from either
    // instance, polled on the other, gives exactly the changes made after it.
    let positions = [
        a.header("next-updated-since").unwrap().to_owned(),
        b.header("next-updated-since").unwrap().to_owned(),
    ];
    let mut later = crate::helpers::event("Later", "2024-03-28", &["investment"], "major");
    later["summary"] = Value::from("After both reads.");
    first.create_event(later).await;
    for (position, router) in positions.iter().zip([&second, &first.router]) {
        let poll = Request::get(format!(
            "/v1/events?tag=investment&updated_since={}",
            crate::helpers::encode(position)
        ))
        .body(Body::empty())
        .unwrap();
        let body: Value = serde_json::from_slice(&send(router, poll).await.body).unwrap();
        let titles: Vec<&str> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["title"].as_str().unwrap())
            .collect();
        assert_eq!(titles, ["Later"], "from {position}");
    }
}

#[tokio::test]
async fn every_write_answers_with_a_consistency_token() {
    let app = TestApp::new().await;
    let created = app.post_json("/v1/events", reference_story()).await;
    created.assert_status(StatusCode::CREATED);
    let first = created.header("consistency-token").unwrap().to_owned();
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let patched = app
        .patch_json(
            &format!("/v1/events/{id}"),
            serde_json::json!({"summary": "Again."}),
        )
        .await;
    patched.assert_status(StatusCode::OK);
    let second = patched.header("consistency-token").unwrap().to_owned();
    let lsn = |text: &str| industry_events::db::replicas::Lsn::parse(text).unwrap();
    assert!(lsn(&second) >= lsn(&first), "{first} then {second}");
    let deleted = app.delete_with(&format!("/v1/events/{id}"), &[]).await;
    deleted.assert_status(StatusCode::NO_CONTENT);
    assert!(deleted.header("consistency-token").is_some());
    // Reads carry none, and honour one (without replicas, the primary has every write).
    let read = app
        .get_with(
            "/v1/events?limit=1",
            &[("consistency-token", second.as_str())],
        )
        .await;
    read.assert_status(StatusCode::OK);
    assert_eq!(read.header("consistency-token"), None);
    // A value that is not a token names no write: it is ignored.
    app.get_with("/v1/events?limit=1", &[("consistency-token", "nonsense")])
        .await
        .assert_status(StatusCode::OK);
}
