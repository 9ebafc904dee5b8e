//! The daemon's state per pair, read from the store into one typed value: served as JSON on
//! `GET /api/status` (documented in `docs/api.md`; a field, once there, keeps its meaning), sent
//! on the live stream, and rendered by the pages. Everything here is read from the store, so any
//! replica shows the same, except webhook health, which is what this process's receivers saw, and
//! the workers, which are this process's.

use super::state::AppState;
use crate::config::{Config, PairConfig};
use crate::domain::{Linked, MiroItemId, MondayItemId, Side};
use crate::metrics::SourceHealth;
use crate::store::{HistoryEntry, LinkState, Store, StoreError};
use crate::supervisor::WorkerView;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

/// Quarantined links listed per pair.
const QUARANTINE_LIST: i64 = 50;
/// A change waiting longer than this makes a pair "catching up"; a younger one is the normal
/// time a change takes through the processor and the outbox.
const LAG_TOLERANCE_MS: i64 = 2_000;
/// A webhook failure this recent makes a pair degraded.
const RECENT_FAILURE_MS: i64 = 15 * 60_000;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Status {
    pub version: &'static str,
    /// When this was read (Unix ms).
    pub at: i64,
    /// Inbox entries of every pair not yet processed.
    pub inbox_backlog: i64,
    /// Problems found at start that did not stop the daemon (an API not answering...).
    pub problems: Vec<String>,
    /// How each source's webhooks have been going, as this process's receivers saw them.
    pub webhooks: Webhooks,
    /// This process's background workers, by name: `running`, `restarting` after a failure, or
    /// `standby` while another replica holds the lease their work needs.
    pub workers: Vec<WorkerView>,
    pub pairs: Vec<PairStatus>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Webhooks {
    /// `false` when this process runs no receivers (`--role worker`).
    pub receiving: bool,
    pub miro: SourceHealth,
    pub monday: SourceHealth,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct PairStatus {
    pub name: String,
    pub slug: String,
    pub miro_board: String,
    pub monday_board: String,
    /// The one-line verdict: how the pair is doing and why.
    pub state: PairState,
    /// Since when a person paused the pair (Unix ms), or `null`.
    pub paused_since: Option<i64>,
    pub links: LinkCounts,
    /// The newest change seen from each side, and what became of it.
    pub last_change: LastChange,
    /// Age of the oldest change still waiting (not yet processed, or its write not yet made), in
    /// ms; `null` when nothing waits.
    pub lag_ms: Option<i64>,
    pub outbox_backlog: i64,
    pub dead_letters: i64,
    pub conflicts: i64,
    pub quarantined: Vec<QuarantinedLink>,
    pub poller: PollerStatus,
    /// The monday reconciler: reads the monday board for what its webhooks missed.
    pub reconciler: ReconcilerStatus,
    pub receivers: ReceiverCounts,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct ReconcilerStatus {
    /// When the last round started (Unix ms); `null` before the first.
    pub last_round: Option<i64>,
    pub interval_ms: u64,
}

/// How a pair is doing, from best to worst; `paused` stands apart.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Level {
    InSync,
    CatchingUp,
    Degraded,
    Failing,
    Paused,
}

impl Level {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Level::InSync => "in_sync",
            Level::CatchingUp => "catching_up",
            Level::Degraded => "degraded",
            Level::Failing => "failing",
            Level::Paused => "paused",
        }
    }

    /// What a person reads.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Level::InSync => "in sync",
            Level::CatchingUp => "catching up",
            Level::Degraded => "degraded",
            Level::Failing => "failing",
            Level::Paused => "paused",
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct PairState {
    pub level: Level,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct LinkCounts {
    pub active: i64,
    pub quarantined: i64,
    pub orphaned: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct LastChange {
    pub miro: Option<ChangeSeen>,
    pub monday: Option<ChangeSeen>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct ChangeSeen {
    pub at: i64,
    pub item: String,
    pub title: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct QuarantinedLink {
    pub miro_item_id: Linked<MiroItemId>,
    pub monday_item_id: Linked<MondayItemId>,
    pub since: i64,
}

/// How the pair's Miro board is polled: the pace the last round set (by whichever replica polls
/// it) and when that round ended.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct PollerStatus {
    pub interval_ms: u64,
    /// When the last scan ended (Unix ms).
    pub last_scan: Option<i64>,
    pub last_round_changes: usize,
    pub last_round_credits: u64,
    pub limited_by_credits: bool,
    pub in_turns: Option<String>,
    pub credit_share: f64,
    /// This board's part of the pollers' credit share, as a fraction of Miro's limit: every Miro
    /// board polled gets an equal part of `credit_share`, and its rounds are paced against it.
    pub board_credit_share: f64,
    /// That part in credits per minute, as the last round reckoned it from Miro's limit; 0
    /// before Miro has told the limit.
    pub board_credits_per_minute: u64,
    pub content_log: bool,
    /// How far the content-logs feed has been read (Unix ms), when it is on.
    pub content_log_until: Option<i64>,
}

/// What the receivers did with the pair's events besides storing them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct ReceiverCounts {
    /// Events already received (a retry or a second delivery), since this process started.
    pub duplicate: u64,
    /// Events older than `[ingress] dedupe_ttl` when they came, kept but not applied (those
    /// retention has not pruned).
    pub stale: i64,
}

pub(crate) async fn api_status(
    State(state): State<AppState>,
) -> Result<Json<Status>, (StatusCode, String)> {
    read(&state).await.map(Json).map_err(unavailable)
}

/// The answer when the store does not answer.
pub(crate) fn unavailable(e: StoreError) -> (StatusCode, String) {
    tracing::warn!(error = %e, "cannot read the status");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the store is not answering\n".to_owned(),
    )
}

/// [`unavailable`] as the answer of a page or a button.
pub(crate) fn failed(e: StoreError) -> axum::response::Response {
    axum::response::IntoResponse::into_response(unavailable(e))
}

/// Reads the status of every pair.
pub(crate) async fn read(state: &AppState) -> Result<Status, StoreError> {
    let now = state.clock.now_ms();
    let problems = state
        .startup_problems
        .lock()
        .expect("problems lock")
        .clone();
    let webhooks = Webhooks {
        receiving: state.receiving,
        miro: state.metrics.receivers.source("miro"),
        monday: state.metrics.receivers.source("monday"),
    };
    // The inbox before the outboxes: a change leaves the inbox and enters the outbox in one
    // transaction, so read in that order it is counted in one or the other (read the other way
    // round, a change processed between the two reads was in neither, and a status showed
    // nothing waiting while its write was on its way).
    let inbox_backlog = state.store.inbox_backlog().await?;
    let mut pairs = Vec::with_capacity(state.config.pairs.len());
    for pair in &state.config.pairs {
        pairs.push(pair_status(state, pair, &webhooks, &problems, now).await?);
    }
    Ok(Status {
        version: env!("CARGO_PKG_VERSION"),
        at: now,
        inbox_backlog,
        problems,
        webhooks,
        workers: state.workers.workers(),
        pairs,
    })
}

async fn pair_status(
    state: &AppState,
    pair: &PairConfig,
    webhooks: &Webhooks,
    problems: &[String],
    now: i64,
) -> Result<PairStatus, StoreError> {
    let store = &state.store;
    let slug = &pair.slug;
    let (backlog, dead) = store.outbox_counts(slug).await?;
    let last = |side: Side| async move {
        Ok::<_, StoreError>(store.last_change(slug, side.as_str()).await?.map(seen))
    };
    let quarantined = store
        .links_in_state(slug, LinkState::Quarantined, QUARANTINE_LIST)
        .await?
        .into_iter()
        .map(|l| QuarantinedLink {
            miro_item_id: l.miro_item_id,
            monday_item_id: l.monday_item_id,
            since: l.updated_at,
        })
        .collect();
    let mut status = PairStatus {
        name: pair.name.clone(),
        slug: slug.clone(),
        miro_board: pair.miro_board.as_str().to_owned(),
        monday_board: pair.monday_board.as_str().to_owned(),
        state: PairState {
            level: Level::InSync,
            reason: String::new(),
        },
        paused_since: store.paused_since(slug).await?,
        links: LinkCounts {
            active: store.count_links(slug, LinkState::Active).await?,
            quarantined: store.count_links(slug, LinkState::Quarantined).await?,
            orphaned: store.count_links(slug, LinkState::Orphaned).await?,
        },
        last_change: LastChange {
            miro: last(Side::Miro).await?,
            monday: last(Side::Monday).await?,
        },
        lag_ms: store
            .oldest_waiting(slug)
            .await?
            .map(|t| now.saturating_sub(t).max(0)),
        outbox_backlog: backlog,
        dead_letters: dead,
        conflicts: store.count_conflicts(slug).await?,
        quarantined,
        poller: poller(store, pair, &state.config).await?,
        reconciler: ReconcilerStatus {
            last_round: timestamp(store, &crate::store::keys::reconcile_cursor(&pair.slug)).await?,
            interval_ms: state.config.poller.reconcile_interval.0.as_millis() as u64,
        },
        receivers: ReceiverCounts {
            duplicate: state.metrics.receivers.events(slug, "duplicate"),
            stale: store.count_received(slug, "stale").await?,
        },
    };
    status.state = judge(&status, webhooks, problems, now);
    Ok(status)
}

/// The verdict on a pair, worst first: paused by a person; failing when writes died or the daemon
/// could not start a part; degraded when links are quarantined or webhooks are being refused;
/// catching up while a change has waited longer than [`LAG_TOLERANCE_MS`]; in sync otherwise.
pub(crate) fn judge(
    pair: &PairStatus,
    webhooks: &Webhooks,
    problems: &[String],
    now: i64,
) -> PairState {
    let state = |level, reason: String| PairState { level, reason };
    if pair.paused_since.is_some() {
        return state(
            Level::Paused,
            "paused: changes are received and kept, and applied when the pair is resumed".into(),
        );
    }
    if pair.dead_letters > 0 {
        return state(
            Level::Failing,
            format!(
                "{} write{} failed for good: see dead letters",
                pair.dead_letters,
                plural(pair.dead_letters)
            ),
        );
    }
    if let Some(problem) = problems.first() {
        return state(Level::Failing, problem.clone());
    }
    if pair.links.quarantined > 0 {
        return state(
            Level::Degraded,
            format!(
                "{} link{} quarantined by the loop breaker: release to sync again",
                pair.links.quarantined,
                plural(pair.links.quarantined)
            ),
        );
    }
    for (source, health) in [("Miro", &webhooks.miro), ("monday", &webhooks.monday)] {
        let failing_now = health
            .last_failure
            .is_some_and(|t| now - t < RECENT_FAILURE_MS && health.last_delivery < Some(t));
        if failing_now {
            return state(
                Level::Degraded,
                format!(
                    "{source} webhooks are being refused: {}",
                    health
                        .last_failure_reason
                        .as_deref()
                        .unwrap_or("see the log")
                ),
            );
        }
    }
    match pair.lag_ms {
        Some(lag) if lag > LAG_TOLERANCE_MS => state(
            Level::CatchingUp,
            format!(
                "the oldest change waiting came {} ago; {} write{} queued",
                super::format::duration(lag),
                pair.outbox_backlog,
                plural(pair.outbox_backlog)
            ),
        ),
        Some(_) => state(Level::InSync, "changes on their way, none late".into()),
        None => state(Level::InSync, "nothing is waiting".into()),
    }
}

fn plural(n: i64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

async fn poller(
    store: &Store,
    pair: &PairConfig,
    config: &Config,
) -> Result<PollerStatus, StoreError> {
    let last_scan = timestamp(store, &crate::store::keys::scan_cursor(&pair.slug)).await?;
    let content_log_until = match &config.miro.org_id {
        Some(org) => timestamp(store, &crate::store::keys::content_log_cursor(org)).await?,
        None => None,
    };
    let state: Option<crate::store::keys::PollState> = store
        .cursor(&crate::store::keys::poll_state(&pair.slug))
        .await?
        .and_then(|v| serde_json::from_str(&v).ok());
    let state = state.unwrap_or_default();
    let interval_ms = if state.last_round == 0 {
        config.poller.interval.0.as_millis() as u64
    } else {
        state.interval_ms
    };
    Ok(PollerStatus {
        interval_ms,
        last_scan,
        last_round_changes: state.changes,
        last_round_credits: state.credits,
        limited_by_credits: state.limited_by_credits,
        in_turns: state.in_turns,
        credit_share: config.poller.credit_share.0,
        board_credit_share: config.poller.credit_share.0 / miro_boards(config) as f64,
        board_credits_per_minute: state.credits_per_minute,
        content_log: config.miro.org_id.is_some(),
        content_log_until,
    })
}

/// How many Miro boards the pollers share their credits among.
fn miro_boards(config: &Config) -> usize {
    let boards: std::collections::HashSet<&str> =
        config.pairs.iter().map(|p| p.miro_board.as_str()).collect();
    boards.len().max(1)
}

/// A cursor that holds a time (Unix ms).
async fn timestamp(store: &Store, cursor: &str) -> Result<Option<i64>, StoreError> {
    Ok(store.cursor(cursor).await?.and_then(|v| v.parse().ok()))
}

fn seen(h: HistoryEntry) -> ChangeSeen {
    ChangeSeen {
        at: h.at,
        item: h.item,
        title: h.title,
        outcome: h.outcome,
        detail: h.detail,
    }
}
