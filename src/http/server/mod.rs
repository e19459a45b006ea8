//! Serving HTTP/1.1 on a listener: the accept loop, connection caps and timeouts, and
//! the graceful drain.
//!
//! Hand-written on hyper rather than `axum::serve`, which has no header-read timeout,
//! no idle timeout and no connection caps: with it, thousands of connections that
//! trickle a header line every few seconds held the server's file descriptors until
//! nobody else could connect. Here every connection has a watchdog ([`activity`]), and
//! [`limits`] caps how many are open.

pub mod activity;
pub mod limits;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use axum::response::IntoResponse;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tower::ServiceExt;

use crate::config::ServeConfig;
use crate::error::ApiError;
use activity::{Activity, InFlight, Watched};
use limits::{Admission, ConnectionLimits, ConnectionPermit, Lane};

/// How long a shutdown waits for connections to finish their requests.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(25);

/// Paths the reserve lane answers: what an orchestrator or a scraper must always reach.
const RESERVE_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// How connections are treated.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionSettings {
    /// `HEADER_READ_TIMEOUT_SECS`.
    pub header_read_timeout: Duration,
    /// `IDLE_TIMEOUT_SECS`.
    pub idle_timeout: Duration,
}

impl ConnectionSettings {
    /// The settings `config` asks for.
    pub fn from_config(config: &ServeConfig) -> Self {
        Self {
            header_read_timeout: config.header_read_timeout(),
            idle_timeout: config.idle_timeout(),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` turns true, then stops accepting,
/// asks every connection to finish its request in flight and close, and waits for
/// them (at most [`DRAIN_TIMEOUT`]).
pub async fn run(
    listener: TcpListener,
    router: Router,
    config: &ServeConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let settings = ConnectionSettings::from_config(config);
    warn_if_descriptors_are_short(config.max_connections);
    let limits = ConnectionLimits::new(
        usize::try_from(config.max_connections).unwrap_or(usize::MAX),
        usize::try_from(config.max_connections_per_ip).unwrap_or(usize::MAX),
        config.trusted_proxies.clone(),
    );
    // Every connection task holds a sender; when all are gone, the drain is over.
    let (alive, mut all_closed) = mpsc::channel::<Infallible>(1);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            },
            _ = shutdown.wait_for(|stopping| *stopping) => break,
        };
        let permit = match limits.admit(peer.ip()) {
            Admission::Admit(permit) => permit,
            Admission::Refuse => continue,
        };
        let connection = Connection {
            router: router.clone(),
            peer,
            settings,
            permit,
            shutdown: shutdown.clone(),
        };
        let alive = alive.clone();
        tokio::spawn(async move {
            connection.serve(stream).await;
            drop(alive);
        });
    }
    drop(listener);
    drop(alive);
    if tokio::time::timeout(DRAIN_TIMEOUT, all_closed.recv())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain timeout; closing them");
    }
}

/// Says so at start-up when the process may not open as many files as the connection
/// cap allows (plus the reserve, the pools and some slack): the cap would then not be
/// what protects the server, running out of descriptors would.
fn warn_if_descriptors_are_short(max_connections: u64) {
    let Some(limit) = open_files_limit() else {
        return;
    };
    let needed = max_connections + limits::RESERVE_CONNECTIONS as u64 + 256;
    if limit < needed {
        tracing::warn!(
            open_files_limit = limit,
            max_connections,
            "the process may open fewer files than MAX_CONNECTIONS needs; raise `ulimit -n` \
             or lower MAX_CONNECTIONS"
        );
    }
}

/// The soft limit on open files, from `/proc/self/limits` (Linux); `None` elsewhere or
/// when unlimited.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// An accept error is the listener's (out of file descriptors, say), not a client's:
/// wait a little so the loop does not spin, and say so.
async fn accept_failed(error: &std::io::Error) {
    tracing::warn!(%error, "accepting a connection failed");
    metrics::counter!("connections_accept_errors_total").increment(1);
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// One accepted connection and what it needs.
struct Connection {
    router: Router,
    peer: SocketAddr,
    settings: ConnectionSettings,
    permit: ConnectionPermit,
    shutdown: watch::Receiver<bool>,
}

impl Connection {
    async fn serve(mut self, stream: TcpStream) {
        // Small answers go out at once rather than waiting for more to send.
        let _ = stream.set_nodelay(true);
        let activity = Activity::new();
        let io = TokioIo::new(Watched::new(stream, Arc::clone(&activity)));
        let lane = self.permit.lane();
        let service = hyper::service::service_fn({
            let (router, peer, activity) = (self.router.clone(), self.peer, Arc::clone(&activity));
            move |req: Request<Incoming>| {
                let request = activity.request_started();
                answer(router.clone(), peer, lane, req, request)
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            // The watchdog below times heads from their first byte instead.
            .header_read_timeout(None)
            .keep_alive(lane == Lane::Full);
        let connection = builder.serve_connection(io, service);
        tokio::pin!(connection);
        let (header_timeout, idle_timeout) = match lane {
            Lane::Full => (
                self.settings.header_read_timeout,
                self.settings.idle_timeout,
            ),
            // One answer, soon: a reserve place is not for holding.
            Lane::Reserve => {
                let short = self
                    .settings
                    .header_read_timeout
                    .min(Duration::from_secs(2));
                (short, short)
            }
        };
        let expired = activity.expired(header_timeout, idle_timeout);
        tokio::pin!(expired);
        let mut draining = false;
        loop {
            tokio::select! {
                _ = connection.as_mut() => break,
                reason = &mut expired => {
                    metrics::counter!("connections_closed_total", "reason" => reason.as_str()).increment(1);
                    break;
                }
                _ = self.shutdown.wait_for(|stopping| *stopping), if !draining => {
                    connection.as_mut().graceful_shutdown();
                    draining = true;
                }
            }
        }
    }
}

/// Answers one request: through the router, or, on the reserve lane, only for the
/// paths that must always answer.
async fn answer(
    router: Router,
    peer: SocketAddr,
    lane: Lane,
    mut req: Request<Incoming>,
    request: InFlight,
) -> Result<Response<TrackedBody>, Infallible> {
    req.extensions_mut().insert(ConnectInfo(peer));
    let response = if lane == Lane::Reserve && !RESERVE_PATHS.contains(&req.uri().path()) {
        ApiError::TooManyConnections.into_response()
    } else {
        match router.oneshot(req.map(Body::new)).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    };
    Ok(response.map(|body| TrackedBody {
        body,
        _request: request,
    }))
}

/// A response body that keeps its request in flight until it is sent or dropped, so
/// a connection streaming an answer is never taken for idle.
pub struct TrackedBody {
    body: Body,
    _request: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_files_limit_is_read_where_linux_reports_it() {
        if std::path::Path::new("/proc/self/limits").exists() {
            assert!(open_files_limit().is_some_and(|n| n > 0));
        }
    }
}
