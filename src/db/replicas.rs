//! Streaming replicas for reads (`DATABASE_READ_URL`), with read-your-writes.
//!
//! A monitor task samples the primary's WAL position and each replica's replayed
//! position twice a second. A replica is *behind* by how long ago the primary first
//! had WAL the replica has not replayed (from the samples; a replica that has
//! replayed everything is not behind, however idle the primary), and *fit* while it
//! answers and is no more than `REPLICA_MAX_LAG_MS` behind. A write's answer carries
//! the primary's WAL position as `Consistency-Token`; a read that sends it back is
//! served by a fit replica known to have replayed that far, else by the primary. The
//! monitor also keeps each replica's latest snapshot, so a poll from a position goes
//! only to a replica that has replayed everything the position saw.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::model::position::Snapshot;

/// How often the monitor looks.
pub const CHECK_EVERY: Duration = Duration::from_millis(500);

/// How long one look at a replica may take before it counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// How many primary samples are kept (a minute at [`CHECK_EVERY`]).
const SAMPLES_KEPT: usize = 120;

/// A WAL position (`pg_lsn`) as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lsn(pub u64);

impl Lsn {
    /// Reads PostgreSQL's text form, `16/B374D848`.
    pub fn parse(text: &str) -> Option<Self> {
        let (high, low) = text.trim().split_once('/')?;
        let high = u64::from_str_radix(high, 16).ok()?;
        let low = u64::from_str_radix(low, 16).ok()?;
        (high <= u64::from(u32::MAX) && low <= u64::from(u32::MAX))
            .then_some(Self(high << 32 | low))
    }
}

impl std::fmt::Display for Lsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// What the monitor last saw of one replica.
#[derive(Debug, Clone, Default)]
struct Seen {
    /// Answering, in recovery, and not too far behind.
    fit: bool,
    /// How far it has replayed.
    replayed: Option<Lsn>,
    /// A snapshot taken there: it only moves forward, so a later read there sees at
    /// least what this saw.
    snapshot: Option<Snapshot>,
}

/// One replica.
pub struct Replica {
    /// Its pool (connects on first use).
    pub pool: PgPool,
    /// Its pool for statements whose generic plan is always right (see
    /// [`super::fixed_plan_pool`]).
    pub fixed_plans: PgPool,
    /// Its name in logs and metrics (`replica-1`, ...).
    pub name: String,
    seen: Mutex<Seen>,
}

/// The replicas and what is known of them.
pub struct Replicas {
    replicas: Vec<Replica>,
    max_lag: Duration,
    /// The primary's WAL position over the last minute, oldest first.
    samples: Mutex<VecDeque<(Instant, Lsn)>>,
    /// Where the next read starts looking, so reads spread over the fit replicas.
    next: AtomicUsize,
}

/// Where one read goes.
pub enum ReadFrom<'a> {
    /// The primary.
    Primary,
    /// This replica.
    Replica(&'a Replica),
}

impl Replicas {
    /// Replicas at these pools; none is used until the monitor has found it fit.
    pub fn new(pools: Vec<PgPool>, max_lag: Duration) -> Self {
        Self {
            replicas: pools
                .into_iter()
                .enumerate()
                .map(|(i, pool)| Replica {
                    fixed_plans: super::fixed_plan_pool(&pool),
                    pool,
                    name: format!("replica-{}", i + 1),
                    seen: Mutex::new(Seen::default()),
                })
                .collect(),
            max_lag,
            samples: Mutex::new(VecDeque::new()),
            next: AtomicUsize::new(0),
        }
    }

    /// Where a read goes: a fit replica that has replayed `token` (any fit one when
    /// there is no token) and whose snapshot covers each of `covering`, in turn; else
    /// the primary.
    pub fn choose(&self, token: Option<Lsn>, covering: &[&Snapshot]) -> ReadFrom<'_> {
        let count = self.replicas.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for offset in 0..count {
            let replica = &self.replicas[(start + offset) % count];
            let Ok(seen) = replica.seen.lock() else {
                continue;
            };
            let has_token = match (token, seen.replayed) {
                (None, _) => true,
                (Some(token), Some(replayed)) => replayed >= token,
                (Some(_), None) => false,
            };
            let covers = covering.iter().all(|position| {
                seen.snapshot
                    .as_ref()
                    .is_some_and(|snapshot| snapshot.covers(position))
            });
            if seen.fit && has_token && covers {
                return ReadFrom::Replica(replica);
            }
        }
        ReadFrom::Primary
    }

    /// Looks at the primary and every replica once.
    pub async fn check(&self, primary: &PgPool) {
        let now = Instant::now();
        match current_lsn(primary).await {
            Some(lsn) => {
                if let Ok(mut samples) = self.samples.lock() {
                    samples.push_back((now, lsn));
                    while samples.len() > SAMPLES_KEPT {
                        samples.pop_front();
                    }
                }
            }
            // Without the primary nothing can be judged; reads fail on the primary
            // anyway (readiness follows it).
            None => return,
        }
        for replica in &self.replicas {
            let (replayed, snapshot) = match replica_state(&replica.pool).await {
                Some((replayed, snapshot)) => (Some(replayed), Some(snapshot)),
                None => (None, None),
            };
            let lag = replayed.map(|r| self.lag(r, now));
            let fit = lag.is_some_and(|lag| lag <= self.max_lag);
            let was_fit = replica.seen.lock().map(|s| s.fit).unwrap_or(false);
            if let Ok(mut seen) = replica.seen.lock() {
                *seen = Seen {
                    fit,
                    replayed,
                    snapshot,
                };
            }
            let name = replica.name.clone();
            metrics::gauge!("db_replica_fit", "replica" => name.clone())
                .set(f64::from(u8::from(fit)));
            if let Some(lag) = lag {
                metrics::gauge!("db_replica_lag_seconds", "replica" => name.clone())
                    .set(lag.as_secs_f64());
            }
            if fit != was_fit {
                match (fit, lag) {
                    (true, _) => tracing::info!(replica = %name, "replica is fit: serving reads"),
                    (false, Some(lag)) => {
                        tracing::warn!(replica = %name, lag_ms = lag.as_millis() as u64, "replica is too far behind: reads go elsewhere")
                    }
                    (false, None) => {
                        tracing::warn!(replica = %name, "replica does not answer: reads go elsewhere")
                    }
                }
            }
        }
    }

    /// How long ago the primary first had WAL past `replayed`, by the samples.
    fn lag(&self, replayed: Lsn, now: Instant) -> Duration {
        let Ok(samples) = self.samples.lock() else {
            return Duration::MAX;
        };
        match samples.iter().find(|(_, lsn)| *lsn > replayed) {
            // Not behind any sample: it has everything the primary had at the latest.
            None => Duration::ZERO,
            Some((at, _)) => now.saturating_duration_since(*at),
        }
    }

    /// Runs [`Self::check`] every [`CHECK_EVERY`] until `stopping`.
    pub async fn monitor(
        self: std::sync::Arc<Self>,
        primary: PgPool,
        mut stopping: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut every = tokio::time::interval(CHECK_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = stopping.wait_for(|stop| *stop) => return,
            }
            self.check(&primary).await;
        }
    }
}

/// The primary's current WAL position: what a `Consistency-Token` names.
pub async fn current_lsn(primary: &PgPool) -> Option<Lsn> {
    let query =
        sqlx::query_scalar::<_, String>("select pg_current_wal_lsn()::text").fetch_one(primary);
    match tokio::time::timeout(CHECK_TIMEOUT, query).await {
        Ok(Ok(text)) => Lsn::parse(&text),
        _ => None,
    }
}

/// How far a replica has replayed, and a snapshot taken there; `None` when it does not
/// answer or is not a replica. The snapshot is taken before the position is read, so
/// it never claims more than the position.
async fn replica_state(replica: &PgPool) -> Option<(Lsn, Snapshot)> {
    let query = sqlx::query_as::<_, (Option<String>, String)>(
        "select case when pg_is_in_recovery() then pg_last_wal_replay_lsn()::text end, \
                pg_current_snapshot()::text",
    )
    .fetch_one(replica);
    match tokio::time::timeout(CHECK_TIMEOUT, query).await {
        Ok(Ok((Some(replayed), snapshot))) => {
            Some((Lsn::parse(&replayed)?, Snapshot::parse(&snapshot)?))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns_read_and_order_as_postgres_writes_them() {
        let a = Lsn::parse("0/16B3748").unwrap_or(Lsn(0));
        let b = Lsn::parse("1/0").unwrap_or(Lsn(0));
        assert!(a < b);
        assert_eq!(a.to_string(), "0/16B3748");
        assert_eq!(
            Lsn::parse("16/B374D848").map(|l| l.to_string()).as_deref(),
            Some("16/B374D848")
        );
        for bad in ["", "0", "x/1", "1/2/3", "100000000/0"] {
            assert_eq!(Lsn::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn lag_is_how_long_ago_the_primary_first_had_more() {
        let replicas = Replicas::new(Vec::new(), Duration::from_secs(5));
        let start = Instant::now();
        if let Ok(mut samples) = replicas.samples.lock() {
            samples.push_back((start, Lsn(100)));
            samples.push_back((start + Duration::from_secs(1), Lsn(200)));
            samples.push_back((start + Duration::from_secs(2), Lsn(200)));
        }
        let now = start + Duration::from_secs(3);
        assert_eq!(
            replicas.lag(Lsn(200), now),
            Duration::ZERO,
            "replayed everything"
        );
        assert_eq!(replicas.lag(Lsn(300), now), Duration::ZERO);
        assert_eq!(replicas.lag(Lsn(150), now), Duration::from_secs(2));
        assert_eq!(replicas.lag(Lsn(50), now), Duration::from_secs(3));
    }
}
