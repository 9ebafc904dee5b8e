//! What the daemon serves besides the webhook receivers: the status pages a person watches, the
//! JSON status and live stream they are built from, Prometheus metrics and the health checks.
//!
//! - [`status`] gathers a pair's state from the store into one typed value, served as
//!   `/api/status` and rendered by the pages;
//! - [`pages`] renders `/`, `/pairs/{slug}`, `/dead` and `/conflicts` on the server (they work
//!   without JavaScript; a small script keeps them live);
//! - [`actions`] are the buttons: pause, resume, release, retry and discard, each a POST with a
//!   CSRF token;
//! - [`stream`] is `/api/stream`, server-sent events of status and recent changes;
//! - [`access`] decides who may see all this: open on loopback, a token everywhere else; the
//!   token and the keys made from it are in [`keys`];
//! - [`state`] is what every handler shares, built by the daemon at start;
//! - [`format`](mod@format) writes times as a person reads them, for the pages and the status
//!   alike.

pub mod access;
pub(crate) mod actions;
pub(crate) mod format;
pub(crate) mod keys;
pub(crate) mod pages;
pub(crate) mod state;
pub(crate) mod status;
pub(crate) mod stream;

use crate::config::Config;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use state::AppState;
use std::time::Duration;

/// How long `/readyz` waits for the store before it calls it unavailable.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The dashboard's routes, `/metrics` and the health checks. Everything but the health checks and
/// the login form sits behind [`access::guard`].
pub(crate) fn router(state: AppState, config: &Config) -> Router {
    let guarded = Router::new()
        .route("/", get(pages::overview))
        .route("/pairs/{slug}", get(pages::pair))
        .route("/dead", get(pages::dead))
        .route("/conflicts", get(pages::conflicts))
        .route("/pairs/{slug}/pause", post(actions::pause))
        .route("/pairs/{slug}/resume", post(actions::resume))
        .route("/pairs/{slug}/links/{item}/release", post(actions::release))
        .route("/dead/{id}/retry", post(actions::retry))
        .route("/dead/{id}/discard", post(actions::discard))
        .route("/api/status", get(status::api_status))
        .route("/api/stream", get(stream::api_stream))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::guard,
        ));
    Router::new()
        .merge(guarded)
        .merge(access::routes())
        .route("/assets/style.css", get(pages::stylesheet))
        .route("/assets/live.js", get(pages::script))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
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

/// 200 while every background worker runs (or stands by for a lease another replica holds);
/// 503, naming them, while any is restarting after a failure. The store's health is `/readyz`'s.
async fn healthz(State(state): State<AppState>) -> (StatusCode, String) {
    let restarting = state.workers.restarting();
    if restarting.is_empty() {
        (StatusCode::OK, "ok\n".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("restarting: {}\n", restarting.join(", ")),
        )
    }
}

/// 200 when the inbox answers and the store commits a write, 503 with the reason otherwise.
async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    let now = state.clock.now_ms();
    // The inbox is read first: a lock held on it alone (other writes still commit) holds every
    // delivery, and only this read sees it.
    match tokio::time::timeout(READY_TIMEOUT, state.store.inbox_backlog()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the inbox cannot be read");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the inbox cannot be read: {e}\n"),
            );
        }
        Err(_) => {
            tracing::warn!("the inbox did not answer in time");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the inbox did not answer in time: the receivers cannot store deliveries\n"
                    .to_owned(),
            );
        }
    }
    match tokio::time::timeout(READY_TIMEOUT, state.store.prove_writable(now)).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n".to_owned()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "store cannot write");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("store cannot write: {e}\n"),
            )
        }
        Err(_) => {
            tracing::warn!("store did not commit a write in time");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "store did not commit a write in time\n".to_owned(),
            )
        }
    }
}
