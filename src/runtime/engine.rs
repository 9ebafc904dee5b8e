//! What every running part shares: the [`Engine`] holds the store, the clients, the config, the
//! clock and the wake-ups that let one part tell the next there is work without polling the store
//! in a tight loop. The pollers (which find changes) and the sync engine (which applies them) both
//! take it; it imports neither.

use crate::clients::miro::MiroClient;
use crate::clients::monday::MondayClient;
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::Side;
use crate::metrics::Metrics;
use crate::store::{Store, keys};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, broadcast};

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
    /// Asks a pair's monday reconciler (by slug) for a round now rather than at its interval.
    wake_reconcilers: Arc<HashMap<String, Arc<Notify>>>,
    pub events: broadcast::Sender<SyncEvent>,
    /// The time every part of the engine reads; tests move it forward.
    pub clock: Clock,
    own_users: Arc<Mutex<HashMap<Side, String>>>,
}

impl Engine {
    /// An engine on a clock of its own (real time until a test moves it).
    pub fn new(store: Store, config: Arc<Config>, metrics: Metrics) -> Engine {
        Engine::with_clock(store, config, metrics, Clock::default())
    }

    /// An engine reading `clock`, which the rest of the daemon (receivers, dashboard, workers)
    /// reads too.
    pub(crate) fn with_clock(
        store: Store,
        config: Arc<Config>,
        metrics: Metrics,
        clock: Clock,
    ) -> Engine {
        let (miro, monday) = crate::clients::for_config(&config, &clock);
        let miro = miro.governed(
            config.poller.credit_share.0,
            metrics.miro_credits_used.clone(),
        );
        let monday = monday.counted(metrics.monday_calls_waiting.clone());
        let wake_reconcilers = Arc::new(
            config
                .pairs
                .iter()
                .map(|p| (p.slug.clone(), Arc::default()))
                .collect(),
        );
        Engine {
            store,
            config,
            metrics,
            miro,
            monday,
            wake_processor: Arc::default(),
            wake_dispatcher: Arc::default(),
            wake_reconcilers,
            events: broadcast::channel(1024).0,
            clock,
            own_users: Arc::default(),
        }
    }

    /// What wakes the reconciler of the pair `slug`: a wake-up that comes while its round runs
    /// is kept for when it next waits.
    pub(crate) fn reconcile_wake(&self, slug: &str) -> Option<Arc<Notify>> {
        self.wake_reconcilers.get(slug).cloned()
    }

    /// boardsync's own user id on `side`, once known (monday: asked at start; Miro: read off the
    /// first item boardsync writes).
    pub(crate) async fn own_user(&self, side: Side) -> Option<String> {
        if let Some(id) = self.own_users.lock().expect("own users").get(&side) {
            return Some(id.clone());
        }
        let id = self
            .store
            .cursor(&keys::own_user(side))
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
    pub(crate) async fn learn_own_user(&self, side: Side, id: &str) {
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
            .record_cursor(&keys::own_user(side), id, self.clock.now_ms())
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
    pub(crate) async fn enqueue_polled(
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
}
