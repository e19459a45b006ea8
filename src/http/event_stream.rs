//! `GET /v1/events/stream`: the changes to the events a filter matches, as
//! Server-Sent Events, resumable from any position (see [`super::live`]).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use tokio::sync::{mpsc, watch};
use utoipa::IntoParams;

use super::live::{Frame, StreamPlace, Subscriber, hub, stream_channel};
use super::openapi::schemas::Problem;
use super::{AppState, resolve};
use crate::error::ApiError;
use crate::model::EventFilter;
use crate::model::list::events::{EVENT_FILTER_PARAMS, EventFilterParams};
use crate::model::list::params::QueryParams;
use crate::model::position::Position;

/// The event list's parameters that do not apply to a stream: named by a 400.
const NOT_FOR_STREAMS: &[&str] = &["cursor", "limit", "sort", "updated_since", "wait"];

/// How soon a client should reconnect when this server ends its stream.
const RETRY_AFTER_END: Duration = Duration::from_secs(1);

/// `Last-Event-ID`: where an `EventSource` reconnects from.
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// Where a stream starts.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct StreamStartParams {
    /// A position (`Next-Updated-Since`, a message id): replay what changed after it,
    /// then go live. A `Last-Event-ID` header takes precedence. Without either, the
    /// stream starts now.
    #[param(max_length = 8000)]
    since: Option<String>,
}

/// `GET /v1/events/stream`.
#[utoipa::path(get, path = "/v1/events/stream", tag = "events",
    params(EventFilterParams, StreamStartParams,
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last message received: the stream resumes after it.")),
    responses(
        (status = 200, description = "`text/event-stream`. Each message: `id:` a position, \
`event: created | updated | deleted | reset`, `data:` the event as a list shows it (a tombstone \
`{id, slug, deleted: true, updated_at}` for `deleted`; `{reason}` for `reset`, after which the \
client reloads its list). A comment at least every `STREAM_HEARTBEAT_SECS`; on shutdown, a \
`retry:` hint.", content_type = "text/event-stream", body = String,
         headers(("Cache-Control" = String, description = "`no-store`"), ("X-Accel-Buffering" = String, description = "`no`: proxies must not buffer it"))),
        (status = 400, description = "A bad filter, a list-only parameter, or a `since` that is not a position.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`MAX_STREAMS` streams are open on this server; `Retry-After` says when to try again.", body = Problem, content_type = "application/problem+json")))]
pub async fn stream(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let accepted: Vec<&str> = [EVENT_FILTER_PARAMS, NOT_FOR_STREAMS, &["since"]].concat();
    let params = QueryParams::parse(query.as_deref(), &accepted)?;
    for name in NOT_FOR_STREAMS {
        if params.single(name)?.is_some() {
            return Err(ApiError::bad_param(
                *name,
                "does not apply to a stream: it sends every change as it happens \
                 (resume with `since` or `Last-Event-ID`)",
            ));
        }
    }
    let filter = EventFilter::from_params(&params)?;
    filter.check_role()?;
    let since = params
        .single("since")?
        .map(|text| {
            Position::parse(text).ok_or_else(|| {
                ApiError::bad_param(
                    "since",
                    "is not a position (a `Next-Updated-Since` header or a message id)",
                )
            })
        })
        .transpose()?;
    let company_ids = resolve::company_params(&app.db, &filter.companies).await?;
    let place = app.live.reserve_stream(app.config.max_streams)?;
    let origin = app.live.origin().await?;
    let (frames, received) = stream_channel();

    // A browser resends whatever id it last saw; one we cannot serve is a `reset`.
    let resume = match headers.get(LAST_EVENT_ID) {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(Position::parse)
                .ok_or("the Last-Event-ID is not a position this service issued"),
        ),
        None => since.map(Ok),
    };
    let position = match resume {
        Some(Ok(position)) if position.origin == origin && app.horizon.is_behind(&position) => {
            reset(
                &app,
                &frames,
                "the position is older than the tombstone horizon (TOMBSTONE_RETENTION_DAYS)",
            )
            .await?
        }
        Some(Ok(position)) if position.origin == origin => position,
        None => app.live.now().await?,
        Some(Ok(_)) => {
            reset(
                &app,
                &frames,
                "the position was issued for another database",
            )
            .await?
        }
        Some(Err(reason)) => reset(&app, &frames, reason).await?,
    };
    app.live.join(Subscriber {
        filter,
        company_ids,
        position,
        frames,
    });
    let body = frames_until_stopped(received, app.live.stopping(), place);
    let mut response = Sse::new(body)
        .keep_alive(
            KeepAlive::new()
                .interval(app.config.stream_heartbeat())
                .text("heartbeat"),
        )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(response)
}

/// Queues a `reset` and returns the position the stream goes on from: now.
async fn reset(
    app: &AppState,
    frames: &mpsc::Sender<Frame>,
    reason: &str,
) -> Result<Position, ApiError> {
    let now = app.live.now().await?;
    // The channel is new and empty: this cannot be refused for being full.
    let _ = frames.try_send(hub::reset_frame(&now, reason));
    Ok(now)
}

/// The frames the hub sends, until the server stops or the hub lets the stream go;
/// then a `retry:` hint, so the client reconnects (elsewhere) from its last id. The
/// stream's place under `MAX_STREAMS` is held as long as the body lives.
fn frames_until_stopped(
    frames: mpsc::Receiver<Frame>,
    stopping: watch::Receiver<bool>,
    place: StreamPlace,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    struct State {
        frames: mpsc::Receiver<Frame>,
        stopping: watch::Receiver<bool>,
        _place: StreamPlace,
        ended: bool,
    }
    let state = State {
        frames,
        stopping,
        _place: place,
        ended: false,
    };
    // Fused: nothing may poll it again after its end.
    futures_util::stream::unfold(state, |mut state| async move {
        if state.ended {
            return None;
        }
        let next = tokio::select! {
            biased;
            _ = state.stopping.wait_for(|stop| *stop) => None,
            frame = state.frames.recv() => frame,
        };
        let frame = next.unwrap_or_else(|| {
            state.ended = true;
            SseEvent::default()
                .retry(RETRY_AFTER_END)
                .comment("this stream ends here; reconnect with Last-Event-ID")
        });
        Some((Ok(frame), state))
    })
    .fuse()
}
