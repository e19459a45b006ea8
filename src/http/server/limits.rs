//! How many connections may be open: in all, and from one address.
//!
//! A connection over either cap is not dropped at once: a small reserve of
//! connections answers health, readiness and metrics (an orchestrator probing a busy
//! instance must not conclude it is dead) and a 503 to anything else, each on a
//! connection that closes after one answer. Only when the reserve is full too is a
//! connection closed unanswered.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ipnet::IpNet;

/// Connections beyond the caps that may still be answered (health, or a 503).
pub const RESERVE_CONNECTIONS: usize = 64;

/// The caps and the connections open now.
pub struct ConnectionLimits {
    max_total: usize,
    max_per_ip: usize,
    exempt: Vec<IpNet>,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    reserve: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Which kind of service a connection gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Everything, with keep-alive.
    Full,
    /// Health, readiness and metrics; a 503 for anything else; one answer.
    Reserve,
}

/// What the limits say about a new connection.
pub enum Admission {
    /// Serve it in this lane; the permit frees its place when dropped.
    Admit(ConnectionPermit),
    /// Close it unanswered: the reserve is full too.
    Refuse,
}

/// A connection's place in the counts, given back when it is dropped.
pub struct ConnectionPermit {
    limits: Arc<ConnectionLimits>,
    lane: Lane,
    /// The address it counts against; `None` for an exempt address or the reserve.
    counted_ip: Option<IpAddr>,
}

impl ConnectionLimits {
    /// Limits of `max_total` connections, `max_per_ip` from one address, and no cap
    /// per address for `exempt` networks (trusted proxies).
    pub fn new(max_total: usize, max_per_ip: usize, exempt: Vec<IpNet>) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_ip,
            exempt,
            open: Mutex::default(),
        })
    }

    /// Decides where a new connection from `ip` goes, and counts it.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Admission {
        let ip = ip.to_canonical();
        let exempt = self.exempt.iter().any(|net| net.contains(&ip));
        let mut open = self.lock();
        let from_ip = open.per_ip.get(&ip).copied().unwrap_or(0);
        if open.total < self.max_total && (exempt || from_ip < self.max_per_ip) {
            open.total += 1;
            if !exempt {
                *open.per_ip.entry(ip).or_default() += 1;
            }
            publish(&open);
            return Admission::Admit(self.permit(Lane::Full, (!exempt).then_some(ip)));
        }
        if open.reserve < RESERVE_CONNECTIONS {
            open.reserve += 1;
            let reason = if open.total >= self.max_total {
                "total"
            } else {
                "per_ip"
            };
            metrics::counter!("connections_over_limit_total", "limit" => reason, "outcome" => "reserve")
                .increment(1);
            publish(&open);
            return Admission::Admit(self.permit(Lane::Reserve, None));
        }
        metrics::counter!("connections_over_limit_total", "limit" => "reserve", "outcome" => "closed")
            .increment(1);
        Admission::Refuse
    }

    /// Connections open now: `(full, reserve)`.
    #[cfg(test)]
    fn open(&self) -> (usize, usize) {
        let open = self.lock();
        (open.total, open.reserve)
    }

    fn permit(self: &Arc<Self>, lane: Lane, counted_ip: Option<IpAddr>) -> ConnectionPermit {
        ConnectionPermit {
            limits: Arc::clone(self),
            lane,
            counted_ip,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        // Counting cannot panic half-way; a poisoned lock still holds sound counts.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ConnectionPermit {
    /// The lane the connection was admitted to.
    pub fn lane(&self) -> Lane {
        self.lane
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut open = self.limits.lock();
        match self.lane {
            Lane::Reserve => open.reserve = open.reserve.saturating_sub(1),
            Lane::Full => open.total = open.total.saturating_sub(1),
        }
        if let Some(ip) = self.counted_ip
            && let Some(count) = open.per_ip.get_mut(&ip)
        {
            *count -= 1;
            if *count == 0 {
                open.per_ip.remove(&ip);
            }
        }
        publish(&open);
    }
}

/// Sets the `connections_open` gauges to the counts now.
fn publish(open: &Open) {
    metrics::gauge!("connections_open", "lane" => "full").set(open.total as f64);
    metrics::gauge!("connections_open", "lane" => "reserve").set(open.reserve as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn lane(admission: &Admission) -> Option<Lane> {
        match admission {
            Admission::Admit(permit) => Some(permit.lane()),
            Admission::Refuse => None,
        }
    }

    #[test]
    fn the_per_address_cap_sends_the_excess_to_the_reserve_and_others_are_served() {
        let limits = ConnectionLimits::new(100, 2, Vec::new());
        let a: Vec<Admission> = (0..3).map(|_| limits.admit(ip("192.0.2.1"))).collect();
        assert_eq!(
            a.iter().map(lane).collect::<Vec<_>>(),
            [Some(Lane::Full), Some(Lane::Full), Some(Lane::Reserve)]
        );
        assert_eq!(lane(&limits.admit(ip("192.0.2.2"))), Some(Lane::Full));
        drop(a);
        assert_eq!(limits.open(), (0, 0), "every place is given back");
        assert!(limits.lock().per_ip.is_empty());
    }

    #[test]
    fn the_total_cap_and_the_reserve_bound_everything_but_exempt_proxies_skip_the_address_cap() {
        let limits = ConnectionLimits::new(3, 1, vec!["10.0.0.0/8".parse().unwrap()]);
        let proxy: Vec<Admission> = (0..3).map(|_| limits.admit(ip("10.1.2.3"))).collect();
        assert!(proxy.iter().all(|a| lane(a) == Some(Lane::Full)));
        let over: Vec<Admission> = (0..RESERVE_CONNECTIONS)
            .map(|i| limits.admit(IpAddr::from([192, 0, 2, (i % 250) as u8])))
            .collect();
        assert!(over.iter().all(|a| lane(a) == Some(Lane::Reserve)));
        assert!(lane(&limits.admit(ip("198.51.100.1"))).is_none());
        drop(over);
        drop(proxy);
        assert_eq!(limits.open(), (0, 0));
    }
}
