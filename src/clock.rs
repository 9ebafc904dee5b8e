//! The one clock boardsync and its sandbox read: real time plus an offset that only moves
//! forward. A daemon makes one at start and hands it to every part that asks the time (the engine,
//! the API clients' rate-limit waits, the receivers, the dashboard, the supervisor); the sandbox
//! holds its own (moved by `POST /_sandbox/clock`). Tests of retries, rate-limit windows, cursor
//! expiry and idempotency windows move time instead of waiting for it, and everything moves with
//! it. Nothing outside the sandbox reads `Utc::now()` but this module.

use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Clone, Default, Debug)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    pub fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }

    /// Moves the clock forward (never back: time in the sandbox, as outside, only goes on).
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// `2026-11-24T09:30:00.123Z`: ISO 8601 UTC with milliseconds, as both APIs write times.
    pub(crate) fn iso_millis(t: DateTime<Utc>) -> String {
        t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward_by_that_much() {
        let clock = Clock::default();
        let before = clock.now_ms();
        clock.advance(std::time::Duration::from_secs(3600));
        let after = clock.now_ms();
        assert!(after - before >= 3_600_000 && after - before < 3_610_000);
    }

    #[test]
    fn times_are_written_with_milliseconds() {
        let t = DateTime::parse_from_rfc3339("2026-11-24T09:30:00.1Z")
            .unwrap()
            .to_utc();
        assert_eq!(Clock::iso_millis(t), "2026-11-24T09:30:00.100Z");
    }
}
