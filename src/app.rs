//! The daemon: binds its listener, opens the store, serves HTTP, and stops cleanly.
//!
//! `App::build` does everything that can fail at start-up (bind, connect, migrate) before anything
//! is served, so a bad start ends with one clear error and no half-running daemon. Tests build an
//! `App` on port 0 and talk to it over real HTTP.

use crate::config::Config;
use crate::ingress::Ingress;
use crate::ingress::dedupe::RedisDedupe;
use crate::ingress::writer::InboxWriter;
use crate::metrics::Metrics;
use crate::store::Store;
use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long `/readyz` waits for the store before it calls it unavailable.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

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

/// What request handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub metrics: Metrics,
}

pub struct App {
    listener: TcpListener,
    router: Router,
    state: AppState,
    config: Config,
}

impl App {
    /// Binds `config.daemon.listen` (port 0 picks a free port), opens and migrates the store,
    /// connects to Redis when configured, and wires the parts `role` runs.
    pub async fn build(config: Config, role: Role) -> anyhow::Result<App> {
        let listen = config.daemon.listen;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let store = Store::open(config.daemon.database_url.expose()).await?;
        let state = AppState {
            store,
            metrics: Metrics::default(),
        };
        let mut router = router(state.clone(), &config);
        if role != Role::Worker {
            let redis = match &config.daemon.redis_url {
                None => None,
                Some(url) => Some(
                    RedisDedupe::connect(
                        url.expose(),
                        &config.ingress.redis_prefix,
                        config.ingress.pending_ttl.0,
                        config.ingress.dedupe_ttl.0,
                    )
                    .await
                    .with_context(|| {
                        format!(
                            "cannot reach Redis at {}",
                            crate::store::redact(url.expose())
                        )
                    })?,
                ),
            };
            let writer = InboxWriter::spawn(state.store.clone());
            let ingress = Ingress::new(
                Arc::new(config.clone()),
                writer,
                redis,
                state.metrics.clone(),
            );
            router = router.merge(ingress.routes());
        }
        Ok(App {
            listener,
            router,
            state,
            config,
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

    /// Serves until `shutdown` is cancelled, then stops accepting, lets requests in flight finish
    /// (for at most `[daemon] shutdown_timeout`) and closes the store.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let addr = self.local_addr();
        tracing::info!(%addr, pairs = self.config.pairs.len(), "listening");
        let grace = self.config.daemon.shutdown_timeout.0;
        let stopping = shutdown.clone();
        let server = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move { stopping.cancelled().await });
        let server = tokio::spawn(async move { server.await });
        shutdown.cancelled().await;
        tracing::info!("shutting down");
        match tokio::time::timeout(grace, server).await {
            Ok(joined) => joined
                .context("server task failed")?
                .context("server failed")?,
            Err(_) => tracing::warn!(
                grace = ?grace,
                "requests still in flight after the shutdown timeout; stopping anyway"
            ),
        }
        // Closing waits for connections in use; bounded so a stuck query cannot hold the exit.
        let _ = tokio::time::timeout(Duration::from_secs(1), self.state.store.close()).await;
        Ok(())
    }
}

fn router(state: AppState, config: &Config) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(
            usize::try_from(config.ingress.body_limit.0).unwrap_or(usize::MAX),
        ))
        .with_state(state)
}

/// Every metric, in the Prometheus text format.
async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}

/// 200 while the process runs.
async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 when the store answers, 503 otherwise.
async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "store is not answering");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n")
        }
        Err(_) => {
            tracing::warn!("store did not answer in time");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n")
        }
    }
}

/// Cancels `token` on SIGTERM or Ctrl-C.
pub fn cancel_on_signal(token: CancellationToken) {
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
