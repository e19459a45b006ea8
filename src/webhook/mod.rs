//! Webhook delivery: each instance runs one [`Webhooks::run`] loop that claims due
//! deliveries from the database (so an attempt is made by one instance), makes them
//! with bounded concurrency, records each outcome and schedules the retry. Messages
//! are written by the writes themselves (`repo::webhooks::enqueue`); this module only
//! sends them.

mod deliver;
pub mod guard;
pub mod seal;

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::config::ServeConfig;
use crate::model::webhook::address::AddressPolicy;
use crate::model::webhook::schedule::RetrySchedule;
use crate::repo;
use guard::{Guard, GuardedDns, Resolver};
use seal::SealingKey;

/// How long in-flight attempts may finish at shutdown before they are abandoned (and
/// their claims handed back): well inside the 30 s an instance has to exit.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long a delivery's message is kept after its last attempt.
pub const LOG_RETENTION_DAYS: u32 = 30;

/// The webhook sender of one instance, and what the HTTP handlers need of it.
pub struct Webhooks {
    /// Where deliveries may go; also checks URLs at registration.
    pub guard: Guard,
    /// Seals and opens secrets.
    pub key: SealingKey,
    /// The HTTP client, or why it could not be built (every attempt then fails with it).
    client: Result<reqwest::Client, String>,
    schedule: RetrySchedule,
    timeout: Duration,
    disable_after: Duration,
    concurrency: u32,
    endpoint_concurrency: u32,
    poll: Duration,
    wake: Notify,
    shutdown_grace: Duration,
    /// This instance, as its claims name it.
    instance: Uuid,
}

impl Webhooks {
    /// The sender `config` describes, resolving names through `resolver`.
    pub fn new(config: &ServeConfig, resolver: Arc<dyn Resolver>) -> Self {
        let guard = Guard::new(
            AddressPolicy::new(config.webhook_allowed_networks.clone()),
            resolver,
        );
        let timeout = Duration::from_millis(config.webhook_timeout_ms);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            // A proxy would connect on our behalf to addresses we never checked.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedDns(guard.clone())))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| {
                tracing::error!(error = %e, "the webhook HTTP client could not be built; deliveries will fail");
                format!("the HTTP client could not be built: {e}")
            });
        Self {
            guard,
            key: config
                .webhook_secret_key
                .clone()
                .unwrap_or_else(SealingKey::built_in),
            client,
            schedule: config.webhook_retry_schedule.clone(),
            timeout,
            disable_after: Duration::from_secs(config.webhook_disable_after_secs),
            concurrency: config.webhook_concurrency,
            endpoint_concurrency: config.webhook_endpoint_concurrency,
            poll: Duration::from_millis(config.webhook_poll_ms),
            wake: Notify::new(),
            shutdown_grace: SHUTDOWN_GRACE,
            instance: Uuid::now_v7(),
        }
    }

    /// The same sender, letting attempts in flight at shutdown finish for `grace`
    /// (tests shorten it).
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Tells this instance's loop that messages were just written.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Claims and makes deliveries until `stopping`; then lets attempts in flight
    /// finish for a while and hands back the claims of any that did not.
    pub async fn run(self: Arc<Self>, db: PgPool, mut stopping: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(self.concurrency as usize));
        let mut attempts = JoinSet::new();
        // Long enough for the attempt and its bookkeeping; a lapsed claim is retried.
        let lease = self.timeout + Duration::from_secs(30);
        let mut next_backlog_report = tokio::time::Instant::now();
        loop {
            if *stopping.borrow() {
                break;
            }
            let free = permits.available_permits();
            let mut claimed_all = false;
            if free > 0 {
                let max = u32::try_from(free).unwrap_or(u32::MAX);
                match repo::webhooks::claim(
                    &db,
                    self.instance,
                    max,
                    self.endpoint_concurrency,
                    lease,
                )
                .await
                {
                    Ok(claimed) => {
                        claimed_all = claimed.len() == free;
                        for delivery in claimed {
                            let Ok(permit) = permits.clone().try_acquire_owned() else {
                                break;
                            };
                            let (me, db) = (self.clone(), db.clone());
                            attempts.spawn(async move {
                                let outcome = me.attempt(&delivery).await;
                                record_metrics(&outcome);
                                if let Err(e) = repo::webhooks::finish(
                                    &db,
                                    me.instance,
                                    &delivery,
                                    &outcome,
                                    me.disable_after,
                                )
                                .await
                                {
                                    // The claim lapses and another attempt is made.
                                    tracing::warn!(error = %crate::error::cause_chain(&e), delivery = %delivery.id, "could not record a webhook attempt");
                                }
                                drop(permit);
                            });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %crate::error::cause_chain(&e), "could not claim webhook deliveries")
                    }
                }
            }
            if tokio::time::Instant::now() >= next_backlog_report {
                next_backlog_report += Duration::from_secs(10);
                if let Ok((due, age)) = repo::webhooks::backlog(&db).await {
                    metrics::gauge!("webhook_backlog").set(due as f64);
                    metrics::gauge!("webhook_backlog_age_seconds").set(age);
                }
            }
            if claimed_all {
                // More may be due: claim again as soon as a permit frees up.
                tokio::select! {
                    _ = attempts.join_next() => {}
                    _ = stopping.wait_for(|stop| *stop) => break,
                }
                continue;
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.poll) => {}
                Some(_) = attempts.join_next(), if !attempts.is_empty() => {}
                _ = stopping.wait_for(|stop| *stop) => break,
            }
        }
        let drained = tokio::time::timeout(self.shutdown_grace, async {
            while attempts.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            attempts.shutdown().await;
        }
        match repo::webhooks::release(&db, self.instance).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deliveries = n, "handed unfinished webhook attempts back"),
            Err(e) => {
                tracing::warn!(error = %crate::error::cause_chain(&e), "could not hand webhook attempts back; their claims will lapse")
            }
        }
    }
}

fn record_metrics(outcome: &repo::webhooks::Outcome) {
    let result = if outcome.succeeded {
        "succeeded"
    } else if outcome.response_status.is_some() {
        "failed_status"
    } else if outcome
        .error
        .as_deref()
        .is_some_and(|e| e.starts_with("refused"))
    {
        "refused"
    } else if outcome
        .error
        .as_deref()
        .is_some_and(|e| e.starts_with("no answer"))
    {
        "timeout"
    } else {
        "failed_connection"
    };
    metrics::counter!("webhook_attempts_total", "outcome" => result).increment(1);
    metrics::histogram!("webhook_attempt_duration_seconds").record(outcome.latency.as_secs_f64());
}
