//! Operations: health, readiness, metrics, request ids, compression, CORS, the seed,
//! and the binary itself (zero-configuration start, bad configuration, tokens CLI).

use std::process::{Command, Stdio};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use industry_events::{AppState, app, seed};
use serde_json::json;

use crate::helpers::{TestApp, TestDb, event};
use crate::serving::Serving;

#[tokio::test]
async fn healthz_and_readyz_answer_200_when_all_is_well() {
    let app = TestApp::new().await;
    let res = app.get("/healthz").await;
    res.assert_status(StatusCode::OK);
    assert_eq!(res.json(), json!({"status": "ok"}));
    let res = app.get("/readyz").await;
    res.assert_status(StatusCode::OK);
    assert_eq!(res.json(), json!({"status": "ready"}));
}

#[tokio::test]
async fn readyz_is_503_until_migrations_are_applied() {
    let database = TestDb::create().await;
    let pool = database.pool().await;
    let router = app(AppState::new(
        pool.clone(),
        industry_events::config::ServeConfig::defaults(),
    ));
    let send = |router: axum::Router| async move {
        use tower::ServiceExt;
        router
            .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
            .await
            .unwrap()
    };
    let res = send(router.clone()).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    industry_events::MIGRATOR.run(&pool).await.unwrap();
    assert_eq!(send(router).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let app = TestApp::new().await;
    app.create_event(event("Metered", "2024-01-01", &[], "minor"))
        .await;
    app.get("/v1/events/metered")
        .await
        .assert_status(StatusCode::OK);
    app.get("/v1/events/nope")
        .await
        .assert_status(StatusCode::NOT_FOUND);
    let res = app.get("/metrics").await;
    res.assert_status(StatusCode::OK);
    assert!(
        res.header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8(res.body).unwrap();
    assert!(text.contains("http_requests_total{"), "{text}");
    assert!(
        text.contains(r#"route="/v1/events/{ref}""#),
        "route templates, not raw paths"
    );
    assert!(!text.contains("/v1/events/metered"), "no raw paths");
    assert!(text.contains(r#"status="404""#));
    assert!(text.contains("http_request_duration_seconds_bucket{"));
    for pool in ["main", "fixed_plans"] {
        for state in ["idle", "in_use"] {
            let gauge = format!(r#"db_pool_connections{{pool="{pool}",state="{state}"}}"#);
            assert!(text.contains(&gauge), "{gauge} in {text}");
        }
    }
}

#[tokio::test]
async fn the_list_cache_counts_its_hits_and_misses() {
    let app = TestApp::new().await;
    let etag = app.get("/v1/tags").await.header("etag").unwrap().to_owned();
    for _ in 0..2 {
        app.get_with("/v1/tags", &[("if-none-match", &etag)])
            .await
            .assert_status(StatusCode::NOT_MODIFIED);
    }
    let text = String::from_utf8(app.get("/metrics").await.body).unwrap();
    // The recorder is shared by every test in the process, so only presence is certain.
    assert!(text.contains("list_cache_hits_total"), "{text}");
    assert!(text.contains("list_cache_misses_total"), "{text}");
}

#[tokio::test]
async fn every_response_carries_a_request_id_the_clients_or_a_new_one() {
    let app = TestApp::new().await;
    let res = app
        .get_with("/v1/events", &[("x-request-id", "my-trace-123")])
        .await;
    assert_eq!(res.header("x-request-id"), Some("my-trace-123"));
    let res = app.get("/nope").await;
    let generated = res.header("x-request-id").unwrap();
    assert!(uuid::Uuid::parse_str(generated).is_ok());
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert!(res.header("server").is_none());
}

#[tokio::test]
async fn responses_are_compressed_when_the_client_asks() {
    let app = TestApp::new().await;
    for i in 0..10 {
        app.create_event(event(
            &format!("Compressible event number {i}"),
            "2024-01-01",
            &["ai"],
            "minor",
        ))
        .await;
    }
    let plain = app.get("/v1/events").await;
    assert!(plain.header("content-encoding").is_none());
    for encoding in ["gzip", "br"] {
        let res = app
            .get_with("/v1/events", &[("accept-encoding", encoding)])
            .await;
        res.assert_status(StatusCode::OK);
        assert_eq!(res.header("content-encoding"), Some(encoding));
        assert!(res.body.len() < plain.body.len());
    }
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let app =
        TestApp::with_config(|c| c.cors_allowed_origins = vec!["https://dash.example.com".into()])
            .await;
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/v1/events")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,if-match",
            )
            .body(Body::empty())
            .unwrap()
    };
    let res = app.send(preflight("https://dash.example.com")).await;
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("https://dash.example.com")
    );
    assert!(
        res.header("access-control-allow-methods")
            .unwrap()
            .contains("PATCH")
    );
    let res = app.send(preflight("https://evil.example.com")).await;
    assert!(res.header("access-control-allow-origin").is_none());
    let res = app
        .get_with("/v1/events", &[("origin", "https://dash.example.com")])
        .await;
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("https://dash.example.com")
    );
    assert!(
        res.header("access-control-expose-headers")
            .unwrap()
            .to_lowercase()
            .contains("etag")
    );

    let closed = TestApp::new().await;
    let res = closed
        .get_with("/v1/events", &[("origin", "https://dash.example.com")])
        .await;
    assert!(res.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn the_demo_seed_loads_the_reference_story_and_a_second_run_adds_nothing() {
    let app = TestApp::new().await;
    let first = seed::load_demo(&app.db).await.unwrap();
    assert!(first.events.created >= 13, "{first:?}");
    assert_eq!(first.events.existing, 0);
    let second = seed::load_demo(&app.db).await.unwrap();
    assert_eq!(second.events.created, 0);
    assert_eq!(second.events.existing, first.events.created);
    assert!(first.companies.created >= 2, "{first:?}");
    assert_eq!(first.companies.existing, 0);
    assert_eq!(
        second.companies.created, 0,
        "a second run creates no companies"
    );
    assert_eq!(second.companies.existing, first.companies.created);
    assert!(first.partnerships.created >= 3, "{first:?}");
    assert_eq!(second.partnerships.created, 0);
    assert_eq!(second.partnerships.existing, first.partnerships.created);

    // The reference deal: two tranches that add up, its terms, and its timeline.
    let deal = app
        .get("/v1/partnerships/amazon-anthropic-strategic-collaboration")
        .await;
    deal.assert_status(StatusCode::OK);
    let deal = deal.json();
    assert_eq!(
        deal["total"],
        json!({"amount": "4000000000", "currency": "USD"})
    );
    assert_eq!(deal["tranches"][0]["amount"]["amount"], "1250000000");
    assert_eq!(deal["tranches"][0]["on"].as_str().unwrap()[..7], *"2023-09");
    assert_eq!(deal["tranches"][1]["amount"]["amount"], "2750000000");
    assert_eq!(deal["tranches"][1]["on"].as_str().unwrap()[..7], *"2024-03");
    assert!(deal["terms"].as_array().unwrap().len() >= 4);
    assert_eq!(deal["exclusive"], false);
    let timeline: Vec<&str> = deal["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["slug"].as_str().unwrap())
        .collect();
    assert!(
        timeline.contains(&"amazon-completes-4-billion-investment-in-anthropic"),
        "{timeline:?}"
    );
    for slug in [
        "microsoft-openai-partnership",
        "google-anthropic-investment",
    ] {
        app.get(&format!("/v1/partnerships/{slug}"))
            .await
            .assert_status(StatusCode::OK);
    }
    for slug in ["microsoft", "openai", "google", "ftc", "uk-cma"] {
        app.get(&format!("/v1/companies/{slug}"))
            .await
            .assert_status(StatusCode::OK);
    }
    let investor = app
        .get("/v1/events?company=amazon&role=investor")
        .await
        .json();
    assert!(
        investor["data"].as_array().unwrap().len() >= 2,
        "{investor}"
    );
    for (slug, kind) in [("amazon", "cloud_provider"), ("anthropic", "ai_lab")] {
        let company = app.get(&format!("/v1/companies/{slug}")).await;
        company.assert_status(StatusCode::OK);
        assert_eq!(company.json()["kind"], kind, "{slug}");
    }
    let count: i64 = sqlx::query_scalar("select count(*) from events")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count as usize, first.events.created);

    let story = app
        .get("/v1/events/amazon-completes-4-billion-investment-in-anthropic")
        .await;
    story.assert_status(StatusCode::OK);
    let story = story.json();
    assert_eq!(story["occurred_on"], "2024-03-27");
    assert_eq!(story["category"], "industry");
    assert_eq!(story["significance"], "major");
    assert_eq!(story["companies"][0]["slug"], "amazon");
    assert_eq!(story["companies"][0]["role"], "investor");
    assert_eq!(story["companies"][1]["slug"], "anthropic");
    assert_eq!(story["companies"][1]["role"], "investee");
    assert_eq!(
        story["partnerships"][0]["slug"],
        "amazon-anthropic-strategic-collaboration"
    );
    assert_eq!(
        story["tags"],
        json!([
            "investment",
            "cloud-computing",
            "partnership",
            "consolidation"
        ])
    );
    let years: Vec<String> = app.get("/v1/events?limit=100").await.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["occurred_on"].as_str().unwrap()[..4].to_owned())
        .collect();
    assert!(
        years.iter().all(|y| y == "2023" || y == "2024"),
        "{years:?}"
    );
}

// ---- The binary -------------------------------------------------------------------

const BIN: &str = env!("CARGO_BIN_EXE_industry-events");

/// The environment that points the binary at `database` the way a user would: the
/// zero-configuration path (no DATABASE_URL, a DATABASE_NAME) unless the suite itself
/// runs with DATABASE_URL, which is then re-pointed at the test database.
pub(crate) fn binary(database: &TestDb) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    match std::env::var("DATABASE_URL") {
        Ok(url) => {
            let mut url = url::Url::parse(&url).expect("DATABASE_URL is a URL");
            url.set_path(&database.name);
            command.env("DATABASE_URL", url.as_str());
        }
        Err(_) => {
            command.env("DATABASE_NAME", &database.name);
        }
    }
    command
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_starts_with_no_configuration_serves_and_stops_cleanly_on_sigterm() {
    let database = TestDb::create().await;
    let mut server = Serving::start(binary(&database)).await;
    let client = reqwest::Client::new();
    let base = server.base();
    let res = client
        .get(format!("{base}/v1/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["data"],
        json!([])
    );
    let res = client
        .get(format!("{base}/metrics"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-encoding"], "gzip");

    server.terminate();
    let exit = server.exit(Duration::from_secs(15)).await;
    assert!(
        exit.success(),
        "exit after SIGTERM: {exit}; {}",
        server.log()
    );
}

#[test]
fn a_bad_configuration_value_stops_the_start_with_one_line_naming_it() {
    let cases = [
        ("BIND_ADDR", "not-an-address"),
        ("MAX_BODY_BYTES", "lots"),
        ("LOG_FORMAT", "xml"),
        ("CORS_ALLOWED_ORIGINS", "not an origin"),
        ("REQUEST_TIMEOUT_SECS", "0"),
        ("READ_REQUIRES_TOKEN", "maybe"),
        ("RUST_LOG", "[[[invalid"),
        ("RATE_LIMIT_RPS", "-5"),
        ("RATE_LIMIT_RPS", "fast"),
        ("RATE_LIMIT_BURST", "0"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("TRUSTED_PROXIES", "10.0.0.1,proxy.example.com"),
    ];
    for (name, value) in cases {
        let output = Command::new(BIN)
            .env(name, value)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{name}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{name}: {stderr}");
        assert!(stderr.contains(name), "{name}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tokens_cli_creates_lists_and_revokes() {
    let database = TestDb::create().await;
    let run = |args: &[&str]| binary(&database).args(args).output().unwrap();

    let created = run(&[
        "tokens",
        "create",
        "--name",
        "ci-bot",
        "--scope",
        "write",
        "--expires-in",
        "30d",
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let stdout = String::from_utf8(created.stdout).unwrap();
    let token = stdout.lines().last().unwrap();
    assert!(
        token.starts_with("iev_") && !token.contains(' '),
        "the token alone on the last line: {stdout}"
    );

    let duplicate = run(&["tokens", "create", "--name", "ci-bot"]);
    assert!(!duplicate.status.success());

    let listed = run(&["tokens", "list"]);
    let listing = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listing.contains("ci-bot") && listing.contains("write"),
        "{listing}"
    );
    assert!(!listing.contains(token), "secrets are never listed");

    // The token works against the service, then stops working once revoked.
    let pool = database.migrated_pool().await;
    let router = app(AppState::new(
        pool,
        industry_events::config::ServeConfig::defaults(),
    ));
    let post = |token: String| {
        Request::post("/v1/events")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from(
                event("CLI", "2024-01-01", &[], "minor").to_string(),
            ))
            .unwrap()
    };
    use tower::ServiceExt;
    let res = router
        .clone()
        .oneshot(post(token.to_owned()))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    let revoked = run(&["tokens", "revoke", "ci-bot"]);
    assert!(revoked.status.success());
    let res = router.oneshot(post(token.to_owned())).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(!run(&["tokens", "revoke", "ci-bot"]).status.success());
    assert!(
        !run(&["tokens", "create", "--name", "x", "--scope", "root"])
            .status
            .success()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_and_migrate_subcommands_work_and_seed_is_idempotent() {
    let database = TestDb::create().await;
    let migrate = binary(&database).arg("migrate").output().unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let first = binary(&database).args(["seed", "--demo"]).output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = binary(&database).args(["seed", "--demo"]).output().unwrap();
    let text = String::from_utf8(second.stdout).unwrap();
    assert!(text.contains("0 events created"), "{text}");
    assert!(text.contains("0 companies created"), "{text}");
    assert!(text.contains("0 partnerships created"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_a_request_in_flight_finish_before_the_server_exits() {
    let database = TestDb::create().await;
    let pool = database.migrated_pool().await;
    let token = industry_events::auth::generate_token();
    industry_events::repo::tokens::create(
        &pool,
        "drain",
        industry_events::model::Scope::Write,
        &industry_events::auth::hash_token(&token),
        None,
    )
    .await
    .unwrap();
    let new =
        industry_events::model::NewEvent::from_json(event("Drain", "2024-01-01", &[], "minor"))
            .unwrap();
    let mut tx = pool.begin().await.unwrap();
    let actor = industry_events::repo::audit::Actor::system("test");
    industry_events::repo::records::create::<industry_events::repo::events::Events>(
        &mut tx, &actor, new,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let mut server = Serving::start(binary(&database)).await;
    let base = server.base();
    let client = reqwest::Client::new();

    // Hold the row so the PATCH stays in flight.
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("select 1 from events where slug = 'drain' for update")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let in_flight = tokio::spawn(
        client
            .patch(format!("{base}/v1/events/drain"))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"significance": "major"}"#)
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.terminate();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        server.exited().is_none(),
        "the server must wait for the request in flight"
    );

    blocker.rollback().await.unwrap();
    let res = in_flight.await.unwrap().unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["significance"],
        "major"
    );
    let exit = server.exit(Duration::from_secs(15)).await;
    assert!(exit.success(), "{exit}");
}

#[tokio::test]
async fn the_fixed_plan_pool_forces_generic_plans_and_the_main_pool_does_not() {
    let app = TestApp::new().await;
    let fixed = industry_events::db::fixed_plan_pool(&app.db);
    let mode = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, String>("show plan_cache_mode")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(mode(fixed.clone()).await, "force_generic_plan");
    assert_eq!(mode(app.db.clone()).await, "auto");
    // The rest of the session settings carry over.
    let timeout: String = sqlx::query_scalar("show statement_timeout")
        .fetch_one(&fixed)
        .await
        .unwrap();
    let main_timeout: String = sqlx::query_scalar("show statement_timeout")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(main_timeout, "30s");
    assert_eq!(timeout, main_timeout);
    fixed.close().await;
}
