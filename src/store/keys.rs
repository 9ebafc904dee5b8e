//! The names of what boardsync keeps in the store's `cursors` table (times, poll states, its own
//! ids) and of its leases, in one place: the part that writes a cursor and the dashboard that
//! reads it both take the name from here, so neither imports the other.

use crate::domain::{MiroItemId, Side};
use serde::{Deserialize, Serialize};

/// The lease of the processor (one replica processes the inbox at a time).
pub(crate) const PROCESSOR_LEASE: &str = "processor";
/// The lease of the Miro content-log feed (one per organisation, so one name).
pub(crate) const CONTENT_LOG_LEASE: &str = "poll:content-logs";
/// The snapshot side of the tag poll: per item, its normalised titles.
pub(crate) const TAGS_SNAPSHOT: &str = "miro-tags";
/// The snapshot side of the connector poll: per item, the monday ids its connectors point at.
pub(crate) const CONNECTORS_SNAPSHOT: &str = "miro-connectors";
/// The prefix of the cursors that record boardsync's monday webhook subscriptions.
pub(crate) const MONDAY_WEBHOOK_PREFIX: &str = "webhook:monday:";
/// The prefix of the cursors that record boardsync's Miro board subscriptions.
pub(crate) const MIRO_WEBHOOK_PREFIX: &str = "webhook:miro:";

/// boardsync's own user id on `side`.
pub(crate) fn own_user(side: Side) -> String {
    format!("self:{side}")
}

/// The time of the pair's last completed Miro board scan.
pub(crate) fn scan_cursor(pair_slug: &str) -> String {
    format!("scan:{pair_slug}")
}

/// The pair's [`PollState`].
pub(crate) fn poll_state(pair_slug: &str) -> String {
    format!("poll:{pair_slug}")
}

/// The lease of the task that polls one Miro board.
pub(crate) fn board_poll_lease(board: &str) -> String {
    format!("poll:miro:{board}")
}

/// The time of the pair's last completed tag poll.
pub fn tags_cursor(pair_slug: &str) -> String {
    format!("tags:{pair_slug}")
}

/// The time of the pair's last completed connector poll.
pub fn connectors_cursor(pair_slug: &str) -> String {
    format!("connectors:{pair_slug}")
}

/// The time of the pair's last completed monday reconciliation round; also the name of its lease.
pub fn reconcile_cursor(pair_slug: &str) -> String {
    format!("reconcile:{pair_slug}")
}

/// How far the organisation's Miro content log has been read.
pub(crate) fn content_log_cursor(org: &str) -> String {
    format!("contentlog:{org}")
}

/// The prefix of the cursors recording the notes boardsync made on a pair's board for monday
/// updates: one per note, named by the note's id, holding the id of the item it stands beside.
pub(crate) fn comment_note_prefix(pair_slug: &str) -> String {
    format!("comment-note:{pair_slug}:")
}

/// The versions and paths of boardsync's last writes to one Miro item.
pub(crate) fn own_writes(pair_slug: &str, item_id: &MiroItemId) -> String {
    format!("ownwrite:{pair_slug}:{item_id}")
}

/// How a pair's polling stands, as `/api/status` shows it (kept under [`poll_state`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct PollState {
    /// The time until the next round.
    pub interval_ms: u64,
    /// When the last round ended (Unix ms).
    pub last_round: i64,
    /// Changes the last round found.
    pub changes: usize,
    /// Miro credits the last round used.
    pub credits: u64,
    /// Whether the credit share, not activity, set the interval.
    pub limited_by_credits: bool,
    /// While the credits cannot pay for scanning the whole board as often as it is busy, each
    /// round scans one of the pair's item types, in turns: the type the last round scanned.
    /// `None`: the whole board.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_turns: Option<String>,
    /// The credits per minute this board's rounds may use: its equal part of the pollers' share
    /// of Miro's limit (0 until Miro has told the limit).
    #[serde(default)]
    pub credits_per_minute: u64,
    /// That part as a fraction of Miro's limit: `[poller] credit_share` over the boards polled.
    #[serde(default)]
    pub board_share: f64,
}
