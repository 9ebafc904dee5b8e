//! The sync engine: the processor (inbox → link state + outbox), the dispatcher (outbox → API
//! calls), the Miro board scan (Miro → inbox, since Miro has no webhooks any more), the Miro
//! content logs (comments, and item changes, for Enterprise organisations), the monday
//! reconciler (what monday's webhooks missed → inbox) and the monday subscriptions the receivers
//! depend on.
//!
//! ```text
//! inbox ─> processor ─(plan: pure)─> links + outbox ─> dispatcher ─> Miro REST / monday GraphQL
//!   ^                                                                     │
//!   └── scan (Miro), webhooks + reconciler (monday) ─── our own writes come back as echoes
//! ```
//!
//! The parts share an [`Engine`]: the store, the clients, the config, and the wake-ups that let
//! one part tell the next there is work without polling the store in a tight loop.

pub mod backfill;
pub mod check;
pub mod comments;
pub mod connectors;
pub mod contentlog;
pub mod dispatcher;
pub mod fetch;
pub mod lease;
pub mod plan;
pub mod poller;
pub mod processor;
pub mod reconcile;
pub mod retention;
pub mod scan;
pub mod subscriptions;
pub mod tags;
pub mod values;

use crate::clients::miro::MiroClient;
use crate::clients::monday::MondayClient;
use crate::config::{Config, PairConfig};
use crate::domain::Side;
use crate::domain::change::Change;
use crate::metrics::Metrics;
use crate::store::Store;
use plan::Plan;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, broadcast};

/// The store key under which boardsync keeps its own user id on `side`.
pub fn own_user_key(side: Side) -> String {
    format!("self:{side}")
}

/// A change the engine handled, for whoever listens (the demo's output, later the dashboard).
#[derive(Debug, Clone, Serialize)]
pub struct SyncEvent {
    pub pair: String,
    /// `miro -> monday` or `monday -> miro`.
    pub direction: String,
    pub item: String,
    pub title: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

/// What the engine's parts share. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub store: Store,
    pub config: Arc<Config>,
    pub metrics: Metrics,
    pub miro: MiroClient,
    pub monday: MondayClient,
    pub wake_processor: Arc<Notify>,
    pub wake_dispatcher: Arc<Notify>,
    pub events: broadcast::Sender<SyncEvent>,
    /// The time every part of the engine reads; tests move it forward.
    pub clock: crate::clock::Clock,
    own_users: Arc<Mutex<HashMap<Side, String>>>,
}

impl Engine {
    pub fn new(store: Store, config: Arc<Config>, metrics: Metrics) -> Engine {
        let (miro, monday) = crate::clients::for_config(&config);
        let miro = miro.governed(
            config.poller.credit_share.0,
            metrics.miro_credits_used.clone(),
        );
        Engine {
            store,
            config,
            metrics,
            miro,
            monday,
            wake_processor: Arc::default(),
            wake_dispatcher: Arc::default(),
            events: broadcast::channel(1024).0,
            clock: crate::clock::Clock::default(),
            own_users: Arc::default(),
        }
    }

    /// boardsync's own user id on `side`, once known (monday: asked at start; Miro: read off the
    /// first item boardsync writes).
    pub async fn own_user(&self, side: Side) -> Option<String> {
        if let Some(id) = self.own_users.lock().expect("own users").get(&side) {
            return Some(id.clone());
        }
        let id = self
            .store
            .cursor(&own_user_key(side))
            .await
            .ok()
            .flatten()?;
        self.own_users
            .lock()
            .expect("own users")
            .insert(side, id.clone());
        Some(id)
    }

    /// Records boardsync's own user id on `side`.
    pub async fn learn_own_user(&self, side: Side, id: &str) {
        let known = self
            .own_users
            .lock()
            .expect("own users")
            .get(&side)
            .cloned();
        if known.as_deref() == Some(id) {
            return;
        }
        if let Err(e) = self
            .store
            .record_cursor(&own_user_key(side), id, self.clock.now_ms())
            .await
        {
            tracing::warn!(error = %e, "cannot store boardsync's own user id");
            return;
        }
        self.own_users
            .lock()
            .expect("own users")
            .insert(side, id.to_owned());
    }

    /// Stores changes a poller found (deduplicated by their keys) and wakes the processor.
    pub async fn enqueue_polled(
        &self,
        entries: &[crate::store::NewInboxEntry],
        now: i64,
    ) -> Result<(), crate::store::StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let ttl = i64::try_from(self.config.ingress.dedupe_ttl.0.as_millis()).unwrap_or(i64::MAX);
        let expires = now.saturating_add(ttl);
        let batch: Vec<_> = entries.iter().map(|e| (e, expires)).collect();
        self.store.insert_inbox_batch(&batch).await?;
        self.wake_processor.notify_one();
        Ok(())
    }

    /// Asks both APIs who boardsync is; retried by the caller's loop until they answer. Until
    /// then no change is processed, so none of boardsync's own can be mistaken for a person's.
    pub async fn learn_own_users(&self) -> Result<(), crate::clients::ApiError> {
        let miro = self.miro.own_user_id().await?;
        self.learn_own_user(Side::Miro, &miro).await;
        self.learn_monday_user().await
    }

    async fn learn_monday_user(&self) -> Result<(), crate::clients::ApiError> {
        let me = self
            .monday
            .run::<crate::clients::monday::Me>(crate::clients::monday::me::Variables {}, None)
            .await?;
        if let Some(me) = me.me {
            self.learn_own_user(Side::Monday, &me.id).await;
        }
        Ok(())
    }

    fn report(&self, pair: &PairConfig, change: &Change, planned: &Plan) {
        if self.events.receiver_count() == 0 {
            return;
        }
        let _ = self.events.send(SyncEvent {
            pair: pair.name.clone(),
            direction: format!("{} -> {}", change.side, change.side.other()),
            item: change.item_id.clone(),
            title: planned.title.clone(),
            outcome: planned.outcome.as_str().into(),
            detail: planned.detail.clone(),
        });
    }
}
