//! The test harness: a fresh database per test, the router driven in-process, and a
//! response wrapper with assertions.

use std::sync::Once;

use tracing_subscriber::Layer;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use industry_events::auth::{generate_token, hash_token};
use industry_events::config::{DbConfig, ServeConfig};
use industry_events::model::Scope;
use industry_events::webhook::guard::{Resolver, SystemResolver};
use industry_events::{AppState, MIGRATOR, app, db, repo};
use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tower::ServiceExt;

/// A database made for one test and dropped when the test ends, pass or fail.
pub struct TestDb {
    pub name: String,
    pub server: PgConnectOptions,
}

impl TestDb {
    /// Creates an empty database on the server `DATABASE_URL` names, else the local one.
    pub async fn create() -> Self {
        let url = std::env::var("DATABASE_URL").ok();
        let server = db::locate_server(url.as_deref())
            .await
            .expect("DATABASE_URL is invalid")
            .expect("tests need PostgreSQL: set DATABASE_URL or run a local server");
        let name = format!("ie_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = PgConnection::connect_with(&server.clone().database("postgres"))
            .await
            .expect("cannot connect to the test server");
        sweep_stale_databases(&mut conn).await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {name}")))
            .execute(&mut conn)
            .await
            .expect("cannot create a test database (does the role have CREATEDB?)");
        Self { name, server }
    }

    /// Connection options for this database.
    pub fn options(&self) -> PgConnectOptions {
        self.server.clone().database(&self.name)
    }

    /// A pool configured as the service configures its own, migrations applied.
    pub async fn migrated_pool(&self) -> PgPool {
        let pool = self.pool().await;
        MIGRATOR.run(&pool).await.expect("migrations failed");
        pool
    }

    /// A pool configured as the service configures its own, nothing applied.
    pub async fn pool(&self) -> PgPool {
        let config = test_db_config();
        db::pool_options(&config)
            .connect_with(db::with_session_settings(self.options()))
            .await
            .expect("cannot connect to the test database")
    }
}

/// Drops test databases more than an hour old, left by a run that was killed before
/// its tests could clean up. Their names hold a v7 UUID, which holds their birth time.
async fn sweep_stale_databases(conn: &mut PgConnection) {
    static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if SWEPT.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let names: Vec<String> =
        sqlx::query_scalar("select datname from pg_database where datname like 'ie\\_test\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    let hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs().saturating_sub(3600))
        .unwrap_or(0);
    for name in names {
        let born = name
            .strip_prefix("ie_test_")
            .and_then(|id| uuid::Uuid::parse_str(id).ok())
            .and_then(|id| id.get_timestamp())
            .map(|ts| ts.to_unix().0);
        if born.is_some_and(|secs| secs < hour_ago) {
            let statement = format!("drop database if exists {name} with (force)");
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut *conn)
                .await;
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let server = self.server.clone().database("postgres");
        let statement = format!("drop database if exists {} with (force)", self.name);
        // Drop runs inside the test's runtime, which cannot be blocked on; a plain
        // thread with its own runtime can.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let mut conn = PgConnection::connect_with(&server).await.ok()?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// The database settings the tests use (pool size, timeouts) — the service's defaults.
pub fn test_db_config() -> DbConfig {
    use clap::Parser;
    industry_events::config::Cli::parse_from(["test"]).db
}

thread_local! {
    /// The statement counter of the test running on this thread, if it asked for one.
    static STATEMENTS: std::cell::RefCell<Option<std::sync::Arc<std::sync::atomic::AtomicUsize>>> =
        const { std::cell::RefCell::new(None) };
}

/// Counts sqlx's statement events on threads that asked for it (see [`count_statements`]).
struct StatementCounter;

impl<S> tracing_subscriber::Layer<S> for StatementCounter
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        // The live tasks (stream hub, notifications) run on the test's thread too, but
        // are not the requests being counted.
        let background = ctx
            .event_scope(event)
            .is_some_and(|mut scope| scope.any(|span| span.name() == "live"));
        if event.metadata().target() == "sqlx::query" && !background {
            STATEMENTS.with(|counter| {
                if let Some(counter) = counter.borrow().as_ref() {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            });
        }
    }
}

/// One process-wide subscriber: it counts statements for the tests that ask, and logs
/// only when `TEST_LOG=1`. (A per-thread subscriber would race with tracing's global
/// callsite cache while other tests run in parallel.)
fn init_logs() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let logs = std::env::var_os("TEST_LOG").map(|_| {
            tracing_subscriber::fmt::layer()
                .with_test_writer()
                .with_filter(tracing_subscriber::EnvFilter::new("debug"))
        });
        let _ = tracing_subscriber::registry()
            .with(StatementCounter)
            .with(LogCapture)
            .with(logs)
            .try_init();
    });
}

/// A warning or error the service logged, with the request id of its span.
#[derive(Debug, Clone)]
pub struct LoggedLine {
    pub level: tracing::Level,
    pub request_id: Option<String>,
    /// Every field, `name=value` joined by spaces (the message is `message`).
    pub fields: String,
}

static CAPTURED: std::sync::Mutex<Vec<LoggedLine>> = std::sync::Mutex::new(Vec::new());

/// The warnings and errors logged so far for the request with `request_id`.
pub fn logged_for(request_id: &str) -> Vec<LoggedLine> {
    CAPTURED
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.request_id.as_deref() == Some(request_id))
        .cloned()
        .collect()
}

/// A span's `request_id`, kept for the events inside it.
struct RequestIdOfSpan(String);

/// Collects the fields of a span or an event as text.
#[derive(Default)]
struct FieldText {
    request_id: Option<String>,
    text: String,
}

impl tracing::field::Visit for FieldText {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "request_id" {
            self.request_id = Some(value.to_owned());
        }
        self.text.push_str(&format!("{}={} ", field.name(), value));
    }
}

/// Keeps every warning and error with its request id (see [`logged_for`]).
struct LogCapture;

impl<S> tracing_subscriber::Layer<S> for LogCapture
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = FieldText::default();
        attrs.record(&mut fields);
        if let (Some(request_id), Some(span)) = (fields.request_id, ctx.span(id)) {
            span.extensions_mut().insert(RequestIdOfSpan(request_id));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let level = *event.metadata().level();
        if level > tracing::Level::WARN {
            return;
        }
        let request_id = ctx.event_scope(event).and_then(|scope| {
            scope.from_root().find_map(|span| {
                span.extensions()
                    .get::<RequestIdOfSpan>()
                    .map(|r| r.0.clone())
            })
        });
        let mut fields = FieldText::default();
        event.record(&mut fields);
        CAPTURED.lock().unwrap().push(LoggedLine {
            level,
            request_id,
            fields: fields.text,
        });
    }
}

/// Counts the SQL statements run on this thread (and so, on the default current-thread
/// test runtime, by the requests it sends) until the returned guard is dropped.
pub fn count_statements() -> StatementCount {
    init_logs();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    STATEMENTS.with(|c| *c.borrow_mut() = Some(count.clone()));
    StatementCount(count)
}

/// The statements counted since [`count_statements`]; counting stops when dropped.
pub struct StatementCount(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl StatementCount {
    /// How many statements so far.
    pub fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for StatementCount {
    fn drop(&mut self) {
        STATEMENTS.with(|c| *c.borrow_mut() = None);
    }
}

/// The service on a fresh database, with a `write` token ready.
pub struct TestApp {
    pub router: Router,
    /// The state the router was built from (its live tasks, caches).
    pub state: AppState,
    pub db: PgPool,
    pub write_token: String,
    /// Held so the database lives as long as the app, and is dropped with it.
    _database: TestDb,
}

impl TestApp {
    /// The service with default configuration.
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    /// The service with configuration changed by `change`.
    pub async fn with_config(change: impl FnOnce(&mut ServeConfig)) -> Self {
        Self::with_resolver(change, std::sync::Arc::new(SystemResolver)).await
    }

    /// The service with configuration changed by `change`, resolving webhook hosts
    /// through `resolver`.
    pub async fn with_resolver(
        change: impl FnOnce(&mut ServeConfig),
        resolver: std::sync::Arc<dyn Resolver>,
    ) -> Self {
        init_logs();
        let database = TestDb::create().await;
        let db = database.migrated_pool().await;
        let mut config = ServeConfig::defaults();
        change(&mut config);
        let state = AppState::with_resolver(db.clone(), config, resolver);
        let router = app(state.clone());
        let write_token = mint(&db, "test-writer", Scope::Write).await;
        Self {
            router,
            state,
            db,
            write_token,
            _database: database,
        }
    }

    /// The test's database.
    pub fn database(&self) -> &TestDb {
        &self._database
    }

    /// Mints a token of `scope` named `name`.
    pub async fn token(&self, name: &str, scope: Scope) -> String {
        mint(&self.db, name, scope).await
    }

    /// Sends any request.
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        send_to(&self.router, request).await
    }

    /// `GET uri`.
    pub async fn get(&self, uri: &str) -> TestResponse {
        self.send(Request::get(uri).body(Body::empty()).expect("request"))
            .await
    }

    /// `GET uri` with extra headers.
    pub async fn get_with(&self, uri: &str, headers: &[(&str, &str)]) -> TestResponse {
        let mut request = Request::get(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(Body::empty()).expect("request"))
            .await
    }

    /// A request with the write token and a JSON body.
    pub fn authed(&self, method: Method, uri: &str) -> axum::http::request::Builder {
        Request::builder().method(method).uri(uri).header(
            header::AUTHORIZATION,
            format!("Bearer {}", self.write_token),
        )
    }

    /// `POST uri` with a JSON body and the write token.
    pub async fn post_json(&self, uri: &str, body: Value) -> TestResponse {
        let request = self
            .authed(Method::POST, uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        self.send(request).await
    }

    /// `PATCH uri` with a merge patch and the write token.
    pub async fn patch_json(&self, uri: &str, body: Value) -> TestResponse {
        self.patch_with(uri, body, &[]).await
    }

    /// `PATCH uri` with a merge patch, the write token and extra headers.
    pub async fn patch_with(
        &self,
        uri: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut request = self
            .authed(Method::PATCH, uri)
            .header(header::CONTENT_TYPE, "application/merge-patch+json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(Body::from(body.to_string())).expect("request"))
            .await
    }

    /// `DELETE uri` with the write token and extra headers.
    pub async fn delete_with(&self, uri: &str, headers: &[(&str, &str)]) -> TestResponse {
        let mut request = self.authed(Method::DELETE, uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(Body::empty()).expect("request"))
            .await
    }

    /// Creates an event and returns its body; panics unless 201.
    pub async fn create_event(&self, body: Value) -> Value {
        let response = self.post_json("/v1/events", body).await;
        response.assert_status(StatusCode::CREATED);
        response.json()
    }
}

/// Sends a request to `router` (any instance of the service) and reads the answer;
/// no input may ever produce a 500, so every request of every test checks it.
pub async fn send_to(router: &Router, request: Request<Body>) -> TestResponse {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router failed");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    assert_ne!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "a 500: {}",
        String::from_utf8_lossy(&body)
    );
    TestResponse {
        status,
        headers,
        body,
    }
}

/// A PostgreSQL server of a test's own (`initdb` in `dir`), with the database `name`
/// migrated and a `write` token: for tests that stop, crash or replicate the server.
pub struct PrivateServer {
    pub cluster: industry_events::db::PrivateCluster,
    pub pool: PgPool,
    pub token: String,
}

impl PrivateServer {
    pub async fn start(dir: &std::path::Path, name: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;
        // PostgreSQL may run as another user (when tests run as root): let it in.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cluster = industry_events::db::PrivateCluster::start(&dir.join("primary"))
            .await
            .expect("this test needs the PostgreSQL server binaries (initdb, pg_ctl)");
        let options = cluster.connect_options().database(name);
        db::ensure_database(&options).await.unwrap();
        let pool = db::pool_options(&test_db_config())
            .connect_with(db::with_session_settings(options))
            .await
            .unwrap();
        MIGRATOR.run(&pool).await.unwrap();
        let token = mint(&pool, "private-writer", Scope::Write).await;
        Self {
            cluster,
            pool,
            token,
        }
    }
}

pub async fn mint(db: &PgPool, name: &str, scope: Scope) -> String {
    let token = generate_token();
    repo::tokens::create(db, name, scope, &hash_token(&token), None)
        .await
        .expect("minting a token");
    token
}

/// A response, fully read.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    /// The body as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn assert_status(&self, status: StatusCode) {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            String::from_utf8_lossy(&self.body)
        );
    }

    /// Asserts a problem+json answer with this status, and returns its body.
    #[track_caller]
    pub fn assert_problem(&self, status: StatusCode) -> Value {
        self.assert_status(status);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        let body = self.json();
        assert_eq!(body["status"], status.as_u16(), "problem status field");
        assert!(
            body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("urn:problem:"))
        );
        assert!(body["title"].is_string() && body["detail"].is_string());
        body
    }

    /// Asserts a 400 naming `parameter`.
    #[track_caller]
    pub fn assert_bad_param(&self, parameter: &str) {
        let body = self.assert_problem(StatusCode::BAD_REQUEST);
        assert_eq!(body["parameter"], parameter, "problem: {body}");
    }

    /// Asserts a 422 whose `errors` name exactly these fields (in any order).
    #[track_caller]
    pub fn assert_invalid_fields(&self, fields: &[&str]) {
        let body = self.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
        let mut got: Vec<String> = body["errors"]
            .as_array()
            .expect("errors array")
            .iter()
            .map(|e| e["field"].as_str().expect("field").to_owned())
            .collect();
        got.sort();
        let mut want: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        want.sort();
        assert_eq!(got, want, "problem: {body}");
    }
}

/// A valid event with this title and date, tags and significance.
pub fn event(title: &str, occurred_on: &str, tags: &[&str], significance: &str) -> Value {
    serde_json::json!({
        "title": title,
        "occurred_on": occurred_on,
        "category": "industry",
        "significance": significance,
        "summary": format!("Summary of {title}"),
        "tags": tags,
    })
}

/// Creates the companies `amazon` and `anthropic`.
pub async fn amazon_and_anthropic(app: &TestApp) {
    for (slug, name, kind) in [
        ("amazon", "Amazon", "cloud_provider"),
        ("anthropic", "Anthropic", "ai_lab"),
    ] {
        app.post_json(
            "/v1/companies",
            serde_json::json!({"slug": slug, "name": name, "kind": kind}),
        )
        .await
        .assert_status(axum::http::StatusCode::CREATED);
    }
}

/// The deal `amazon-anthropic` between those two, paid in one tranche of `amount` USD.
pub fn amazon_anthropic_deal(amount: &str) -> Value {
    serde_json::json!({
        "slug": "amazon-anthropic",
        "title": "Amazon-Anthropic strategic collaboration",
        "kind": "investment",
        "status": "completed",
        "parties": [{"company": "amazon", "role": "investor"}, {"company": "anthropic", "role": "investee"}],
        "announced_on": "2023-09-25",
        "tranches": [{"amount": {"amount": amount, "currency": "USD"}, "on": "2023-09-25"}],
    })
}

/// The reference story.
pub fn reference_story() -> Value {
    serde_json::json!({
        "title": "Amazon completes $4 billion investment in Anthropic",
        "occurred_on": "2024-03-27",
        "category": "industry",
        "significance": "major",
        "summary": "Amazon invested a further $2.75 billion in Anthropic, completing the $4 billion it committed in September 2023.",
        "what_happened": "Amazon made its second investment in Anthropic, of $2.75 billion.",
        "why_it_matters": "It ties a leading AI lab to AWS for cloud and chips.",
        "tags": ["investment", "#Cloud Computing", "partnership", "consolidation"],
        "sources": [{"url": "https://www.aboutamazon.com/news/company-news/amazon-anthropic-ai-investment", "title": "Amazon newsroom"}]
    })
}

/// The ids of the live items of a list body, in order.
pub fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .expect("data array")
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect()
}

/// `text` as one query value, every character but the unreserved ones encoded.
pub fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Asserts that every live event keeps its links as the database's own definitions
/// render them from the link tables (`event_company_links_of`, and the deals' one: what
/// a rename rewrites them to): the service renders them itself as it writes a row.
pub async fn assert_links_as_the_database_renders_them(db: &PgPool) {
    let differing: Vec<String> = sqlx::query_scalar(
        "select slug from events where deleted_at is null \
           and (companies::jsonb is distinct from event_company_links_of(id)::jsonb \
                or partnerships::jsonb is distinct from event_partnership_links_of(id)::jsonb)",
    )
    .fetch_all(db)
    .await
    .expect("compare the links");
    assert!(
        differing.is_empty(),
        "links rendered otherwise: {differing:?}"
    );
}
