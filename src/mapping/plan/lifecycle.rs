//! Items coming into and leaving a pair: a change of an unlinked item (create the twin, or not),
//! and deletes, archives and restores of a linked one.

use super::outcome::{Context, LinkChange, Outcome, Plan, Write};
use super::scope::{in_miro_scope, in_tag_scope, logical_value, title_of};
use super::state::{FieldState, LinkFields};
use crate::config::DeletePolicy;
use crate::domain::Side;
use crate::domain::change::{Change, ChangeKind, Via};
use crate::domain::miro::ItemType;
use crate::mapping::values;
use serde_json::Value;
use std::collections::BTreeMap;

/// The tag a Miro item gets when its monday item was archived (Miro has no archive).
pub(crate) const ARCHIVED_TAG: &str = "archived";

/// A change to an item boardsync has no link for: it is born (or enters the pair) and gets a twin.
pub(super) fn plan_unlinked(change: &Change, own: bool, ts: i64, cx: &Context<'_>) -> Plan {
    let pair = cx.pair;
    let none = LinkFields::default();
    if own {
        // The twin boardsync itself just created, reported before its link was recorded.
        return Plan::nothing(Outcome::Echo, "an item boardsync created", none);
    }
    match change.kind {
        ChangeKind::Created | ChangeKind::Updated | ChangeKind::Restored => {}
        _ => return Plan::nothing(Outcome::Ignored, "the item is not linked", none),
    }
    if change.via == Via::Webhook && change.kind != ChangeKind::Created && !change.read_back {
        // A webhook of an edit carries the fields it changed, not the item: the pair's filters
        // are checked on, and the twin is made from, the item as it is now. (Its create may
        // still be on its way: monday retries a refused delivery a minute later.)
        return Plan {
            read_item: true,
            ..Plan::nothing(
                Outcome::Ignored,
                "an edit of an item not linked yet: the item is read whole",
                none,
            )
        };
    }
    let miro_type = match change.side() {
        Side::Miro => {
            let Some(t) = change.item_type.as_deref().and_then(ItemType::parse) else {
                return Plan::nothing(Outcome::Filtered, "not an item type boardsync syncs", none);
            };
            if !pair.miro_items.contains(&t) {
                return Plan::nothing(
                    Outcome::Filtered,
                    format!("the pair does not sync {}", t.as_str()),
                    none,
                );
            }
            if !in_miro_scope(change, pair) {
                return Plan::nothing(Outcome::Filtered, "outside the pair's Miro frame", none);
            }
            if !in_tag_scope(change, pair, false) {
                return Plan::nothing(Outcome::Filtered, "without the pair's Miro tag", none);
            }
            t
        }
        Side::Monday => {
            if !pair.monday_filter.groups.is_empty() {
                let group = change.fields.get("group").and_then(Value::as_str);
                if !group.is_some_and(|g| pair.monday_filter.groups.iter().any(|x| x == g)) {
                    return Plan::nothing(
                        Outcome::Filtered,
                        "outside the pair's monday groups",
                        none,
                    );
                }
            }
            pair.miro_new_item
        }
    };
    if change.incomplete {
        return Plan::nothing(
            Outcome::Ignored,
            "the change does not carry the item's fields",
            none,
        );
    }
    let mut fields = LinkFields::default();
    let mut monday_values = BTreeMap::new();
    let mut miro_fields = BTreeMap::new();
    for field in &pair.fields {
        let Some(Some(logical)) = logical_value(change, field, miro_type) else {
            continue;
        };
        let allowed = match change.side() {
            Side::Miro => field.direction.to_monday(),
            Side::Monday => field.direction.to_miro(),
        };
        let state = fields.fields.entry(field.name.clone()).or_default();
        *state.ts(change.side()) = ts;
        if !allowed {
            continue;
        }
        state.value = Some(logical.clone());
        state.synced_us = ts;
        state.remember_write(change.side().other(), &logical, cx.now);
        match change.side() {
            Side::Miro => {
                monday_values.insert(field.monday.clone(), logical);
            }
            Side::Monday => {
                if let Some(path) = field.miro.path_for(miro_type)
                    && let Some(v) = values::to_miro(field, path, &logical)
                {
                    miro_fields.insert(path.to_owned(), v);
                }
            }
        }
    }
    // Tags and connectors come with a create only when the item has some: the twin starts
    // with none, so a later report of none is no change.
    for field in &pair.fields {
        if field
            .miro
            .path_for(miro_type)
            .is_some_and(values::polled_apart)
        {
            fields
                .fields
                .entry(field.name.clone())
                .or_insert_with(|| FieldState {
                    value: Some(String::new()),
                    ..FieldState::default()
                });
        }
    }
    let title = title_of(change, pair, miro_type);
    let write = match change.side() {
        Side::Miro => {
            let name = monday_values
                .remove("name")
                .filter(|n| !n.trim().is_empty())
                .or_else(|| title.clone().filter(|t| !t.trim().is_empty()))
                .unwrap_or_else(|| format!("Miro {}", miro_type.as_str().replace('_', " ")));
            Write::CreateMonday {
                name: name.chars().take(255).collect(),
                group: pair.monday_group.clone(),
                values: monday_values,
            }
        }
        Side::Monday => Write::CreateMiro {
            item_type: miro_type,
            frame: pair.miro_frame.clone(),
            fields: miro_fields,
        },
    };
    Plan {
        outcome: Outcome::Applied,
        detail: Some("created on the other side".into()),
        fields,
        link: LinkChange::Create { miro_type },
        writes: vec![write],
        conflicts: Vec::new(),
        title,
        read_item: false,
    }
}

pub(super) fn plan_removal(
    kind: ChangeKind,
    from: Side,
    fields: LinkFields,
    policy: DeletePolicy,
) -> Plan {
    let writes = match (policy, from) {
        (DeletePolicy::Ignore, _) => vec![],
        (DeletePolicy::Delete, Side::Miro) => vec![Write::DeleteMonday],
        (DeletePolicy::Delete, Side::Monday) => vec![Write::DeleteMiro],
        (DeletePolicy::Archive, Side::Miro) => vec![Write::ArchiveMonday],
        (DeletePolicy::Archive, Side::Monday) => vec![Write::TagMiro {
            title: ARCHIVED_TAG.into(),
        }],
    };
    Plan {
        outcome: Outcome::Applied,
        detail: Some(format!(
            "{} on {from}; on_delete = {}: {}",
            kind.as_str(),
            policy.as_str(),
            if writes.is_empty() {
                "unlinked"
            } else {
                "unlinked, and the twin follows"
            }
        )),
        fields,
        link: LinkChange::Remove,
        writes,
        conflicts: Vec::new(),
        title: None,
        read_item: false,
    }
}
