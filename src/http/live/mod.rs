//! Live updates: event streams and long polls, woken when events change on any
//! instance of the service.
//!
//! Each server runs three tasks, started with the first stream, long poll or write:
//!
//! - the *hub* ([`hub`]) holds every open stream of this server. Woken, it reads the
//!   changes that any stream's position has not seen, in one statement, and hands each
//!   stream the messages its filters and position call for;
//! - the *listener* ([`signal::listen`]) holds one connection that `LISTEN`s for other
//!   instances' writes, reconnecting by itself;
//! - the *notifier* ([`signal::notify`]) sends one `NOTIFY` after this server's writes,
//!   coalescing bursts.
//!
//! A write wakes its own server's hub at once. Missed notifications (a listener
//! reconnecting, a write made outside the service) are caught up by a periodic wake
//! (`STREAM_CATCH_UP_SECS`): a message is delayed, never lost, since what is sent is decided by
//! positions, not by notifications.

pub mod hub;
mod signal;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{Notify, OnceCell, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;
use uuid::Uuid;

use crate::error::ApiError;
use crate::model::position::Position;
use crate::repo;

pub use hub::{Frame, Subscriber};
pub use signal::announce_outside_write;

/// The channel instances notify each other on.
const CHANNEL: &str = "industry_events_changed";

/// What the live tasks of one server share.
pub struct Live {
    db: PgPool,
    /// How often the hub and the long polls look for changes even when nothing told
    /// them to: the bound on how late a lost notification makes a message.
    catch_up: Duration,
    /// The most changes one read hands over (`STREAM_MAX_REPLAY`).
    max_batch: usize,
    /// This server, in its notifications (it ignores its own).
    instance: Uuid,
    origin: OnceCell<String>,
    /// Wakes the hub.
    wake: Notify,
    /// Asks the notifier to tell the other instances.
    tell_others: Notify,
    /// Goes up whenever events may have changed: long polls wait on it.
    changed: watch::Sender<u64>,
    /// Streams waiting for the hub to take them in.
    joining: Mutex<Vec<Subscriber>>,
    /// Streams open on this server.
    open_streams: Arc<AtomicUsize>,
    stopping: watch::Sender<bool>,
    started: OnceLock<()>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Live {
    /// The live side of a server on `db`, looking for changes at least every
    /// `catch_up` and replaying at most `max_batch` changes; its tasks start when first
    /// needed.
    pub fn new(db: PgPool, catch_up: Duration, max_batch: usize) -> Self {
        Self {
            db,
            catch_up,
            max_batch,
            instance: Uuid::new_v4(),
            origin: OnceCell::new(),
            wake: Notify::new(),
            tell_others: Notify::new(),
            changed: watch::Sender::new(0),
            joining: Mutex::new(Vec::new()),
            open_streams: Arc::new(AtomicUsize::new(0)),
            stopping: watch::Sender::new(false),
            started: OnceLock::new(),
            tasks: Mutex::new(Vec::new()),
        }
    }

    /// The origin of this database's positions, read once.
    pub async fn origin(&self) -> Result<&str, ApiError> {
        self.origin
            .get_or_try_init(|| repo::positions::origin(&self.db))
            .await
            .map(String::as_str)
    }

    /// A position at the current snapshot: what a stream without one starts from.
    pub async fn now(&self) -> Result<Position, ApiError> {
        let origin = self.origin().await?;
        Ok(Position::at(
            origin,
            repo::positions::current(&self.db).await?,
        ))
    }

    /// Says that this server committed a write: its streams and long polls look now,
    /// and the other instances are told.
    pub fn wrote(self: &Arc<Self>) {
        self.start();
        self.wake_local();
        self.tell_others.notify_one();
    }

    /// A receiver that changes whenever events may have changed (for long polls).
    pub fn watch_changes(self: &Arc<Self>) -> watch::Receiver<u64> {
        self.start();
        self.changed.subscribe()
    }

    /// Reserves a place for one more stream, if `max` allows it; the place is freed
    /// when the returned guard is dropped.
    pub fn reserve_stream(&self, max: u32) -> Result<StreamPlace, ApiError> {
        let max_usize = usize::try_from(max).unwrap_or(usize::MAX);
        let taken = self
            .open_streams
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max_usize).then_some(n + 1)
            });
        match taken {
            Ok(_) => {
                metrics::gauge!("event_streams_open").increment(1.0);
                Ok(StreamPlace(Arc::clone(&self.open_streams)))
            }
            Err(_) => Err(ApiError::TooManyStreams { max }),
        }
    }

    /// Hands a stream to the hub, which replays what its position has not seen and
    /// then keeps it live.
    pub fn join(self: &Arc<Self>, subscriber: Subscriber) {
        self.start();
        self.joining
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(subscriber);
        self.wake.notify_one();
    }

    /// Whether the server is shutting down.
    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// A receiver that turns true when the server starts shutting down (streams end
    /// with a `retry:` hint).
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Ends every stream and stops the tasks; waits for them.
    pub async fn stop(&self) {
        self.stopping.send_replace(true);
        let tasks: Vec<JoinHandle<()>> = std::mem::take(
            &mut *self
                .tasks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for task in tasks {
            let _ = task.await;
        }
    }

    fn wake_local(&self) {
        self.wake.notify_one();
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Starts the tasks once (inside the server's runtime).
    fn start(self: &Arc<Self>) {
        if self.is_stopping() {
            return;
        }
        self.started.get_or_init(|| {
            // Their own span, outside any request's: what they log and run is theirs.
            let span = || tracing::info_span!(parent: None, "live");
            let tasks = vec![
                tokio::spawn(hub::run(Arc::clone(self)).instrument(span())),
                tokio::spawn(signal::listen(Arc::clone(self)).instrument(span())),
                tokio::spawn(signal::notify(Arc::clone(self)).instrument(span())),
            ];
            *self
                .tasks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = tasks;
        });
    }

    fn take_joining(&self) -> Vec<Subscriber> {
        std::mem::take(
            &mut *self
                .joining
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// A stream's place under `MAX_STREAMS`, given back when dropped.
pub struct StreamPlace(Arc<AtomicUsize>);

impl Drop for StreamPlace {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
        metrics::gauge!("event_streams_open").decrement(1.0);
    }
}

/// A channel for one stream's frames: bounded, so a client that does not read cannot
/// make the server hold an unbounded backlog (the hub drops it instead, and the client
/// resumes from its last id).
pub fn stream_channel() -> (mpsc::Sender<Frame>, mpsc::Receiver<Frame>) {
    mpsc::channel(hub::STREAM_BACKLOG)
}
