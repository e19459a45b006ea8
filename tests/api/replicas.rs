//! Reads over a real streaming replica: a private primary (`initdb`) and a replica made
//! from it with `pg_basebackup -R`, whose `recovery_min_apply_delay` makes lag certain.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use industry_events::config::ServeConfig;
use industry_events::db::replicas::{Lsn, ReadFrom, Replicas};
use industry_events::db::{self, PrivateCluster, local::StopMode};
use industry_events::{AppState, app};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::helpers::{PrivateServer, event, test_db_config};
use crate::serving::Serving;

/// A primary, one replica, and the service reading from both.
struct Topology {
    router: Router,
    token: String,
    pool: PgPool,
    replica: PrivateCluster,
    primary: PrivateCluster,
    replicas: Arc<Replicas>,
    stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Topology {
    async fn start(apply_delay: Duration, max_lag: Duration) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let PrivateServer {
            cluster: primary,
            pool,
            token,
        } = PrivateServer::start(dir.path(), "replicated").await;
        let replica = primary
            .replicate_to(&dir.path().join("replica"), apply_delay)
            .await
            .unwrap();
        let replica_pool = db::pool_options(&test_db_config()).connect_lazy_with(
            db::with_session_settings(replica.connect_options().database("replicated")),
        );
        let replicas = Arc::new(Replicas::new(vec![replica_pool], max_lag));
        let state =
            AppState::with_replicas(pool.clone(), ServeConfig::defaults(), replicas.clone());
        let (stop, stopping) = watch::channel(false);
        tokio::spawn(replicas.clone().monitor(pool.clone(), stopping));
        let topology = Self {
            router: app(state),
            token,
            pool,
            replica,
            primary,
            replicas,
            stop,
            _dir: dir,
        };
        topology
            .wait_until(|fit| fit, "the replica never became fit")
            .await;
        topology
    }

    fn replica_is_chosen(&self) -> bool {
        matches!(self.replicas.choose(None, &[]), ReadFrom::Replica(_))
    }

    async fn wait_until(&self, want: impl Fn(bool) -> bool, why: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !want(self.replica_is_chosen()) {
            assert!(Instant::now() < deadline, "{why}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Creates an event; its slug and the write's `Consistency-Token`.
    async fn write(&self, title: &str) -> (String, String) {
        let request = Request::post("/v1/events")
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .body(Body::from(
                event(title, "2024-03-27", &["replicated"], "major").to_string(),
            ))
            .unwrap();
        let (status, headers, body) = self.send(request).await;
        assert_eq!(status, StatusCode::CREATED);
        let token = headers["consistency-token"].to_str().unwrap().to_owned();
        assert!(Lsn::parse(&token).is_some(), "{token}");
        (body["slug"].as_str().unwrap().to_owned(), token)
    }

    async fn read(&self, uri: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = Request::get(uri);
        if let Some(token) = token {
            request = request.header("consistency-token", token);
        }
        let (status, _, body) = self.send(request.body(Body::empty()).unwrap()).await;
        (status, body)
    }

    /// A read's status and body as text, with the write's token or without.
    async fn read_text(&self, uri: &str, token: Option<&str>) -> (StatusCode, String) {
        let mut request =
            Request::get(uri).header("authorization", format!("Bearer {}", self.token));
        if let Some(token) = token {
            request = request.header("consistency-token", token);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// How many reads the replica has served.
    async fn replica_reads(&self) -> u64 {
        let (_, text) = self.read_text("/metrics", None).await;
        text.lines()
            .find_map(|line| line.strip_prefix("db_reads_total{pool=\"replica-1\"} "))
            .map_or(0, |count| count.trim().parse().unwrap())
    }

    /// Polls the tag's list from `position` without a token: the titles and the next
    /// position.
    async fn poll(&self, position: &str) -> (Vec<String>, String) {
        let uri = format!(
            "/v1/events?tag=replicated&updated_since={}",
            crate::helpers::encode(position)
        );
        let (status, headers, page) = self
            .send(Request::get(uri).body(Body::empty()).unwrap())
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let next = headers["next-updated-since"].to_str().unwrap().to_owned();
        (titles(&page), next)
    }

    async fn shut_down(self) {
        let _ = self.stop.send(true);
        self.pool.close().await;
        let _ = self.replica.stop(StopMode::Fast).await;
        self.primary.stop(StopMode::Fast).await.unwrap();
    }
}

fn titles(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_with_the_writes_token_sees_the_write_and_others_go_to_the_replica() {
    let topology = Topology::start(Duration::from_secs(2), Duration::from_secs(30)).await;
    let (slug, token) = topology.write("Read your writes").await;
    let uri = format!("/v1/events/{slug}");
    // With the token: only a copy that has the write answers (the replica has not
    // replayed it yet, so the primary does).
    assert_eq!(topology.read(&uri, Some(&token)).await.0, StatusCode::OK);
    let list = topology
        .read("/v1/events?tag=replicated", Some(&token))
        .await
        .1;
    assert_eq!(titles(&list), ["Read your writes"]);
    // Without it, the replica answers, and it is 2 s behind by design.
    assert_eq!(topology.read(&uri, None).await.0, StatusCode::NOT_FOUND);
    let list = topology.read("/v1/events?tag=replicated", None).await.1;
    assert!(titles(&list).is_empty(), "{list}");
    // Once it has replayed, the replica has it too.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(topology.read(&uri, None).await.0, StatusCode::OK);
    // The other lists a replica serves answer there as on the primary.
    let (status, tags) = topology.read("/v1/tags", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tags["data"][0]["tag"], "replicated", "{tags}");
    for uri in ["/v1/companies", "/v1/partnerships"] {
        assert_eq!(topology.read(uri, None).await.0, StatusCode::OK, "{uri}");
    }
    // A list read from the replica keeps its ETag, and a poll with it is a 304 there.
    let list = || {
        Request::get("/v1/events?tag=replicated")
            .body(Body::empty())
            .unwrap()
    };
    let (status, headers, _) = topology.send(list()).await;
    assert_eq!(status, StatusCode::OK);
    let etag = headers["etag"].to_str().unwrap().to_owned();
    for _ in 0..2 {
        let conditional = Request::get("/v1/events?tag=replicated")
            .header("if-none-match", &etag)
            .body(Body::empty())
            .unwrap();
        assert_eq!(topology.send(conditional).await.0, StatusCode::NOT_MODIFIED);
    }
    // A value that is not a token names no write: the read goes where it would without.
    assert_eq!(
        topology.read(&uri, Some("yesterday")).await.0,
        StatusCode::OK
    );
    // Polls from a position may be read on the replica: a change it has not replayed
    // yet is handed over by a later poll, never skipped, never twice.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let (_, headers, _) = topology
        .send(
            Request::get(format!(
                "/v1/events?tag=replicated&updated_since={yesterday}"
            ))
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    let position = headers["next-updated-since"].to_str().unwrap().to_owned();
    topology.write("After the position").await;
    let mut position = position;
    let mut handed_over = Vec::new();
    for _ in 0..8 {
        let (seen, next) = topology.poll(&position).await;
        handed_over.extend(seen);
        position = next;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(handed_over, ["After the position"]);
    // Which copy served how many reads, and how far behind the replica is.
    let (_, _, _) = topology
        .send(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    let metrics = topology
        .router
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text = String::from_utf8(
        metrics
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    for series in [
        "db_reads_total{pool=\"primary\"}",
        "db_reads_total{pool=\"replica-1\"}",
        "db_replica_lag_seconds{replica=\"replica-1\"}",
        "db_replica_fit{replica=\"replica-1\"}",
    ] {
        assert!(text.contains(series), "{series} missing");
    }
    topology.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_too_far_behind_serves_no_reads_until_it_catches_up() {
    let topology = Topology::start(Duration::from_secs(4), Duration::from_secs(1)).await;
    let (slug, _) = topology.write("Lagging").await;
    // While the write waits to be applied, the replica falls more than 1 s behind.
    topology
        .wait_until(|chosen| !chosen, "a replica 4 s behind was still used")
        .await;
    assert_eq!(
        topology.read(&format!("/v1/events/{slug}"), None).await.0,
        StatusCode::OK
    );
    // Once it has applied the write it is fit again.
    topology
        .wait_until(
            |chosen| chosen,
            "the replica was not used again once it caught up",
        )
        .await;
    assert_eq!(
        topology.read(&format!("/v1/events/{slug}"), None).await.0,
        StatusCode::OK
    );
    topology.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_goes_away_is_skipped_and_used_again_when_it_returns() {
    let topology = Topology::start(Duration::ZERO, Duration::from_secs(5)).await;
    let (slug, _) = topology.write("Survives").await;
    topology.replica.stop(StopMode::Immediate).await.unwrap();
    topology
        .wait_until(|chosen| !chosen, "a stopped replica was still used")
        .await;
    let uri = format!("/v1/events/{slug}");
    assert_eq!(topology.read(&uri, None).await.0, StatusCode::OK);
    let (status, _) = topology.read("/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "readiness follows the primary");
    topology.replica.pg_ctl_start().await.unwrap();
    let back = Instant::now();
    topology
        .wait_until(|chosen| chosen, "the replica was not used again")
        .await;
    assert!(back.elapsed() < Duration::from_secs(30));
    assert_eq!(topology.read(&uri, None).await.0, StatusCode::OK);
    topology.shut_down().await;
}

/// The release of the service under test, as a process of its own.
const BIN: &str = env!("CARGO_BIN_EXE_industry-events");

/// A `serve` process on a loopback port, stopped when dropped.
struct Instance {
    base: String,
    /// Held so the process lives as long as this; killed when dropped.
    _serving: Serving,
}

impl Instance {
    async fn start(primary: &str, replica: &str) -> Self {
        let mut command = std::process::Command::new(BIN);
        command
            .arg("serve")
            .env("DATABASE_URL", primary)
            .env("DATABASE_READ_URL", replica)
            .env("RATE_LIMIT_RPS", "0");
        let serving = Serving::start(command).await;
        Self {
            base: serving.base(),
            _serving: serving,
        }
    }

    /// Waits until this instance serves reads from its replica.
    async fn wait_for_replica(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let metrics = reqwest::get(format!("{}/metrics", self.base))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if metrics.contains("db_replica_fit{replica=\"replica-1\"} 1") {
                return;
            }
            assert!(Instant::now() < deadline, "the replica never became fit");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_over_a_primary_and_a_replica_read_their_writes() {
    let dir = tempfile::tempdir().unwrap();
    let server = PrivateServer::start(dir.path(), "binaries").await;
    let replica = server
        .cluster
        .replicate_to(&dir.path().join("replica"), Duration::from_millis(1_500))
        .await
        .unwrap();
    let url = |cluster: &PrivateCluster| {
        format!(
            "postgres://postgres@localhost/binaries?host={}",
            cluster.data_dir().display()
        )
    };
    let (a, b) = (
        Instance::start(&url(&server.cluster), &url(&replica)).await,
        Instance::start(&url(&server.cluster), &url(&replica)).await,
    );
    a.wait_for_replica().await;
    b.wait_for_replica().await;
    let client = reqwest::Client::new();

    // A write on one process; the other reads it with the token at once, and without
    // it only once the replica has replayed it.
    let created = client
        .post(format!("{}/v1/events", a.base))
        .bearer_auth(&server.token)
        .json(&event(
            "Across processes",
            "2024-03-27",
            &["processes"],
            "major",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let token = created.headers()["consistency-token"]
        .to_str()
        .unwrap()
        .to_owned();
    let slug = created.json::<Value>().await.unwrap()["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let read = |token: Option<String>| {
        let mut request = client.get(format!("{}/v1/events/{slug}", b.base));
        if let Some(token) = token {
            request = request.header("consistency-token", token);
        }
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(read(Some(token)).await, StatusCode::OK);
    assert_eq!(
        read(None).await,
        StatusCode::NOT_FOUND,
        "the replica is 1.5 s behind"
    );
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert_eq!(read(None).await, StatusCode::OK);

    // A position from one process, polled on the other right after a write there,
    // sees the write though the replica has not replayed it.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let first = client
        .get(format!(
            "{}/v1/events?tag=processes&updated_since={yesterday}",
            a.base
        ))
        .send()
        .await
        .unwrap();
    let position = first.headers()["next-updated-since"]
        .to_str()
        .unwrap()
        .to_owned();
    let second = client
        .post(format!("{}/v1/events", b.base))
        .bearer_auth(&server.token)
        .json(&event("Second", "2024-03-28", &["processes"], "major"))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::CREATED);
    // Polled on the other instance, from whichever copy: "Second" is handed over
    // once, by the first poll that reads a copy which has it.
    let mut position = position;
    let mut handed_over = Vec::new();
    for _ in 0..8 {
        let poll = client
            .get(format!(
                "{}/v1/events?tag=processes&updated_since={}",
                b.base,
                crate::helpers::encode(&position)
            ))
            .send()
            .await
            .unwrap();
        position = poll.headers()["next-updated-since"]
            .to_str()
            .unwrap()
            .to_owned();
        let page: Value = poll.json().await.unwrap();
        handed_over.extend(titles(&page));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(handed_over, ["Second"]);

    drop((a, b));
    let _ = replica.stop(StopMode::Fast).await;
    server.pool.close().await;
    server.cluster.stop(StopMode::Fast).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_and_walks_go_to_a_replica_only_when_it_has_replayed_their_position() {
    let topology = Topology::start(Duration::from_secs(2), Duration::from_secs(30)).await;
    topology.write("First").await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    // A position taken where the replica has everything.
    let (_, headers, page) = topology
        .send(
            Request::get("/v1/events?tag=replicated")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(titles(&page), ["First"]);
    let first = headers["next-updated-since"].to_str().unwrap().to_owned();
    // Wait for the monitor's next look, so its snapshot covers the position.
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    // A poll from it goes to the replica, which has not replayed "Second" yet: it hands
    // over nothing, and a position that has not seen "Second" either.
    topology.write("Second").await;
    let before = topology.replica_reads().await;
    let (seen, from_replica) = topology.poll(&first).await;
    assert!(seen.is_empty(), "{seen:?}");
    assert_eq!(topology.replica_reads().await, before + 1);
    // Once replayed, a poll from that position hands "Second" over, once.
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    let (seen, after_second) = topology.poll(&from_replica).await;
    assert_eq!(seen, ["Second"]);

    // A position the replica has not replayed (taken on the primary, just after a
    // write) is polled on the primary: a replica would hand over a position behind it
    // and, later, "Third" a second time.
    let (_, third_token) = topology.write("Third").await;
    let (status, headers, page) = topology
        .send(
            Request::get(format!(
                "/v1/events?tag=replicated&updated_since={}",
                crate::helpers::encode(&after_second)
            ))
            .header("consistency-token", &third_token)
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(titles(&page), ["Third"]);
    let after_third = headers["next-updated-since"].to_str().unwrap().to_owned();
    topology.write("Fourth").await;
    let before = topology.replica_reads().await;
    let (seen, _) = topology.poll(&after_third).await;
    assert_eq!(seen, ["Fourth"]);
    assert_eq!(topology.replica_reads().await, before);

    // A walk's later pages go to a replica that has what its first page saw.
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    let (_, headers, page) = topology
        .send(
            Request::get("/v1/events?tag=replicated&limit=2")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(titles(&page), ["Fourth", "Third"]);
    let cursor = page["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("{page} {headers:?}"));
    let next = format!(
        "/v1/events?tag=replicated&limit=2&cursor={}",
        crate::helpers::encode(cursor)
    );
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let before = topology.replica_reads().await;
    let (_, _, page) = topology
        .send(Request::get(&next).body(Body::empty()).unwrap())
        .await;
    assert_eq!(titles(&page), ["Second", "First"]);
    assert_eq!(topology.replica_reads().await, before + 1);
    topology.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_read_goes_to_the_replica_and_honours_the_token() {
    let topology = Topology::start(Duration::from_secs(2), Duration::from_secs(30)).await;
    let admin = crate::helpers::mint(
        &topology.pool,
        "replica-admin",
        industry_events::model::Scope::Admin,
    )
    .await;
    let company = Request::post("/v1/companies")
        .header("authorization", format!("Bearer {admin}"))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"name": "Replicated Co", "kind": "ai_lab"}"#))
        .unwrap();
    let (status, _, body) = topology.send(company).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (slug, token) = topology.write("Fresh").await;
    let before = topology.replica_reads().await;
    // Without the token the replica answers (2 s behind: it has neither write); with
    // it, a copy that has both.
    for (uri, stale, fresh) in [
        (
            format!("/v1/events/{slug}/revisions"),
            StatusCode::NOT_FOUND,
            StatusCode::OK,
        ),
        (
            format!("/events/{slug}"),
            StatusCode::NOT_FOUND,
            StatusCode::OK,
        ),
        (
            "/companies/replicated-co".to_owned(),
            StatusCode::NOT_FOUND,
            StatusCode::OK,
        ),
        (
            "/v1/companies/replicated-co/events".to_owned(),
            StatusCode::NOT_FOUND,
            StatusCode::OK,
        ),
        (
            "/v1/companies/replicated-co/partnerships".to_owned(),
            StatusCode::NOT_FOUND,
            StatusCode::OK,
        ),
    ] {
        assert_eq!(topology.read_text(&uri, None).await.0, stale, "{uri}");
        assert_eq!(
            topology.read_text(&uri, Some(&token)).await.0,
            fresh,
            "{uri}"
        );
    }
    // Lists and documents show the write only with the token.
    for uri in [
        "/v1/feeds/events.atom?tag=replicated",
        "/v1/feeds/events.json?tag=replicated",
        "/tags/replicated",
        "/",
    ] {
        let (status, stale) = topology.read_text(uri, None).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert!(!stale.contains("Fresh"), "{uri}: {stale}");
        let (status, fresh) = topology.read_text(uri, Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert!(fresh.contains("Fresh"), "{uri}: {fresh}");
    }
    let timeline = "/v1/tags/replicated/timeline?interval=year&from=2024-01-01&to=2024-12-31";
    let total = |body: &str| -> u64 {
        let body: Value = serde_json::from_str(body).unwrap();
        body["total"].as_u64().unwrap()
    };
    assert_eq!(total(&topology.read_text(timeline, None).await.1), 0);
    assert_eq!(
        total(&topology.read_text(timeline, Some(&token)).await.1),
        1
    );
    let audit = |token: Option<&str>| {
        let mut request =
            Request::get("/v1/audit").header("authorization", format!("Bearer {admin}"));
        if let Some(token) = token {
            request = request.header("consistency-token", token);
        }
        topology.send(request.body(Body::empty()).unwrap())
    };
    let (status, _, stale) = audit(None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stale["data"].as_array().unwrap().len(), 0, "{stale}");
    let (_, _, fresh) = audit(Some(&token)).await;
    assert_eq!(fresh["data"].as_array().unwrap().len(), 2, "{fresh}");
    // Every read without the token above was the replica's.
    assert!(topology.replica_reads().await >= before + 10);
    topology.shut_down().await;
}
