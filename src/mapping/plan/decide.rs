//! The planner's entry point: field by field, whether a change is written to the other side, is an
//! echo, is stale, or is a conflict (settled by the pair's policy).

use super::comment::plan_comment;
use super::guards::{loop_detected, quarantine};
use super::lifecycle::{plan_removal, plan_unlinked};
use super::outcome::{Conflict, Context, LinkChange, Outcome, Plan, Write};
use super::scope::{
    in_miro_scope, in_tag_scope, logical_value, set_by_later_own_write, set_by_own_write,
    title_field, title_of,
};
use super::state::LinkView;
use crate::config::ConflictPolicy;
use crate::domain::Side;
use crate::domain::change::{Change, ChangeKind, Via};
use crate::mapping::values;
use serde_json::Value;
use std::collections::BTreeMap;

/// What `change` means for its pair, given the link of its item (if any).
pub(crate) fn plan(change: &Change, link: Option<&LinkView>, cx: &Context<'_>) -> Plan {
    let from = change.side();
    let own = cx.own_user.is_some() && change.author.as_deref() == cx.own_user;
    // A webhook names who made this very change; a scan only who touched the item last, which
    // may be boardsync's write of another field after a person's edit of this one.
    let own_field_author = own && change.via != Via::Poll;
    let ts = change.source_us.unwrap_or(cx.now.saturating_mul(1000));
    let Some(link) = link else {
        return plan_unlinked(change, own, ts, cx);
    };
    let mut fields = link.fields.clone();
    if link.quarantined {
        return Plan::nothing(
            Outcome::Filtered,
            "the link is quarantined; release it to sync again",
            fields,
        );
    }
    match change.kind {
        ChangeKind::Deleted | ChangeKind::Archived => {
            return plan_removal(change.kind, from, fields, cx.pair.on_delete);
        }
        ChangeKind::Commented => return plan_comment(change, own, link, fields, cx),
        ChangeKind::Moved => {
            return Plan::nothing(Outcome::Ignored, "not synced yet", fields);
        }
        ChangeKind::Created | ChangeKind::Updated | ChangeKind::Restored => {}
    }
    if from == Side::Miro && !in_miro_scope(change, cx.pair) {
        return Plan::nothing(Outcome::Filtered, "outside the pair's Miro frame", fields);
    }
    if from == Side::Miro && !in_tag_scope(change, cx.pair, true) {
        return Plan::nothing(Outcome::Filtered, "without the pair's Miro tag", fields);
    }

    let mut values_out: BTreeMap<String, String> = BTreeMap::new();
    let mut miro_out: BTreeMap<String, Value> = BTreeMap::new();
    let mut to_self: BTreeMap<String, String> = BTreeMap::new();
    let mut conflicts = Vec::new();
    let (mut echoes, mut stale, mut filtered, mut returns) = (0, 0, 0, 0);
    for field in &cx.pair.fields {
        let Some(logical) = logical_value(change, field, link.miro_type) else {
            continue;
        };
        let Some(logical) = logical else {
            filtered += 1;
            continue;
        };
        let state = fields.fields.entry(field.name.clone()).or_default();
        if set_by_later_own_write(change, field, link.miro_type) {
            // boardsync wrote this field in a newer version of the item, which has landed: this
            // report shows it as it was before, however new its time (the version is another
            // write's). The newer version is reported in its turn.
            stale += 1;
            continue;
        }
        // A report older than the last sync that shows a value boardsync sent this side is that
        // write coming back late, whoever the scan names, not a person's edit in conflict.
        let older = ts < state.synced_us;
        let own_field =
            own_field_author || older || set_by_own_write(change, field, link.miro_type);
        if !own_field && ts == *state.ts(from) && state.value.as_deref() == Some(logical.as_str()) {
            // The edit already planned, reported again (a scan and the content log both saw
            // it): nothing new. It must not be taken for the echo of a write boardsync made to
            // this side since, which is still on its way and may bring an older write's echo
            // after it.
            stale += 1;
            continue;
        }
        if state.take_echo(from, &logical, own_field) {
            let t = state.ts(from);
            *t = (*t).max(ts);
            echoes += 1;
            continue;
        }
        let last = *state.ts(from);
        if ts < last {
            stale += 1;
            continue;
        }
        if ts == last && !change.read_back && state.value.as_deref() != Some(logical.as_str()) {
            // Two changes of this field from one side at one source time (monday stamps the
            // changes of one request alike): the order they arrived in says nothing.
            let mut plan = Plan::nothing(
                Outcome::Ignored,
                "two changes of a field at one time: reading the item",
                link.fields.clone(),
            );
            plan.read_item = true;
            return plan;
        }
        *state.ts(from) = ts;
        // A newer value from this side that is not boardsync's: whatever boardsync wrote there
        // before is overwritten, and a later report of it is no echo (it would be stale anyway).
        // A write of boardsync's still on its way there may land after this edit, though.
        let outstanding = std::mem::take(state.sent(from));
        if state.value.as_deref() == Some(logical.as_str()) {
            continue;
        }
        let allowed = match from {
            Side::Miro => field.direction.to_monday(),
            Side::Monday => field.direction.to_miro(),
        };
        if !allowed {
            filtered += 1;
            continue;
        }
        if state.wrote_lately(&logical, cx.now) {
            returns += 1;
        }
        if ts < state.synced_us {
            // The other side changed this field after this edit was made, and this edit had not
            // reached it: both changed it since the last sync.
            let other_value = state.value.clone().unwrap_or_default();
            let winner = match cx.pair.conflict {
                ConflictPolicy::Newest => from.other(),
                ConflictPolicy::Miro => Side::Miro,
                ConflictPolicy::Monday => Side::Monday,
            };
            let (miro_us, monday_us) = match from {
                Side::Miro => (ts, state.synced_us),
                Side::Monday => (state.synced_us, ts),
            };
            let (won, lost) = if winner == from {
                (logical.clone(), other_value.clone())
            } else {
                (other_value.clone(), logical.clone())
            };
            conflicts.push(Conflict {
                field: field.name.clone(),
                winner,
                won,
                lost,
                miro_us,
                monday_us,
            });
            if winner != from {
                // Bring this side back to the winning value. A write still on its way there
                // stays known, so that its echo is taken for one.
                *state.sent(from) = outstanding;
                state.remember_write(from, &other_value, cx.now);
                to_self.insert(field.name.clone(), other_value);
                continue;
            }
            // Fall through: the change is applied as usual below.
        }
        if outstanding.iter().any(|v| *v != logical) {
            // boardsync was writing another value to this side when this edit was made, and
            // that write may land after it: the edit is written back to its own side too, so
            // that side ends on it whichever lands last (a write still queued is dropped as
            // superseded by the dispatcher, and this one goes alone). Should the earlier write
            // land first, its echo is still taken for one.
            *state.sent(from) = outstanding;
            state.remember_write(from, &logical, cx.now);
            to_self.insert(field.name.clone(), logical.clone());
        }
        state.value = Some(logical.clone());
        state.synced_us = ts;
        state.remember_write(from.other(), &logical, cx.now);
        match from {
            Side::Miro => {
                values_out.insert(field.monday.clone(), logical);
            }
            Side::Monday => {
                let Some(miro_path) = field.miro.path_for(link.miro_type) else {
                    continue;
                };
                match values::to_miro(field, miro_path, &logical) {
                    Some(v) => {
                        miro_out.insert(miro_path.to_owned(), v);
                    }
                    None => filtered += 1,
                }
            }
        }
    }

    let mut writes = Vec::new();
    if !values_out.is_empty() {
        writes.push(Write::UpdateMonday { values: values_out });
    }
    if !miro_out.is_empty() {
        writes.push(Write::UpdateMiro { fields: miro_out });
    }
    if !to_self.is_empty() {
        writes.push(match from {
            Side::Miro => Write::UpdateMiro {
                fields: to_self
                    .iter()
                    .filter_map(|(name, v)| {
                        let field = cx.pair.fields.iter().find(|f| &f.name == name)?;
                        let path = field.miro.path_for(link.miro_type)?;
                        Some((path.to_owned(), values::to_miro(field, path, v)?))
                    })
                    .collect(),
            },
            Side::Monday => Write::UpdateMonday {
                values: to_self
                    .iter()
                    .filter_map(|(name, v)| {
                        let field = cx.pair.fields.iter().find(|f| &f.name == name)?;
                        Some((field.monday.clone(), v.clone()))
                    })
                    .collect(),
            },
        });
    }
    let title = title_of(change, cx.pair, link.miro_type).or_else(|| {
        fields
            .fields
            .get(title_field(cx.pair)?)
            .and_then(|s| s.value.clone())
    });
    if returns > 0 && loop_detected(&mut fields, returns, cx) {
        return quarantine(fields, conflicts, title, cx);
    }
    let outcome = if !conflicts.is_empty() {
        Outcome::Conflict
    } else if !writes.is_empty() {
        Outcome::Applied
    } else if echoes > 0 {
        Outcome::Echo
    } else if stale > 0 {
        Outcome::Stale
    } else if filtered > 0 {
        Outcome::Filtered
    } else {
        Outcome::Ignored
    };
    let detail = (outcome == Outcome::Ignored).then(|| "no mapped field changed".to_owned());
    Plan {
        outcome,
        detail,
        fields,
        link: LinkChange::Keep,
        writes,
        conflicts,
        title,
        read_item: false,
    }
}
