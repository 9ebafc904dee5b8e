//! What a receiver makes of a delivery: events, each with its dedupe key and its change (or why it
//! is ignored), or the reason the request is refused.

use crate::domain::change::Change;

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Unauthorized(&'static str),
    Malformed(&'static str),
}

/// One event of a delivery: a change to process, or one boardsync ignores (and stores, with why).
/// Each has its dedupe key, and `at`: when it happened at its source, in Unix ms, for the
/// staleness check (monday's `triggerTime`, its finer `changedAt`, which orders the changes, being
/// in the change; Miro's change time).
#[derive(Debug)]
pub enum Event {
    Change {
        key: String,
        at: Option<i64>,
        change: Change,
    },
    Ignored {
        key: String,
        at: Option<i64>,
        board: String,
        reason: String,
    },
}

impl Event {
    pub fn key(&self) -> &str {
        match self {
            Event::Change { key, .. } | Event::Ignored { key, .. } => key,
        }
    }

    pub(crate) fn at(&self) -> Option<i64> {
        match self {
            Event::Change { at, .. } | Event::Ignored { at, .. } => *at,
        }
    }

    /// The board the event is about, on its side.
    pub(crate) fn board(&self) -> &str {
        match self {
            Event::Change { change, .. } => change.item.board(),
            Event::Ignored { board, .. } => board,
        }
    }

    /// The change, when the event is one to process.
    pub fn change(&self) -> Option<&Change> {
        match self {
            Event::Change { change, .. } => Some(change),
            Event::Ignored { .. } => None,
        }
    }
}
