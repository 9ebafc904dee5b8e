//! The supervisor: every background task of the daemon (the processor, the dispatcher, each
//! poller, the reconciler, the content-log feed, the inbox writer, retention, the HTTP server)
//! runs under it. A run that panics, or returns while the daemon is not stopping, is logged with
//! the worker's name, counted (`boardsync_worker_restarts_total{worker}`) and started again after
//! a backoff; what each worker is doing is shown on `/api/status`, the dashboard and `/healthz`.
//!
//! It never decides what a worker does, and never restarts anything once shutdown is asked: a
//! worker returning then is the normal end, not a failure.

use crate::clock::Clock;
use crate::metrics::Metrics;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The wait before the first restart of a worker that failed.
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between restarts: a worker failing for good is still retried this often.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A run that lasted this long was healthy: the next failure starts the backoff over.
pub(crate) const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// How long a failed worker waits before it is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub first: Duration,
    pub max: Duration,
    /// A run at least this long resets the wait to `first`.
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: FIRST_BACKOFF,
            max: MAX_BACKOFF,
            reset_after: HEALTHY_RUN,
        }
    }
}

impl Backoff {
    /// The wait after `previous` (none before the first failure): doubling, capped.
    pub(crate) fn next(&self, previous: Option<Duration>) -> Duration {
        match previous {
            None => self.first,
            Some(wait) => wait.saturating_mul(2).min(self.max),
        }
    }
}

/// What a worker is doing.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Doing its work.
    Running,
    /// Its last run failed; it waits for its backoff before it starts again. The only unhealthy
    /// state.
    Restarting,
    /// Alive and waiting for a lease another replica holds: healthy, the work is done elsewhere.
    Standby,
}

impl WorkerState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WorkerState::Running => "running",
            WorkerState::Restarting => "restarting",
            WorkerState::Standby => "standby",
        }
    }
}

/// One worker as `/api/status` shows it (documented in `docs/api.md`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WorkerView {
    pub name: String,
    pub state: WorkerState,
    /// Restarts since the process started.
    pub restarts: u64,
    /// Why the last run ended (its error or panic message); `null` while it never failed.
    pub last_error: Option<String>,
    /// Since when the worker is in its state (Unix ms).
    pub since: i64,
}

/// What a worker's run ends with: `()` or a `Result` whose error is the reason.
pub trait RunOutcome {
    /// The error, if the run ended with one.
    fn error(self) -> Option<String>;
}

impl RunOutcome for () {
    fn error(self) -> Option<String> {
        None
    }
}

impl<E: std::fmt::Display> RunOutcome for Result<(), E> {
    fn error(self) -> Option<String> {
        self.err().map(|e| format!("{e:#}"))
    }
}

/// The daemon's workers. Cheap to clone; shared by the engine's starter and the HTTP handlers.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

struct Inner {
    workers: Mutex<BTreeMap<String, Slot>>,
    backoff: Backoff,
    restarts: prometheus::IntCounterVec,
    tracker: TaskTracker,
    /// Test hook: while `true`, failed workers stay `restarting`.
    hold: watch::Sender<bool>,
    /// The daemon's clock, for when each worker entered its state.
    clock: Clock,
}

struct Slot {
    state: WorkerState,
    restarts: u64,
    last_error: Option<String>,
    since: i64,
    /// Test hook: a new value makes the current run panic with it.
    fault: watch::Sender<Option<String>>,
}

impl Supervisor {
    pub fn new(metrics: &Metrics, clock: Clock) -> Supervisor {
        Supervisor::with_backoff(metrics, Backoff::default(), clock)
    }

    pub(crate) fn with_backoff(metrics: &Metrics, backoff: Backoff, clock: Clock) -> Supervisor {
        Supervisor {
            inner: Arc::new(Inner {
                workers: Mutex::default(),
                backoff,
                restarts: metrics.worker_restarts.clone(),
                tracker: TaskTracker::new(),
                hold: watch::channel(false).0,
                clock,
            }),
        }
    }

    /// Runs `make(status)` as the worker `name` until `shutdown`, starting a new run whenever one
    /// fails. The returned handle ends when the worker has stopped for good.
    pub fn spawn<F, Fut>(
        &self,
        name: impl Into<String>,
        shutdown: CancellationToken,
        mut make: F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: FnMut(WorkerStatus) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: RunOutcome + Send,
    {
        let name = name.into();
        // Shown at 0 from the start, so a rate over the counter sees its first restart.
        self.inner.restarts.with_label_values(&[&name]).inc_by(0);
        let fault = watch::channel(None).0;
        self.inner.workers.lock().expect("workers lock").insert(
            name.clone(),
            Slot {
                state: WorkerState::Running,
                restarts: 0,
                last_error: None,
                since: self.inner.clock.now_ms(),
                fault: fault.clone(),
            },
        );
        let status = WorkerStatus {
            inner: Some(self.inner.clone()),
            name: name.clone().into(),
            holder: uuid::Uuid::new_v4().to_string().into(),
        };
        let inner = self.inner.clone();
        self.inner.tracker.spawn(async move {
            let mut wait = None;
            loop {
                // Subscribed before the run starts, so a fault asked for now hits this run.
                let mut faults = fault.subscribe();
                let run = make(status.clone());
                let started = Instant::now();
                let joined = tokio::spawn(async move {
                    tokio::select! {
                        out = run => out.error(),
                        Ok(()) = faults.changed() => {
                            let message = faults.borrow().clone().unwrap_or_default();
                            panic!("{message}")
                        }
                    }
                })
                .await;
                if shutdown.is_cancelled() {
                    return;
                }
                let why = match joined {
                    Ok(Some(error)) => error,
                    Ok(None) => "stopped without an error".to_owned(),
                    Err(e) if e.is_panic() => format!("panicked: {}", panic_message(e.into_panic())),
                    Err(e) => format!("was cancelled: {e}"),
                };
                if started.elapsed() >= inner.backoff.reset_after {
                    wait = None;
                }
                let delay = inner.backoff.next(wait);
                wait = Some(delay);
                tracing::error!(worker = %status.name, error = %why, retry_in = ?delay, "a worker stopped; restarting it");
                inner.restarts.with_label_values(&[&status.name]).inc();
                inner.update(&status.name, |slot| {
                    slot.restarts += 1;
                    slot.last_error = Some(why);
                    slot.state = WorkerState::Restarting;
                });
                let mut hold = inner.hold.subscribe();
                let ready = async {
                    tokio::time::sleep(delay).await;
                    let _ = hold.wait_for(|held| !*held).await;
                };
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = ready => {}
                }
                inner.set(&status.name, WorkerState::Running);
                tracing::info!(worker = %status.name, "worker restarted");
            }
        })
    }

    /// Every worker, by name.
    pub fn workers(&self) -> Vec<WorkerView> {
        let workers = self.inner.workers.lock().expect("workers lock");
        workers
            .iter()
            .map(|(name, slot)| WorkerView {
                name: name.clone(),
                state: slot.state,
                restarts: slot.restarts,
                last_error: slot.last_error.clone(),
                since: slot.since,
            })
            .collect()
    }

    /// The workers waiting to restart: the daemon is not healthy while there are any.
    pub(crate) fn restarting(&self) -> Vec<String> {
        let workers = self.inner.workers.lock().expect("workers lock");
        workers
            .iter()
            .filter(|(_, slot)| slot.state == WorkerState::Restarting)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Stops taking new workers; [`Supervisor::wait`] then ends once every worker has stopped.
    pub fn close(&self) {
        self.inner.tracker.close();
    }

    /// Waits until every worker has stopped for good (after shutdown) and [`Supervisor::close`].
    pub async fn wait(&self) {
        self.inner.tracker.wait().await;
    }

    /// Test hook: makes the current run of worker `name` panic with `message`, as a bug would.
    /// `false` when there is no such worker.
    #[doc(hidden)]
    pub fn fail(&self, name: &str, message: &str) -> bool {
        let workers = self.inner.workers.lock().expect("workers lock");
        match workers.get(name) {
            Some(slot) => {
                slot.fault.send_replace(Some(message.to_owned()));
                true
            }
            None => false,
        }
    }

    /// Test hook: while `held`, a failed worker stays `restarting` after its backoff, so a test
    /// can look at it in that state without racing the restart.
    #[doc(hidden)]
    pub fn hold_restarts(&self, held: bool) {
        self.inner.hold.send_replace(held);
    }
}

impl Inner {
    fn update(&self, name: &str, change: impl FnOnce(&mut Slot)) {
        if let Some(slot) = self.workers.lock().expect("workers lock").get_mut(name) {
            let before = slot.state;
            change(slot);
            if slot.state != before {
                slot.since = self.clock.now_ms();
            }
        }
    }

    fn set(&self, name: &str, state: WorkerState) {
        self.update(name, |slot| slot.state = state);
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

/// A worker's line back to its supervisor: whether it holds the lease its work needs. Handed to
/// each run; a run outside a supervisor (a test calling a loop directly) gets a detached one.
#[derive(Clone)]
pub struct WorkerStatus {
    inner: Option<Arc<Inner>>,
    name: Arc<str>,
    holder: Arc<str>,
}

impl WorkerStatus {
    /// A status that reports to nobody.
    pub(crate) fn detached(name: &str) -> WorkerStatus {
        WorkerStatus {
            inner: None,
            name: name.into(),
            holder: uuid::Uuid::new_v4().to_string().into(),
        }
    }

    /// The id this worker takes leases under. It stays the same across restarts, so a run that
    /// replaces a failed one takes over the failed run's leases at once rather than waiting for
    /// them to expire.
    pub(crate) fn holder(&self) -> &str {
        &self.holder
    }

    /// The worker holds its lease (or needs none) and works.
    pub(crate) fn running(&self) {
        self.report(WorkerState::Running);
    }

    /// Another replica holds the lease; this one waits, healthy.
    pub(crate) fn standby(&self) {
        self.report(WorkerState::Standby);
    }

    fn report(&self, state: WorkerState) {
        if let Some(inner) = &self.inner {
            inner.update(&self.name, |slot| {
                // A run that is being replaced has nothing more to say.
                if slot.state != WorkerState::Restarting {
                    slot.state = state;
                }
            });
        }
    }
}

#[cfg(test)]
mod tests;
