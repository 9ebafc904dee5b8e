//! `GET /api/stream`: server-sent events for the live pages, and for anyone who would rather be
//! told than poll `/api/status`. Two events, documented in `docs/api.md`:
//!
//! - `status`: the `/api/status` document, sent on connecting and whenever it changes (checked
//!   every second, and as soon as the engine in this process syncs something);
//! - `change`: one change the processor handled (a history row), in order, with the row's id as
//!   the event id, so a client that reconnects with `Last-Event-ID` misses none.
//!
//! Everything is read from the store, so a replica that runs no engine still streams what the
//! others did, a second later at most.

use super::state::AppState;
use super::status;
use crate::runtime::SyncEvent;
use crate::store::HistoryRow;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

/// How often the status is read when nothing wakes the stream.
const REFRESH: Duration = Duration::from_secs(1);
/// The least time between two reads, however busy the engine is.
const MIN_GAP: Duration = Duration::from_millis(250);
/// History rows read per refresh.
const BATCH: i64 = 200;

pub(crate) async fn api_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let resume_after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let after = match resume_after {
        Some(id) => id,
        // A new subscriber starts from now: the page it loaded shows what came before.
        None => state.store.last_history_id().await.unwrap_or(0),
    };
    let feed = Feed {
        wake: state.events.as_ref().map(broadcast::Sender::subscribe),
        state,
        after,
        last_status: None,
        queue: VecDeque::new(),
        last_read: None,
    };
    let events = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await;
        Some((Ok(event), feed))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// One subscriber's position: the last change sent and the last status sent.
struct Feed {
    state: AppState,
    after: i64,
    last_status: Option<String>,
    queue: VecDeque<Event>,
    wake: Option<broadcast::Receiver<SyncEvent>>,
    last_read: Option<Instant>,
}

impl Feed {
    async fn next(&mut self) -> Event {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return event;
            }
            if self.last_read.is_some() {
                self.wait().await;
            }
            self.read().await;
        }
    }

    /// Until the engine syncs something or [`REFRESH`] passes, and at least [`MIN_GAP`] after
    /// the last read.
    async fn wait(&mut self) {
        let tick = tokio::time::sleep(REFRESH);
        match &mut self.wake {
            Some(wake) => {
                tokio::select! {
                    _ = tick => {}
                    woken = wake.recv() => {
                        if let Err(broadcast::error::RecvError::Closed) = woken {
                            self.wake = None;
                        }
                    }
                }
            }
            None => tick.await,
        }
        if let Some(last) = self.last_read {
            tokio::time::sleep_until(last + MIN_GAP).await;
        }
        if let Some(wake) = &mut self.wake {
            // What else arrived meanwhile is covered by this read.
            while !matches!(
                wake.try_recv(),
                Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed)
            ) {}
        }
    }

    /// Queues the changes since the last one sent, then the status if it changed.
    async fn read(&mut self) {
        self.last_read = Some(Instant::now());
        match self.state.store.history_after(self.after, BATCH).await {
            Ok(rows) => {
                for row in rows {
                    self.after = row.id;
                    self.queue.push_back(change(&row));
                }
            }
            Err(e) => tracing::warn!(error = %e, "the live stream cannot read the history"),
        }
        match status::read(&self.state).await {
            Ok(mut now) => {
                let at = now.at;
                now.at = 0;
                let key = serde_json::to_string(&now).expect("the status serialises");
                if self.last_status.as_ref() != Some(&key) {
                    now.at = at;
                    self.queue.push_back(
                        Event::default()
                            .event("status")
                            .json_data(&now)
                            .expect("the status serialises"),
                    );
                    self.last_status = Some(key);
                }
            }
            Err(e) => tracing::warn!(error = %e, "the live stream cannot read the status"),
        }
    }
}

fn change(row: &HistoryRow) -> Event {
    Event::default()
        .event("change")
        .id(row.id.to_string())
        .json_data(row)
        .expect("a history row serialises")
}
