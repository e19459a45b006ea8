//! Per-client rate limiting: `RATE_LIMIT_RPS` requests a second on average, bursts of up
//! to `RATE_LIMIT_BURST`, then a 429 problem with `Retry-After`.
//!
//! The limiter is a keyed GCRA, so one client's traffic never spends another's allowance.
//! With `RATE_LIMIT_STORE=memory` (the default) it is governor's, in this instance's
//! memory: the check is a hash lookup plus an atomic update, no lock is held across a
//! request and nothing touches the database. With `redis` the same algorithm runs in
//! Redis ([`super::redis_limit`]), so a client has one allowance across all instances,
//! and the same answers and headers. Every limited response carries the IETF
//! draft headers `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` so a
//! well-behaved client can slow down before it is refused. Requests with a token also
//! count against a ceiling for their address, ten times a client's quota, because the
//! token is not verified here and a made-up one per request would otherwise escape. Health, readiness and metrics
//! are never limited: an orchestrator that is refused a probe would restart a healthy
//! service.

use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use ipnet::IpNet;

use super::AppState;
use super::client::{bearer_token, client_address};
use super::redis_limit::{self, RedisLimits};
use crate::config::{RateLimitStore, ServeConfig};
use crate::error::ApiError;

/// `RateLimit-Limit`: the burst, i.e. how many requests fit in a full allowance.
pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining`: how many requests may be made right now.
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset`: whole seconds until the full allowance is back.
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Paths an orchestrator or a scraper polls; they must always answer.
const EXEMPT_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// How often the clients whose allowance is full again are forgotten. Such a client is
/// indistinguishable from a new one, so dropping it changes no decision; the sweep is
/// a pass over every tracked client, so it runs on a task of its own, never on a
/// request's.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(10);

/// Who a request is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// A bearer token, by its SHA-256 (the raw secret is never kept in memory here).
    Token([u8; 32]),
    /// A client address: an IPv4 address, or the /64 network of an IPv6 one (one
    /// subscriber usually holds a whole /64 and could otherwise rotate through it).
    Address(IpAddr),
}

type KeyedLimiter = RateLimiter<
    ClientKey,
    DefaultKeyedStateStore<ClientKey>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// The service's limiter: one allowance per client, a ceiling per address, and who may
/// speak for other clients.
pub struct ClientRateLimiter {
    store: Store,
    trusted_proxies: Vec<IpNet>,
}

/// Where the allowances are kept.
enum Store {
    /// In this instance.
    Memory { clients: Bucket, addresses: Bucket },
    /// In Redis, shared by every instance.
    Redis {
        limits: RedisLimits,
        clients: redis_limit::Quota,
        addresses: redis_limit::Quota,
    },
}

/// One keyed GCRA limiter and its quota.
struct Bucket {
    limiter: KeyedLimiter,
    quota: Quota,
}

/// What the headers of one limited response say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// The burst size.
    pub limit: u32,
    /// Requests left right now.
    pub remaining: u32,
    /// Whole seconds until the allowance is full again.
    pub reset_secs: u64,
    /// `Some(seconds)` when the request was refused: when to retry.
    pub retry_after_secs: Option<u64>,
}

/// How many times a client's quota one address may spend across all the tokens it sends.
///
/// Tokens are not checked against the database before the limiter runs (that would cost
/// a query per request, refused or not), so a made-up token per request would otherwise
/// be a fresh client each time and no limit at all. Real token holders behind one
/// address (a NAT, an untrusted proxy) keep plenty of room.
pub const ADDRESS_CEILING_FACTOR: NonZeroU32 = match NonZeroU32::new(10) {
    Some(factor) => factor,
    None => NonZeroU32::MIN,
};

impl ClientRateLimiter {
    /// The limiter `config` asks for, or `None` when `RATE_LIMIT_RPS` is 0 (off).
    pub fn from_config(config: &ServeConfig) -> Option<Self> {
        let rps = NonZeroU32::new(config.rate_limit_rps)?;
        // clap refuses a zero burst; a hand-built config falls back to one second's worth.
        let burst = NonZeroU32::new(config.rate_limit_burst).unwrap_or(rps);
        let ceiling = |n: NonZeroU32| n.saturating_mul(ADDRESS_CEILING_FACTOR);
        let clients = Quota::per_second(rps).allow_burst(burst);
        let addresses = Quota::per_second(ceiling(rps)).allow_burst(ceiling(burst));
        let store = match config.rate_limit_store {
            RateLimitStore::Memory => None,
            RateLimitStore::Redis => match RedisLimits::new(&config.redis_url) {
                Ok(limits) => Some(Store::Redis {
                    limits,
                    clients: shared_quota(clients),
                    addresses: shared_quota(addresses),
                }),
                // The URL was checked when the configuration was read.
                Err(e) => {
                    tracing::error!(error = %e, "REDIS_URL cannot be used; limiting in memory");
                    None
                }
            },
        };
        Some(Self {
            store: store.unwrap_or_else(|| Store::Memory {
                clients: Bucket::new(clients),
                addresses: Bucket::new(addresses),
            }),
            trusted_proxies: config.trusted_proxies.clone(),
        })
    }

    /// Counts one request against the client its headers and peer address name (its
    /// token, else its address) and, for a token, against its address's ceiling too.
    /// `None` when the shared store cannot say: the request goes ahead (fail open).
    pub async fn check_request(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Option<Allowance> {
        let address = self.address_key(headers, peer);
        match bearer_token(headers) {
            None => self.check(&address).await,
            Some(token) => {
                let token = ClientKey::Token(crate::auth::hash_token(token));
                let (allowance, ceiling) = match &self.store {
                    Store::Memory { clients, addresses } => {
                        let allowance = clients.check(&token);
                        if allowance.retry_after_secs.is_some() {
                            return Some(allowance);
                        }
                        (allowance, Some(addresses.check(&address)))
                    }
                    // One round trip for both: the script checks the ceiling only when
                    // the token's allowance lets the request go ahead.
                    Store::Redis {
                        limits,
                        clients,
                        addresses,
                    } => {
                        let mut checked = limits
                            .check_in_turn(&[
                                (&token.store_key("client"), *clients),
                                (&address.store_key("address"), *addresses),
                            ])
                            .await?
                            .into_iter();
                        (checked.next()?, checked.next())
                    }
                };
                Some(match ceiling {
                    Some(ceiling) if ceiling.retry_after_secs.is_some() => ceiling,
                    _ => allowance,
                })
            }
        }
    }

    /// Counts one request against `key` alone and says whether it may go ahead (`None`:
    /// the shared store cannot say).
    pub async fn check(&self, key: &ClientKey) -> Option<Allowance> {
        match &self.store {
            Store::Memory { clients, .. } => Some(clients.check(key)),
            Store::Redis {
                limits, clients, ..
            } => limits.check(&key.store_key("client"), *clients).await,
        }
    }

    /// Drops the state of clients whose allowance is full again (Redis expires its keys
    /// by itself).
    pub fn prune(&self) {
        if let Store::Memory { clients, addresses } = &self.store {
            clients.prune();
            addresses.prune();
        }
    }

    /// Forgets replenished clients every [`PRUNE_INTERVAL`] until `shutdown` fires.
    pub async fn prune_until(
        self: std::sync::Arc<Self>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut every = tokio::time::interval(PRUNE_INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => self.prune(),
                _ = shutdown.wait_for(|stopping| *stopping) => return,
            }
        }
    }

    /// How many clients this instance is tracking right now (0 with Redis).
    pub fn tracked_clients(&self) -> usize {
        match &self.store {
            Store::Memory { clients, .. } => clients.limiter.len(),
            Store::Redis { .. } => 0,
        }
    }

    /// The key for a request with these headers from this peer (`None`: unknown peer).
    pub fn key_for(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> ClientKey {
        match bearer_token(headers) {
            Some(token) => ClientKey::Token(crate::auth::hash_token(token)),
            None => self.address_key(headers, peer),
        }
    }

    /// The address key of a request, whether or not it carries a token.
    fn address_key(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> ClientKey {
        let address = client_address(headers, peer, &self.trusted_proxies);
        ClientKey::Address(match address {
            IpAddr::V6(v6) => IpNet::new(IpAddr::V6(v6), 64)
                .map(|net| net.network())
                .unwrap_or(address),
            v4 => v4,
        })
    }
}

impl ClientKey {
    /// The Redis key of this client in `bucket`.
    fn store_key(&self, bucket: &str) -> String {
        match self {
            Self::Token(hash) => {
                let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
                format!("industry-events:rate:{bucket}:token:{hex}")
            }
            Self::Address(ip) => format!("industry-events:rate:{bucket}:address:{ip}"),
        }
    }
}

/// A governor quota as the shared store takes it.
fn shared_quota(quota: Quota) -> redis_limit::Quota {
    redis_limit::Quota {
        interval: quota.replenish_interval(),
        burst: quota.burst_size().get(),
    }
}

impl Bucket {
    fn new(quota: Quota) -> Self {
        Self {
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            quota,
        }
    }

    fn check(&self, key: &ClientKey) -> Allowance {
        let burst = self.quota.burst_size().get();
        let interval = self.quota.replenish_interval();
        match self.limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity().min(burst);
                Allowance {
                    limit: burst,
                    remaining,
                    reset_secs: ceil_secs(interval.saturating_mul(burst - remaining)),
                    retry_after_secs: None,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                let refill = interval.saturating_mul(burst.saturating_sub(1));
                Allowance {
                    limit: burst,
                    remaining: 0,
                    reset_secs: ceil_secs(wait.saturating_add(refill)),
                    // Never "retry in 0 s": that invites a tight loop of refusals.
                    retry_after_secs: Some(ceil_secs(wait).max(1)),
                }
            }
        }
    }

    fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

impl Allowance {
    /// Writes the `RateLimit-*` headers.
    fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert(RATELIMIT_LIMIT, HeaderValue::from(self.limit));
        headers.insert(RATELIMIT_REMAINING, HeaderValue::from(self.remaining));
        headers.insert(RATELIMIT_RESET, HeaderValue::from(self.reset_secs));
    }
}

/// The middleware: counts the request against its client, answers 429 when the client
/// is over its allowance, and adds the `RateLimit-*` headers either way.
pub async fn limit(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let Some(limiter) = app.rate_limiter.as_deref() else {
        return next.run(req).await;
    };
    if EXEMPT_PATHS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let Some(allowance) = limiter.check_request(req.headers(), peer).await else {
        // The shared store cannot say: fail open, without headers that would guess.
        return next.run(req).await;
    };
    let mut response = match allowance.retry_after_secs {
        None => next.run(req).await,
        Some(retry_after_secs) => {
            tracing::debug!(retry_after_secs, "rate limited");
            ApiError::RateLimited { retry_after_secs }.into_response()
        }
    };
    allowance.write_headers(response.headers_mut());
    response
}

/// Whole seconds, rounded up, so a client that waits that long is never refused again.
pub(super) fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn limiter(rps: u32, burst: u32) -> ClientRateLimiter {
        let mut config = ServeConfig::defaults();
        config.rate_limit_rps = rps;
        config.rate_limit_burst = burst;
        ClientRateLimiter::from_config(&config).unwrap()
    }

    #[test]
    fn keys_hash_tokens_and_group_ipv6_by_64() {
        let limiter = limiter(1, 1);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret"),
        );
        assert_eq!(
            limiter.key_for(&headers, None),
            ClientKey::Token(crate::auth::hash_token("s3cret"))
        );
        assert_eq!(
            limiter.key_for(&HeaderMap::new(), Some(ip("2001:db8:1:2:aaaa::1"))),
            limiter.key_for(&HeaderMap::new(), Some(ip("2001:db8:1:2:bbbb::2")))
        );
        assert_ne!(
            limiter.key_for(&HeaderMap::new(), Some(ip("192.0.2.1"))),
            limiter.key_for(&HeaderMap::new(), Some(ip("192.0.2.2")))
        );
    }

    #[tokio::test]
    async fn a_burst_then_a_refusal_with_honest_numbers() {
        let limiter = limiter(1, 3);
        let key = ClientKey::Address(ip("192.0.2.1"));
        let mut remaining = Vec::new();
        for _ in 0..3 {
            remaining.push(limiter.check(&key).await.unwrap().remaining);
        }
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limiter.check(&key).await.unwrap();
        assert_eq!(refused.retry_after_secs, Some(1));
        assert_eq!((refused.limit, refused.remaining), (3, 0));
        assert!((1..=3).contains(&refused.reset_secs), "{refused:?}");
        assert!(
            limiter
                .check(&ClientKey::Address(ip("192.0.2.2")))
                .await
                .unwrap()
                .retry_after_secs
                .is_none()
        );
    }

    #[test]
    fn zero_rps_turns_limiting_off() {
        let mut config = ServeConfig::defaults();
        config.rate_limit_rps = 0;
        assert!(ClientRateLimiter::from_config(&config).is_none());
    }

    #[tokio::test]
    async fn pruning_forgets_only_replenished_clients() {
        let limiter = limiter(1_000_000, 1);
        for i in 0..10u8 {
            limiter
                .check(&ClientKey::Address(IpAddr::from([192, 0, 2, i])))
                .await;
        }
        assert_eq!(limiter.tracked_clients(), 10);
        std::thread::sleep(Duration::from_millis(5));
        limiter.prune();
        assert_eq!(limiter.tracked_clients(), 0);
    }
}
