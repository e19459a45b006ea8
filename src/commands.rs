//! What each subcommand does.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::auth::{generate_token, hash_token};
use crate::config::{ExportCommand, ServeConfig, TokensCommand};
use crate::db::Database;
use crate::db::local::StopMode;
use crate::db::replicas::Replicas;
use crate::http::{AppState, server};
use crate::model::Scope;
use crate::model::export::{ExportFormat, ExportWriter, Exportable};
use crate::model::list::params::QueryParams;
use crate::model::{CompanyFilter, EventFilter, ResourceKind};
use crate::{MIGRATOR, http, repo, seed};

/// Applies pending migrations.
pub async fn migrate(db: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(db).await.context("applying migrations failed")
}

/// Serves HTTP until SIGTERM or Ctrl-C, then drains requests in flight.
pub async fn serve(database: Database, config: ServeConfig) -> anyhow::Result<()> {
    migrate(&database.pool).await?;
    let listener = TcpListener::bind(config.bind_addr)
        .await
        .with_context(|| format!("could not listen on BIND_ADDR {}", config.bind_addr))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, database = %database.location, "serving");
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let replicas = (!database.replicas.is_empty()).then(|| {
        Arc::new(Replicas::new(
            database.replicas.clone(),
            database.replica_max_lag,
        ))
    });
    let state = match &replicas {
        Some(replicas) => {
            AppState::with_replicas(database.pool.clone(), config.clone(), replicas.clone())
        }
        None => AppState::new(database.pool.clone(), config.clone()),
    };
    // Background work, each task ending when the server stops.
    let db = &database.pool;
    let mut background = vec![
        tokio::spawn(periodically(
            "forget expired idempotency keys",
            Duration::from_secs(600),
            db.clone(),
            stopping.clone(),
            |db| async move { repo::idempotency::purge_expired(&db).await },
        )),
        tokio::spawn(periodically(
            "fold pending tag counts",
            Duration::from_secs(1),
            db.clone(),
            stopping.clone(),
            |db| async move { repo::tags::fold_counts(&db).await },
        )),
        tokio::spawn(periodically(
            "forget old list change notes",
            Duration::from_secs(60),
            db.clone(),
            stopping.clone(),
            |db| async move { repo::changes::purge(&db).await },
        )),
        tokio::spawn(periodically(
            "note the transaction clock and the tombstone horizon",
            Duration::from_secs(60),
            db.clone(),
            stopping.clone(),
            {
                let horizon = state.horizon.clone();
                move |db| {
                    let horizon = horizon.clone();
                    async move { horizon.refresh(&db).await }
                }
            },
        )),
        tokio::spawn(periodically(
            "purge tombstones and audit rows past their retention",
            Duration::from_secs(600),
            db.clone(),
            stopping.clone(),
            {
                let (tombstones, audit) =
                    (config.tombstone_retention_days, config.audit_retention_days);
                move |db| async move { repo::retention::purge(&db, tombstones, audit).await }
            },
        )),
    ];
    background.push(tokio::spawn(periodically(
        "forget webhook messages past their retention",
        Duration::from_secs(3_600),
        db.clone(),
        stopping.clone(),
        |db| async move { repo::webhooks::purge(&db, crate::webhook::LOG_RETENTION_DAYS).await },
    )));
    if config.webhook_secret_key.is_none() {
        tracing::warn!(
            "WEBHOOK_SECRET_KEY is not set: webhook secrets are sealed with a built-in key, \
             which does not protect them in a database dump; set it in production"
        );
    }
    background.push(tokio::spawn(
        state.webhooks.clone().run(db.clone(), stopping.clone()),
    ));
    if let Some(replicas) = replicas {
        background.push(tokio::spawn(replicas.monitor(db.clone(), stopping.clone())));
    }
    if let Some(limiter) = state.rate_limiter.clone() {
        background.push(tokio::spawn(limiter.prune_until(stopping.clone())));
    }
    let fixed_plans = state.fixed_plans.clone();
    let live = state.live.clone();
    let app = http::app(state);
    tokio::spawn({
        let live = live.clone();
        async move {
            shutdown_signal().await;
            let _ = stop.send(true);
            // Streams end now with a `retry:` hint, so the drain does not wait on them.
            live.stop().await;
        }
    });
    server::run(listener, app, &config, stopping).await;
    live.stop().await;
    for task in background {
        let _ = task.await;
    }
    tracing::info!("shut down");
    fixed_plans.close().await;
    database.pool.close().await;
    if let Some(cluster) = database.private.as_ref().filter(|c| c.started_here()) {
        cluster.stop(StopMode::Fast).await?;
    }
    Ok(())
}

/// Runs `job` on the pool every `period` until the server stops (several instances may
/// all run it: each run does what is due, whoever runs it), logging what it did.
async fn periodically<F, Fut>(
    what: &'static str,
    period: Duration,
    db: PgPool,
    mut stopping: tokio::sync::watch::Receiver<bool>,
    job: F,
) where
    F: Fn(PgPool) -> Fut,
    Fut: Future<Output = Result<u64, crate::error::ApiError>>,
{
    let mut every = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stopping.wait_for(|stop| *stop) => return,
        }
        match job(db.clone()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "{what}"),
            Err(e) => {
                tracing::warn!(error = %crate::error::cause_chain(&e), "could not {what}")
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; draining requests in flight");
}

/// `export events | companies`: the records to standard output, a summary (and for
/// events the position to go on from) to standard error.
pub async fn export(db: &PgPool, command: ExportCommand) -> anyhow::Result<()> {
    migrate(db).await?;
    let invalid = |e: crate::model::ParamError| anyhow::anyhow!("--{}: {}", e.name, e.reason);
    let (options, kind) = match &command {
        ExportCommand::Events(options) => (options, ResourceKind::Event),
        ExportCommand::Companies(options) => (options, ResourceKind::Company),
    };
    let format = ExportFormat::parse(&options.format)
        .ok_or_else(|| anyhow::anyhow!("--format must be ndjson or csv"))?;
    let query = options.query();
    let mut out = std::io::stdout().lock();
    match kind {
        ResourceKind::Event => {
            let accepted = crate::model::list::events::EVENT_FILTER_PARAMS;
            let params = QueryParams::parse(Some(&query), accepted).map_err(invalid)?;
            let filter = EventFilter::from_params(&params).map_err(invalid)?;
            let mut ids = Vec::new();
            for reference in &filter.companies {
                ids.push(
                    repo::graph::id_of(db, ResourceKind::Company, reference)
                        .await?
                        .ok_or_else(|| {
                            anyhow::anyhow!("--filter company: no company matches `{reference}`")
                        })?,
                );
            }
            let export = repo::export::events(db, filter, ids).await?;
            let origin = repo::positions::origin(db).await?;
            let count = write_export(&mut out, format, export.records).await?;
            let position = crate::model::position::Position::at(&origin, export.snapshot);
            eprintln!(
                "exported {count} events; to follow the changes after them: updated_since={position}"
            );
        }
        _ => {
            let accepted = crate::model::list::companies::COMPANY_FILTER_PARAMS;
            let params = QueryParams::parse(Some(&query), accepted).map_err(invalid)?;
            let filter = CompanyFilter::from_params(&params).map_err(invalid)?;
            let export = repo::export::companies(db, filter).await?;
            let count = write_export(&mut out, format, export.records).await?;
            eprintln!("exported {count} companies");
        }
    }
    Ok(())
}

/// Writes an export's records to `out` in `format`; returns how many.
async fn write_export<T: Exportable>(
    out: &mut impl std::io::Write,
    format: ExportFormat,
    mut records: tokio::sync::mpsc::Receiver<Result<T, crate::error::ApiError>>,
) -> anyhow::Result<u64> {
    let mut writer = ExportWriter::new::<T>(format);
    let mut count = 0;
    while let Some(record) = records.recv().await {
        writer.write(&record?)?;
        count += 1;
        if writer.pending() >= 64 * 1024 {
            out.write_all(&writer.take()?)?;
        }
    }
    out.write_all(&writer.take()?)?;
    out.flush()?;
    Ok(count)
}

/// Loads the demo data.
pub async fn seed_demo(db: &PgPool) -> anyhow::Result<()> {
    migrate(db).await?;
    let report = seed::load_demo(db).await?;
    println!("{report}");
    Ok(())
}

/// `tokens create | list | revoke`.
pub async fn tokens(db: &PgPool, command: TokensCommand) -> anyhow::Result<()> {
    migrate(db).await?;
    match command {
        TokensCommand::Create {
            name,
            scope,
            expires_in,
        } => {
            let name = name.trim().to_owned();
            if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
                bail!("--name must be 1 to 100 printable characters");
            }
            let scope: Scope = scope.parse().map_err(anyhow::Error::msg)?;
            let expires_at = expires_in
                .map(|d| chrono::Duration::from_std(d).map(|d| Utc::now() + d))
                .transpose()
                .context("--expires-in is too long")?;
            let token = generate_token();
            repo::tokens::create(db, &name, scope, &hash_token(&token), expires_at).await?;
            println!("Created token `{name}` with scope `{scope}`.");
            if let Some(at) = expires_at {
                println!("It expires at {}.", at.to_rfc3339());
            }
            println!(
                "Store it now: it is shown only once. Use it as `Authorization: Bearer <token>`."
            );
            println!("{token}");
        }
        TokensCommand::List => {
            let tokens = repo::tokens::list(db).await?;
            println!(
                "{:<30} {:<6} {:<25} {:<25} EXPIRES",
                "NAME", "SCOPE", "CREATED", "LAST USED"
            );
            let when = |t: Option<chrono::DateTime<Utc>>| {
                t.map_or_else(
                    || "-".to_owned(),
                    |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                )
            };
            for t in tokens {
                println!(
                    "{:<30} {:<6} {:<25} {:<25} {}",
                    t.name,
                    t.scope,
                    when(Some(t.created_at)),
                    when(t.last_used_at),
                    when(t.expires_at)
                );
            }
        }
        TokensCommand::Revoke { name } => {
            if repo::tokens::revoke(db, &name).await? {
                println!("Revoked token `{name}`.");
            } else {
                bail!("no live token is named `{name}`");
            }
        }
    }
    Ok(())
}
