//! monday's per-minute limits as the client keeps to them: every answer's `RateLimit` header
//! (IETF draft structured fields, `"complexityMinute";r=4950000;t=45`) says what is left of each
//! window and when it resets, and every call books its expected cost before it is sent, so calls
//! made one after another, or at once, wait for the next window instead of drawing 429s. A 429
//! holds every call until the time it names.
//!
//! A call's cost is learnt per operation: from the fall in `complexityMinute` across a call that
//! had the window to itself (none other sent or answered meanwhile). The first call of an
//! operation is such a probe: it waits for the calls in flight and holds the others back until
//! it is answered, so 200 reconcilers starting at once book what a board listing really costs
//! after the first of them, not a guess 100 times too small. An answer without the header leaves
//! the operation reckoned at 10,000 points for a mutation (what monday documents for
//! `create_item`) and 1,000 for a query.
//!
//! Waits are reckoned on the daemon's clock and checked a few times a second, so a test that
//! moves the clock past a reset ends the wait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The window names monday uses in `RateLimit` and `RateLimit-Policy`.
const COMPLEXITY: &str = "complexityMinute";
const CALLS: &str = "minuteRate";
/// What a call is reckoned to cost before its operation's cost is known.
const MUTATION_COST: u64 = 10_000;
const QUERY_COST: u64 = 1_000;
/// The part of each window left unbooked, for calls whose cost was underestimated and for calls
/// in flight when an answer resets the count.
const RESERVE: f64 = 0.02;
/// How often a waiting call looks at the clock again.
const WAIT_SLICE: Duration = Duration::from_millis(200);
/// How often a call held back by a probe looks again (ms).
const PROBE_WAIT_MS: i64 = 20;

/// One window as the last answer told it, less what was booked since.
#[derive(Debug, Default, Clone, Copy)]
struct Window {
    /// The window's size (`q` of `RateLimit-Policy`), once told.
    quota: Option<u64>,
    remaining: Option<u64>,
    /// When it resets (local Unix ms); 0 when not known.
    reset_at: i64,
}

impl Window {
    fn roll(&mut self, now: i64) {
        if self.reset_at != 0 && now >= self.reset_at {
            (self.remaining, self.reset_at) = (None, 0);
        }
    }

    /// Whether `cost` fits, leaving the reserve.
    fn fits(&self, cost: u64) -> bool {
        let reserve = self.quota.map_or(0, |q| (q as f64 * RESERVE) as u64);
        self.remaining.is_none_or(|r| r >= cost + reserve)
    }

    fn book(&mut self, cost: u64) {
        if let Some(r) = self.remaining.as_mut() {
            *r = r.saturating_sub(cost);
        }
    }

    /// When to look again: at the reset, or in a second when it is not known.
    fn until(&self, now: i64) -> i64 {
        if self.reset_at != 0 {
            self.reset_at
        } else {
            now + 1_000
        }
    }
}

/// The limits every clone of a client shares.
#[derive(Debug, Default)]
pub(super) struct Limits {
    complexity: Window,
    calls: Window,
    /// No call goes before this (a 429's retry time).
    blocked_until: i64,
    /// Learnt cost per operation name.
    costs: HashMap<String, u64>,
    /// Calls sent and answered so far, to tell whether a call had the window to itself.
    sent: u64,
    answered: u64,
    in_flight: u64,
    /// A call whose operation's cost is not known yet is in flight alone.
    probing: bool,
}

/// A booked call, handed back with its answer.
#[derive(Debug)]
pub(super) struct Ticket {
    operation: String,
    /// What `complexityMinute` had left as last told when this call went, if it had the window
    /// to itself so far; the sequence numbers that tell whether it still has.
    alone: Option<(u64, u64, u64)>,
    mutation: bool,
    /// This call is its operation's probe.
    probe: bool,
}

impl Limits {
    /// The cost `operation` is reckoned at.
    fn cost(&self, operation: &str, mutation: bool) -> u64 {
        self.costs.get(operation).copied().unwrap_or(if mutation {
            MUTATION_COST
        } else {
            QUERY_COST
        })
    }

    /// Books a call, or says until when it must wait.
    fn book(&mut self, operation: &str, mutation: bool, now: i64) -> Result<Ticket, i64> {
        if now < self.blocked_until {
            return Err(self.blocked_until);
        }
        let probe = !self.costs.contains_key(operation);
        if self.probing || (probe && self.in_flight > 0) {
            // Looked at again shortly: when the calls in flight are answered.
            return Err(now + PROBE_WAIT_MS);
        }
        self.complexity.roll(now);
        self.calls.roll(now);
        let cost = self.cost(operation, mutation);
        if !self.complexity.fits(cost) {
            return Err(self.complexity.until(now));
        }
        if !self.calls.fits(1) {
            return Err(self.calls.until(now));
        }
        self.complexity.book(cost);
        self.calls.book(1);
        let alone = (self.in_flight == 0)
            .then_some(self.complexity.remaining)
            .flatten()
            .map(|r| (r + cost, self.sent + 1, self.answered));
        self.sent += 1;
        self.in_flight += 1;
        self.probing = probe;
        Ok(Ticket {
            operation: operation.to_owned(),
            alone,
            mutation,
            probe,
        })
    }

    /// Takes in an answer's limit headers (`None` when the call failed before any answer) and
    /// whether it was a 429 to wait out until `retry_at`.
    fn answered(
        &mut self,
        ticket: Ticket,
        told: Option<&HeaderReading>,
        retry_at: Option<i64>,
        now: i64,
    ) {
        let alone = ticket
            .alone
            .filter(|&(_, sent, answered)| sent == self.sent && answered == self.answered);
        self.in_flight = self.in_flight.saturating_sub(1);
        self.answered += 1;
        if ticket.probe {
            self.probing = false;
        }
        if let Some(at) = retry_at {
            self.blocked_until = self.blocked_until.max(at);
        }
        let Some(told) = told else { return };
        match told.window(COMPLEXITY) {
            // No header to learn from: the operation keeps its default cost, unprobed.
            None if ticket.probe && retry_at.is_none() => {
                let default = self.cost(&ticket.operation, ticket.mutation);
                self.costs.insert(ticket.operation.clone(), default);
            }
            _ => {}
        }
        if let Some((r, t)) = told.window(COMPLEXITY) {
            if let (Some((before, ..)), None) = (alone, retry_at)
                && before > r
            {
                self.costs.insert(ticket.operation.clone(), before - r);
            }
            self.complexity.remaining = Some(r);
            if let Some(t) = t {
                self.complexity.reset_at = now + t * 1000;
            }
        }
        if let Some((r, t)) = told.window(CALLS) {
            self.calls.remaining = Some(r);
            if let Some(t) = t {
                self.calls.reset_at = now + t * 1000;
            }
        }
        if let Some(q) = told.quota(COMPLEXITY) {
            self.complexity.quota = Some(q);
        }
        if let Some(q) = told.quota(CALLS) {
            self.calls.quota = Some(q);
        }
    }
}

/// A call booked on the shared limits. Finished with its answer; dropped unanswered (the call
/// was cut off), it is taken back as answered without headers, so a probe never holds the others
/// for ever.
pub(super) struct Booked {
    limits: Arc<Mutex<Limits>>,
    ticket: Option<Ticket>,
}

impl Booked {
    /// Hands the answer back: its limit headers (`None` when there was no answer) and, for a
    /// 429, when calls may go again.
    pub(super) fn finish(mut self, told: Option<&HeaderReading>, retry_at: Option<i64>, now: i64) {
        if let Some(ticket) = self.ticket.take() {
            let mut limits = self.limits.lock().expect("monday limits");
            limits.answered(ticket, told, retry_at, now);
        }
    }
}

impl Drop for Booked {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take()
            && let Ok(mut limits) = self.limits.lock()
        {
            limits.answered(ticket, None, None, 0);
        }
    }
}

/// Books a call on `limits`, waiting (on `clock`) while it does not fit; `waiting` counts the
/// calls held meanwhile.
pub(super) async fn wait_turn(
    limits: &Arc<Mutex<Limits>>,
    operation: &str,
    mutation: bool,
    clock: &crate::clock::Clock,
    waiting: Option<&prometheus::IntGauge>,
) -> Booked {
    let mut counted = false;
    let ticket = loop {
        let now = clock.now_ms();
        let booked = limits
            .lock()
            .expect("monday limits")
            .book(operation, mutation, now);
        match booked {
            Ok(ticket) => break ticket,
            Err(until) => {
                // A wait of more than a slice is a window used up, not a probe in flight.
                if !counted && until - now > PROBE_WAIT_MS {
                    tracing::debug!(
                        operation,
                        wait_ms = until - now,
                        "monday's limits used up for now; waiting for the next window"
                    );
                    if let Some(g) = waiting {
                        g.inc();
                    }
                    counted = true;
                }
                let left = Duration::from_millis((until - now).max(1) as u64);
                tokio::time::sleep(left.min(WAIT_SLICE)).await;
            }
        }
    };
    if let (true, Some(g)) = (counted, waiting) {
        g.dec();
    }
    Booked {
        limits: limits.clone(),
        ticket: Some(ticket),
    }
}

/// The `RateLimit` and `RateLimit-Policy` headers of one answer.
#[derive(Debug, Default)]
pub(super) struct HeaderReading {
    /// Window name → (remaining, seconds to reset).
    current: HashMap<String, (u64, Option<i64>)>,
    /// Window name → quota.
    policy: HashMap<String, u64>,
}

impl HeaderReading {
    pub(super) fn read(headers: &reqwest::header::HeaderMap) -> HeaderReading {
        let mut out = HeaderReading::default();
        let text = |name: &str| {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
                .join(",")
        };
        for (name, params) in items(&text("RateLimit")) {
            if let Some(r) = params.get("r").and_then(|v| v.parse().ok()) {
                let t = params.get("t").and_then(|v| v.parse().ok());
                out.current.insert(name, (r, t));
            }
        }
        for (name, params) in items(&text("RateLimit-Policy")) {
            if let Some(q) = params.get("q").and_then(|v| v.parse().ok()) {
                out.policy.insert(name, q);
            }
        }
        out
    }

    fn window(&self, name: &str) -> Option<(u64, Option<i64>)> {
        self.current.get(name).copied()
    }

    fn quota(&self, name: &str) -> Option<u64> {
        self.policy.get(name).copied()
    }
}

/// `"name";k=v;k=v, "name";k=v` as (name, params).
fn items(text: &str) -> Vec<(String, HashMap<String, String>)> {
    text.split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let name = parts.next()?.trim().trim_matches('"').to_owned();
            if name.is_empty() {
                return None;
            }
            let params = parts
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
                })
                .collect();
            Some((name, params))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn told(remaining: u64, reset_in: i64) -> HeaderReading {
        let mut headers = HeaderMap::new();
        headers.insert(
            "RateLimit-Policy",
            HeaderValue::from_static("\"complexityMinute\";q=100000;w=60"),
        );
        headers.insert(
            "RateLimit",
            HeaderValue::from_str(&format!("\"complexityMinute\";r={remaining};t={reset_in}"))
                .unwrap(),
        );
        HeaderReading::read(&headers)
    }

    #[test]
    fn the_headers_are_read_as_monday_writes_them() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "RateLimit",
            HeaderValue::from_static(
                "\"minuteRate\";r=4999, \"concurrency\";r=249, \"complexityMinute\";r=4950000;t=45",
            ),
        );
        let reading = HeaderReading::read(&headers);
        assert_eq!(reading.window(COMPLEXITY), Some((4_950_000, Some(45))));
        assert_eq!(reading.window(CALLS), Some((4_999, None)));
    }

    #[test]
    fn calls_one_after_another_learn_their_cost_and_wait_for_the_reset_before_the_budget_ends() {
        let mut limits = Limits::default();
        let now = 1_000_000;
        // The first call goes on the default; its answer tells what is left and teaches the cost.
        let t = limits.book("CreateWebhook", true, now).unwrap();
        limits.answered(t, Some(&told(100_000 - 10_100, 50)), None, now);
        let t = limits.book("CreateWebhook", true, now).unwrap();
        limits.answered(t, Some(&told(100_000 - 2 * 10_100, 50)), None, now);
        assert_eq!(limits.costs["CreateWebhook"], 10_100);
        let mut sent = 2;
        while let Ok(t) = limits.book("CreateWebhook", true, now) {
            sent += 1;
            limits.answered(t, Some(&told(100_000 - sent * 10_100, 50)), None, now);
        }
        // Nine fit in 100,000 with 2% kept back; the tenth waits for the reset, 50 s on.
        assert_eq!(sent, 9);
        assert_eq!(
            limits.book("CreateWebhook", true, now).map(|_| ()),
            Err(now + 50_000)
        );
        assert!(limits.book("CreateWebhook", true, now + 50_000).is_ok());
    }

    #[test]
    fn a_429_holds_every_call_until_its_retry_time() {
        let mut limits = Limits::default();
        let t = limits.book("Items", false, 0).unwrap();
        limits.answered(t, None, Some(7_000), 0);
        assert_eq!(
            limits.book("ChangeValues", true, 10).map(|_| ()),
            Err(7_000)
        );
        assert!(limits.book("ChangeValues", true, 7_000).is_ok());
    }

    #[test]
    fn the_first_call_of_an_operation_goes_alone_and_teaches_its_cost_to_the_rest() {
        let mut limits = Limits::default();
        let t = limits.book("Me", false, 0).unwrap();
        limits.answered(t, Some(&told(99_000, 50)), None, 0);
        let probe = limits.book("ItemsPage", false, 0).unwrap();
        // Held back while the probe is out, whatever their operation.
        assert!(limits.book("ItemsPage", false, 0).is_err());
        assert!(limits.book("Me", false, 0).is_err());
        limits.answered(probe, Some(&told(99_000 - 25_000, 50)), None, 0);
        assert_eq!(limits.costs["ItemsPage"], 25_000);
        // Now they go at once, each booking what a listing costs: two fit, the third waits.
        let (a, b) = (
            limits.book("ItemsPage", false, 0),
            limits.book("ItemsPage", false, 0),
        );
        assert!(a.is_ok() && b.is_ok());
        assert_eq!(limits.book("ItemsPage", false, 0).map(|_| ()), Err(50_000));
    }

    #[test]
    fn a_cost_is_learnt_only_from_a_call_that_had_the_window_to_itself() {
        let mut limits = Limits::default();
        limits.costs.insert("ItemsPage".into(), 1);
        limits.costs.insert("CreateItem".into(), 1);
        let t = limits.book("Me", false, 0).unwrap();
        limits.answered(t, Some(&told(90_000, 50)), None, 0);
        let a = limits.book("ItemsPage", false, 0).unwrap();
        let b = limits.book("CreateItem", true, 0).unwrap();
        limits.answered(a, Some(&told(60_000, 50)), None, 0);
        limits.answered(b, Some(&told(50_000, 50)), None, 0);
        assert_eq!(
            (limits.costs["ItemsPage"], limits.costs["CreateItem"]),
            (1, 1)
        );
    }
}
