//! The state every dashboard handler shares. The dashboard owns it, so its handlers need nothing
//! from `app`; the daemon builds one at start and hands it to the dashboard's `router`.

use super::keys::Access;
use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::supervisor::Supervisor;
use std::sync::Arc;

/// What request handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub metrics: Metrics,
    pub config: Arc<Config>,
    /// Problems found at start that did not stop the daemon (an API not answering, a webhook that
    /// could not be made), shown on `/api/status`.
    pub startup_problems: Arc<std::sync::Mutex<Vec<String>>>,
    /// Whether this process runs the webhook receivers.
    pub receiving: bool,
    /// What the sync engine did, as it happens, when this process runs it: wakes the live stream.
    pub events: Option<tokio::sync::broadcast::Sender<crate::runtime::SyncEvent>>,
    /// The dashboard's token and keys (sessions, CSRF).
    pub access: Access,
    /// This process's background workers: what `/healthz` and `/api/status`'s `workers` report.
    pub workers: Supervisor,
    /// The daemon's clock, which the engine reads too.
    pub clock: Clock,
}
