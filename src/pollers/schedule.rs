//! The pollers' loop. Miro has no webhooks any more, and never had any for tags or connectors, so
//! each Miro board is polled: one task per board, holding the board's lease so that among
//! replicas sharing a store exactly one polls it, and pacing itself:
//!
//! - the interval shortens to `[poller] min_interval` as soon as a round finds a change (a person
//!   is at work on the board, more is coming) and lengthens by half each idle round, up to
//!   `max_interval`;
//! - a round never comes sooner than the credits allow: all pollers together may use
//!   `credit_share` of Miro's per-minute credits (the client enforces that share call by call;
//!   here the interval is stretched so that rounds do not queue up waiting for credits), which
//!   leaves the rest for writes;
//! - with the content-logs feed on (`[miro] org_id`), every change reaches boardsync through the
//!   feed, and the scan only backs it up: it runs at `max_interval`.
//!
//! Each round scans the board's items for every pair on it; what a round found and how it is paced
//! is recorded in the store (cursor `poll:{slug}`), for `/api/status` on any replica.

use crate::config::{PairConfig, PollerSettings};
use crate::domain::miro::ItemType;
use crate::runtime::Engine;
use crate::runtime::Lease;
use crate::store::keys;
use crate::supervisor::WorkerStatus;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The pace of one board's rounds.
#[derive(Debug, Clone)]
pub(crate) struct Pace {
    min: Duration,
    max: Duration,
    current: Duration,
    /// The content log reports every change: the scan is only a backstop.
    backstop: bool,
}

impl Pace {
    pub(crate) fn new(settings: &PollerSettings, content_log: bool) -> Pace {
        Pace {
            min: settings.min_interval.0,
            max: settings.max_interval.0,
            current: settings.interval.0,
            backstop: content_log,
        }
    }

    /// The wait before the next round, after a round that found `changes` and used `credits` out
    /// of `budget` (the credits per minute the pollers of one board may use), and whether the
    /// budget set it.
    pub(crate) fn next(&mut self, changes: usize, credits: u64, budget: f64) -> (Duration, bool) {
        self.current = if self.backstop {
            self.max
        } else if changes > 0 {
            self.min
        } else {
            self.current.mul_f64(1.5).clamp(self.min, self.max)
        };
        let floor = floor(credits, budget);
        if floor > self.current {
            (floor, true)
        } else {
            (self.current, false)
        }
    }

    /// Whether rounds costing `credits` would have to come less often than activity asks.
    pub(crate) fn exceeds(&self, credits: u64, budget: f64) -> bool {
        floor(credits, budget) > self.current
    }
}

/// The part of their budget the pace plans rounds for. The rest absorbs what a round cannot
/// foresee (reads of changed items, another pair's round), so the governor's hard stop, which
/// holds every poll until the window resets, is rarely reached.
const PACE_HEADROOM: f64 = 0.8;

/// The shortest wait between rounds costing `credits` when `budget` credits a minute are theirs.
fn floor(credits: u64, budget: f64) -> Duration {
    if budget > 0.0 {
        Duration::from_secs_f64((credits as f64 / (budget * PACE_HEADROOM) * 60.0).min(3600.0))
    } else {
        Duration::ZERO
    }
}

/// The credits per minute the pollers of one of `boards` boards may use: an equal part of
/// `share` of Miro's `limit`; 0 (no stretching) until an answer has told the limit.
fn board_budget(limit: Option<u64>, share: f64, boards: usize) -> f64 {
    limit.map_or(0.0, |limit| limit as f64 * share / boards.max(1) as f64)
}

/// The Miro boards to scan, each with the pairs on it: one scan worker per board.
pub(crate) fn boards(config: &crate::config::Config) -> BTreeMap<String, Vec<PairConfig>> {
    let mut boards: BTreeMap<String, Vec<PairConfig>> = BTreeMap::new();
    for pair in &config.pairs {
        boards
            .entry(pair.miro_board.as_str().to_owned())
            .or_default()
            .push(pair.clone());
    }
    boards
}

/// Scans one Miro board (`pairs` are the pairs on it, `boards` how many boards share the
/// credits) until `shutdown`, while holding the board's lease; `status` hears whether it does.
pub(crate) async fn run_board(
    engine: Engine,
    board: String,
    pairs: Vec<PairConfig>,
    boards: usize,
    shutdown: CancellationToken,
    status: WorkerStatus,
) {
    let holder = status.holder();
    let settings = &engine.config.poller;
    let mut lease =
        Lease::new(keys::board_poll_lease(&board), holder, settings.lease.0).reporting(&status);
    let mut pace = Pace::new(settings, engine.config.miro.org_id.is_some());
    // What the pollers of one board may spend per minute, once Miro has said its limit: an
    // equal part of the pollers' share, set against what this board's own rounds cost.
    let budget = || board_budget(engine.miro.credit_limit(), settings.credit_share.0, boards);
    let (mut limited, mut turn) = (false, 0usize);
    'rounds: loop {
        if !lease.acquire(&engine, &shutdown).await {
            break;
        }
        // Types in turns only while the credits set the pace.
        let only = |pair: &PairConfig| {
            (limited && pair.miro_items.len() > 1)
                .then(|| pair.miro_items[turn % pair.miro_items.len()])
        };
        let scans: Vec<(PairConfig, Option<ItemType>)> =
            pairs.iter().map(|p| (p.clone(), only(p))).collect();
        let Some((changes, credits)) =
            while_held(&mut lease, &engine, round(&engine, &scans)).await
        else {
            tracing::info!(board = %board, "another replica took over this board's polling");
            continue;
        };
        turn = turn.wrapping_add(1);
        let (wait, stretched) = pace.next(changes, credits, budget());
        // In turns, stay in turns while the whole board would still cost too much.
        let types = scans
            .iter()
            .filter_map(|(p, only)| only.map(|_| p.miro_items.len()))
            .max()
            .unwrap_or(1);
        limited = if types > 1 {
            pace.exceeds(credits * types as u64, budget())
        } else {
            stretched
        };
        let now = engine.clock.now_ms();
        for (pair, only) in &scans {
            engine
                .metrics
                .poll_interval_seconds
                .with_label_values(&[&pair.name])
                .set(wait.as_secs_f64());
            let state = keys::PollState {
                interval_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                last_round: now,
                changes,
                credits,
                limited_by_credits: stretched || limited,
                in_turns: only.map(|t| t.as_str().to_owned()),
                credits_per_minute: budget().round() as u64,
                board_share: settings.credit_share.0 / boards as f64,
            };
            let text = serde_json::to_string(&state).expect("poll state serialises");
            if let Err(e) = engine
                .store
                .record_cursor(&keys::poll_state(&pair.slug), &text, now)
                .await
            {
                tracing::warn!(pair = %pair.name, error = %e, "cannot record the poll state");
            }
        }
        if limited {
            tracing::debug!(board = %board, wait_ms = wait.as_millis() as u64, "Miro credits stretch the scan interval");
        }
        let sleep = tokio::time::sleep(wait);
        tokio::select! {
            _ = shutdown.cancelled() => break 'rounds,
            held = while_held(&mut lease, &engine, sleep) => if held.is_none() { continue },
        }
    }
    lease.release(&engine).await;
}

/// Runs `work` while renewing `lease`; `None` when the lease is lost meanwhile (the work is then
/// dropped: everything a poller stores is safe to do again).
pub(super) async fn while_held<T>(
    lease: &mut Lease,
    engine: &Engine,
    work: impl Future<Output = T>,
) -> Option<T> {
    tokio::pin!(work);
    let renew = lease.renew_every();
    loop {
        tokio::select! {
            out = &mut work => return Some(out),
            _ = tokio::time::sleep(renew) => {
                if !lease.hold(engine).await {
                    return None;
                }
            }
        }
    }
}

/// One round over the board's pairs (each scanned whole, or only the type given): the changes
/// found and the credits used.
async fn round(engine: &Engine, scans: &[(PairConfig, Option<ItemType>)]) -> (usize, u64) {
    crate::clients::miro::MiroClient::metered(scan_all(engine, scans)).await
}

/// The scans of one round, each pair's tags and connectors after its items; the changes found.
async fn scan_all(engine: &Engine, scans: &[(PairConfig, Option<ItemType>)]) -> usize {
    let mut changes = 0;
    for (pair, only) in scans {
        let outcome = match super::scan::scan_pair_of(engine, pair, *only).await {
            Ok(report) => {
                if report.changes > 0 {
                    tracing::debug!(pair = %pair.name, ?report, "scanned the Miro board");
                }
                changes += report.changes;
                "ok"
            }
            Err(e) => {
                tracing::warn!(pair = %pair.name, error = %e, "Miro board scan failed; will try again");
                "error"
            }
        };
        engine
            .metrics
            .polls
            .with_label_values(&[&pair.name, "miro_scan", outcome])
            .inc();
        if super::tags::wanted(pair) {
            let polled = super::tags::poll_pair(engine, pair).await;
            changes += record_poll(engine, pair, "miro_tags", polled);
        }
        if super::connectors::wanted(pair) {
            let polled = super::connectors::poll_pair(engine, pair).await;
            changes += record_poll(engine, pair, "miro_connectors", polled);
        }
    }
    changes
}

/// Counts a tag or connector poll (`boardsync_polls_total`, `boardsync_poll_ignored`); the
/// changes it found.
fn record_poll(
    engine: &Engine,
    pair: &PairConfig,
    poller: &str,
    polled: anyhow::Result<super::relation::PollReport>,
) -> usize {
    let (outcome, report) = match polled {
        Ok(report) => ("ok", report),
        Err(e) => {
            tracing::warn!(pair = %pair.name, poller, error = %e, "Miro poll failed; will try again");
            ("error", Default::default())
        }
    };
    engine
        .metrics
        .polls
        .with_label_values(&[&pair.name, poller, outcome])
        .inc();
    if outcome == "ok" {
        engine
            .metrics
            .poll_ignored
            .with_label_values(&[&pair.name, poller])
            .set(report.ignored as i64);
    }
    report.changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Duration as D, Share};

    fn settings() -> PollerSettings {
        PollerSettings {
            interval: D::from_secs(5),
            min_interval: D::from_secs(1),
            max_interval: D::from_secs(60),
            credit_share: Share(0.5),
            reconcile_interval: D::from_secs(3600),
            content_log_interval: D::from_secs(30),
            lease: D::from_secs(15),
        }
    }

    #[test]
    fn a_busy_board_is_scanned_every_second_and_an_idle_one_slows_to_a_minute() {
        let mut pace = Pace::new(&settings(), false);
        assert_eq!(pace.next(3, 0, 0.0), (Duration::from_secs(1), false));
        let mut waits = Vec::new();
        for _ in 0..12 {
            waits.push(pace.next(0, 0, 0.0).0);
        }
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
        assert_eq!(waits[0], Duration::from_millis(1500));
        assert_eq!(*waits.last().unwrap(), Duration::from_secs(60));
        assert_eq!(pace.next(1, 0, 0.0).0, Duration::from_secs(1));
    }

    #[test]
    fn the_credit_share_stretches_the_interval_and_says_so() {
        let mut pace = Pace::new(&settings(), false);
        // 2,000 credits a round against 10,000 a minute, planned at 80%: 4 rounds a minute.
        assert_eq!(
            pace.next(1, 2_000, 10_000.0),
            (Duration::from_secs(15), true)
        );
        assert_eq!(pace.next(1, 50, 10_000.0), (Duration::from_secs(1), false));
    }

    #[test]
    fn each_board_paces_its_own_rounds_against_its_own_part_of_the_share() {
        // 200 boards on Miro's 100,000 credits at half: 250 credits a minute each. A round of
        // one page (100 credits) may come every 30 s, planned at 80%.
        let budget = board_budget(Some(100_000), 0.5, 200);
        assert_eq!(budget, 250.0);
        let mut pace = Pace::new(&settings(), false);
        assert_eq!(pace.next(0, 100, budget), (Duration::from_secs(30), true));
        // Counted as its own, the credits of every board's round (20,000) held it to the cap.
        assert_eq!(pace.next(0, 20_000, budget).0, Duration::from_secs(3600));
        assert_eq!(board_budget(None, 0.5, 200), 0.0);
    }

    #[test]
    fn with_the_content_log_on_the_scan_is_a_backstop() {
        let mut pace = Pace::new(&settings(), true);
        assert_eq!(pace.next(5, 0, 0.0).0, Duration::from_secs(60));
    }
}
