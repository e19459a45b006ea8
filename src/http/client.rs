//! Who a request comes from: its bearer token and its client address (through
//! trusted proxies), as the rate limiter, the connection limits and authentication
//! read them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::http::{HeaderMap, header};
use ipnet::IpNet;

/// The token of an `Authorization: Bearer <token>` header, if the request has one
/// (unverified: the caller decides what it is worth).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
}

/// The address a request comes from.
///
/// The peer address, unless the peer is a trusted proxy: then `X-Forwarded-For` is read
/// from the right (each proxy appends the address it saw) and the first address that is
/// not itself a trusted proxy is the client. Anything left of it could be forged by the
/// client, so it is never believed. Without a known peer (a router driven in-process),
/// every request counts as one local client.
pub fn client_address(headers: &HeaderMap, peer: Option<IpAddr>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut address = peer.map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |ip| ip.to_canonical());
    if !is_trusted(&address) {
        return address;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.into_iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // A hop we cannot read: stop at the last address we could vouch for.
            break;
        };
        address = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    address
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5`,
/// `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn xff(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = [net("10.0.0.0/8")];
        let headers = xff("203.0.113.9, 10.1.1.1");
        // The peer is not a proxy we trust: its header is ignored.
        assert_eq!(
            client_address(&headers, Some(ip("198.51.100.1")), &trusted),
            ip("198.51.100.1")
        );
        // From a trusted proxy: the right-most untrusted hop.
        assert_eq!(
            client_address(&headers, Some(ip("10.2.2.2")), &trusted),
            ip("203.0.113.9")
        );
        // A client that forges hops left of its real address gains nothing.
        let forged = xff("1.1.1.1, 203.0.113.9");
        assert_eq!(
            client_address(&forged, Some(ip("10.2.2.2")), &trusted),
            ip("203.0.113.9")
        );
        // Nothing trusted configured: the peer, whatever the header says.
        assert_eq!(
            client_address(&headers, Some(ip("10.2.2.2")), &[]),
            ip("10.2.2.2")
        );
    }

    #[test]
    fn odd_forwarded_for_values_fall_back_safely() {
        let trusted = [net("10.0.0.0/8")];
        let peer = Some(ip("10.0.0.1"));
        assert_eq!(
            client_address(&xff("garbage"), peer, &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_address(&xff("203.0.113.9:4444"), peer, &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(&xff("[2001:db8::1]:80"), peer, &trusted),
            ip("2001:db8::1")
        );
        // Every hop trusted: the left-most one.
        assert_eq!(
            client_address(&xff("10.9.9.9, 10.8.8.8"), peer, &trusted),
            ip("10.9.9.9")
        );
        // No header at all: the proxy itself.
        assert_eq!(
            client_address(&HeaderMap::new(), peer, &trusted),
            ip("10.0.0.1")
        );
        // An IPv4-mapped IPv6 peer is the IPv4 address.
        assert_eq!(
            client_address(&HeaderMap::new(), Some(ip("::ffff:10.0.0.1")), &[]),
            ip("10.0.0.1")
        );
        // No peer known: one shared local key.
        assert_eq!(
            client_address(&HeaderMap::new(), None, &trusted),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively_and_blank_ones_are_none() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert_eq!(bearer_token(&with("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&with("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(&with("Basic abc")), None);
        assert_eq!(bearer_token(&with("Bearer ")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
