//! Webhooks end to end: subscriptions over HTTP, messages written with the change, a
//! real HTTP receiver on loopback (allowed by `WEBHOOK_ALLOWED_NETWORKS`), the
//! delivery worker running as `serve` runs it.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::future::BoxFuture;
use hmac::{Hmac, Mac};
use industry_events::config::ServeConfig;
use industry_events::webhook::Webhooks;
use industry_events::webhook::guard::Resolver;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::watch;

use crate::helpers::{TestApp, TestResponse, event};

// ---- the receiver -------------------------------------------------------------------

/// What the receiver answers to one request.
#[derive(Debug, Clone)]
enum Reply {
    Status(u16),
    WithHeader(u16, &'static str, String),
    Hang(Duration),
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct ReceiverState {
    seen: Vec<Received>,
    script: VecDeque<Reply>,
}

/// An HTTP endpoint on loopback that records what it is sent and answers from a
/// script (204 once the script is spent).
#[derive(Clone)]
struct Receiver {
    address: SocketAddr,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    async fn start() -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shared = state.clone();
        let router = axum::Router::new().fallback(move |request: Request<Body>| {
            let shared = shared.clone();
            async move { Self::answer(shared, request).await }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { address, state }
    }

    async fn answer(state: Arc<Mutex<ReceiverState>>, request: Request<Body>) -> Response {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20)
            .await
            .unwrap_or_default();
        let reply = {
            let mut state = state.lock().unwrap();
            state.seen.push(Received {
                path: parts.uri.path().to_owned(),
                headers: parts.headers,
                body,
                at: Instant::now(),
            });
            state.script.pop_front()
        };
        match reply {
            None => StatusCode::NO_CONTENT.into_response(),
            Some(Reply::Status(code)) => StatusCode::from_u16(code).unwrap().into_response(),
            Some(Reply::WithHeader(code, name, value)) => {
                (StatusCode::from_u16(code).unwrap(), [(name, value)]).into_response()
            }
            Some(Reply::Hang(wait)) => {
                tokio::time::sleep(wait).await;
                StatusCode::NO_CONTENT.into_response()
            }
        }
    }

    fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn seen(&self) -> Vec<Received> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Waits until `count` requests have arrived (at most 15 s), and returns them.
    async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let seen = self.seen();
            if seen.len() >= count {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {count} webhook requests, got {}: {seen:?}",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

// ---- the service --------------------------------------------------------------------

/// Retries in a fraction of a second, `http` to loopback allowed.
fn fast(config: &mut ServeConfig) {
    config.webhook_allow_http = true;
    config.webhook_allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
    config.webhook_retry_schedule = "100ms,100ms,100ms".parse().unwrap();
    config.webhook_poll_ms = 50;
    config.webhook_timeout_ms = 1_000;
}

/// The service with its delivery worker running, and an admin token.
struct Hooks {
    app: TestApp,
    admin: String,
    stop: watch::Sender<bool>,
    worker: Option<tokio::task::JoinHandle<()>>,
}

impl Hooks {
    async fn start(change: impl FnOnce(&mut ServeConfig)) -> Self {
        Self::start_resolving(
            change,
            Arc::new(industry_events::webhook::guard::SystemResolver),
        )
        .await
    }

    async fn start_resolving(
        change: impl FnOnce(&mut ServeConfig),
        resolver: Arc<dyn Resolver>,
    ) -> Self {
        let app = TestApp::with_resolver(
            |config| {
                fast(config);
                change(config);
            },
            resolver,
        )
        .await;
        let admin = app
            .token("admin", industry_events::model::Scope::Admin)
            .await;
        let (stop, stopping) = watch::channel(false);
        let worker = tokio::spawn(app.state.webhooks.clone().run(app.db.clone(), stopping));
        Self {
            app,
            admin,
            stop,
            worker: Some(worker),
        }
    }

    /// Stops this instance's delivery worker and waits until it has.
    async fn stop_worker(&mut self) {
        let _ = self.stop.send(true);
        if let Some(worker) = self.worker.take() {
            worker.await.unwrap();
        }
    }

    async fn shut_down(mut self) {
        self.stop_worker().await;
    }

    async fn admin_send(&self, method: Method, uri: &str, body: Option<Value>) -> TestResponse {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.admin));
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        };
        self.app.send(request.unwrap()).await
    }

    /// Subscribes and returns `(id, secret)`.
    async fn subscribe(&self, body: Value) -> (String, String) {
        let response = self
            .admin_send(Method::POST, "/v1/webhooks", Some(body))
            .await;
        response.assert_status(StatusCode::CREATED);
        let body = response.json();
        (
            body["id"].as_str().unwrap().to_owned(),
            body["secret"].as_str().unwrap().to_owned(),
        )
    }

    async fn deliveries(&self, id: &str) -> Vec<Value> {
        let response = self
            .admin_send(
                Method::GET,
                &format!("/v1/webhooks/{id}/deliveries?limit=100"),
                None,
            )
            .await;
        response.assert_status(StatusCode::OK);
        response.json()["data"].as_array().unwrap().clone()
    }

    async fn subscription(&self, id: &str) -> Value {
        let response = self
            .admin_send(Method::GET, &format!("/v1/webhooks/{id}"), None)
            .await;
        response.assert_status(StatusCode::OK);
        response.json()
    }

    /// Waits until the delivery log of `id` satisfies `done` (at most 15 s).
    async fn wait_log(&self, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let log = self.deliveries(id).await;
            if done(&log) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "the delivery log never got there: {log:#?}"
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
}

/// Verifies a Standard Webhooks signature header with HMAC-SHA256 written out here,
/// independently of the service's signing code.
fn verify(secret: &str, received: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let signed = format!(
        "{}.{}.{}",
        received.header("webhook-id"),
        received.header("webhook-timestamp"),
        String::from_utf8_lossy(&received.body)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(signed.as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    received
        .header("webhook-signature")
        .split(' ')
        .any(|signature| signature == expected)
}

fn statuses(log: &[Value]) -> Vec<&str> {
    log.iter().map(|d| d["status"].as_str().unwrap()).collect()
}

// ---- subscriptions ------------------------------------------------------------------

#[tokio::test]
async fn subscriptions_are_created_read_listed_changed_and_deleted() {
    let hooks = Hooks::start(|_| {}).await;
    let receiver = Receiver::start().await;
    let response = hooks
        .admin_send(
            Method::POST,
            "/v1/webhooks",
            Some(
                json!({"url": receiver.url("/hook"), "types": ["event.created"],
                        "filter": {"tag": ["AI"]}, "description": "newsroom bot"}),
            ),
        )
        .await;
    response.assert_status(StatusCode::CREATED);
    let created = response.json();
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        response.header("location"),
        Some(format!("/v1/webhooks/{id}").as_str())
    );
    let etag = response.header("etag").unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    assert!(STANDARD.decode(&secret[6..]).unwrap().len() >= 24);
    assert_eq!(created["filter"], json!({"tag": ["ai"]}));
    assert_eq!(created["status"], "active");

    // The secret is shown once, and is not stored in plain text.
    let read = hooks.subscription(id).await;
    assert!(read.get("secret").is_none(), "{read}");
    assert_eq!(read["description"], "newsroom bot");
    let stored: Vec<u8> = sqlx::query_scalar("select secret from webhook_subscriptions")
        .fetch_one(&hooks.app.db)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains(&secret[6..]));
    let again = hooks
        .app
        .send(
            Request::get(format!("/v1/webhooks/{id}"))
                .header(header::AUTHORIZATION, format!("Bearer {}", hooks.admin))
                .header(header::IF_NONE_MATCH, &etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    again.assert_status(StatusCode::NOT_MODIFIED);

    let list = hooks.admin_send(Method::GET, "/v1/webhooks", None).await;
    list.assert_status(StatusCode::OK);
    assert_eq!(list.json()["data"][0]["id"], id);
    assert_eq!(list.json()["next_cursor"], Value::Null);

    // A merge patch, honouring If-Match.
    let stale = hooks
        .app
        .send(
            Request::patch(format!("/v1/webhooks/{id}"))
                .header(header::AUTHORIZATION, format!("Bearer {}", hooks.admin))
                .header(header::CONTENT_TYPE, "application/merge-patch+json")
                .header(header::IF_MATCH, "\"nope\"")
                .body(Body::from(r#"{"status": "disabled"}"#))
                .unwrap(),
        )
        .await;
    stale.assert_problem(StatusCode::PRECONDITION_FAILED);
    let changed = hooks
        .admin_send(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            Some(json!({"types": ["*"], "status": "disabled", "filter": null})),
        )
        .await;
    changed.assert_status(StatusCode::OK);
    let changed = changed.json();
    assert_eq!(changed["types"], json!(["*"]));
    assert_eq!(changed["filter"], json!({}));
    assert_eq!(changed["status"], "disabled");
    assert_eq!(changed["disabled_reason"], "disabled by an admin");
    assert_eq!(changed["version"], 2);
    assert_eq!(changed["description"], "newsroom bot");
    let active = hooks
        .admin_send(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            Some(json!({"status": "active"})),
        )
        .await
        .json();
    assert_eq!(active["disabled_reason"], Value::Null);

    let deleted = hooks
        .admin_send(Method::DELETE, &format!("/v1/webhooks/{id}"), None)
        .await;
    deleted.assert_status(StatusCode::NO_CONTENT);
    hooks
        .admin_send(Method::GET, &format!("/v1/webhooks/{id}"), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    for path in [
        "/v1/webhooks/not-a-uuid",
        "/v1/webhooks/0190e0e0-0000-7000-8000-000000000000/deliveries",
    ] {
        hooks
            .admin_send(Method::GET, path, None)
            .await
            .assert_problem(StatusCode::NOT_FOUND);
    }
    hooks.shut_down().await;
}

/// A retried `POST /v1/webhooks` under the same `Idempotency-Key` gets the first answer,
/// secret included, and creates nothing; the answer is kept sealed, as the secret is.
#[tokio::test]
async fn creating_a_subscription_honours_an_idempotency_key() {
    let hooks = Hooks::start(|_| {}).await;
    let receiver = Receiver::start().await;
    let post = |key: &'static str, types: Value| {
        let body = json!({"url": receiver.url("/hook"), "types": types});
        let hooks = &hooks;
        async move {
            let request = Request::post("/v1/webhooks")
                .header(header::AUTHORIZATION, format!("Bearer {}", hooks.admin))
                .header(header::CONTENT_TYPE, "application/json")
                .header("idempotency-key", key)
                .body(Body::from(body.to_string()))
                .unwrap();
            hooks.app.send(request).await
        }
    };
    let first = post("nightly-setup", json!(["event.created"])).await;
    first.assert_status(StatusCode::CREATED);
    assert!(first.header("idempotent-replayed").is_none());
    let created = first.json();
    let secret = created["secret"].as_str().unwrap().to_owned();

    let retry = post("nightly-setup", json!(["event.created"])).await;
    retry.assert_status(StatusCode::CREATED);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.json(), created, "the same answer, secret included");
    assert_eq!(retry.header("location"), first.header("location"));
    assert_eq!(retry.header("etag"), first.header("etag"));
    let count = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from webhook_subscriptions")
            .fetch_one(&hooks.app.db)
            .await
            .unwrap()
    };
    assert_eq!(count().await, 1);
    let kept: Vec<u8> = sqlx::query_scalar("select body from idempotency_keys")
        .fetch_one(&hooks.app.db)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&kept).contains(&secret[6..]));

    // Another request under the key is refused; another key makes another subscription.
    post("nightly-setup", json!(["event.deleted"]))
        .await
        .assert_invalid_fields(&["Idempotency-Key"]);
    post("other-key", json!(["event.created"]))
        .await
        .assert_status(StatusCode::CREATED);
    assert_eq!(count().await, 2);

    // An answer that can no longer be opened is not replayed as something else.
    sqlx::query("update idempotency_keys set body = 'garbled' where key = 'nightly-setup'")
        .execute(&hooks.app.db)
        .await
        .unwrap();
    let problem = post("nightly-setup", json!(["event.created"]))
        .await
        .assert_problem(StatusCode::CONFLICT);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(created["id"].as_str().unwrap()),
        "{problem}"
    );
    assert_eq!(count().await, 2);
    hooks.shut_down().await;
}

#[tokio::test]
async fn only_admins_manage_webhooks() {
    let hooks = Hooks::start(|_| {}).await;
    let anonymous = hooks.app.get("/v1/webhooks").await;
    anonymous.assert_problem(StatusCode::UNAUTHORIZED);
    assert!(
        anonymous
            .header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer"))
    );
    let writer = hooks
        .app
        .post_json(
            "/v1/webhooks",
            json!({"url": "https://example.com/", "types": ["*"]}),
        )
        .await;
    writer.assert_problem(StatusCode::FORBIDDEN);
    hooks.shut_down().await;
}

#[tokio::test]
async fn bad_subscriptions_are_422s_naming_every_field() {
    let hooks = Hooks::start(|_| {}).await;
    let response = hooks
        .admin_send(
            Method::POST,
            "/v1/webhooks",
            Some(
                json!({"url": "ftp://example.com/", "types": ["event.exploded"],
                        "filter": {"tag": ["no way!"]}, "secret": "mine", "colour": 1}),
            ),
        )
        .await;
    response.assert_invalid_fields(&["url", "types", "filter.tag", "secret", "colour"]);
    let unknown_company = hooks
        .admin_send(
            Method::POST,
            "/v1/webhooks",
            Some(json!({"url": "http://127.0.0.1:9/", "types": ["*"], "filter": {"company": ["nobody"]}})),
        )
        .await;
    unknown_company.assert_invalid_fields(&["filter.company"]);
    hooks.shut_down().await;
}

// ---- where webhooks may go ----------------------------------------------------------

/// Answers each name from a table that a test can change between calls.
#[derive(Default)]
struct TableResolver {
    answers: Mutex<HashMap<String, Vec<IpAddr>>>,
    calls: Mutex<usize>,
}

impl TableResolver {
    fn answer(&self, name: &str, addresses: &[&str]) {
        self.answers.lock().unwrap().insert(
            name.to_owned(),
            addresses.iter().map(|a| a.parse().unwrap()).collect(),
        );
    }
}

impl Resolver for TableResolver {
    fn lookup(&self, host: String, _port: u16) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        *self.calls.lock().unwrap() += 1;
        let answer = self.answers.lock().unwrap().get(&host).cloned();
        Box::pin(async move {
            answer.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such name"))
        })
    }
}

#[tokio::test]
async fn addresses_that_are_not_public_are_refused_in_every_spelling() {
    let resolver = Arc::new(TableResolver::default());
    resolver.answer("loopback.test", &["127.0.0.1"]);
    resolver.answer("mixed.test", &["93.184.216.34", "10.0.0.7"]);
    resolver.answer("public.test", &["93.184.216.34"]);
    let hooks = Hooks::start_resolving(
        |config| {
            config.webhook_allow_http = false;
            config.webhook_allowed_networks = Vec::new();
        },
        resolver.clone(),
    )
    .await;
    for url in [
        "https://127.0.0.1/",
        "https://[::ffff:127.0.0.1]/",
        "https://[::1]/",
        "https://2130706433/",
        "https://0x7f000001/",
        "https://0/",
        "https://0.0.0.0/",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/",
        "https://192.168.1.1/",
        "https://100.64.0.1/",
        "https://[fd00::1]/",
        "https://[fe80::1]/",
        "https://224.0.0.1/",
        "https://loopback.test/",
        "https://mixed.test/",
        "https://unknown.test/",
        "http://public.test/",
        "https://user:pw@public.test/",
    ] {
        let response = hooks
            .admin_send(
                Method::POST,
                "/v1/webhooks",
                Some(json!({"url": url, "types": ["*"]})),
            )
            .await;
        response.assert_invalid_fields(&["url"]);
    }
    hooks
        .subscribe(json!({"url": "https://public.test/hook", "types": ["*"]}))
        .await;
    hooks.shut_down().await;
}

#[tokio::test]
async fn a_name_that_turns_to_loopback_after_registration_is_refused_at_delivery() {
    let resolver = Arc::new(TableResolver::default());
    resolver.answer("hooks.test", &["93.184.216.34"]);
    let receiver = Receiver::start().await;
    let hooks = Hooks::start_resolving(
        |config| config.webhook_allowed_networks = Vec::new(),
        resolver.clone(),
    )
    .await;
    let url = format!("http://hooks.test:{}/hook", receiver.address.port());
    let (id, _) = hooks.subscribe(json!({"url": url, "types": ["*"]})).await;
    // DNS rebinding: the name now answers the receiver's loopback address.
    resolver.answer("hooks.test", &["127.0.0.1"]);
    hooks
        .app
        .create_event(event("Rebound", "2024-03-27", &["ai"], "major"))
        .await;
    let log = hooks
        .wait_log(&id, |log| log.iter().any(|d| d["status"] == "failed"))
        .await;
    let failed = log.iter().find(|d| d["status"] == "failed").unwrap();
    assert_eq!(failed["response_status"], Value::Null);
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.starts_with("refused: the name `hooks.test`"),
        "{error}"
    );
    assert!(error.contains("127.0.0.1 is a loopback address"), "{error}");
    assert!(receiver.seen().is_empty(), "nothing reached loopback");
    // Changing something else keeps the stored URL (each delivery checks it anyway);
    // changing the URL checks the new one.
    let kept = hooks
        .admin_send(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            Some(json!({"description": "still here"})),
        )
        .await;
    kept.assert_status(StatusCode::OK);
    resolver.answer("other.test", &["10.0.0.1"]);
    hooks
        .admin_send(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            Some(json!({"url": "https://other.test/hook"})),
        )
        .await
        .assert_invalid_fields(&["url"]);
    hooks.shut_down().await;
}

/// Answers `slow.test` with 127.0.0.1, each lookup only when the test lets it go: it
/// hands the test a sender to do so.
struct SteppedResolver {
    asked: tokio::sync::mpsc::UnboundedSender<tokio::sync::oneshot::Sender<()>>,
}

impl Resolver for SteppedResolver {
    fn lookup(&self, host: String, _port: u16) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        let (go, wait) = tokio::sync::oneshot::channel();
        let asked = self.asked.send(go);
        Box::pin(async move {
            if host != "slow.test" || asked.is_err() || wait.await.is_err() {
                return Err(io::Error::new(io::ErrorKind::NotFound, "no such name"));
            }
            Ok(vec![IpAddr::from([127, 0, 0, 1])])
        })
    }
}

#[tokio::test]
async fn a_patch_resolves_its_new_url_without_holding_the_subscription() {
    let (asked, mut lookups) = tokio::sync::mpsc::unbounded_channel();
    let hooks = Hooks::start_resolving(|_| {}, Arc::new(SteppedResolver { asked })).await;
    let (id, _) = hooks
        .subscribe(json!({"url": "http://127.0.0.1:9/hook", "types": ["*"]}))
        .await;
    let uri = format!("/v1/webhooks/{id}");
    let moved = hooks.admin_send(
        Method::PATCH,
        &uri,
        Some(json!({"url": "http://slow.test/hook"})),
    );
    let others = async {
        let mut etags = Vec::new();
        for round in 1..=2 {
            let go = lookups.recv().await.unwrap();
            // While the new URL's name is looked up, the subscription is not locked:
            // another change goes through, and the patch is then merged again.
            let changed = tokio::time::timeout(
                Duration::from_secs(10),
                hooks.admin_send(
                    Method::PATCH,
                    &uri,
                    Some(json!({"description": format!("changed meanwhile {round}")})),
                ),
            )
            .await
            .expect("a change waited for another patch's name lookup");
            changed.assert_status(StatusCode::OK);
            etags.push(changed.header("etag").unwrap().to_owned());
            go.send(()).unwrap();
        }
        // The third try looks the name up under the lock, so it ends whatever others do.
        lookups.recv().await.unwrap().send(()).unwrap();
        etags
    };
    let (moved, etags) = tokio::join!(moved, others);
    moved.assert_status(StatusCode::OK);
    let body = moved.json();
    assert_eq!(body["url"], "http://slow.test/hook");
    assert_eq!(
        body["description"], "changed meanwhile 2",
        "merged with the latest"
    );
    assert_eq!(body["version"], 4);
    assert!(lookups.try_recv().is_err(), "three lookups, no more");
    // An If-Match of a version others replaced is still refused.
    hooks
        .app
        .send(
            Request::builder()
                .method(Method::PATCH)
                .uri(&uri)
                .header(header::AUTHORIZATION, format!("Bearer {}", hooks.admin))
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::IF_MATCH, &etags[1])
                .body(Body::from(json!({"description": "late"}).to_string()))
                .unwrap(),
        )
        .await
        .assert_problem(StatusCode::PRECONDITION_FAILED);
    hooks.shut_down().await;
}

#[tokio::test]
async fn deliveries_connect_to_the_address_the_resolver_checked() {
    // `hooks.test` exists only in this resolver: the client cannot have asked another.
    let resolver = Arc::new(TableResolver::default());
    resolver.answer("hooks.test", &["127.0.0.1"]);
    let receiver = Receiver::start().await;
    let hooks = Hooks::start_resolving(|_| {}, resolver.clone()).await;
    let url = format!("http://hooks.test:{}/hook", receiver.address.port());
    hooks.subscribe(json!({"url": url, "types": ["*"]})).await;
    hooks
        .app
        .create_event(event("Pinned", "2024-03-27", &["ai"], "major"))
        .await;
    let seen = receiver.wait_for(1).await;
    assert_eq!(
        seen[0].header("host"),
        format!("hooks.test:{}", receiver.address.port())
    );
    hooks.shut_down().await;
}

#[tokio::test]
async fn redirects_are_failures_and_are_not_followed() {
    let hooks = Hooks::start(|c| c.webhook_retry_schedule = "".parse().unwrap()).await;
    let receiver = Receiver::start().await;
    let elsewhere = Receiver::start().await;
    receiver.script([Reply::WithHeader(302, "location", elsewhere.url("/stolen"))]);
    let (id, _) = hooks
        .subscribe(json!({"url": receiver.url("/hook"), "types": ["*"]}))
        .await;
    hooks
        .app
        .create_event(event("Redirected", "2024-03-27", &["ai"], "major"))
        .await;
    let log = hooks.wait_log(&id, |log| statuses(log) == ["failed"]).await;
    assert_eq!(log[0]["response_status"], 302);
    assert!(
        log[0]["error"].as_str().unwrap().contains("not followed"),
        "{}",
        log[0]
    );
    assert_eq!(
        log[0]["next_attempt_at"],
        Value::Null,
        "the schedule is empty"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(elsewhere.seen().is_empty());
    hooks.shut_down().await;
}

// ---- messages -----------------------------------------------------------------------

#[tokio::test]
async fn each_change_is_sent_signed_with_the_record_or_its_tombstone() {
    let hooks = Hooks::start(|_| {}).await;
    let receiver = Receiver::start().await;
    let (_, secret) = hooks
        .subscribe(json!({"url": receiver.url("/hook"), "types": ["*"]}))
        .await;
    let created = hooks
        .app
        .create_event(event("Signed", "2024-03-27", &["ai"], "major"))
        .await;
    let id = created["id"].as_str().unwrap();
    let patched = hooks
        .app
        .patch_json(&format!("/v1/events/{id}"), json!({"summary": "Changed."}))
        .await;
    patched.assert_status(StatusCode::OK);
    let deleted = hooks
        .app
        .delete_with(&format!("/v1/events/{id}"), &[])
        .await;
    deleted.assert_status(StatusCode::NO_CONTENT);
    let company = hooks
        .app
        .post_json(
            "/v1/companies",
            json!({"name": "Anthropic", "kind": "ai_lab"}),
        )
        .await;
    company.assert_status(StatusCode::CREATED);

    let mut seen = receiver.wait_for(4).await;
    seen.sort_by_key(|r| r.header("webhook-id").to_owned());
    let types: Vec<String> = seen
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "event.created",
            "event.updated",
            "event.deleted",
            "company.created"
        ]
    );
    for received in &seen {
        assert_eq!(received.path, "/hook");
        assert_eq!(received.header("content-type"), "application/json");
        assert!(received.header("webhook-id").starts_with("msg_"));
        let timestamp: i64 = received.header("webhook-timestamp").parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
        assert!(verify(&secret, received), "a valid signature");
        let body = received.json();
        chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).unwrap();
    }
    assert_eq!(
        seen[0].json()["data"],
        created,
        "the record as GET shows it"
    );
    assert_eq!(seen[1].json()["data"]["summary"], "Changed.");
    assert_eq!(seen[1].json()["data"]["version"], 2);
    let tombstone = &seen[2].json()["data"];
    assert_eq!(tombstone["id"], created["id"]);
    assert_eq!(tombstone["slug"], created["slug"]);
    assert_eq!(tombstone["deleted"], true);
    assert_eq!(tombstone.as_object().unwrap().len(), 4, "{tombstone}");
    assert_eq!(seen[3].json()["data"]["name"], "Anthropic");
    // A tampered body does not verify.
    let mut forged = seen[0].clone();
    forged.body = Bytes::from(String::from_utf8_lossy(&forged.body).replace("Signed", "Forged"));
    assert!(!verify(&secret, &forged));
    hooks.shut_down().await;
}

#[tokio::test]
async fn types_and_filters_choose_what_is_sent() {
    let hooks = Hooks::start(|_| {}).await;
    let receiver = Receiver::start().await;
    let amazon = hooks
        .app
        .post_json(
            "/v1/companies",
            json!({"name": "Amazon", "kind": "cloud_provider"}),
        )
        .await
        .json();
    hooks
        .subscribe(json!({"url": receiver.url("/ai-major"), "types": ["event.created", "event.updated"],
                          "filter": {"tag": ["ai"], "min_significance": "major", "exclude_tag": ["rumour"]}}))
        .await;
    hooks
        .subscribe(
            json!({"url": receiver.url("/amazon"), "types": ["event.created"],
                          "filter": {"company": ["amazon"]}}),
        )
        .await;
    hooks
        .subscribe(json!({"url": receiver.url("/companies"), "types": ["company.updated", "company.deleted"],
                          "filter": {"tag": ["never"]}}))
        .await;

    hooks
        .app
        .create_event(event("Minor AI", "2024-03-27", &["ai"], "minor"))
        .await;
    hooks
        .app
        .create_event(event("Rumour", "2024-03-27", &["ai", "rumour"], "major"))
        .await;
    let mut with_amazon = event("Amazon invests", "2024-03-27", &["ai"], "landmark");
    with_amazon["companies"] = json!([{"company": "amazon", "role": "investor"}]);
    let sent = hooks.app.create_event(with_amazon).await;
    // Leaving the filter is still news to the subscriber: the update is sent.
    let demoted = hooks
        .app
        .patch_json(
            &format!("/v1/events/{}", sent["id"].as_str().unwrap()),
            json!({"significance": "minor"}),
        )
        .await;
    demoted.assert_status(StatusCode::OK);
    let renamed = hooks
        .app
        .patch_json(
            &format!("/v1/companies/{}", amazon["id"].as_str().unwrap()),
            json!({"description": "Cloud."}),
        )
        .await;
    renamed.assert_status(StatusCode::OK);

    let seen = receiver.wait_for(4).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let seen_now = receiver.seen();
    assert_eq!(seen_now.len(), seen.len(), "nothing else arrives");
    let mut got: Vec<(String, String, String)> = seen_now
        .iter()
        .map(|r| {
            let body = r.json();
            let name = body["data"]["title"]
                .as_str()
                .or(body["data"]["name"].as_str())
                .unwrap()
                .to_owned();
            (
                r.path.clone(),
                body["type"].as_str().unwrap().to_owned(),
                name,
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "/ai-major".to_owned(),
                "event.created".to_owned(),
                "Amazon invests".to_owned()
            ),
            (
                "/ai-major".to_owned(),
                "event.updated".to_owned(),
                "Amazon invests".to_owned()
            ),
            (
                "/amazon".to_owned(),
                "event.created".to_owned(),
                "Amazon invests".to_owned()
            ),
            (
                "/companies".to_owned(),
                "company.updated".to_owned(),
                "Amazon".to_owned()
            ),
        ]
    );
    hooks.shut_down().await;
}

/// An event shows its companies' and deals' names, so renaming one (or deleting a deal)
/// changes every event that shows it: each such event is sent as `event.updated`, as
/// it now stands. A change that does not show in the events sends none.
#[tokio::test]
async fn renaming_a_company_or_a_deal_sends_the_events_that_show_it() {
    let hooks = Hooks::start(|_| {}).await;
    let receiver = Receiver::start().await;
    for (slug, name) in [("amazon", "Amazon"), ("anthropic", "Anthropic")] {
        hooks
            .app
            .post_json(
                "/v1/companies",
                json!({"slug": slug, "name": name, "kind": "other"}),
            )
            .await
            .assert_status(StatusCode::CREATED);
    }
    let deal = hooks
        .app
        .post_json(
            "/v1/partnerships",
            json!({"title": "The deal", "kind": "investment", "status": "active",
                   "announced_on": "2024-01-01",
                   "parties": [{"company": "amazon", "role": "investor"},
                               {"company": "anthropic", "role": "investee"}]}),
        )
        .await
        .json();
    let mut named = event("Amazon invests", "2024-03-27", &["ai"], "major");
    named["companies"] = json!([{"company": "amazon", "role": "investor"}]);
    named["partnerships"] = json!([deal["id"]]);
    let named = hooks.app.create_event(named).await;
    let mut other = event("Anthropic ships", "2024-03-28", &["ai"], "major");
    other["companies"] = json!([{"company": "anthropic", "role": "subject"}]);
    hooks.app.create_event(other).await;
    hooks
        .subscribe(
            json!({"url": receiver.url("/events"), "types": ["event.updated"],
                          "filter": {"company": ["amazon"]}}),
        )
        .await;

    // Not shown in events: nothing for them.
    hooks
        .app
        .patch_json("/v1/companies/amazon", json!({"description": "Cloud."}))
        .await
        .assert_status(StatusCode::OK);
    hooks
        .app
        .patch_json("/v1/companies/amazon", json!({"name": "Amazon.com"}))
        .await
        .assert_status(StatusCode::OK);
    let deal_path = format!("/v1/partnerships/{}", deal["id"].as_str().unwrap());
    hooks
        .app
        .patch_json(&deal_path, json!({"title": "The renamed deal"}))
        .await
        .assert_status(StatusCode::OK);
    hooks
        .app
        .send(
            Request::delete(&deal_path)
                .header(
                    header::AUTHORIZATION,
                    format!("Bearer {}", hooks.app.write_token),
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .assert_status(StatusCode::NO_CONTENT);

    let seen = receiver.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.seen().len(), 3, "nothing else arrives");
    let bodies: Vec<Value> = seen.iter().map(Received::json).collect();
    assert!(bodies.iter().all(|b| b["type"] == "event.updated"));
    assert!(bodies.iter().all(|b| b["data"]["id"] == named["id"]));
    let mut versions: Vec<i64> = bodies
        .iter()
        .map(|b| b["data"]["version"].as_i64().unwrap())
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, [2, 3, 4], "one message per rewrite");
    let by_version =
        |v: i64| bodies.iter().find(|b| b["data"]["version"] == v).unwrap()["data"].clone();
    assert_eq!(by_version(2)["companies"][0]["name"], "Amazon.com");
    assert_eq!(
        by_version(3)["partnerships"][0]["title"],
        "The renamed deal"
    );
    assert_eq!(by_version(4)["partnerships"], json!([]));
    // Each is the event as GET shows it now.
    let now = hooks
        .app
        .get(&format!("/v1/events/{}", named["id"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(by_version(4), now);
    hooks.shut_down().await;
}

#[tokio::test]
async fn a_failed_write_sends_nothing() {
    let hooks = Hooks::start(|_| {}).await;
    let receiver = Receiver::start().await;
    hooks
        .subscribe(json!({"url": receiver.url("/hook"), "types": ["*"]}))
        .await;
    let first = hooks
        .app
        .create_event(event("Taken", "2024-03-27", &["ai"], "major"))
        .await;
    receiver.wait_for(1).await;
    // A slug conflict fails inside the write's transaction, after the checks.
    let mut clash = event("Other", "2024-03-27", &["ai"], "major");
    clash["slug"] = first["slug"].clone();
    hooks
        .app
        .post_json("/v1/events", clash)
        .await
        .assert_problem(StatusCode::CONFLICT);
    hooks
        .app
        .post_json("/v1/events", json!({"title": ""}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let messages: i64 = sqlx::query_scalar("select count(*) from webhook_messages")
        .fetch_one(&hooks.app.db)
        .await
        .unwrap();
    assert_eq!(messages, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.seen().len(), 1);
    hooks.shut_down().await;
}

// ---- retries and endpoint health ----------------------------------------------------

#[tokio::test]
async fn failures_are_retried_with_the_same_webhook_id_and_logged() {
    let hooks = Hooks::start(|_| {}).await;
    let receiver = Receiver::start().await;
    receiver.script([Reply::Status(500), Reply::Status(404)]);
    let (id, secret) = hooks
        .subscribe(json!({"url": receiver.url("/hook"), "types": ["*"]}))
        .await;
    hooks
        .app
        .create_event(event("Retried", "2024-03-27", &["ai"], "major"))
        .await;
    let seen = receiver.wait_for(3).await;
    let ids: Vec<&str> = seen.iter().map(|r| r.header("webhook-id")).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    assert!(
        seen.iter().all(|r| r.body == seen[0].body),
        "the same body every time"
    );
    assert!(seen.iter().all(|r| verify(&secret, r)));
    // Jitter only delays: each retry waits at least its 100 ms step.
    for pair in seen.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(100));
    }
    let log = hooks
        .wait_log(&id, |log| {
            statuses(log) == ["succeeded", "failed", "failed"]
        })
        .await;
    let attempts: Vec<i64> = log.iter().map(|d| d["attempt"].as_i64().unwrap()).collect();
    assert_eq!(attempts, [3, 2, 1], "newest first");
    assert!(log.iter().all(|d| d["message_id"] == ids[0]));
    assert!(log.iter().all(|d| d["type"] == "event.created"));
    assert_eq!(log[2]["response_status"], 500);
    assert_eq!(log[1]["response_status"], 404);
    assert_eq!(log[0]["response_status"], 204);
    assert_eq!(log[0]["error"], Value::Null);
    assert!(log[0]["latency_ms"].as_i64().is_some());
    assert!(log[2]["error"].as_str().unwrap().contains("500"));
    // A failure says when the next attempt is due: at least the step after it.
    let at = chrono::DateTime::parse_from_rfc3339(log[2]["at"].as_str().unwrap()).unwrap();
    let next =
        chrono::DateTime::parse_from_rfc3339(log[2]["next_attempt_at"].as_str().unwrap()).unwrap();
    let wait = (next - at).num_milliseconds();
    assert!((100..=130).contains(&wait), "{wait} ms");
    assert_eq!(log[0]["next_attempt_at"], Value::Null);
    let subscription = hooks.subscription(&id).await;
    assert_eq!(subscription["failing_since"], Value::Null);
    assert!(subscription["last_success_at"].is_string());
    hooks.shut_down().await;
}

#[tokio::test]
async fn a_410_disables_the_subscription_at_once() {
    let hooks = Hooks::start(|_| {}).await;
    let receiver = Receiver::start().await;
    receiver.script([Reply::Status(410)]);
    let (id, _) = hooks
        .subscribe(json!({"url": receiver.url("/hook"), "types": ["*"]}))
        .await;
    hooks
        .app
        .create_event(event("Gone", "2024-03-27", &["ai"], "major"))
        .await;
    let log = hooks.wait_log(&id, |log| statuses(log) == ["failed"]).await;
    assert_eq!(log[0]["next_attempt_at"], Value::Null);
    let subscription = hooks.subscription(&id).await;
    assert_eq!(subscription["status"], "disabled");
    assert!(
        subscription["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410")
    );
    // Nothing more is sent, and a ping says why.
    hooks
        .app
        .create_event(event("Later", "2024-03-27", &["ai"], "major"))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.seen().len(), 1);
    hooks
        .admin_send(Method::POST, &format!("/v1/webhooks/{id}/ping"), None)
        .await
        .assert_problem(StatusCode::CONFLICT);
    hooks.shut_down().await;
}

#[tokio::test]
async fn retry_after_on_429_and_503_is_honoured() {
    let hooks = Hooks::start(|_| {}).await;
    let receiver = Receiver::start().await;
    receiver.script([
        Reply::WithHeader(429, "retry-after", "1".into()),
        Reply::WithHeader(503, "retry-after", "1".into()),
    ]);
    let (id, _) = hooks
        .subscribe(json!({"url": receiver.url("/hook"), "types": ["*"]}))
        .await;
    hooks
        .app
        .create_event(event("Slow down", "2024-03-27", &["ai"], "major"))
        .await;
    let seen = receiver.wait_for(3).await;
    for pair in seen.windows(2) {
        let wait = pair[1].at - pair[0].at;
        assert!(wait >= Duration::from_secs(1), "retried after {wait:?}");
    }
    let log = hooks
        .wait_log(&id, |log| {
            statuses(log) == ["succeeded", "failed", "failed"]
        })
        .await;
    assert_eq!(log[2]["response_status"], 429);
    assert_eq!(log[1]["response_status"], 503);
    hooks.shut_down().await;
}

#[tokio::test]
async fn a_timeout_is_a_failure_without_a_status() {
    let hooks = Hooks::start(|c| {
        c.webhook_timeout_ms = 300;
        c.webhook_retry_schedule = "".parse().unwrap();
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.script([Reply::Hang(Duration::from_secs(3))]);
    let (id, _) = hooks
        .subscribe(json!({"url": receiver.url("/hook"), "types": ["*"]}))
        .await;
    hooks
        .app
        .create_event(event("Too slow", "2024-03-27", &["ai"], "major"))
        .await;
    let log = hooks.wait_log(&id, |log| statuses(log) == ["failed"]).await;
    assert_eq!(log[0]["response_status"], Value::Null);
    assert_eq!(log[0]["error"], "no answer within 300 ms");
    let latency = log[0]["latency_ms"].as_i64().unwrap();
    assert!((300..2_000).contains(&latency), "{latency}");
    hooks.shut_down().await;
}

#[tokio::test]
async fn a_connection_refused_is_a_failure_without_a_status() {
    let hooks = Hooks::start(|c| c.webhook_retry_schedule = "".parse().unwrap()).await;
    // A port nothing listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (id, _) = hooks
        .subscribe(json!({"url": format!("http://127.0.0.1:{port}/"), "types": ["*"]}))
        .await;
    hooks
        .app
        .create_event(event("Nobody home", "2024-03-27", &["ai"], "major"))
        .await;
    let log = hooks.wait_log(&id, |log| statuses(log) == ["failed"]).await;
    assert_eq!(log[0]["response_status"], Value::Null);
    assert!(
        log[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("could not deliver"),
        "{}",
        log[0]
    );
    hooks.shut_down().await;
}

#[tokio::test]
async fn a_subscription_failing_too_long_is_disabled() {
    let hooks = Hooks::start(|c| {
        c.webhook_disable_after_secs = 1;
        c.webhook_retry_schedule = "400ms,400ms,400ms,400ms,400ms".parse().unwrap();
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.script((0..10).map(|_| Reply::Status(500)));
    let (id, _) = hooks
        .subscribe(json!({"url": receiver.url("/hook"), "types": ["*"]}))
        .await;
    hooks
        .app
        .create_event(event("Failing", "2024-03-27", &["ai"], "major"))
        .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let subscription = loop {
        let subscription = hooks.subscription(&id).await;
        if subscription["status"] == "disabled" {
            break subscription;
        }
        assert!(Instant::now() < deadline, "never disabled: {subscription}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(subscription["failing_since"].is_string());
    assert_eq!(
        subscription["disabled_reason"],
        "deliveries failed for 1 s without a success"
    );
    let attempts = receiver.seen().len();
    assert!(
        (3..=5).contains(&attempts),
        "{attempts} attempts in about a second"
    );
    hooks.shut_down().await;
}

// ---- rotation, ping, manual retry ---------------------------------------------------

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_old_one_during_the_overlap() {
    let hooks = Hooks::start(|_| {}).await;
    let receiver = Receiver::start().await;
    let (id, old) = hooks
        .subscribe(json!({"url": receiver.url("/hook"), "types": ["*"]}))
        .await;
    let rotated = hooks
        .admin_send(
            Method::POST,
            &format!("/v1/webhooks/{id}/rotate-secret"),
            None,
        )
        .await;
    rotated.assert_status(StatusCode::OK);
    let rotated = rotated.json();
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(rotated["previous_secret_expires_at"].is_string());
    hooks
        .app
        .create_event(event("Rotated", "2024-03-27", &["ai"], "major"))
        .await;
    let seen = receiver.wait_for(1).await;
    assert_eq!(seen[0].header("webhook-signature").split(' ').count(), 2);
    assert!(verify(&old, &seen[0]) && verify(&new, &seen[0]));
    // Once the overlap is over, only the new secret signs.
    sqlx::query("update webhook_subscriptions set previous_secret_until = now() - interval '1 s'")
        .execute(&hooks.app.db)
        .await
        .unwrap();
    hooks
        .app
        .create_event(event("After", "2024-03-27", &["ai"], "major"))
        .await;
    let seen = receiver.wait_for(2).await;
    assert_eq!(seen[1].header("webhook-signature").split(' ').count(), 1);
    assert!(verify(&new, &seen[1]) && !verify(&old, &seen[1]));
    assert_eq!(
        hooks.subscription(&id).await["previous_secret_expires_at"],
        Value::Null
    );
    hooks.shut_down().await;
}

#[tokio::test]
async fn ping_sends_a_signed_ping_now() {
    let hooks = Hooks::start(|_| {}).await;
    let receiver = Receiver::start().await;
    let (id, secret) = hooks
        .subscribe(json!({"url": receiver.url("/hook"), "types": ["event.created"]}))
        .await;
    let response = hooks
        .admin_send(Method::POST, &format!("/v1/webhooks/{id}/ping"), None)
        .await;
    response.assert_status(StatusCode::ACCEPTED);
    let message_id = response.json()["message_id"].as_str().unwrap().to_owned();
    let seen = receiver.wait_for(1).await;
    assert_eq!(seen[0].header("webhook-id"), message_id);
    assert!(verify(&secret, &seen[0]));
    assert_eq!(seen[0].json()["type"], "webhook.ping");
    assert_eq!(seen[0].json()["data"]["subscription_id"], id.as_str());
    let log = hooks
        .wait_log(&id, |log| statuses(log) == ["succeeded"])
        .await;
    assert_eq!(log[0]["type"], "webhook.ping");
    hooks
        .admin_send(
            Method::POST,
            "/v1/webhooks/0190e0e0-0000-7000-8000-000000000000/ping",
            None,
        )
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    hooks.shut_down().await;
}

#[tokio::test]
async fn a_manual_retry_sends_the_message_again_with_its_id() {
    let hooks = Hooks::start(|c| c.webhook_retry_schedule = "".parse().unwrap()).await;
    let receiver = Receiver::start().await;
    receiver.script([Reply::Status(500)]);
    let (id, _) = hooks
        .subscribe(json!({"url": receiver.url("/hook"), "types": ["*"]}))
        .await;
    hooks
        .app
        .create_event(event("Again", "2024-03-27", &["ai"], "major"))
        .await;
    let log = hooks.wait_log(&id, |log| statuses(log) == ["failed"]).await;
    let delivery = log[0]["id"].as_str().unwrap();
    let response = hooks
        .admin_send(
            Method::POST,
            &format!("/v1/webhooks/{id}/deliveries/{delivery}/retry"),
            None,
        )
        .await;
    response.assert_status(StatusCode::ACCEPTED);
    assert_eq!(response.json()["message_id"], log[0]["message_id"]);
    let seen = receiver.wait_for(2).await;
    assert_eq!(seen[0].header("webhook-id"), seen[1].header("webhook-id"));
    let log = hooks
        .wait_log(&id, |log| statuses(log) == ["succeeded", "failed"])
        .await;
    assert_eq!(log[0]["attempt"], 2);
    for bad in ["nope", "0190e0e0-0000-7000-8000-000000000000"] {
        hooks
            .admin_send(
                Method::POST,
                &format!("/v1/webhooks/{id}/deliveries/{bad}/retry"),
                None,
            )
            .await
            .assert_problem(StatusCode::NOT_FOUND);
    }
    hooks.shut_down().await;
}

#[tokio::test]
async fn the_delivery_log_pages_newest_first() {
    let hooks = Hooks::start(|_| {}).await;
    let receiver = Receiver::start().await;
    let (id, _) = hooks
        .subscribe(json!({"url": receiver.url("/hook"), "types": ["*"]}))
        .await;
    for n in 0..5 {
        hooks
            .app
            .create_event(event(&format!("Event {n}"), "2024-03-27", &["ai"], "major"))
            .await;
    }
    receiver.wait_for(5).await;
    hooks
        .wait_log(&id, |log| {
            statuses(log).iter().filter(|s| **s == "succeeded").count() == 5
        })
        .await;
    let mut ids = Vec::new();
    let mut uri = format!("/v1/webhooks/{id}/deliveries?limit=2");
    loop {
        let page = hooks.admin_send(Method::GET, &uri, None).await;
        page.assert_status(StatusCode::OK);
        let body = page.json();
        ids.extend(
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_owned()),
        );
        match body["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/v1/webhooks/{id}/deliveries?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(ids.len(), 5);
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(ids, sorted);
    hooks
        .admin_send(
            Method::GET,
            &format!("/v1/webhooks/{id}/deliveries?limit=0"),
            None,
        )
        .await
        .assert_bad_param("limit");
    hooks
        .admin_send(
            Method::GET,
            &format!("/v1/webhooks/{id}/deliveries?cursor=nope"),
            None,
        )
        .await
        .assert_bad_param("cursor");
    hooks.shut_down().await;
}

// ---- several instances, crashes, shutdown --------------------------------------------

#[tokio::test]
async fn two_instances_deliver_each_message_once() {
    let hooks = Hooks::start(|c| c.webhook_endpoint_concurrency = 8).await;
    let receiver = Receiver::start().await;
    hooks
        .subscribe(json!({"url": receiver.url("/hook"), "types": ["*"]}))
        .await;
    // A second instance: its own sender, the same database.
    let mut config = ServeConfig::defaults();
    fast(&mut config);
    let second = Arc::new(Webhooks::new(
        &config,
        Arc::new(industry_events::webhook::guard::SystemResolver),
    ));
    let (stop, stopping) = watch::channel(false);
    let worker = tokio::spawn(second.run(hooks.app.db.clone(), stopping));
    for n in 0..30 {
        hooks
            .app
            .create_event(event(&format!("Event {n}"), "2024-03-27", &["ai"], "major"))
            .await;
    }
    receiver.wait_for(30).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = receiver.seen();
    let mut ids: Vec<&str> = seen.iter().map(|r| r.header("webhook-id")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        (seen.len(), ids.len()),
        (30, 30),
        "each message exactly once"
    );
    let makers: Vec<Option<uuid::Uuid>> =
        sqlx::query_scalar("select distinct claimed_by from webhook_deliveries")
            .fetch_all(&hooks.app.db)
            .await
            .unwrap();
    assert_eq!(makers, [None], "no claim is left behind");
    let _ = stop.send(true);
    worker.await.unwrap();
    hooks.shut_down().await;
}

#[tokio::test]
async fn an_attempt_claimed_by_an_instance_that_died_is_made_again() {
    let mut hooks = Hooks::start(|_| {}).await;
    hooks.stop_worker().await;
    let receiver = Receiver::start().await;
    hooks
        .subscribe(json!({"url": receiver.url("/hook"), "types": ["*"]}))
        .await;
    hooks
        .app
        .create_event(event("Orphaned", "2024-03-27", &["ai"], "major"))
        .await;
    // An instance claims the delivery and dies before making it.
    let dead = uuid::Uuid::now_v7();
    let claimed = industry_events::repo::webhooks::claim(
        &hooks.app.db,
        dead,
        10,
        4,
        Duration::from_millis(500),
    )
    .await
    .unwrap();
    assert_eq!(claimed.len(), 1);
    let claimed_at = Instant::now();
    let mut config = ServeConfig::defaults();
    fast(&mut config);
    let survivor = Arc::new(Webhooks::new(
        &config,
        Arc::new(industry_events::webhook::guard::SystemResolver),
    ));
    let (stop, stopping) = watch::channel(false);
    let worker = tokio::spawn(survivor.run(hooks.app.db.clone(), stopping));
    let seen = receiver.wait_for(1).await;
    assert!(
        seen[0].at - claimed_at >= Duration::from_millis(400),
        "only once the claim lapsed"
    );
    assert_eq!(
        seen[0].header("webhook-id"),
        industry_events::model::webhook::message_id(claimed[0].message_id)
    );
    let _ = stop.send(true);
    worker.await.unwrap();
    hooks.shut_down().await;
}

#[tokio::test]
async fn shutdown_hands_unfinished_attempts_back() {
    let receiver = Receiver::start().await;
    receiver.script([Reply::Hang(Duration::from_secs(5))]);
    let app = TestApp::with_config(|c| {
        fast(c);
        c.webhook_timeout_ms = 10_000;
    })
    .await;
    let admin = app
        .token("admin", industry_events::model::Scope::Admin)
        .await;
    let mut config = ServeConfig::defaults();
    fast(&mut config);
    config.webhook_timeout_ms = 10_000;
    let sender = Arc::new(
        Webhooks::new(
            &config,
            Arc::new(industry_events::webhook::guard::SystemResolver),
        )
        .with_shutdown_grace(Duration::from_millis(200)),
    );
    let (stop, stopping) = watch::channel(false);
    let worker = tokio::spawn(sender.run(app.db.clone(), stopping));
    let response = app
        .send(
            Request::post("/v1/webhooks")
                .header(header::AUTHORIZATION, format!("Bearer {admin}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    json!({"url": receiver.url("/hook"), "types": ["*"]}).to_string(),
                ))
                .unwrap(),
        )
        .await;
    response.assert_status(StatusCode::CREATED);
    app.create_event(event("In flight", "2024-03-27", &["ai"], "major"))
        .await;
    receiver.wait_for(1).await;
    let started = Instant::now();
    let _ = stop.send(true);
    worker.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "it did not wait for the endpoint"
    );
    let (status, claimed_by): (String, Option<uuid::Uuid>) =
        sqlx::query_as("select status, claimed_by from webhook_deliveries")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), claimed_by),
        ("pending", None),
        "back in the queue, due now"
    );
    let claimable = industry_events::repo::webhooks::claim(
        &app.db,
        uuid::Uuid::now_v7(),
        10,
        4,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(claimable.len(), 1, "another instance can make it at once");
}

#[tokio::test]
async fn attempts_and_the_backlog_are_in_the_metrics() {
    let hooks = Hooks::start(|_| {}).await;
    let receiver = Receiver::start().await;
    let (id, _) = hooks
        .subscribe(json!({"url": receiver.url("/hook"), "types": ["*"]}))
        .await;
    hooks
        .app
        .create_event(event("Counted", "2024-03-27", &["ai"], "major"))
        .await;
    hooks
        .wait_log(&id, |log| statuses(log) == ["succeeded"])
        .await;
    let metrics = hooks.app.get("/metrics").await;
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(
        text.contains("webhook_attempts_total{outcome=\"succeeded\"}"),
        "{text}"
    );
    assert!(text.contains("webhook_backlog "), "{text}");
    assert!(text.contains("webhook_backlog_age_seconds "), "{text}");
    hooks.shut_down().await;
}

#[tokio::test]
async fn a_slow_endpoint_does_not_hold_up_the_others() {
    let hooks = Hooks::start(|c| {
        c.webhook_endpoint_concurrency = 1;
        c.webhook_timeout_ms = 5_000;
    })
    .await;
    let slow = Receiver::start().await;
    slow.script((0..10).map(|_| Reply::Hang(Duration::from_secs(2))));
    let fast = Receiver::start().await;
    hooks
        .subscribe(json!({"url": slow.url("/slow"), "types": ["*"]}))
        .await;
    hooks
        .subscribe(json!({"url": fast.url("/fast"), "types": ["*"]}))
        .await;
    let started = Instant::now();
    for n in 0..5 {
        hooks
            .app
            .create_event(event(&format!("Event {n}"), "2024-03-27", &["ai"], "major"))
            .await;
    }
    fast.wait_for(5).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(slow.seen().len(), 1, "one at a time to the slow endpoint");
    hooks.shut_down().await;
}

#[tokio::test]
async fn an_import_sends_one_message_per_stored_record() {
    let hooks = Hooks::start(|_| {}).await;
    let receiver = Receiver::start().await;
    hooks
        .subscribe(json!({"url": receiver.url("/hook"), "types": ["event.created"]}))
        .await;
    let lines = [
        event("Imported one", "2024-03-27", &["ai"], "major").to_string(),
        json!({"title": ""}).to_string(),
        event("Imported two", "2024-03-28", &["ai"], "major").to_string(),
    ]
    .join("\n");
    let response = hooks
        .app
        .send(
            hooks
                .app
                .authed(Method::POST, "/v1/events/import?mode=partial")
                .header(header::CONTENT_TYPE, "application/x-ndjson")
                .body(Body::from(lines))
                .unwrap(),
        )
        .await;
    response.assert_status(StatusCode::OK);
    let seen = receiver.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut titles: Vec<String> = receiver
        .seen()
        .iter()
        .map(|r| r.json()["data"]["title"].as_str().unwrap().to_owned())
        .collect();
    titles.sort();
    assert_eq!(titles, ["Imported one", "Imported two"], "{seen:?}");
    hooks.shut_down().await;
}

#[tokio::test]
async fn deals_and_company_deletions_are_sent_too() {
    let hooks = Hooks::start(|_| {}).await;
    let receiver = Receiver::start().await;
    let (_, secret) = hooks
        .subscribe(json!({"url": receiver.url("/hook"), "types": ["*"]}))
        .await;
    for (slug, name, kind) in [
        ("amazon", "Amazon", "cloud_provider"),
        ("anthropic", "Anthropic", "ai_lab"),
        ("spare", "Spare", "other"),
    ] {
        hooks
            .app
            .post_json(
                "/v1/companies",
                json!({"slug": slug, "name": name, "kind": kind}),
            )
            .await
            .assert_status(StatusCode::CREATED);
    }
    let deal = hooks
        .app
        .post_json(
            "/v1/partnerships",
            json!({"title": "Amazon invests in Anthropic", "kind": "investment", "status": "announced",
                   "parties": [{"company": "amazon", "role": "investor"}, {"company": "anthropic", "role": "investee"}],
                   "announced_on": "2023-09-25", "total": {"amount": "4000000000", "currency": "USD"}}),
        )
        .await;
    deal.assert_status(StatusCode::CREATED);
    let deal = deal.json();
    let id = deal["id"].as_str().unwrap();
    hooks
        .app
        .patch_json(
            &format!("/v1/partnerships/{id}"),
            json!({"status": "completed"}),
        )
        .await
        .assert_status(StatusCode::OK);
    hooks
        .app
        .delete_with(&format!("/v1/partnerships/{id}"), &[])
        .await
        .assert_status(StatusCode::NO_CONTENT);
    hooks
        .app
        .delete_with("/v1/companies/spare", &[])
        .await
        .assert_status(StatusCode::NO_CONTENT);
    let mut seen = receiver.wait_for(7).await;
    seen.sort_by_key(|r| r.header("webhook-id").to_owned());
    let types: Vec<String> = seen
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "company.created",
            "company.created",
            "company.created",
            "partnership.created",
            "partnership.updated",
            "partnership.deleted",
            "company.deleted"
        ]
    );
    assert!(seen.iter().all(|r| verify(&secret, r)));
    assert_eq!(seen[3].json()["data"], deal, "the deal as GET shows it");
    assert_eq!(seen[4].json()["data"]["status"], "completed");
    let gone = &seen[5].json()["data"];
    assert_eq!(
        (gone["id"].as_str(), gone["deleted"].as_bool()),
        (Some(id), Some(true))
    );
    assert_eq!(seen[6].json()["data"]["slug"], "spare");
    assert_eq!(seen[6].json()["data"]["deleted"], true);
    hooks.shut_down().await;
}
