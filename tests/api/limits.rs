//! Rate limiting: a burst then 429 with `Retry-After` and the `RateLimit-*` headers, one
//! allowance per token and per client address, `X-Forwarded-For` believed only from
//! trusted proxies, `RATE_LIMIT_RPS=0` turning it off, and probes never limited.
//!
//! Quotas here are tiny (1 a second, bursts of 2 or 3) so every test is quick and its
//! outcome does not depend on timing: nothing replenishes within the few milliseconds a
//! burst takes, and the one test that waits for a refill waits just over a second.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use industry_events::config::ServeConfig;
use industry_events::model::Scope;

use crate::helpers::{TestApp, TestDb, TestResponse};
use crate::ops::binary;
use crate::serving::Serving;

/// An app allowing `burst` requests at once and `rps` a second after that.
async fn limited(rps: u32, burst: u32, change: impl FnOnce(&mut ServeConfig)) -> TestApp {
    TestApp::with_config(|config| {
        config.rate_limit_rps = rps;
        config.rate_limit_burst = burst;
        change(config);
    })
    .await
}

/// `GET uri` as if from `peer`, with extra headers.
async fn get_from(app: &TestApp, uri: &str, peer: &str, headers: &[(&str, &str)]) -> TestResponse {
    let mut request = Request::get(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(Body::empty()).unwrap();
    let peer: SocketAddr = format!("{peer}:40000").parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    app.send(request).await
}

/// The `RateLimit-*` headers as numbers: (limit, remaining, reset).
fn rate_limit_headers(res: &TestResponse) -> (u64, u64, u64) {
    let number = |name: &str| {
        res.header(name)
            .unwrap_or_else(|| panic!("{name} missing: {:?}", res.headers))
            .parse::<u64>()
            .unwrap_or_else(|e| panic!("{name} is not an integer: {e}"))
    };
    (
        number("ratelimit-limit"),
        number("ratelimit-remaining"),
        number("ratelimit-reset"),
    )
}

#[tokio::test]
async fn a_burst_is_served_then_a_429_problem_says_when_to_retry() {
    let app = limited(1, 3, |_| {}).await;
    for expected_remaining in [2, 1, 0] {
        let res = app.get("/v1/events").await;
        res.assert_status(StatusCode::OK);
        let (limit, remaining, reset) = rate_limit_headers(&res);
        assert_eq!((limit, remaining), (3, expected_remaining));
        assert!(reset <= 3, "reset {reset}");
    }
    let refused = app.get("/v1/events").await;
    let body = refused.assert_problem(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["type"], "urn:problem:industry-events:rate-limited");
    assert_eq!(refused.header("retry-after"), Some("1"));
    let (limit, remaining, reset) = rate_limit_headers(&refused);
    assert_eq!((limit, remaining), (3, 0));
    assert!((1..=3).contains(&reset), "reset {reset}");
    // A refusal is still an ordinary response of this service.
    assert!(refused.header("x-request-id").is_some());
    assert_eq!(refused.header("x-content-type-options"), Some("nosniff"));

    // Writes count against the same kind of allowance (keyed by their token here).
    let token = app.token("limited-writer", Scope::Write).await;
    let post = || {
        Request::post("/v1/events")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap()
    };
    for _ in 0..3 {
        assert_ne!(app.send(post()).await.status, StatusCode::TOO_MANY_REQUESTS);
    }
    app.send(post())
        .await
        .assert_problem(StatusCode::TOO_MANY_REQUESTS);

    // One second later one more request fits, and only one.
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    app.get("/v1/events").await.assert_status(StatusCode::OK);
    app.get("/v1/events")
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn each_token_and_each_peer_has_its_own_allowance() {
    let app = limited(1, 2, |_| {}).await;
    let reader = app.token("reader", Scope::Read).await;
    let other = app.token("other", Scope::Read).await;
    let bearer = |token: &str| format!("Bearer {token}");

    for _ in 0..2 {
        get_from(&app, "/v1/events", "192.0.2.1", &[])
            .await
            .assert_status(StatusCode::OK);
    }
    get_from(&app, "/v1/events", "192.0.2.1", &[])
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
    // Another address is another client.
    get_from(&app, "/v1/events", "192.0.2.2", &[])
        .await
        .assert_status(StatusCode::OK);
    // A token is its own client, whatever address it comes from.
    let reader_header = bearer(&reader);
    let with_reader = [("authorization", reader_header.as_str())];
    for peer in ["192.0.2.1", "192.0.2.3"] {
        get_from(&app, "/v1/events", peer, &with_reader)
            .await
            .assert_status(StatusCode::OK);
    }
    get_from(&app, "/v1/events", "192.0.2.4", &with_reader)
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
    // ... and another token another one, from the very same address.
    let other_header = bearer(&other);
    get_from(
        &app,
        "/v1/events",
        "192.0.2.1",
        &[("authorization", other_header.as_str())],
    )
    .await
    .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn made_up_tokens_do_not_escape_the_limit_of_their_address() {
    // Tokens are not verified before the limiter runs, so each new one is a new client;
    // the address still has a ceiling of ten clients' allowances (a burst of 20 here).
    let app = limited(1, 2, |_| {}).await;
    let mut statuses = Vec::new();
    for i in 0..25 {
        let header = format!("Bearer made-up-{i}");
        let res = get_from(
            &app,
            "/v1/events",
            "192.0.2.66",
            &[("authorization", &header)],
        )
        .await;
        statuses.push(res.status.as_u16());
    }
    assert_eq!(statuses[..20], [200; 20]);
    assert_eq!(statuses[20..], [429; 5]);
    // Anonymous requests from another address are unaffected.
    get_from(&app, "/v1/events", "192.0.2.67", &[])
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn forwarded_for_counts_only_when_a_trusted_proxy_sends_it() {
    let app = limited(1, 2, |config| {
        config.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;

    // An untrusted peer cannot dodge its limit by inventing forwarded addresses.
    for spoof in ["203.0.113.1", "203.0.113.2"] {
        get_from(
            &app,
            "/v1/events",
            "198.51.100.7",
            &[("x-forwarded-for", spoof)],
        )
        .await
        .assert_status(StatusCode::OK);
    }
    get_from(
        &app,
        "/v1/events",
        "198.51.100.7",
        &[("x-forwarded-for", "203.0.113.3")],
    )
    .await
    .assert_status(StatusCode::TOO_MANY_REQUESTS);

    // Behind a trusted proxy, the client is the right-most untrusted forwarded address;
    // what the client itself put further left is ignored.
    for forwarded in ["203.0.113.9", "1.1.1.1, 203.0.113.9"] {
        get_from(
            &app,
            "/v1/events",
            "10.0.0.5",
            &[("x-forwarded-for", forwarded)],
        )
        .await
        .assert_status(StatusCode::OK);
    }
    // The same client through another proxy of the trusted range: the same allowance.
    get_from(
        &app,
        "/v1/events",
        "10.200.0.1",
        &[("x-forwarded-for", "203.0.113.9, 10.0.0.5")],
    )
    .await
    .assert_status(StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy has its own.
    get_from(
        &app,
        "/v1/events",
        "10.0.0.5",
        &[("x-forwarded-for", "203.0.113.10")],
    )
    .await
    .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn zero_requests_per_second_turns_limiting_off() {
    let app = limited(0, 1, |_| {}).await;
    for _ in 0..30 {
        let res = app.get("/v1/events").await;
        res.assert_status(StatusCode::OK);
        assert!(res.header("ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn health_readiness_and_metrics_are_never_limited() {
    let app = limited(1, 1, |_| {}).await;
    for _ in 0..5 {
        for path in ["/healthz", "/readyz", "/metrics"] {
            let res = app.get(path).await;
            res.assert_status(StatusCode::OK);
            assert!(res.header("ratelimit-limit").is_none(), "{path}");
        }
    }
    // The probes spent nothing: the client still has its whole allowance.
    let res = app.get("/v1/events").await;
    res.assert_status(StatusCode::OK);
    assert_eq!(rate_limit_headers(&res).1, 0);
    app.get("/v1/events")
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
}

/// The real server reads the peer address of each connection: with `127.0.0.2` as the
/// only trusted proxy, forwarded addresses count from there (Linux routes all of
/// 127.0.0.0/8 to loopback) and not from `127.0.0.1`. Were the peer address missing,
/// every request would fall back to `127.0.0.1` and the first half would fail.
#[tokio::test(flavor = "multi_thread")]
async fn the_binary_limits_by_the_connections_peer_address() {
    let database = TestDb::create().await;
    let mut command = binary(&database);
    command
        .env("RATE_LIMIT_RPS", "1")
        .env("RATE_LIMIT_BURST", "2")
        .env("TRUSTED_PROXIES", "127.0.0.2");
    let server = Serving::start(command).await;
    let client = |local: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(local))
            .build()
            .unwrap()
    };
    let (proxy, direct) = (client([127, 0, 0, 2]), client([127, 0, 0, 1]));
    let base = server.base();
    let status = |client: &reqwest::Client, forwarded: &'static str| {
        let request = client
            .get(format!("{base}/v1/events"))
            .header("x-forwarded-for", forwarded);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    // Through the trusted proxy: three clients, none over its allowance of two.
    let mut through_proxy = Vec::new();
    for forwarded in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        through_proxy.push(status(&proxy, forwarded).await);
        through_proxy.push(status(&proxy, forwarded).await);
    }
    // Direct from an untrusted address: the header is ignored, so one client.
    let mut direct_statuses = Vec::new();
    for forwarded in ["203.0.113.4", "203.0.113.5", "203.0.113.6"] {
        direct_statuses.push(status(&direct, forwarded).await);
    }
    // Hardening, checked on the real HTTP stack (hyper), not only in-process: no response,
    // served or refused, names the server software or its version.
    let mut leaks = Vec::new();
    for res in [
        direct
            .get(format!("{base}/v1/events"))
            .send()
            .await
            .unwrap(),
        proxy.get(format!("{base}/healthz")).send().await.unwrap(),
    ] {
        for (name, value) in res.headers() {
            let value = value.to_str().unwrap_or("");
            if matches!(name.as_str(), "server" | "x-powered-by")
                || value.contains(env!("CARGO_PKG_VERSION"))
            {
                leaks.push(format!("{name}: {value}"));
            }
        }
    }
    drop(server);
    assert_eq!(through_proxy, [200; 6]);
    assert_eq!(direct_statuses, [200, 200, 429]);
    assert!(
        leaks.is_empty(),
        "headers that give the server away: {leaks:?}"
    );
}
