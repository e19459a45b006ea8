//! What each subcommand does.

use anyhow::{Context, bail};
use chrono::Utc;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::auth::{generate_token, hash_token};
use crate::config::{ServeConfig, TokensCommand};
use crate::db::Database;
use crate::db::local::StopMode;
use crate::model::Scope;
use crate::state::AppState;
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
    tokio::spawn(purge_expired_keys(database.pool.clone()));
    let state = AppState::new(database.pool.clone(), config);
    let fixed_plans = state.fixed_plans.clone();
    let app = http::app(state);
    // With the peer address, so rate limiting can tell clients apart.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("the server failed")?;
    tracing::info!("shut down");
    fixed_plans.close().await;
    database.pool.close().await;
    if let Some(cluster) = database.private.as_ref().filter(|c| c.started_here()) {
        cluster.stop(StopMode::Fast).await?;
    }
    Ok(())
}

/// Forgets expired idempotency keys every ten minutes, so the table stays small.
async fn purge_expired_keys(db: sqlx::PgPool) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        every.tick().await;
        match repo::idempotency::purge_expired(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(keys = n, "forgot expired idempotency keys"),
            Err(e) => tracing::warn!(error = %e, "could not purge idempotency keys"),
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
            repo::tokens::create(db, &name, scope, &hash_token(&token), expires_at)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
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
            let tokens = repo::tokens::list(db)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
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
            if repo::tokens::revoke(db, &name)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                println!("Revoked token `{name}`.");
            } else {
                bail!("no live token is named `{name}`");
            }
        }
    }
    Ok(())
}
