//! `GET /v1/records/stream`: the live stream, as Server-Sent Events. Each record this node adds to
//! its log (published here, gossiped, synced) is sent as one `record` event whose id is its log
//! index, if the caller may read its band: the same rule as every other read. A client resumes with
//! `Last-Event-ID` (or `?from=INDEX`); without either it gets only what is added from now on.
//!
//! Streams are capped ([`super::limits::MAX_LIVE_STREAMS`]), send a keep-alive comment when idle,
//! read the store in short blocking steps under the API's blocking permits, and end when the node
//! stops.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use certnet_protocol::record::{Record, Tlp};
use futures::stream::{self, Stream};
use serde::Deserialize;
use tokio::sync::OwnedSemaphorePermit;

use super::limits::LIVE_KEEPALIVE;
use super::principal::{Action, Principal};
use super::records::{decode_stored, record_json};
use super::{ApiError, ApiQuery, ApiState};
use crate::services::NodeServices;
use crate::store::BandSet;

/// Turns one logged record the caller may read (its bands) into the event to send, or `None` to
/// skip it: `(services, record, log index, added µs)`. The API sends JSON; the console HTML rows.
pub(super) type Render =
    Arc<dyn Fn(&NodeServices, &Record, u64, u64) -> Option<Event> + Send + Sync>;

/// Most log entries read in one blocking step.
const STEP: usize = 256;

/// Query of `GET /v1/records/stream`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamQuery {
    /// Log index to start at (the `Last-Event-ID` header, plus one, takes precedence).
    from: Option<u64>,
}

/// Where a stream is: the next log index to look at, and what it may show.
struct Cursor {
    state: ApiState,
    readable: BandSet,
    render: Render,
    next: u64,
    appended: tokio::sync::watch::Receiver<u64>,
    pending: std::collections::VecDeque<Event>,
    _permit: OwnedSemaphorePermit,
}

pub(super) async fn live(
    State(state): State<ApiState>,
    principal: Principal,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> Result<Response, ApiError> {
    let readable = principal.readable();
    if readable.is_empty() {
        principal.require(Action::Read(Tlp::Clear))?;
    }
    let last_event = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let from = last_event.map(|last| last.saturating_add(1)).or(query.from);
    let sealed = principal.may_read_sealed();
    let render: Render = Arc::new(move |services, record, index, added_us| {
        if !sealed && super::principal::is_sealed(record) {
            return None;
        }
        let json = record_json(services, record, Some((index, added_us)));
        let data = serde_json::to_string(&json).unwrap_or_default();
        Some(
            Event::default()
                .event("record")
                .id(index.to_string())
                .data(data),
        )
    });
    open(state, readable, from, render)
}

/// A live stream of the entries added to the log from `from` (default: from now on) in the
/// `readable` bands, each as `render` makes it.
pub(super) fn open(
    state: ApiState,
    readable: BandSet,
    from: Option<u64>,
    render: Render,
) -> Result<Response, ApiError> {
    let permit = state.live.clone().try_acquire_owned().map_err(|_| {
        ApiError::busy(format!(
            "{} live streams are open already: retry later",
            super::limits::MAX_LIVE_STREAMS
        ))
    })?;
    let store = state.services.store().clone();
    let mut appended = store.subscribe();
    let size = *appended.borrow_and_update();
    let next = from.unwrap_or(size);
    let cursor = Cursor {
        state,
        readable,
        render,
        next,
        appended,
        pending: std::collections::VecDeque::new(),
        _permit: permit,
    };
    Ok(Sse::new(events(cursor))
        .keep_alive(KeepAlive::new().interval(LIVE_KEEPALIVE))
        .into_response())
}

/// The events of a stream, until the node stops or the store fails.
fn events(cursor: Cursor) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(event) = c.pending.pop_front() {
                return Some((Ok(event), c));
            }
            let size = *c.appended.borrow_and_update();
            if c.next >= size {
                // Nothing new: wait for the store to announce appends (or the node to stop).
                c.appended.changed().await.ok()?;
                continue;
            }
            let (events, next) = read_step(&c.state, c.readable, &c.render, c.next).await?;
            c.next = next;
            c.pending.extend(events);
        }
    })
}

/// Reads up to [`STEP`] entries of the readable bands from `from`: their events, and where the next
/// step starts. `None` if the store failed (the stream ends; the client reconnects and resumes).
async fn read_step(
    state: &ApiState,
    readable: BandSet,
    render: &Render,
    from: u64,
) -> Option<(Vec<Event>, u64)> {
    let services = state.services.clone();
    let render = render.clone();
    let result = state
        .blocking(move || -> Result<(Vec<Event>, u64), ApiError> {
            let store = services.store();
            let size = store.log_size();
            let mut events = Vec::new();
            let mut next = size;
            for index in store.band_entries(readable, from) {
                let index = index?;
                // Entries appended after `size` was read are the next step's.
                if index >= size {
                    break;
                }
                if events.len() == STEP {
                    next = index;
                    break;
                }
                let Some(entry) = store.entry(index)? else {
                    break;
                };
                let record = services.present(decode_stored(&entry.bytes)?);
                if !readable.contains(record.payload().tlp) {
                    continue;
                }
                events.extend(render(&services, &record, index, entry.added_us));
            }
            Ok((events, next.max(from)))
        })
        .await;
    match result {
        Ok(Ok(step)) => Some(step),
        Ok(Err(e)) => {
            tracing::warn!(
                code = e.code(),
                "live stream ended: the store could not be read"
            );
            None
        }
        Err(_) => None,
    }
}
