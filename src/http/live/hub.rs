//! The hub: one task per server that holds its open streams and hands each the
//! messages its filters and position call for.
//!
//! Each wake-up reads, in one statement, every change that some stream's position
//! has not seen (see [`repo::events::changes`]); after it, every stream is at the same
//! position, so a wake-up usually has one position to serve, plus those of streams that
//! joined since (whose replay this is). The database work of a wake-up grows with the
//! number of distinct full-text queries, not with the number of streams.

use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::Event as SseEvent;
use serde::Serialize;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::Live;
use crate::error::{ApiError, cause_chain};
use crate::model::list::matching::FilterFacts;
use crate::model::position::Position;
use crate::model::{EventFilter, EventListItem, Tombstone};
use crate::repo;
use crate::repo::events::changes::{Change, Changes};

/// One frame of a stream.
pub type Frame = SseEvent;

/// How many frames a stream may have waiting for its client before the hub gives up
/// on it (it then resumes from its last id).
pub const STREAM_BACKLOG: usize = 1024;

/// One open stream, as the hub keeps it.
pub struct Subscriber {
    /// Its filters.
    pub filter: EventFilter,
    /// `filter.companies`, resolved.
    pub company_ids: Vec<Uuid>,
    /// What it has been handed so far.
    pub position: Position,
    /// Where its frames go.
    pub frames: mpsc::Sender<Frame>,
}

/// The kind of a stream message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// The event was created (after the stream's position) and matches.
    Created,
    /// The event matches and changed (or came into the filter).
    Updated,
    /// The event was deleted, or left the filter.
    Deleted,
}

impl MessageKind {
    /// The SSE `event:` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
        }
    }
}

/// The `event: reset` data.
#[derive(Serialize)]
struct Reset<'a> {
    reason: &'a str,
}

/// A `reset` frame: the stream goes on from `now`, and the client should reload.
pub fn reset_frame(now: &Position, reason: &str) -> Frame {
    let data = serde_json::to_string(&Reset { reason }).unwrap_or_else(|_| "{}".to_owned());
    SseEvent::default()
        .id(now.to_string())
        .event("reset")
        .data(data)
}

/// Runs the hub until the server stops.
pub async fn run(live: Arc<Live>) {
    let mut stopping = live.stopping();
    let mut subscribers: Vec<Subscriber> = Vec::new();
    let mut catch_up = tokio::time::interval(live.catch_up);
    catch_up.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopping.wait_for(|stop| *stop) => return,
            () = live.wake.notified() => {}
            _ = catch_up.tick() => {
                // Long polls look again too: a notification may have been lost.
                live.changed.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
        subscribers.extend(live.take_joining());
        subscribers.retain(|s| !s.frames.is_closed());
        metrics::gauge!("event_stream_hub_streams").set(subscribers.len() as f64);
        if subscribers.is_empty() {
            continue;
        }
        if let Err(error) = deliver(&live, &mut subscribers).await {
            tracing::warn!(error = %cause_chain(&error), "could not read changes for streams; retrying");
            tokio::select! {
                _ = stopping.wait_for(|stop| *stop) => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => live.wake.notify_one(),
            }
        }
    }
}

/// One wake-up: reads what the streams have not seen and hands it over.
async fn deliver(live: &Live, subscribers: &mut Vec<Subscriber>) -> Result<(), ApiError> {
    let origin = live.origin().await?.to_owned();
    let mut positions: Vec<Position> = Vec::new();
    let mut queries: Vec<String> = Vec::new();
    for s in subscribers.iter() {
        if !positions.contains(&s.position) {
            positions.push(s.position.clone());
        }
        if let Some(q) = &s.filter.q
            && !queries.contains(q)
        {
            queries.push(q.clone());
        }
    }
    let all: Vec<&Position> = positions.iter().collect();
    let changes = read(live, &all, &queries).await?;
    if !changes.overflow || positions.len() == 1 {
        hand_over_all(subscribers, &changes, &queries, &origin, |_| true);
        return Ok(());
    }
    // Too much for one batch: find whose replay it is (a stream resuming from long
    // ago), so that only its streams are reset, not every stream of the server.
    for position in &positions {
        let changes = read(live, &[position], &queries).await?;
        hand_over_all(subscribers, &changes, &queries, &origin, |s| {
            s.position == *position
        });
    }
    Ok(())
}

/// One read of the changes `positions` have not seen.
async fn read(
    live: &Live,
    positions: &[&Position],
    queries: &[String],
) -> Result<Changes, ApiError> {
    let changes =
        repo::events::changes::since(&live.db, positions, queries, live.max_batch).await?;
    metrics::counter!("event_stream_change_reads_total").increment(1);
    Ok(changes)
}

/// Hands `changes` to the subscribers `which` picks, moving each to the batch's end;
/// lets go of those that cannot keep up.
fn hand_over_all(
    subscribers: &mut Vec<Subscriber>,
    changes: &Changes,
    queries: &[String],
    origin: &str,
    which: impl Fn(&Subscriber) -> bool,
) {
    let end = Position::at(origin, changes.snapshot.clone());
    let mut rendered = Rendered::new(changes.changes.len());
    subscribers.retain_mut(|subscriber| {
        if !which(subscriber) {
            return true;
        }
        let kept = hand_over(subscriber, changes, queries, &end, &mut rendered);
        if kept {
            subscriber.position = end.clone();
        }
        kept
    });
}

/// Sends one stream its messages from `changes`; false when it cannot keep up (or
/// has gone), so the hub lets it go.
fn hand_over(
    subscriber: &Subscriber,
    changes: &Changes,
    queries: &[String],
    end: &Position,
    rendered: &mut Rendered,
) -> bool {
    if changes.overflow {
        let reason = format!(
            "more than {} events changed since this stream's position; reload the list, then follow from this id",
            changes.cap
        );
        return subscriber
            .frames
            .try_send(reset_frame(end, &reason))
            .is_ok();
    }
    let q_index = subscriber
        .filter
        .q
        .as_ref()
        .and_then(|q| queries.iter().position(|x| x == q));
    let messages: Vec<(usize, MessageKind)> = changes
        .changes
        .iter()
        .enumerate()
        .filter_map(|(i, change)| classify(subscriber, change, q_index).map(|kind| (i, kind)))
        .collect();
    let count = messages.len();
    for (n, (i, kind)) in messages.into_iter().enumerate() {
        let change = &changes.changes[i];
        // The last message says the whole batch is seen: what follows it in the batch
        // is nothing to this stream.
        let id = if n + 1 == count {
            end.to_string()
        } else {
            subscriber
                .position
                .advanced(&changes.snapshot, change.xid, change.id)
                .to_string()
        };
        let data = rendered.get(i, change, kind == MessageKind::Deleted);
        let frame = SseEvent::default().id(id).event(kind.as_str()).data(data);
        if subscriber.frames.try_send(frame).is_err() {
            return false;
        }
        metrics::counter!("event_stream_messages_total", "kind" => kind.as_str()).increment(1);
    }
    true
}

/// What one change is to one stream, if anything: see the contract's "Live updates".
pub fn classify(
    subscriber: &Subscriber,
    change: &Change,
    q_index: Option<usize>,
) -> Option<MessageKind> {
    if subscriber.position.sees(change.xid, change.id) {
        return None;
    }
    let filter = &subscriber.filter;
    let ids = &subscriber.company_ids;
    let q = |answers: &[bool]| q_index.is_none_or(|i| answers.get(i).copied().unwrap_or(false));
    let before = change.seen_by(&subscriber.position);
    let was_in = before.is_some_and(|revision| {
        revision
            .facts
            .as_ref()
            .is_some_and(|facts| filter.admits(facts, ids, q(&revision.matches_q)))
    });
    let now_in = match &change.now {
        EventListItem::Live(event) => {
            filter.admits(&FilterFacts::from(&**event), ids, q(&change.matches_q))
        }
        EventListItem::Deleted(_) => false,
    };
    match (now_in, was_in) {
        (true, _) if before.is_none() => Some(MessageKind::Created),
        (true, _) => Some(MessageKind::Updated),
        (false, true) => Some(MessageKind::Deleted),
        (false, false) => None,
    }
}

/// Each change's JSON, rendered once for all the streams that get it.
struct Rendered {
    live: Vec<Option<String>>,
    gone: Vec<Option<String>>,
}

impl Rendered {
    fn new(len: usize) -> Self {
        Self {
            live: vec![None; len],
            gone: vec![None; len],
        }
    }

    /// The message data of change `i`: as a list shows it, or its tombstone.
    fn get(&mut self, i: usize, change: &Change, tombstone: bool) -> String {
        let slot = if tombstone {
            &mut self.gone[i]
        } else {
            &mut self.live[i]
        };
        slot.get_or_insert_with(|| {
            let json = if tombstone {
                serde_json::to_string(&tombstone_of(&change.now))
            } else {
                serde_json::to_string(&change.now)
            };
            json.unwrap_or_else(|_| "{}".to_owned())
        })
        .clone()
    }
}

/// The tombstone of an event that is gone from a stream (deleted, or out of its filter).
fn tombstone_of(item: &EventListItem) -> Tombstone {
    match item {
        EventListItem::Deleted(tombstone) => tombstone.clone(),
        EventListItem::Live(event) => Tombstone {
            id: event.id,
            slug: event.slug.clone(),
            deleted: true,
            updated_at: event.updated_at,
        },
    }
}
