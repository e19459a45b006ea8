//! Command line and configuration: every setting is a flag and an environment variable,
//! parsed into real types so a bad value stops the start with one line naming it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;

use crate::model::webhook::schedule::RetrySchedule;
use crate::webhook::seal::SealingKey;

/// Industry Events API: events, companies and deals of an industry, served as JSON.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Where the database is.
    #[command(flatten)]
    pub db: DbConfig,
    /// How the server behaves.
    #[command(flatten)]
    pub serve: ServeConfig,
    /// How logs are written.
    #[command(flatten)]
    pub log: LogConfig,
}

/// The binary's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Load data.
    Seed {
        /// Load the demo data set (the reference story and more); idempotent.
        #[arg(long)]
        demo: bool,
    },
    /// Mint, list and revoke API tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Write every record a list's filters match to standard output (NDJSON or CSV).
    #[command(subcommand)]
    Export(ExportCommand),
    /// Import records from an NDJSON or CSV file, as `POST /v1/{events,companies}/import`
    /// does: a progress bar on a terminal, a summary at the end, a non-zero exit when
    /// records are bad.
    #[command(subcommand)]
    Import(ImportCommand),
}

/// `import ...`
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Events (their companies and deals must exist).
    Events(ImportArgs),
    /// Companies.
    Companies(ImportArgs),
}

/// The file and the rules of an import.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The file: NDJSON (one JSON record a line) or CSV (a header row naming the fields).
    pub file: std::path::PathBuf,
    /// `ndjson` or `csv`; by default from the file's extension (`.csv` is CSV).
    #[arg(long, value_parser = ["ndjson", "csv"])]
    pub format: Option<String>,
    /// `atomic` (all or nothing) or `partial` (store the good records).
    #[arg(long, default_value = "atomic", value_parser = clap::builder::PossibleValuesParser::new(crate::model::import::ImportMode::NAMES))]
    pub mode: String,
    /// A record whose id (or chosen slug) exists: `error`, `skip` or `update`.
    #[arg(long, default_value = "error", value_parser = clap::builder::PossibleValuesParser::new(crate::model::import::OnConflict::NAMES))]
    pub on_conflict: String,
}

/// `export ...`
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Events, newest first; the position to poll or stream from afterwards goes to
    /// standard error.
    Events(ExportOptions),
    /// Companies, by name.
    Companies(ExportOptions),
}

/// What to export and how.
#[derive(Debug, clap::Args)]
pub struct ExportOptions {
    /// `ndjson` (one record a line) or `csv` (the import's columns).
    #[arg(long, default_value = "ndjson", value_parser = ["ndjson", "csv"])]
    pub format: String,
    /// Only records with this tag (repeatable: all of them).
    #[arg(long)]
    pub tag: Vec<String>,
    /// Any other list filter, as `name=value` (repeatable), e.g. `--filter category=funding`.
    #[arg(long)]
    pub filter: Vec<String>,
}

impl ExportOptions {
    /// The options as the list's query string, so the list's own rules check them.
    pub fn query(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for tag in &self.tag {
            query.append_pair("tag", tag);
        }
        for pair in &self.filter {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            query.append_pair(name, value);
        }
        query.finish()
    }
}

/// `tokens ...`
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Mint a token; the secret is printed once, alone on the last line.
    Create {
        /// A unique name for the token (shown in logs and the audit trail).
        #[arg(long)]
        name: String,
        /// What it may do: read, write or admin.
        #[arg(long, default_value = "write", value_parser = ["read", "write", "admin"])]
        scope: String,
        /// Make it stop working after this long: 30d, 12h, 90m.
        #[arg(long, value_parser = parse_lifetime)]
        expires_in: Option<Duration>,
    },
    /// List live tokens (never their secrets).
    List,
    /// Revoke a token by name.
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// Where the database is. With no `DATABASE_URL`, the local server is found (or a
/// private one started) and the database created.
#[derive(Clone, Args)]
pub struct DbConfig {
    /// PostgreSQL URL, e.g. postgres://user@host:5432/industry_events.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Database to use (and create) when DATABASE_URL is not set.
    #[arg(
        long,
        env = "DATABASE_NAME",
        default_value = "industry_events",
        global = true
    )]
    pub database_name: String,
    /// Data folder of the private PostgreSQL started when no server answers.
    #[arg(long, env = "DATA_DIR", default_value = "data/postgres", global = true)]
    pub data_dir: PathBuf,
    /// Most database connections in the pool.
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 16, global = true,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,
    /// How long a request waits for a free connection before a 503, in milliseconds.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_MS", default_value_t = 2000, global = true,
          value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub db_acquire_timeout_ms: u64,
    /// Streaming replicas for reads: PostgreSQL URLs, comma-separated.
    #[arg(
        long,
        env = "DATABASE_READ_URL",
        value_delimiter = ',',
        global = true,
        hide_env_values = true
    )]
    pub database_read_url: Vec<String>,
    /// A replica further behind than this (milliseconds) serves no reads.
    #[arg(long, env = "REPLICA_MAX_LAG_MS", default_value_t = 5_000, global = true,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub replica_max_lag_ms: u64,
}

impl fmt::Debug for DbConfig {
    // The URL may hold a password: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbConfig")
            .field(
                "database_url",
                &self.database_url.as_ref().map(|_| "<redacted>"),
            )
            .field("database_name", &self.database_name)
            .field("data_dir", &self.data_dir)
            .field("db_max_connections", &self.db_max_connections)
            .finish_non_exhaustive()
    }
}

/// How the HTTP server behaves.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(
        long,
        env = "BIND_ADDR",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind_addr: SocketAddr,
    /// Origins allowed by CORS, comma-separated (`*` for any); none: no CORS headers.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',', global = true,
          value_parser = parse_origin)]
    pub cors_allowed_origins: Vec<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1_048_576, global = true,
          value_parser = parse_body_limit)]
    pub max_body_bytes: usize,
    /// Largest import body (`POST /v1/events/import`, `/v1/companies/import`), in bytes;
    /// the body is read as a stream, so this bounds the work, not the memory.
    #[arg(long, env = "MAX_IMPORT_BYTES", default_value_t = 64 * 1024 * 1024, global = true,
          value_parser = parse_body_limit)]
    pub max_import_bytes: usize,
    /// An import taking longer is abandoned (and rolled back) with a 503, in seconds.
    #[arg(long, env = "IMPORT_TIMEOUT_SECS", default_value_t = 600, global = true,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub import_timeout_secs: u64,
    /// Deleted events' tombstones are kept this many days; an `updated_since` (or a
    /// stream's position) older than that is a 410 `resync-required` (a stream: `reset`).
    #[arg(long, env = "TOMBSTONE_RETENTION_DAYS", default_value_t = 30, global = true,
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub tombstone_retention_days: u32,
    /// Audit rows are kept this many days (never fewer than the tombstones'); 0 keeps
    /// them forever.
    #[arg(long, env = "AUDIT_RETENTION_DAYS", default_value_t = 0, global = true,
          value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub audit_retention_days: u32,
    /// Requests taking longer are abandoned with a 503, in seconds.
    #[arg(long, env = "REQUEST_TIMEOUT_SECS", default_value_t = 30, global = true,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_secs: u64,
    /// Require a token with the `read` scope for reads too.
    #[arg(long, env = "READ_REQUIRES_TOKEN", default_value_t = false, global = true,
          action = clap::ArgAction::Set)]
    pub read_requires_token: bool,
    /// Public base URL for links (e.g. https://api.example.com); default: from `Host`.
    #[arg(long, env = "PUBLIC_URL", global = true, value_parser = parse_public_url)]
    pub public_url: Option<String>,
    /// Requests per second each client may make on average; 0 turns rate limiting off.
    #[arg(long, env = "RATE_LIMIT_RPS", default_value_t = 100, global = true,
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub rate_limit_rps: u32,
    /// Requests a client may make at once before the per-second rate applies.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 200, global = true,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rate_limit_burst: u32,
    /// Where the limiter keeps its state: `memory` (each instance its own) or `redis`
    /// (shared by every instance, at `REDIS_URL`).
    #[arg(long, env = "RATE_LIMIT_STORE", value_enum, default_value_t = RateLimitStore::Memory,
          global = true)]
    pub rate_limit_store: RateLimitStore,
    /// The Redis server of `RATE_LIMIT_STORE=redis`.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379", global = true,
          hide_env_values = true, value_parser = parse_redis_url)]
    pub redis_url: String,
    /// Proxies whose `X-Forwarded-For` is believed: comma-separated IPs or CIDRs.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', global = true,
          value_parser = parse_proxy)]
    pub trusted_proxies: Vec<IpNet>,
    /// Most event streams (`/v1/events/stream`) open at once on this server; beyond
    /// it, a 503 with `Retry-After`.
    #[arg(long, env = "MAX_STREAMS", default_value_t = 10_000, global = true,
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub max_streams: u32,
    /// An event stream sends a comment at least this often, so proxies and clients
    /// know it is alive.
    #[arg(long, env = "STREAM_HEARTBEAT_SECS", default_value_t = 15, global = true,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub stream_heartbeat_secs: u64,
    /// Streams and long polls look for changes at least this often even when no
    /// notification says so (one was lost, or a write was made outside the service).
    #[arg(long, env = "STREAM_CATCH_UP_SECS", default_value_t = 5, global = true,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub stream_catch_up_secs: u64,
    /// A stream more than this many changed events behind (resuming from long ago) gets
    /// a `reset` instead of a replay: reload the list, then follow.
    #[arg(long, env = "STREAM_MAX_REPLAY", default_value_t = 10_000, global = true,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub stream_max_replay: u32,
    /// Best match first ranks at most this many matches, the newest; a query that
    /// matches fewer is ranked exactly. 0 ranks every match, however many.
    #[arg(long, env = "SEARCH_RANK_CANDIDATES", default_value_t = 2_000, global = true,
          value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    pub search_rank_candidates: u32,
    /// A request's whole head must arrive within this many seconds of its first byte,
    /// however slowly it trickles; else the connection is closed.
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECS", default_value_t = 10, global = true,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_read_timeout_secs: u64,
    /// A connection with no request in flight and no bytes moving for this many
    /// seconds is closed.
    #[arg(long, env = "IDLE_TIMEOUT_SECS", default_value_t = 60, global = true,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idle_timeout_secs: u64,
    /// Most connections open at once (beyond it, a small reserve answers health,
    /// readiness and metrics, and 503 to anything else).
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 10_000, global = true,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Most connections open at once from one address (`TRUSTED_PROXIES` are exempt).
    #[arg(long, env = "MAX_CONNECTIONS_PER_IP", default_value_t = 256, global = true,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections_per_ip: u64,
    /// Allow `http` webhook URLs (default: `https` only).
    #[arg(long, env = "WEBHOOK_ALLOW_HTTP", default_value_t = false, global = true,
          action = clap::ArgAction::Set)]
    pub webhook_allow_http: bool,
    /// Networks (CIDRs) webhooks may reach although they are not public; none by default.
    #[arg(long, env = "WEBHOOK_ALLOWED_NETWORKS", value_delimiter = ',', global = true,
          value_parser = parse_proxy)]
    pub webhook_allowed_networks: Vec<IpNet>,
    /// How long an endpoint has to answer a delivery, in milliseconds.
    #[arg(long, env = "WEBHOOK_TIMEOUT_MS", default_value_t = 10_000, global = true,
          value_parser = clap::value_parser!(u64).range(100..=120_000))]
    pub webhook_timeout_ms: u64,
    /// The waits before each retry of a failed delivery (`5s,5m,30m,2h,5h,10h,10h`).
    #[arg(
        long,
        env = "WEBHOOK_RETRY_SCHEDULE",
        default_value = "5s,5m,30m,2h,5h,10h,10h",
        global = true
    )]
    pub webhook_retry_schedule: RetrySchedule,
    /// A subscription failing this long without a success is disabled (5 days).
    #[arg(
        long,
        env = "WEBHOOK_DISABLE_AFTER_SECS",
        default_value_t = 432_000,
        global = true
    )]
    pub webhook_disable_after_secs: u64,
    /// How long the previous secret keeps signing after a rotation (one day).
    #[arg(
        long,
        env = "WEBHOOK_SECRET_OVERLAP_SECS",
        default_value_t = 86_400,
        global = true
    )]
    pub webhook_secret_overlap_secs: u64,
    /// The key that seals webhook secrets at rest: base64 of 32 bytes. Unset: a built-in
    /// key, which keeps nothing from whoever holds a database dump (a warning says so).
    #[arg(long, env = "WEBHOOK_SECRET_KEY", global = true, hide_env_values = true,
          value_parser = parse_sealing_key)]
    pub webhook_secret_key: Option<SealingKey>,
    /// Most deliveries one instance makes at once.
    #[arg(long, env = "WEBHOOK_CONCURRENCY", default_value_t = 16, global = true,
          value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub webhook_concurrency: u32,
    /// Most deliveries to one endpoint at once, across all instances.
    #[arg(long, env = "WEBHOOK_ENDPOINT_CONCURRENCY", default_value_t = 4, global = true,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub webhook_endpoint_concurrency: u32,
    /// How often each instance looks for due deliveries made elsewhere (milliseconds);
    /// its own new messages wake it at once.
    #[arg(long, env = "WEBHOOK_POLL_MS", default_value_t = 1_000, global = true,
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub webhook_poll_ms: u64,
}

impl ServeConfig {
    /// The defaults, as with no flags and no environment; tests start from this.
    pub fn defaults() -> Self {
        Self {
            bind_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            cors_allowed_origins: Vec::new(),
            request_timeout_secs: 30,
            read_requires_token: false,
            public_url: None,
            max_body_bytes: 1_048_576,
            max_import_bytes: 64 * 1024 * 1024,
            tombstone_retention_days: 30,
            audit_retention_days: 0,
            import_timeout_secs: 600,
            // Off here, unlike the command line's 100/200: the suite drives each app from
            // one shared key (no peer address in `oneshot`), and some tests send hundreds
            // of requests in a burst (resilience waves, concurrency races), which the
            // production quota would throttle. Tests of limiting set their own quota.
            rate_limit_rps: 0,
            rate_limit_burst: 200,
            rate_limit_store: RateLimitStore::Memory,
            redis_url: "redis://127.0.0.1:6379".to_owned(),
            trusted_proxies: Vec::new(),
            max_streams: 10_000,
            stream_heartbeat_secs: 15,
            stream_catch_up_secs: 5,
            stream_max_replay: 10_000,
            search_rank_candidates: 2_000,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 10_000,
            max_connections_per_ip: 256,
            webhook_allow_http: false,
            webhook_allowed_networks: Vec::new(),
            webhook_timeout_ms: 10_000,
            webhook_retry_schedule: RetrySchedule::default(),
            webhook_disable_after_secs: 432_000,
            webhook_secret_overlap_secs: 86_400,
            webhook_secret_key: None,
            webhook_concurrency: 16,
            webhook_endpoint_concurrency: 4,
            webhook_poll_ms: 1_000,
        }
    }

    /// How often streams and long polls look for changes without being told to.
    pub fn stream_catch_up(&self) -> Duration {
        Duration::from_secs(self.stream_catch_up_secs)
    }

    /// How often an event stream sends a heartbeat.
    pub fn stream_heartbeat(&self) -> Duration {
        Duration::from_secs(self.stream_heartbeat_secs)
    }

    /// How long a request's head may take to arrive.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    /// How long a connection may sit idle.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// How long an import may take.
    pub fn import_timeout(&self) -> Duration {
        Duration::from_secs(self.import_timeout_secs)
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

/// Where the rate limiter keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RateLimitStore {
    /// In this instance's memory: each instance limits on its own.
    Memory,
    /// In Redis: one allowance per client across every instance.
    Redis,
}

/// How logs are written.
#[derive(Debug, Clone, Args)]
pub struct LogConfig {
    /// `pretty` for people, `json` for log collectors.
    #[arg(long, env = "LOG_FORMAT", default_value = "pretty", global = true)]
    pub log_format: LogFormat,
    /// Log filter, e.g. `info` or `industry_events=debug,tower_http=info`.
    #[arg(long = "log", env = "RUST_LOG", global = true, value_parser = parse_filter)]
    pub rust_log: Option<String>,
}

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

fn parse_origin(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s == "*" {
        return Ok(s.to_owned());
    }
    let url = url::Url::parse(s).map_err(|e| format!("`{s}` is not an origin: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.path() != "/" || url.query().is_some() {
        return Err(format!("`{s}` is not an origin like https://example.com"));
    }
    Ok(s.trim_end_matches('/').to_owned())
}

fn parse_body_limit(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .ok()
        .filter(|n| (1024..=1 << 30).contains(n))
        .ok_or_else(|| format!("`{s}` is not a byte count from 1024 to 1073741824"))
}

/// One trusted proxy: a CIDR (`10.0.0.0/8`) or a single address (`10.0.0.7`).
fn parse_proxy(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .map(|net| net.trunc())
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{s}` is not an IP address or CIDR like 10.0.0.0/8"))
}

fn parse_sealing_key(s: &str) -> Result<SealingKey, String> {
    SealingKey::parse(s.trim())
}

fn parse_redis_url(s: &str) -> Result<String, String> {
    redis::Client::open(s)
        .map(|_| s.to_owned())
        .map_err(|e| format!("`{s}` is not a Redis URL like redis://127.0.0.1:6379 ({e})"))
}

fn parse_public_url(s: &str) -> Result<String, String> {
    let url = url::Url::parse(s).map_err(|e| format!("`{s}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL".into());
    }
    Ok(s.trim_end_matches('/').to_owned())
}

fn parse_filter(s: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(s)
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}

/// Reads `30d`, `12h`, `90m` or `45s`.
pub fn parse_lifetime(s: &str) -> Result<Duration, String> {
    let (number, unit) = s.split_at(s.len().saturating_sub(1));
    let n: u64 = number
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{s}` is not a lifetime like 30d, 12h or 90m"))?;
    let secs = match unit {
        "d" => n.checked_mul(86_400),
        "h" => n.checked_mul(3_600),
        "m" => n.checked_mul(60),
        "s" => Some(n),
        _ => None,
    }
    .ok_or_else(|| format!("`{s}` is not a lifetime like 30d, 12h or 90m"))?;
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_parse() {
        assert_eq!(parse_lifetime("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_lifetime("90m"), Ok(Duration::from_secs(5_400)));
        for bad in ["", "d", "0d", "10y", "-1h", "1.5h"] {
            assert!(parse_lifetime(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err = Cli::try_parse_from(["x", "--bind-addr", "nowhere"]).unwrap_err();
        assert!(err.to_string().contains("BIND_ADDR"), "{err}");
        let err = Cli::try_parse_from(["x", "--max-body-bytes=12"]).unwrap_err();
        assert!(err.to_string().contains("MAX_BODY_BYTES"), "{err}");
        let err =
            Cli::try_parse_from(["x", "--cors-allowed-origins", "not an origin"]).unwrap_err();
        assert!(err.to_string().contains("CORS_ALLOWED_ORIGINS"), "{err}");
        let err = Cli::try_parse_from(["x", "--log-format", "xml"]).unwrap_err();
        assert!(err.to_string().contains("LOG_FORMAT"), "{err}");
        for bad in ["lots", "-1", "2000000"] {
            let err = Cli::try_parse_from(["x", &format!("--rate-limit-rps={bad}")]).unwrap_err();
            assert!(err.to_string().contains("RATE_LIMIT_RPS"), "{err}");
        }
        let err = Cli::try_parse_from(["x", "--rate-limit-burst=0"]).unwrap_err();
        assert!(err.to_string().contains("RATE_LIMIT_BURST"), "{err}");
        let err = Cli::try_parse_from(["x", "--trusted-proxies", "10.0.0.1,nope"]).unwrap_err();
        assert!(err.to_string().contains("TRUSTED_PROXIES"), "{err}");
    }

    #[test]
    fn rate_limit_settings_parse() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(
            (cli.serve.rate_limit_rps, cli.serve.rate_limit_burst),
            (100, 200),
            "the contract's defaults"
        );
        assert!(cli.serve.trusted_proxies.is_empty());
        let cli = Cli::try_parse_from([
            "x",
            "--rate-limit-rps=0",
            "--trusted-proxies",
            "10.1.2.3/8, 192.168.0.7,::1",
        ])
        .unwrap();
        assert_eq!(cli.serve.rate_limit_rps, 0);
        let proxies: Vec<String> = cli
            .serve
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(proxies, ["10.0.0.0/8", "192.168.0.7/32", "::1/128"]);
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
