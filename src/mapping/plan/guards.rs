//! The loop breaker: an item whose fields keep coming back to values boardsync wrote is
//! quarantined instead of written again.

use super::outcome::{Conflict, Context, LinkChange, Outcome, Plan};
use super::state::{LOOP_WINDOW_MS, LinkFields};

/// Counts `returns` (fields that came back to a value boardsync wrote lately) for the loop
/// breaker: `true` when that makes more than `max_loop_returns` within the loop window. New
/// values, however many, are no loop: a loop is boardsync and something else (a monday
/// automation, another integration, a normalising API) sending values back and forth.
pub(super) fn loop_detected(fields: &mut LinkFields, returns: usize, cx: &Context<'_>) -> bool {
    fields.loop_returns.retain(|t| cx.now - t < LOOP_WINDOW_MS);
    fields
        .loop_returns
        .extend(std::iter::repeat_n(cx.now, returns));
    fields.loop_returns.len() > cx.max_loop_returns as usize
}

/// The plan of an item past the loop breaker: no writes, and its link quarantined.
pub(super) fn quarantine(
    fields: LinkFields,
    conflicts: Vec<Conflict>,
    title: Option<String>,
    cx: &Context<'_>,
) -> Plan {
    Plan {
        outcome: Outcome::Filtered,
        detail: Some(format!(
            "its fields came back to values boardsync wrote more than {} times within a minute: \
             quarantined as a likely loop",
            cx.max_loop_returns
        )),
        fields,
        link: LinkChange::Quarantine,
        writes: Vec::new(),
        conflicts,
        title,
        read_item: false,
    }
}
