//! Where a webhook may connect. Every address a URL's host names must pass the
//! [`AddressPolicy`], at registration and again at each attempt; the HTTP client
//! resolves names only through [`GuardedDns`], so the connection goes to an address
//! that was checked (a name that answered a public address at registration and
//! answers loopback now is refused now).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use url::{Host, Url};

use crate::model::webhook::address::AddressPolicy;

/// What every refusal of an address says (the delivery log finds it by this).
pub const REFUSED: &str = "leads to an address webhooks may not reach";

/// How long a name may take to resolve.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Looks up the addresses of a name. The service uses the system's resolver; tests
/// supply one that answers what they need.
pub trait Resolver: Send + Sync + 'static {
    /// The addresses `host` resolves to.
    fn lookup(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<Vec<IpAddr>>>;
}

/// The system's resolver (`getaddrinfo`, through tokio).
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), port))
                .await?
                .map(|address| address.ip())
                .collect())
        })
    }
}

/// The address rule and the resolver it checks names through.
#[derive(Clone)]
pub struct Guard {
    policy: AddressPolicy,
    resolver: Arc<dyn Resolver>,
}

impl Guard {
    /// A guard applying `policy` to what `resolver` answers.
    pub fn new(policy: AddressPolicy, resolver: Arc<dyn Resolver>) -> Self {
        Self { policy, resolver }
    }

    /// Checks every address `url`'s host stands for; `Err` says why one is refused (or
    /// why the name could not be resolved).
    pub async fn check_url(&self, url: &Url) -> Result<Vec<IpAddr>, String> {
        let port = url.port_or_known_default().unwrap_or(443);
        match url.host() {
            None => Err("the URL has no host".into()),
            Some(Host::Ipv4(ip)) => self
                .check(&[IpAddr::V4(ip)])
                .map_err(|why| format!("the host {why}")),
            Some(Host::Ipv6(ip)) => self
                .check(&[IpAddr::V6(ip)])
                .map_err(|why| format!("the host {why}")),
            Some(Host::Domain(name)) => self.check_name(name, port).await,
        }
    }

    /// Resolves `name` and checks every address.
    pub async fn check_name(&self, name: &str, port: u16) -> Result<Vec<IpAddr>, String> {
        let lookup = self.resolver.lookup(name.to_owned(), port);
        let addresses = match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
            Err(_) => {
                return Err(format!(
                    "`{name}` did not resolve within {LOOKUP_TIMEOUT:?}"
                ));
            }
            Ok(Err(e)) => return Err(format!("`{name}` could not be resolved ({e})")),
            Ok(Ok(addresses)) => addresses,
        };
        if addresses.is_empty() {
            return Err(format!("`{name}` resolves to no address"));
        }
        self.check(&addresses)
            .map_err(|why| format!("the name `{name}` {why}"))
    }

    fn check(&self, addresses: &[IpAddr]) -> Result<Vec<IpAddr>, String> {
        for ip in addresses {
            self.policy
                .check(*ip)
                .map_err(|why| format!("{REFUSED}: {why}"))?;
        }
        Ok(addresses.to_vec())
    }
}

/// The HTTP client's name resolution: through the [`Guard`], all or nothing.
pub struct GuardedDns(pub Guard);

impl reqwest::dns::Resolve for GuardedDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0.clone();
        Box::pin(async move {
            // The port is the URL's (reqwest sets it on what we return).
            let addresses = guard
                .check_name(name.as_str(), 0)
                .await
                .map_err(|why| Box::new(io::Error::new(io::ErrorKind::PermissionDenied, why)))?;
            let addresses: reqwest::dns::Addrs = Box::new(
                addresses
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            Ok(addresses)
        })
    }
}
