//! The HTTP server: accepts connections and serves the router on each, within limits that keep
//! slow, idle or too many clients from holding the receivers.
//!
//! - A connection must send a request's headers within `[daemon] header_read_timeout`, and may
//!   sit idle between two requests no longer than that, or it is closed. (Each receiver also
//!   reads its body within `body_read_timeout`: see `ingress`.)
//! - At most `[daemon] max_connections` are served at once. A connection that comes while they are
//!   all open is still accepted, so that `/healthz` and `/readyz` answer whatever clients hold:
//!   it gets those two answered, anything else a 503 with `Retry-After`, and is closed after one
//!   request. The first such connection after a quiet spell is logged, then one line every 10 s
//!   counts them, and `boardsync_http_connections_over_limit_total` counts each.
//! - The process asks for as many open files as its hard limit allows at start, and the limit on
//!   connections is lowered, with a warning, when the files cannot hold it.

use crate::metrics::Metrics;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What the server holds its clients to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

/// How long a connection over the limit has to send its request's headers.
const OVER_LIMIT_HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// The least time between two log lines about the same trouble.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// The wait after accepting fails for want of resources (open files, memory), so the loop does
/// not spin while they are short.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Open files kept for everything but the clients' connections: the store, Redis, the calls to
/// Miro and monday, logs.
const RESERVED_FILES: u64 = 256;

/// Serves `router` on `listener` until `shutdown`, then lets the requests in flight finish (the
/// caller bounds how long) and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    metrics: Metrics,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let over_limit_router = router
        .clone()
        .layer(axum::middleware::from_fn(health_checks_only));
    let graceful = GracefulShutdown::new();
    let mut over_limit = Throttle::default();
    let mut accept_failed = Throttle::default();
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // A client that gave up before its connection was taken is no trouble of
                    // the server's; anything else (out of open files) is waited out.
                    if !is_client_gone(&e) {
                        if let Some(since) = accept_failed.due() {
                            tracing::warn!(error = %e, failures = since, "cannot accept connections");
                        }
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream);
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let open = metrics.http_connections.clone();
                open.inc();
                let served = connection(limits.header_read_timeout, true)
                    .serve_connection(io, TowerToHyperService::new(router.clone()));
                let served = graceful.watch(served);
                tokio::spawn(async move {
                    let _ = served.await;
                    open.dec();
                    drop(slot);
                });
            }
            Err(_) => {
                metrics.http_connections_over_limit.inc();
                if let Some(since) = over_limit.due() {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        refused = since,
                        "connection limit reached: new connections get /healthz and /readyz, \
                         anything else 503 ([daemon] max_connections, header_read_timeout)"
                    );
                }
                let served = connection(
                    OVER_LIMIT_HEADER_TIMEOUT.min(limits.header_read_timeout),
                    false,
                )
                .serve_connection(io, TowerToHyperService::new(over_limit_router.clone()));
                let served = graceful.watch(served);
                tokio::spawn(async move {
                    let _ = served.await;
                });
            }
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

/// An HTTP/1 connection's settings: headers within `header_timeout` (also the longest idle time
/// between requests); `keep_alive` false closes it after one request.
fn connection(header_timeout: Duration, keep_alive: bool) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(keep_alive);
    builder
}

/// The router of a connection over the limit: the health checks go through, so a supervisor
/// still sees the daemon; everything else is turned away at once, unread.
async fn health_checks_only(request: Request, next: Next) -> Response {
    match request.uri().path() {
        "/healthz" | "/readyz" => next.run(request).await,
        _ => {
            let mut response = (
                StatusCode::SERVICE_UNAVAILABLE,
                "too many connections are open ([daemon] max_connections); try again\n",
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            response
        }
    }
}

fn is_client_gone(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// Spaces out log lines about a trouble that may repeat thousands of times a second.
#[derive(Default)]
struct Throttle {
    last: Option<Instant>,
    /// Occurrences since the last line.
    since: u64,
}

impl Throttle {
    /// Counts one occurrence; when a line is due, how many it covers.
    fn due(&mut self) -> Option<u64> {
        self.since += 1;
        let now = Instant::now();
        if self.last.is_some_and(|last| now - last < WARN_EVERY) {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.since))
    }
}

/// Raises the process's open-file limit as far as its hard limit allows, and answers how many
/// connections `configured` may be within it.
pub(crate) fn connection_limit(configured: usize) -> usize {
    let files = rlimit::increase_nofile_limit(u64::MAX).ok();
    let allowed = files.map_or(configured, |files| within_files(configured, files));
    if allowed < configured {
        tracing::warn!(
            max_connections = configured,
            open_files = files,
            serving = allowed,
            "the open-file limit cannot hold [daemon] max_connections; serving fewer \
             (raise the limit, e.g. LimitNOFILE= in a systemd unit or `ulimit -n`)"
        );
    }
    allowed
}

/// The connections `files` open files can hold besides the daemon's own, at most `configured`.
fn within_files(configured: usize, files: u64) -> usize {
    let spare = files.saturating_sub(RESERVED_FILES).max(files / 2).max(1);
    configured.min(usize::try_from(spare).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_leave_the_daemon_its_own_files() {
        assert_eq!(within_files(4096, 1_048_576), 4096);
        assert_eq!(within_files(4096, 1024), 1024 - 256);
        // A tiny limit still serves half of it rather than none.
        assert_eq!(within_files(4096, 300), 150);
        assert_eq!(within_files(10, 1024), 10);
        assert_eq!(within_files(10, 0), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_repeated_trouble_is_logged_once_per_interval_with_its_count() {
        let mut t = Throttle::default();
        assert_eq!(t.due(), Some(1));
        assert_eq!(t.due(), None);
        assert_eq!(t.due(), None);
        tokio::time::advance(WARN_EVERY).await;
        assert_eq!(t.due(), Some(3));
        assert_eq!(t.due(), None);
    }
}
