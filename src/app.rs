//! The daemon: binds its listener, opens the store, serves HTTP, and stops cleanly.
//!
//! `App::build` does everything that can fail at start-up (bind, connect, migrate) before anything
//! is served, so a bad start ends with one clear error and no half-running daemon. Tests build an
//! `App` on port 0 and talk to it over real HTTP.

use crate::clock::Clock;
use crate::config::Config;
use crate::ingress::Ingress;
use crate::ingress::dedupe::RedisDedupe;
use crate::ingress::writer::{InboxWriter, WriterLoop};
use crate::metrics::Metrics;
use crate::runtime::Engine;
use crate::store::Store;
use crate::supervisor::Supervisor;
use anyhow::Context;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What request handlers share: the dashboard's own type, built here at start.
pub use crate::dashboard::state::AppState;

/// Which parts a daemon runs, so receivers and workers can be scaled apart on a shared store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Role {
    /// The webhook receivers and the inbox only.
    Ingest,
    /// Everything downstream of the inbox (processor, dispatcher, pollers), no receivers.
    Worker,
    /// Both.
    #[default]
    All,
}

pub struct App {
    listener: TcpListener,
    router: Router,
    state: AppState,
    config: Config,
    /// The sync engine, when the role runs it.
    engine: Option<Engine>,
    /// The inbox writer's loop, when the role runs the receivers; supervised from `run`.
    inbox_writer: Option<WriterLoop>,
}

impl App {
    /// Binds `config.daemon.listen` (port 0 picks a free port), opens and migrates the store,
    /// connects to Redis when configured, and wires the parts `role` runs.
    pub async fn build(config: Config, role: Role) -> anyhow::Result<App> {
        let listen = config.daemon.listen;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        App::build_on(listener, config, role).await
    }

    /// Like [`App::build`], on a listener already bound: for callers that must know the port
    /// before they write the config (its `public_url`), such as tests and `boardsync demo`.
    pub async fn build_on(
        listener: TcpListener,
        config: Config,
        role: Role,
    ) -> anyhow::Result<App> {
        let store = open_store(&config).await?;
        let metrics = Metrics::default();
        // The one clock every part reads; tests move it through the engine's handle.
        let clock = Clock::default();
        let workers = Supervisor::new(&metrics, clock.clone());
        let shared = Arc::new(config.clone());
        let engine = (role != Role::Ingest).then(|| {
            Engine::with_clock(
                store.clone(),
                shared.clone(),
                metrics.clone(),
                clock.clone(),
            )
        });
        let state = AppState {
            clock: clock.clone(),
            store,
            metrics,
            config: shared,
            startup_problems: Arc::default(),
            receiving: role != Role::Worker,
            events: engine.as_ref().map(|e| e.events.clone()),
            access: crate::dashboard::keys::Access::new(&config.dashboard),
            workers,
        };
        let mut router = crate::dashboard::router(state.clone(), &config);
        let mut inbox_writer = None;
        if role != Role::Worker {
            let redis = match &config.daemon.redis_url {
                None => None,
                Some(url) => Some(
                    RedisDedupe::connect_in_background(
                        url.expose(),
                        &config.ingress.redis_prefix,
                        config.ingress.pending_ttl.0,
                        config.ingress.dedupe_ttl.0,
                        config.ingress.redis_timeout.0,
                    )
                    .with_context(|| {
                        format!(
                            "`{}` is not a Redis URL boardsync can use",
                            crate::store::redact(url.expose())
                        )
                    })?,
                ),
            };
            let wake = engine.as_ref().map(|e| e.wake_processor.clone());
            let (writer, writing) = InboxWriter::new(state.store.clone(), wake);
            inbox_writer = Some(writing);
            let ingress = Ingress::new(
                state.config.clone(),
                writer,
                redis,
                state.metrics.clone(),
                clock,
            );
            router = router.merge(ingress.routes());
        }
        Ok(App {
            listener,
            router,
            state,
            config,
            engine,
            inbox_writer,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The sync engine, when this role runs one: its `events` tell what was synced.
    pub fn engine(&self) -> Option<&Engine> {
        self.engine.as_ref()
    }

    /// The daemon's workers (also in [`AppState`]); tests keep a clone to reach its fault hooks.
    pub fn supervisor(&self) -> &Supervisor {
        &self.state.workers
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, lets requests in flight finish
    /// (for at most `[daemon] shutdown_timeout`) and closes the store. The server and every
    /// background task run under the supervisor, which restarts any that fails before then.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let addr = self.local_addr();
        tracing::info!(%addr, pairs = self.config.pairs.len(), "listening");
        let grace = self.config.daemon.shutdown_timeout.0;
        let workers = self.state.workers.clone();
        let limits = crate::server::Limits {
            header_read_timeout: self.config.daemon.header_read_timeout.0,
            max_connections: crate::server::connection_limit(self.config.daemon.max_connections),
        };
        let metrics = self.state.metrics.clone();
        let server = serve(
            &workers,
            self.listener,
            self.router,
            limits,
            metrics,
            &shutdown,
        )?;
        if let Some(writing) = self.inbox_writer {
            // Not stopped by `shutdown`: it ends once the server has let go of the receivers,
            // so requests still in flight during the grace period are stored and answered.
            workers.spawn("inbox-writer", shutdown.clone(), move |_| writing.run());
        }
        let starting = tokio_util::task::TaskTracker::new();
        if let Some(engine) = &self.engine {
            start_engine(engine, &workers, &shutdown);
            start_checks(
                engine,
                &starting,
                &shutdown,
                self.state.startup_problems.clone(),
            );
        }
        workers.close();
        starting.close();
        shutdown.cancelled().await;
        tracing::info!("shutting down");
        if tokio::time::timeout(grace, server).await.is_err() {
            tracing::warn!(
                grace = ?grace,
                "requests still in flight after the shutdown timeout; stopping anyway"
            );
        }
        let stopped = async {
            workers.wait().await;
            starting.wait().await;
        };
        if tokio::time::timeout(grace, stopped).await.is_err() {
            tracing::warn!(
                "background work still running after the shutdown timeout; stopping anyway"
            );
        }
        // Closing waits for connections in use; bounded so a stuck query cannot hold the exit.
        let _ = tokio::time::timeout(Duration::from_secs(1), self.state.store.close()).await;
        Ok(())
    }
}

/// Opens the store, trying again for up to `[daemon] store_start_timeout` while the database does
/// not answer (a daemon started with its database, as compose or systemd do, gets there first),
/// each failed attempt logged. A bad URL, password or database name fails at once.
async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = config.daemon.database_url.expose();
    let give_up = tokio::time::Instant::now() + config.daemon.store_start_timeout.0;
    let mut attempt = 1;
    loop {
        match Store::open(url).await {
            Ok(store) => return Ok(store),
            Err(e) if e.may_pass() && tokio::time::Instant::now() < give_up => {
                tracing::warn!(attempt, error = %anyhow::Error::from(e), "the database does not answer yet; trying again");
                attempt += 1;
                tokio::time::sleep(STORE_START_RETRY).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// How long a starting daemon waits between two attempts to reach its database.
const STORE_START_RETRY: Duration = Duration::from_secs(1);

/// Runs the HTTP server as the worker `http`. Each run serves a clone of the one bound socket, so
/// a server started again after a failure answers on the same port.
fn serve(
    workers: &Supervisor,
    listener: TcpListener,
    router: Router,
    limits: crate::server::Limits,
    metrics: Metrics,
    shutdown: &CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let socket = listener
        .into_std()
        .context("cannot take over the listening socket")?;
    let stopping = shutdown.clone();
    Ok(workers.spawn("http", shutdown.clone(), move |_| {
        let listener = socket.try_clone().and_then(TcpListener::from_std);
        let (router, metrics, stopping) = (router.clone(), metrics.clone(), stopping.clone());
        async move {
            let listener = listener.context("cannot reuse the listening socket")?;
            crate::server::serve(listener, router, limits, metrics, stopping).await;
            anyhow::Ok(())
        }
    }))
}

/// How long start-up tasks first wait between tries of an API that does not answer, or of a
/// mapping that does not fit the boards; the wait doubles each round up to [`STARTUP_RETRY_MAX`].
const STARTUP_RETRY: Duration = Duration::from_secs(5);
/// The longest wait between two rounds of start-up checks: a board that does not exist yet is
/// asked about this often, not every 5 s for ever.
const STARTUP_RETRY_MAX: Duration = Duration::from_secs(300);

/// Starts the processor, the dispatcher, one Miro scan per board, one monday reconciler per pair,
/// (with an `org_id`) the Miro content logs and retention, each a supervised worker.
fn start_engine(engine: &Engine, workers: &Supervisor, shutdown: &CancellationToken) {
    let stop = shutdown.clone();
    let e = engine.clone();
    workers.spawn("processor", stop.clone(), move |status| {
        crate::sync::processor::run_as(e.clone(), stop.clone(), status)
    });
    let (e, stop) = (engine.clone(), shutdown.clone());
    workers.spawn("dispatcher", stop.clone(), move |_| {
        crate::sync::dispatcher::run(e.clone(), stop.clone())
    });
    let boards = crate::pollers::schedule::boards(&engine.config);
    let count = boards.len().max(1);
    for (board, pairs) in boards {
        let (e, stop) = (engine.clone(), shutdown.clone());
        workers.spawn(format!("miro-scan:{board}"), stop.clone(), move |status| {
            let (e, stop) = (e.clone(), stop.clone());
            crate::pollers::schedule::run_board(
                e,
                board.clone(),
                pairs.clone(),
                count,
                stop,
                status,
            )
        });
    }
    for pair in &engine.config.pairs {
        let (e, stop, pair) = (engine.clone(), shutdown.clone(), pair.clone());
        let name = format!("monday-reconcile:{}", pair.slug);
        workers.spawn(name, stop.clone(), move |status| {
            crate::pollers::reconcile::run_pair(e.clone(), pair.clone(), stop.clone(), status)
        });
    }
    // Without an `org_id` there is no feed to read, and nothing to supervise.
    if engine.config.miro.org_id.is_some() {
        let (e, stop) = (engine.clone(), shutdown.clone());
        workers.spawn("miro-content-log", stop.clone(), move |status| {
            crate::pollers::contentlog::run_as(e.clone(), stop.clone(), status)
        });
    }
    let (e, stop) = (engine.clone(), shutdown.clone());
    workers.spawn("retention", stop.clone(), move |_| {
        crate::sync::retention::run(e.clone(), stop.clone())
    });
}

/// Asks both APIs who boardsync is, makes the webhooks the mapping needs and checks the mapping
/// against the live boards. An API that does not answer, or a mapping that does not fit, is
/// logged, shown on `/api/status` and tried again; it never stops the daemon. This is a task
/// that finishes, so it is not one of the supervised workers.
fn start_checks(
    engine: &Engine,
    workers: &tokio_util::task::TaskTracker,
    shutdown: &CancellationToken,
    problems: Arc<std::sync::Mutex<Vec<String>>>,
) {
    let engine = engine.clone();
    let shutdown = shutdown.clone();
    workers.spawn(async move {
        // Each step is retried until it succeeds; the problems shown are those of the last round.
        // Of the mapping, only the pairs that failed are checked again: each check reads a Miro
        // board, and with hundreds of pairs re-reading all of them each round cost tens of
        // thousands of credits a minute.
        let (mut own_users, mut subscriptions) =
            (false, !engine.config.daemon.manage_subscriptions);
        let mut unchecked: Vec<&crate::config::PairConfig> = engine.config.pairs.iter().collect();
        let mut wait = STARTUP_RETRY;
        loop {
            let mut round = Vec::new();
            if !own_users {
                match engine.learn_own_users().await {
                    Ok(()) => own_users = true,
                    Err(e) => {
                        round.push(format!("cannot ask Miro and monday who boardsync is: {e}"))
                    }
                }
            }
            if !subscriptions {
                match crate::sync::subscriptions::sync(&engine).await {
                    Ok(subs) => {
                        let created = subs.iter().filter(|s| s.status == "created").count();
                        tracing::info!(webhooks = subs.len(), created, "monday webhooks in place");
                        wake_reconcilers(&engine, &subs);
                        subscriptions = true;
                    }
                    Err(e) => round.push(format!("cannot make the monday webhooks: {e}")),
                }
            }
            if !unchecked.is_empty() {
                let checked =
                    crate::sync::check::check_pairs(&unchecked, &engine.miro, &engine.monday).await;
                unchecked = checked.failed;
                round.extend(checked.problems);
            }
            for problem in &round {
                tracing::warn!(%problem, retry_in = ?wait, "start-up check failed; will try again");
            }
            let done = round.is_empty();
            *problems.lock().expect("problems lock") = round;
            if done {
                return;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(STARTUP_RETRY_MAX);
        }
    });
}

/// Wakes the reconciler of each pair whose monday board got a new webhook: what happened on the
/// board before the webhook was there is read now. (The reconciler's first round, at start,
/// recorded the time from which items count as new.)
fn wake_reconcilers(engine: &Engine, subs: &[crate::sync::subscriptions::Subscription]) {
    let made: std::collections::HashSet<&str> = subs
        .iter()
        .filter(|s| s.api == "monday" && s.status == "created")
        .map(|s| s.board.as_str())
        .collect();
    for pair in &engine.config.pairs {
        if made.contains(pair.monday_board.as_str())
            && let Some(wake) = engine.reconcile_wake(&pair.slug)
        {
            wake.notify_one();
        }
    }
}

/// Cancels `token` on SIGTERM or Ctrl-C.
pub(crate) fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing a SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        token.cancel();
    });
}
