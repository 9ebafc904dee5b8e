//! The retention job: once an hour (and once soon after start), finished outbox rows, processed
//! inbox entries, history and conflicts older than `[sync] retention`, expired dedupe keys, and
//! raw webhook bodies older than `[ingress] keep_raw` are deleted. Pending and dead rows are never
//! touched: what has not been done stays until it is done, replayed or discarded.

use crate::runtime::Engine;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the job runs.
const EVERY: Duration = Duration::from_secs(3600);
/// The first run, after start-up has settled.
const FIRST: Duration = Duration::from_secs(60);

pub(crate) async fn run(engine: Engine, shutdown: CancellationToken) {
    let mut wait = FIRST;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = EVERY;
        let _ = prune_once(&engine).await;
    }
}

/// One pass, logged; what the store removed, or `None` when it failed (tried again next time).
pub(crate) async fn prune_once(engine: &Engine) -> Option<crate::store::Pruned> {
    let now = engine.clock.now_ms();
    let age = |d: Duration| now.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let before = age(engine.config.sync.retention.0);
    let raw_before = age(engine.config.ingress.keep_raw.0);
    match engine.store.prune(before, raw_before, now).await {
        Ok(pruned) => {
            tracing::info!(
                rows = pruned.rows,
                raw_bodies = pruned.raw_bodies,
                "retention: old finished rows pruned"
            );
            Some(pruned)
        }
        Err(e) => {
            tracing::warn!(error = %e, "retention: pruning failed; will try again");
            None
        }
    }
}
