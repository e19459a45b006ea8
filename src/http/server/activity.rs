//! What a connection is doing, for its timeouts: when bytes last moved, whether a
//! request is in flight, and when the head of the next request began to arrive.
//!
//! hyper's own `header_read_timeout` starts when a connection becomes idle, not at the
//! first byte of a head, so with it an idle keep-alive connection would be closed
//! after the header timeout (10 s) instead of the idle timeout (60 s); and hyper has no
//! idle timeout. So the connection's stream is wrapped to watch its bytes, and a
//! watchdog per connection closes it when either deadline passes.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Why a connection was closed by its watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// A request's head did not arrive in time.
    HeaderTimeout,
    /// Nothing happened for too long.
    Idle,
}

impl Expired {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HeaderTimeout => "header_timeout",
            Self::Idle => "idle_timeout",
        }
    }
}

/// One connection's activity, shared by its stream, its service and its watchdog.
pub struct Activity {
    epoch: Instant,
    /// Milliseconds after `epoch` when bytes last moved or a request ended.
    last_io_ms: AtomicU64,
    /// Requests whose answer has not been sent in full.
    in_flight: AtomicUsize,
    /// Milliseconds after `epoch` (plus one, so 0 means none) when the first byte of
    /// the head now arriving came.
    head_started_ms: AtomicU64,
    /// Wakes the watchdog when a head starts, so its deadline moves earlier.
    head_began: Notify,
}

impl Activity {
    /// A connection accepted now.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            last_io_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            head_started_ms: AtomicU64::new(0),
            head_began: Notify::new(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms)
    }

    fn bytes_read(&self) {
        let now = self.now_ms();
        self.last_io_ms.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0
            && self
                .head_started_ms
                .compare_exchange(0, now + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.head_began.notify_one();
        }
    }

    fn bytes_written(&self) {
        self.last_io_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// A request's head has arrived: it is in flight until the guard is dropped (after
    /// its answer's last byte is handed over).
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started_ms.store(0, Ordering::Release);
        InFlight(Arc::clone(self))
    }

    /// Waits until the connection has been idle or has been reading one head for too
    /// long, and says which.
    pub async fn expired(&self, header_timeout: Duration, idle_timeout: Duration) -> Expired {
        loop {
            let head = self.head_started_ms.load(Ordering::Acquire);
            let (deadline, reason) = if head != 0 {
                (self.at(head - 1) + header_timeout, Expired::HeaderTimeout)
            } else if self.in_flight.load(Ordering::Acquire) == 0 {
                let last = self.last_io_ms.load(Ordering::Relaxed);
                (self.at(last) + idle_timeout, Expired::Idle)
            } else {
                // A request in flight is not idle; look again later.
                (Instant::now() + idle_timeout, Expired::Idle)
            };
            if Instant::now() >= deadline {
                return reason;
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                () = self.head_began.notified() => {}
            }
        }
    }
}

/// A request in flight on a connection; dropping it ends the request.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.bytes_written();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A stream that reports its traffic to an [`Activity`].
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.bytes_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.bytes_written();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.bytes_written();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_expires_after_the_idle_timeout() {
        let activity = Activity::new();
        let started = Instant::now();
        let reason = activity
            .expired(Duration::from_secs(10), Duration::from_secs(60))
            .await;
        assert_eq!(reason, Expired::Idle);
        assert_eq!(started.elapsed().as_secs(), 60);
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickling_head_expires_after_the_header_timeout_from_its_first_byte() {
        let activity = Activity::new();
        tokio::time::sleep(Duration::from_secs(30)).await;
        activity.bytes_read();
        let started = Instant::now();
        let watcher = {
            let activity = Arc::clone(&activity);
            tokio::spawn(async move {
                activity
                    .expired(Duration::from_secs(10), Duration::from_secs(60))
                    .await
            })
        };
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            activity.bytes_read();
        }
        assert_eq!(watcher.await.unwrap(), Expired::HeaderTimeout);
        assert_eq!(started.elapsed().as_secs(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_is_never_idle_and_its_end_restarts_the_clock() {
        let activity = Activity::new();
        activity.bytes_read();
        let request = activity.request_started();
        let watcher = {
            let activity = Arc::clone(&activity);
            tokio::spawn(async move {
                activity
                    .expired(Duration::from_secs(10), Duration::from_secs(60))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_secs(200)).await;
        assert!(!watcher.is_finished());
        let ended = Instant::now();
        drop(request);
        assert_eq!(watcher.await.unwrap(), Expired::Idle);
        let waited = ended.elapsed().as_secs();
        assert!((60..=120).contains(&waited), "{waited}");
    }
}
