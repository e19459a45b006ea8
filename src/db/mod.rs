//! Finding, creating and connecting to the database.

pub mod local;
pub mod replicas;

use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

use crate::config::DbConfig;
pub use local::PrivateCluster;

/// How long one probe of a candidate server may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// An open database: the pool, where it is, and the private server if one was started.
pub struct Database {
    /// The connection pool.
    pub pool: PgPool,
    /// Where the database is, for the start-up log (no password).
    pub location: String,
    /// The private server this process started, to be stopped on shutdown.
    pub private: Option<PrivateCluster>,
    /// Pools on the streaming replicas of `DATABASE_READ_URL` (they connect on first use).
    pub replicas: Vec<PgPool>,
    /// How far behind a replica may be and still serve reads (`REPLICA_MAX_LAG_MS`).
    pub replica_max_lag: Duration,
}

/// How long a session may sit idle inside a transaction before PostgreSQL ends it
/// (`idle_in_transaction_session_timeout`); work that waits on a client inside a
/// transaction (an import's body) must give up before this.
pub const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(10);

/// Session settings every connection of the service gets.
///
/// - `idle_in_transaction_session_timeout`: a backstop against a connection left
///   inside a transaction (a cancelled `BEGIN` can leave one behind in sqlx 0.8.4 to
///   0.9.0; see `http::middleware::run_detached` for the main defence).
/// - `plan_cache_mode` is left at `auto`, on purpose. Forcing custom plans (against the
///   trap of a GIN index under a generic plan) replans every statement and halved the tag
///   page's rate (bench/RESULTS.md). Forcing generic plans everywhere walks into that
///   trap; [`fixed_plan_pool`] forces them only where they are safe.
/// - `statement_timeout`: no statement outlives the request that asked for it.
pub fn with_session_settings(options: PgConnectOptions) -> PgConnectOptions {
    let idle = format!("{}ms", IDLE_IN_TRANSACTION.as_millis());
    options
        .application_name("industry-events")
        .options([
            ("idle_in_transaction_session_timeout", idle.as_str()),
            ("statement_timeout", "30s"),
        ])
        .log_statements(tracing::log::LevelFilter::Debug)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500))
}

/// A second pool on the same database whose sessions always use generic plans
/// (`plan_cache_mode = force_generic_plan`), for the few hot statements whose generic
/// plan is the plan any parameters would get: primary-key and unique lookups, and index
/// walks in sort order with no filter whose selectivity could change the plan.
///
/// Under `auto` PostgreSQL keeps re-planning such statements on every execution when
/// the hot parameter looks cheaper than average (the most common tag, a `LIMIT`): half
/// the cost of the tag page at 1M events (bench/RESULTS.md). Everything else stays on the
/// main pool, where a skewed tag or a full-text query gets the custom plan it needs. The
/// pool has the main pool's settings and size and connects on first use.
pub fn fixed_plan_pool(pool: &PgPool) -> PgPool {
    let options = pool
        .connect_options()
        .as_ref()
        .clone()
        .options([("plan_cache_mode", "force_generic_plan")]);
    pool.options().clone().connect_lazy_with(options)
}

/// Pool settings: a short acquire timeout, so that while PostgreSQL is down requests
/// get a 503 in about two seconds rather than hanging for sqlx's default 30.
pub fn pool_options(config: &DbConfig) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_millis(config.db_acquire_timeout_ms))
        .idle_timeout(Duration::from_secs(300))
        // No ping before each checkout: it cost 15% of the tag page's rate. A connection
        // broken by a database restart fails its next request with a 503 (which the
        // client may retry) and is dropped; the outage test covers the recovery.
        .test_before_acquire(false)
}

/// Opens the database as configured: `DATABASE_URL` if set; else the local server (its
/// socket, then 127.0.0.1:5432; as the current user, then as `postgres`); else a
/// private server under `DATA_DIR`. The database is created when missing.
pub async fn open(config: &DbConfig) -> anyhow::Result<Database> {
    let located = locate_server(config.database_url.as_deref()).await?;
    let (server, private) = match (located, &config.database_url) {
        (Some(options), Some(_)) => (options, None),
        (Some(options), None) => (options.database(&config.database_name), None),
        (None, _) => {
            let cluster = PrivateCluster::start(&config.data_dir)
                .await
                .with_context(|| {
                    "no PostgreSQL server answered on the local socket or 127.0.0.1:5432, \
                     and no private one could be started; set DATABASE_URL"
                })?;
            tracing::info!(data_dir = %cluster.data_dir().display(), "started a private PostgreSQL; its data lives there");
            let options = cluster.connect_options().database(&config.database_name);
            (options, Some(cluster))
        }
    };
    ensure_database(&server).await?;
    let location = describe(&server);
    let pool = pool_options(config)
        .connect_with(with_session_settings(server))
        .await
        .with_context(|| format!("could not connect to {location}"))?;
    let mut replicas = Vec::new();
    for (i, url) in config.database_read_url.iter().enumerate() {
        let options: PgConnectOptions = url
            .parse()
            .with_context(|| format!("DATABASE_READ_URL: URL {} is not a PostgreSQL URL", i + 1))?;
        replicas.push(pool_options(config).connect_lazy_with(with_session_settings(options)));
    }
    Ok(Database {
        pool,
        location,
        private,
        replicas,
        replica_max_lag: Duration::from_millis(config.replica_max_lag_ms),
    })
}

/// The server `DATABASE_URL` names, else the first local one that answers; `None`
/// when neither is there (no private cluster is started here).
pub async fn locate_server(database_url: Option<&str>) -> anyhow::Result<Option<PgConnectOptions>> {
    match database_url {
        Some(url) => Ok(Some(
            url.parse()
                .context("DATABASE_URL is not a valid PostgreSQL URL")?,
        )),
        None => Ok(find_local_server().await),
    }
}

/// The first local server that accepts a connection to its `postgres` database.
async fn find_local_server() -> Option<PgConnectOptions> {
    let mut users = Vec::new();
    if let Some(user) = current_user() {
        users.push(user);
    }
    if !users.iter().any(|u| u == "postgres") {
        users.push("postgres".to_owned());
    }
    let mut candidates = Vec::new();
    for dir in ["/var/run/postgresql", "/run/postgresql", "/tmp"] {
        if std::path::Path::new(dir).join(".s.PGSQL.5432").exists() {
            for user in &users {
                candidates.push(
                    PgConnectOptions::new_without_pgpass()
                        .socket(dir)
                        .username(user),
                );
            }
        }
    }
    for user in &users {
        candidates.push(
            PgConnectOptions::new_without_pgpass()
                .host("127.0.0.1")
                .port(5432)
                .username(user),
        );
    }
    for candidate in candidates {
        let probe = candidate.clone().database("postgres");
        if let Ok(Ok(conn)) =
            tokio::time::timeout(PROBE_TIMEOUT, PgConnection::connect_with(&probe)).await
        {
            let _ = conn.close().await;
            return Some(candidate);
        }
    }
    None
}

fn current_user() -> Option<String> {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| {
            let out = std::process::Command::new("id").arg("-un").output().ok()?;
            Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()).filter(|u| !u.is_empty())
        })
}

/// Creates the target database through the server's `postgres` database if missing.
pub async fn ensure_database(options: &PgConnectOptions) -> anyhow::Result<()> {
    let name = options.get_database().unwrap_or("postgres").to_owned();
    let mut conn = PgConnection::connect_with(&options.clone().database("postgres"))
        .await
        .with_context(|| format!("could not connect to {}", describe(options)))?;
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        if name.contains('"') || name.contains('\0') {
            bail!("database name {name:?} must not contain a double quote");
        }
        // Identifiers cannot be bound; the name is quoted and checked above.
        let statement = format!("create database \"{name}\"");
        match sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
        {
            Ok(_) => tracing::info!(database = %name, "created the database"),
            // Another process created it between the check and now.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e).with_context(|| format!("could not create database {name}")),
        }
    }
    let _ = conn.close().await;
    Ok(())
}

/// Where `options` point, without any password.
pub fn describe(options: &PgConnectOptions) -> String {
    format!(
        "database `{}` as `{}` on {}:{}",
        options.get_database().unwrap_or("postgres"),
        options.get_username(),
        options.get_host(),
        options.get_port()
    )
}
