//! Leases in the store: how replicas sharing one database agree that only one of them runs a given
//! piece of work (the processor, a board's pollers) at a time. A lease is a row with a holder and
//! an expiry; the holder renews it while it works, and a replica that dies hands over when the
//! expiry passes. Works the same on SQLite and Postgres.

use super::engine::Engine;
use crate::supervisor::WorkerStatus;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long after a lease lapses a waiting replica asks for it: enough for the clocks of two
/// replicas on one machine to agree that it has.
const LAPSE_MARGIN_MS: i64 = 20;

/// One named lease as one holder sees it.
pub(crate) struct Lease {
    name: String,
    holder: String,
    ttl_ms: i64,
    renewed_at: Option<i64>,
    /// Told whether the lease is held, so the dashboard shows a replica waiting for it as
    /// `standby` rather than as stuck.
    status: Option<WorkerStatus>,
}

impl Lease {
    /// The lease `name` for `holder`, lasting `ttl` without renewal; renewed when a third of it
    /// has passed.
    pub(crate) fn new(name: impl Into<String>, holder: &str, ttl: Duration) -> Lease {
        Lease {
            name: name.into(),
            holder: holder.to_owned(),
            ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
            renewed_at: None,
            status: None,
        }
    }

    /// Reports to `status` whether this holder has the lease (`running`) or waits for another
    /// replica (`standby`). A store error changes nothing: that is `/readyz`'s business.
    pub(crate) fn reporting(mut self, status: &WorkerStatus) -> Lease {
        self.status = Some(status.clone());
        self
    }

    /// How often a holder renews: a third of the lease, so two renewals may fail before it lapses.
    pub(crate) fn renew_every(&self) -> Duration {
        Duration::from_millis((self.ttl_ms / 3).max(1) as u64)
    }

    /// Whether this holder has the lease now, taking or renewing it when due. A store error
    /// counts as not held: work stops rather than risking two holders.
    pub(crate) async fn hold(&mut self, engine: &Engine) -> bool {
        let now = engine.clock.now_ms();
        if self.renewed_at.is_some_and(|t| now - t < self.ttl_ms / 3) {
            return true;
        }
        match engine
            .store
            .lease(&self.name, &self.holder, now, self.ttl_ms)
            .await
        {
            Ok(true) => {
                self.renewed_at = Some(now);
                if let Some(status) = &self.status {
                    status.running();
                }
                true
            }
            Ok(false) => {
                self.renewed_at = None;
                if let Some(status) = &self.status {
                    status.standby();
                }
                false
            }
            Err(e) => {
                tracing::warn!(lease = %self.name, error = %e, "cannot take a lease; will try again");
                self.renewed_at = None;
                false
            }
        }
    }

    /// Waits until this holder has the lease, or `shutdown`; `false` on shutdown.
    pub(crate) async fn acquire(&mut self, engine: &Engine, shutdown: &CancellationToken) -> bool {
        loop {
            if self.hold(engine).await {
                return true;
            }
            let retry = self.next_try(engine).await;
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep(retry) => {}
            }
        }
    }

    /// How long a replica waiting for the lease sleeps: until just after the holder's lease lapses
    /// when that comes sooner than the usual look (so a dead holder's work is taken over within
    /// one lease period of its last renewal, not a polling interval later), else the usual.
    async fn next_try(&self, engine: &Engine) -> Duration {
        let usual = (self.ttl_ms / 5).clamp(100, 2_000);
        let wait = match engine.store.lease_expiry(&self.name).await {
            Ok(Some(lapses)) => (lapses - engine.clock.now_ms() + LAPSE_MARGIN_MS).clamp(1, usual),
            _ => usual,
        };
        Duration::from_millis(wait as u64)
    }

    /// Gives the lease up, so another replica takes over at once.
    pub(crate) async fn release(&mut self, engine: &Engine) {
        self.renewed_at = None;
        if let Err(e) = engine.store.release_lease(&self.name, &self.holder).await {
            tracing::warn!(lease = %self.name, error = %e, "cannot give up a lease; it expires by itself");
        }
    }
}
