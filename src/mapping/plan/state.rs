//! What a link remembers of each field (its value, who set it and when, what boardsync wrote),
//! which the planner reads to tell an echo, a stale report and a conflict apart.

use crate::domain::miro::ItemType;
use crate::domain::{Linked, MiroItemId, MondayItemId, Side};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many of its own recent writes per field and side boardsync remembers to recognise echoes.
pub(super) const REMEMBERED_WRITES: usize = 8;

/// The window of the loop breaker: a field that comes back to a value boardsync wrote within it
/// counts as a turn of a possible loop.
pub(super) const LOOP_WINDOW_MS: i64 = 60_000;

/// The most values boardsync remembers having written to one field within the loop window.
pub(super) const REMEMBERED_VALUES: usize = 64;

/// What a link remembers of one mapped field. Times are Unix microseconds, the grain of
/// [`Change::source_us`](crate::domain::change::Change::source_us); links stored before that (in milliseconds) are read as microseconds.
/// The JSON keys stay what they were, so stored links read on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct FieldState {
    /// The logical value both sides were last brought to.
    pub value: Option<String>,
    /// The source time of the newest change seen from each side.
    #[serde(default, rename = "miro_ts", deserialize_with = "legacy_time")]
    pub miro_us: i64,
    #[serde(default, rename = "monday_ts", deserialize_with = "legacy_time")]
    pub monday_us: i64,
    /// The source time of the change that set `value`.
    #[serde(default, rename = "synced_ts", deserialize_with = "legacy_time")]
    pub synced_us: i64,
    /// Logical values boardsync wrote to each side recently, oldest first: a change reporting
    /// one of these is an echo of boardsync's own write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sent_miro: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sent_monday: Vec<String>,
    /// Values boardsync wrote to either side within the loop window, with when (Unix ms).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wrote: Vec<(i64, String)>,
}

pub(super) fn legacy_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(crate::domain::change::legacy_micros(i64::deserialize(d)?))
}

impl FieldState {
    pub(super) fn ts(&mut self, side: Side) -> &mut i64 {
        match side {
            Side::Miro => &mut self.miro_us,
            Side::Monday => &mut self.monday_us,
        }
    }

    pub(super) fn sent(&mut self, side: Side) -> &mut Vec<String> {
        match side {
            Side::Miro => &mut self.sent_miro,
            Side::Monday => &mut self.sent_monday,
        }
    }

    /// Notes a write of `logical` to `side` at `now` (ms): for echoes, and for the loop breaker.
    pub(super) fn remember_write(&mut self, side: Side, logical: &str, now: i64) {
        let sent = self.sent(side);
        sent.push(logical.to_owned());
        if sent.len() > REMEMBERED_WRITES {
            sent.remove(0);
        }
        self.wrote.retain(|(t, _)| now - t < LOOP_WINDOW_MS);
        self.wrote.push((now, logical.to_owned()));
        if self.wrote.len() > REMEMBERED_VALUES {
            self.wrote.remove(0);
        }
    }

    /// Whether `logical` is a value boardsync wrote to this field within the loop window.
    pub(super) fn wrote_lately(&self, logical: &str, now: i64) -> bool {
        self.wrote
            .iter()
            .any(|(t, v)| now - t < LOOP_WINDOW_MS && v == logical)
    }

    /// Whether a change reporting `logical` on `side` is boardsync's own write coming back: the
    /// value of its latest write there, or, when boardsync's own user made the change, any value
    /// it wrote recently. (A person setting a value boardsync wrote long ago is a real change.)
    /// Forgets that write and anything older.
    pub(super) fn take_echo(&mut self, side: Side, logical: &str, own_author: bool) -> bool {
        let sent = self.sent(side);
        let found = if own_author {
            sent.iter().rposition(|v| v == logical)
        } else {
            sent.last()
                .filter(|v| *v == logical)
                .map(|_| sent.len() - 1)
        };
        match found {
            Some(i) => {
                sent.drain(..=i);
                true
            }
            None => false,
        }
    }
}

/// The state a link keeps: per mapped field, and the loop breaker's count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct LinkFields {
    #[serde(default)]
    pub fields: BTreeMap<String, FieldState>,
    /// When (Unix ms) a field of the item came back to a value boardsync wrote within the loop
    /// window, whoever changed it: what a loop looks like, unlike a burst of new values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loop_returns: Vec<i64>,
}

/// A link as the planner sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LinkView {
    pub miro_item_id: Linked<MiroItemId>,
    pub monday_item_id: Linked<MondayItemId>,
    pub miro_type: ItemType,
    pub quarantined: bool,
    pub fields: LinkFields,
}
