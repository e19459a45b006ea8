//! Which addresses a webhook may be sent to: public ones, and those inside
//! `WEBHOOK_ALLOWED_NETWORKS`. An address is judged in its canonical form, so the
//! IPv4-mapped (`::ffff:127.0.0.1`), IPv4-compatible, NAT64 and 6to4 spellings of a
//! refused IPv4 address are refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The rule for where deliveries may connect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allowed: Vec<IpNet>,
}

impl AddressPolicy {
    /// Public addresses, plus any inside `allowed`.
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    /// `Ok` when a webhook may connect to `ip`; else why not, in words.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        let canonical = ip.to_canonical();
        if self
            .allowed
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&canonical))
        {
            return Ok(());
        }
        match not_public(ip) {
            None => Ok(()),
            Some(kind) => Err(format!("{ip} is {kind} address")),
        }
    }
}

/// Why `ip` is not a public address (`a loopback`), or `None` when it is public.
pub fn not_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => not_public_v4(v4),
        IpAddr::V6(v6) => not_public_v6(v6),
    }
}

fn not_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b) {
        (0, _) => "an unspecified (\"this network\")",
        (127, _) => "a loopback",
        (10, _) | (172, 16..=31) | (192, 168) => "a private",
        (169, 254) => "a link-local",
        (100, 64..=127) => "a shared (CGNAT)",
        (224..=239, _) => "a multicast",
        (240..=255, _) => "a reserved or broadcast",
        // IETF protocol assignments (192.0.0.0/24): not reachable hosts.
        (192, 0) if c == 0 => "a reserved",
        _ => return None,
    })
}

fn not_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("an unspecified");
    }
    if ip.is_loopback() {
        return Some("a loopback");
    }
    let segments = ip.segments();
    // Forms that carry an IPv4 address: judged by it.
    if let Some(v4) = embedded_v4(ip) {
        return not_public_v4(v4);
    }
    match segments[0] {
        s if s & 0xfe00 == 0xfc00 => Some("a unique-local"),
        s if s & 0xffc0 == 0xfe80 => Some("a link-local"),
        s if s & 0xffc0 == 0xfec0 => Some("a site-local"),
        s if s & 0xff00 == 0xff00 => Some("a multicast"),
        // Documentation (2001:db8::/32).
        0x2001 if segments[1] == 0x0db8 => Some("a documentation"),
        _ => None,
    }
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::`) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0; 6] {
        return Some(low());
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low());
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> bool {
        let ip: IpAddr = text.parse().unwrap_or_else(|_| panic!("{text}"));
        AddressPolicy::default().check(ip).is_err()
    }

    #[test]
    fn non_public_addresses_are_refused_in_every_spelling() {
        for text in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
        ] {
            assert!(refused(text), "{text} should be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for text in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!refused(text), "{text} should pass");
        }
    }

    #[test]
    fn allowed_networks_let_an_address_through_in_any_spelling() {
        let policy = AddressPolicy::new(vec!["127.0.0.0/8".parse().expect("cidr")]);
        assert!(policy.check("127.0.0.1".parse().expect("ip")).is_ok());
        assert!(
            policy
                .check("::ffff:127.0.0.1".parse().expect("ip"))
                .is_ok()
        );
        assert!(policy.check("10.0.0.1".parse().expect("ip")).is_err());
        let message = policy.check("10.0.0.1".parse().expect("ip")).unwrap_err();
        assert_eq!(message, "10.0.0.1 is a private address");
    }
}
