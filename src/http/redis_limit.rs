//! The rate limiter's state in Redis (`RATE_LIMIT_STORE=redis`), so every instance
//! counts a client against one allowance.
//!
//! Each check is one Lua script run atomically by Redis: the same GCRA as the in-memory
//! limiter (a "theoretical arrival time" per key, pushed one emission interval further
//! by each request that conforms), with Redis's own clock, so instances with skewed
//! clocks still agree. A key expires once its allowance is full again, which is when it
//! stops mattering. If Redis cannot answer, the check fails open (the request goes
//! ahead unlimited), the log and `rate_limit_store_up` say so, and Redis is not asked
//! again for [`RETRY_AFTER_FAILURE`], so a dead Redis costs a request nothing; the first
//! check after that finds out whether it is back.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::rate_limit::{Allowance, ceil_secs};

/// How long the store is left alone after a failure (well inside the contract's 20 s).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// How long one check may take before it counts as a failure.
const CHECK_TIMEOUT: Duration = Duration::from_millis(250);

/// GCRA over each key in turn, stopping at the first that refuses (a request refused
/// by one allowance spends nothing of the next). KEYS: the keys. ARGV[2i-1] and ARGV[2i]:
/// key i's emission interval in microseconds and its burst. Returns
/// `{allowed, remaining, wait_us, reset_us}` for each key checked, flattened.
const GCRA: &str = r"
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local answers = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tolerance = interval * (burst - 1)
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local allow_at = tat - tolerance
  if now < allow_at then
    for _, n in ipairs({0, 0, allow_at - now, tat - now}) do table.insert(answers, n) end
    return answers
  end
  local new_tat = tat + interval
  redis.call('SET', KEYS[i], new_tat, 'PX', math.floor((new_tat - now) / 1000) + 1)
  local remaining = math.floor((now + tolerance - new_tat) / interval) + 1
  if remaining < 0 then remaining = 0 end
  if remaining > burst then remaining = burst end
  for _, n in ipairs({1, remaining, 0, new_tat - now}) do table.insert(answers, n) end
end
return answers
";

/// One quota: a request every `interval`, `burst` at once.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    /// How often one request's worth of allowance comes back.
    pub interval: Duration,
    /// How many requests fit in a full allowance.
    pub burst: u32,
}

/// The shared store.
pub struct RedisLimits {
    connection: ConnectionManager,
    script: redis::Script,
    /// Until when Redis is not asked (after a failure); `None` while it answers.
    resting_until: Mutex<Option<Instant>>,
}

impl RedisLimits {
    /// A store at `url`; connects lazily (the service starts whether or not Redis is up).
    pub fn new(url: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CHECK_TIMEOUT))
            .set_response_timeout(Some(CHECK_TIMEOUT))
            // Reconnection is retried by our next check, not in the background.
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client, config)?;
        metrics::gauge!("rate_limit_store_up").set(1.0);
        Ok(Self {
            connection,
            script: redis::Script::new(GCRA),
            resting_until: Mutex::new(None),
        })
    }

    /// Counts one request against `key` under `quota`; `None` when the store could not
    /// say (the request then goes ahead: fail open).
    pub async fn check(&self, key: &str, quota: Quota) -> Option<Allowance> {
        self.check_in_turn(&[(key, quota)]).await?.pop()
    }

    /// Counts one request against each key under its quota in turn, in one round trip,
    /// stopping at the first that refuses: the allowances checked, in order (the last
    /// is the refusal, if any). `None` when the store could not say (fail open).
    /// (Several keys in one script need one Redis, not a cluster, which this is.)
    pub async fn check_in_turn(&self, checks: &[(&str, Quota)]) -> Option<Vec<Allowance>> {
        if self.resting() {
            return None;
        }
        let mut connection = self.connection.clone();
        let mut invocation = self.script.prepare_invoke();
        for (key, quota) in checks {
            let interval_us = u64::try_from(quota.interval.as_micros())
                .unwrap_or(u64::MAX)
                .max(1);
            invocation.key(*key).arg(interval_us).arg(quota.burst);
        }
        let answer = tokio::time::timeout(
            CHECK_TIMEOUT,
            invocation.invoke_async::<Vec<i64>>(&mut connection),
        )
        .await;
        let numbers = match answer {
            Ok(Ok(numbers)) => numbers,
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                return None;
            }
            Err(_) => {
                self.failed("no answer in time");
                return None;
            }
        };
        if numbers.is_empty() || numbers.len() % 4 != 0 || numbers.len() / 4 > checks.len() {
            self.failed(&format!("the script answered {numbers:?}"));
            return None;
        }
        self.answered();
        Some(
            numbers
                .chunks_exact(4)
                .zip(checks)
                .map(|(n, (_, quota))| allowance(quota.burst, n[0] == 1, n[1], n[2], n[3]))
                .collect(),
        )
    }

    fn resting(&self) -> bool {
        let Ok(mut resting) = self.resting_until.lock() else {
            return false;
        };
        match *resting {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                // Time to ask again; a failure sets it anew.
                *resting = None;
                false
            }
            None => false,
        }
    }

    fn failed(&self, why: &str) {
        metrics::counter!("rate_limit_store_errors_total").increment(1);
        let Ok(mut resting) = self.resting_until.lock() else {
            return;
        };
        let was_up = resting.is_none();
        *resting = Some(Instant::now() + RETRY_AFTER_FAILURE);
        if was_up {
            metrics::gauge!("rate_limit_store_up").set(0.0);
            tracing::warn!(
                error = why,
                "the rate limit store (Redis) is unreachable: requests are not limited until it is back"
            );
        }
    }

    fn answered(&self) {
        let Ok(mut resting) = self.resting_until.lock() else {
            return;
        };
        if resting.take().is_some() {
            tracing::info!("the rate limit store (Redis) answers again: limiting resumed");
        }
        metrics::gauge!("rate_limit_store_up").set(1.0);
    }
}

/// The headers' numbers from the script's answer, rounded as the in-memory limiter
/// rounds them.
fn allowance(burst: u32, allowed: bool, remaining: i64, wait_us: i64, reset_us: i64) -> Allowance {
    let micros = |us: i64| Duration::from_micros(u64::try_from(us).unwrap_or(0));
    Allowance {
        limit: burst,
        remaining: u32::try_from(remaining).unwrap_or(0).min(burst),
        reset_secs: ceil_secs(micros(reset_us)),
        retry_after_secs: (!allowed).then(|| ceil_secs(micros(wait_us)).max(1)),
    }
}
