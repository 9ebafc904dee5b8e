//! What a receiver makes of a delivery: events, each with its dedupe key and its change (or why it
//! is ignored), or the reason the request is refused.

use crate::domain::change::Change;

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Unauthorized(&'static str),
    Malformed(&'static str),
}

/// One event of a delivery: its dedupe key, and either its change or why it is ignored
/// (board id, reason).
pub struct Event {
    pub key: String,
    pub change: Option<Change>,
    pub ignored: Option<(String, String)>,
    /// When the event happened at its source, in Unix ms, for the staleness check: monday's
    /// `triggerTime` (its finer `changedAt`, which orders the changes, is in the change), Miro's
    /// change time.
    pub at: Option<i64>,
}
