//! Initial sync: the items already on both boards of a pair, matched by a key field (the title
//! unless `match_by` names another) and linked one-to-one where the match is unambiguous. Items
//! with no match are created on the other side; keys that name more than one item on a side
//! where the other side has the key too are ambiguous, reported, and left alone.
//!
//! It runs at a pair's first scan when `sync_existing = true`, and on demand as `boardsync
//! backfill --pair NAME [--dry-run]`. Everything it does goes through the same paths as any
//! change: links are stored with the fields both sides already agree on, and every create, and
//! every field the sides disagree on, is a change in the inbox for the processor, under the
//! pair's rules (directions, value maps, the conflict policy decides whose value wins). Run twice,
//! it does nothing the second time.

use crate::config::{ConflictPolicy, PairConfig};
use crate::domain::change::{Change, ChangeKind, ItemRef, Via, micros};
use crate::domain::miro::ItemType;
use crate::domain::{Linked, Side};
use crate::mapping::plan::{FieldState, LinkFields, logical_value};
use crate::runtime::Engine;
use crate::store::{ItemLink, LinkState, NewInboxEntry, Snapshot};
use indicatif::ProgressBar;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// What a backfill did, or with `--dry-run` would do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    /// Pairs of items linked by their key.
    pub linked: usize,
    /// Of those, how many needed a field brought over (a change queued from the winning side).
    pub reconciled: usize,
    /// Miro items with no match, created on monday.
    pub created_on_monday: usize,
    /// monday items with no match, created on Miro.
    pub created_on_miro: usize,
    /// Items that were linked already.
    pub already_linked: usize,
    /// Items outside the pair (types, frame, groups) or with an empty key.
    pub skipped: usize,
    /// Keys that match more than one item on a side: `key (N on Miro, M on monday)`.
    pub ambiguous: Vec<String>,
}

/// One item of either side, as the backfill sees it.
struct Found {
    change: Change,
    key: Option<String>,
    version: String,
}

/// Backfills `pair`. With `dry_run`, reads both boards and reports, writing nothing.
pub(crate) async fn backfill(
    engine: &Engine,
    pair: &PairConfig,
    dry_run: bool,
    progress: &ProgressBar,
) -> anyhow::Result<Report> {
    let key_field = match &pair.match_by {
        Some(name) => name.as_str(),
        None => pair
            .fields
            .iter()
            .find(|f| f.monday == "name")
            .map(|f| f.name.as_str())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "pair `{}` maps no field to the monday item name; set match_by to the field to match items by",
                    pair.name
                )
            })?,
    };
    let mut report = Report::default();
    let mut known_miro = HashSet::new();
    let mut known_monday = HashSet::new();
    for state in [
        LinkState::Active,
        LinkState::Quarantined,
        LinkState::Orphaned,
    ] {
        for link in engine
            .store
            .links_in_state(&pair.slug, state, i64::MAX)
            .await?
        {
            known_miro.extend(link.miro_item_id.into_known().map(|id| id.0));
            known_monday.extend(link.monday_item_id.into_known().map(|id| id.0));
        }
    }

    progress.set_message("reading the Miro board");
    let miro = miro_items(engine, pair, key_field, progress).await?;
    progress.set_message("reading the monday board");
    let monday = monday_items(engine, pair, key_field, progress).await?;

    // Key → the unlinked items with it, on each side.
    let mut by_key: BTreeMap<String, (Vec<&Found>, Vec<&Found>)> = BTreeMap::new();
    for (found, known, miro_side) in miro
        .iter()
        .map(|f| (f, &known_miro, true))
        .chain(monday.iter().map(|f| (f, &known_monday, false)))
    {
        if known.contains(found.change.item.item()) {
            report.already_linked += 1;
            continue;
        }
        let Some(key) = &found.key else {
            report.skipped += 1;
            continue;
        };
        let entry = by_key.entry(key.clone()).or_default();
        if miro_side {
            entry.0.push(found);
        } else {
            entry.1.push(found);
        }
    }

    let now = engine.clock.now_ms();
    let mut links = Vec::new();
    let mut entries = Vec::new();
    let mut snapshots = Vec::new();
    progress.set_message("matching");
    progress.set_length(by_key.len() as u64);
    progress.set_position(0);
    for (key, (on_miro, on_monday)) in &by_key {
        progress.inc(1);
        match (on_miro.as_slice(), on_monday.as_slice()) {
            ([m], [d]) => {
                report.linked += 1;
                let (link, winner) = link_of(pair, m, d, now);
                links.push(link);
                if let Some(w) = winner {
                    report.reconciled += 1;
                    entries.push(inbox_entry(pair, w, ChangeKind::Updated, now));
                }
                snapshots.push(snapshot(m));
            }
            (ms, []) => {
                for m in ms {
                    report.created_on_monday += 1;
                    entries.push(inbox_entry(pair, m, ChangeKind::Created, now));
                    snapshots.push(snapshot(m));
                }
            }
            ([], ds) => {
                for d in ds {
                    report.created_on_miro += 1;
                    entries.push(inbox_entry(pair, d, ChangeKind::Created, now));
                }
            }
            (ms, ds) => {
                report.ambiguous.push(format!(
                    "{key} ({} on Miro, {} on monday)",
                    ms.len(),
                    ds.len()
                ));
                // Left alone; the scan does not take them for new items either.
                snapshots.extend(ms.iter().map(|m| snapshot(m)));
            }
        }
    }
    if dry_run {
        return Ok(report);
    }
    progress.set_message("linking");
    for link in &links {
        engine.store.upsert_link(link).await?;
    }
    engine.enqueue_polled(&entries, now).await?;
    engine
        .store
        .save_snapshots(&pair.slug, Side::Miro.as_str(), &snapshots, &[], now)
        .await?;
    Ok(report)
}

/// A link for two items with the same key: the fields they agree on count as synced; when they
/// disagree on any, the winning side's item (by the pair's conflict policy) is returned, to be
/// queued as a change that brings the other side to it.
fn link_of<'a>(
    pair: &PairConfig,
    miro: &'a Found,
    monday: &'a Found,
    now: i64,
) -> (ItemLink, Option<&'a Found>) {
    let miro_type = miro
        .change
        .item_type
        .as_deref()
        .and_then(ItemType::parse)
        .unwrap_or(pair.miro_new_item);
    let (miro_us, monday_us) = (
        miro.change.source_us.unwrap_or(0),
        monday.change.source_us.unwrap_or(0),
    );
    let mut fields = LinkFields::default();
    let mut differ = false;
    for field in &pair.fields {
        let a = logical_value(&miro.change, field, miro_type).flatten();
        let b = logical_value(&monday.change, field, miro_type).flatten();
        if a.is_some() && a == b {
            fields.fields.insert(
                field.name.clone(),
                FieldState {
                    value: a,
                    miro_us,
                    monday_us,
                    synced_us: miro_us.max(monday_us),
                    ..FieldState::default()
                },
            );
        } else if a.is_some() || b.is_some() {
            differ = true;
        }
    }
    let winner = differ.then_some(match pair.conflict {
        ConflictPolicy::Miro => miro,
        ConflictPolicy::Monday => monday,
        ConflictPolicy::Newest if monday_us > miro_us => monday,
        ConflictPolicy::Newest => miro,
    });
    let link = ItemLink {
        id: 0,
        pair: pair.slug.clone(),
        miro_item_id: Linked::Known(miro.change.item.item().into()),
        monday_item_id: Linked::Known(monday.change.item.item().into()),
        miro_type: miro_type.as_str().to_owned(),
        state: LinkState::Active,
        fields: serde_json::to_value(&fields).expect("link fields serialise"),
        created_at: now,
        updated_at: now,
    };
    (link, winner)
}

/// Every Miro item of the pair's types in its frame, with its key (and style, when a mapped
/// field needs it: the listing leaves style out).
async fn miro_items(
    engine: &Engine,
    pair: &PairConfig,
    key_field: &str,
    progress: &ProgressBar,
) -> anyhow::Result<Vec<Found>> {
    let board = &pair.miro_board;
    let needs_style = super::miro_items::needs_style(pair);
    let notes = super::miro_items::own_notes(engine, pair).await?;
    let mut out = Vec::new();
    for item in engine.miro.all_items(board).await? {
        let Some(item_type) = ItemType::parse(&item.item_type) else {
            continue;
        };
        let parent = item.parent.as_ref().and_then(|p| p["id"].as_str());
        if !pair.miro_items.contains(&item_type)
            || notes.contains(&item.id)
            || pair
                .miro_filter
                .frame
                .as_deref()
                .is_some_and(|frame| parent != Some(frame))
        {
            continue;
        }
        let item = if needs_style {
            engine.miro.get_item(board, item_type, &item.id).await?
        } else {
            item
        };
        let version = item.modified_at.clone().unwrap_or_default();
        let change = super::miro_items::miro_change(board, &item, item_type, ChangeKind::Created);
        out.push(found(pair, key_field, change, version, item_type));
        progress.inc(1);
    }
    Ok(out)
}

/// Every monday item of the pair's groups, as a change carrying all its fields.
async fn monday_items(
    engine: &Engine,
    pair: &PairConfig,
    key_field: &str,
    progress: &ProgressBar,
) -> anyhow::Result<Vec<Found>> {
    let board = &pair.monday_board;
    let relations: HashSet<&str> = pair
        .fields
        .iter()
        .filter(|f| {
            pair.miro_items.iter().any(|t| {
                f.miro
                    .path_for(*t)
                    .is_some_and(crate::mapping::values::polled_apart)
            })
        })
        .map(|f| f.monday.as_str())
        .collect();
    let items = engine.monday.board_items(board).await?;
    progress.inc(items.len() as u64);
    Ok(items
        .into_iter()
        .filter(|i| {
            pair.monday_filter.groups.is_empty()
                || i.group
                    .as_ref()
                    .is_some_and(|g| pair.monday_filter.groups.contains(g))
        })
        .map(|i| {
            let mut fields = BTreeMap::new();
            fields.insert("name".to_owned(), Value::String(i.name));
            if let Some(g) = i.group {
                fields.insert("group".to_owned(), Value::String(g));
            }
            for (column, text) in i.texts {
                // Tags and dependencies are left to their pollers, which read both whole (a
                // dependency column has no text; the tag poll reports Miro's tags of new links).
                if !relations.contains(column.as_str()) {
                    fields.insert(column, Value::String(text));
                }
            }
            let version = i.updated_at.unwrap_or_default();
            let change = Change {
                item_type: Some("item".into()),
                fields,
                source_us: micros(&Value::String(version.clone())),
                ..Change::new(
                    ItemRef::monday(board.clone(), i.id),
                    Via::Poll,
                    ChangeKind::Created,
                )
            };
            found(pair, key_field, change, version, pair.miro_new_item)
        })
        .collect())
}

fn found(
    pair: &PairConfig,
    key_field: &str,
    change: Change,
    version: String,
    miro_type: ItemType,
) -> Found {
    let key = pair
        .fields
        .iter()
        .find(|f| f.name == key_field)
        .and_then(|f| logical_value(&change, f, miro_type).flatten())
        .map(|v| normalise(&v))
        .filter(|k| !k.is_empty());
    Found {
        change,
        key,
        version,
    }
}

/// Keys match whatever their case and spacing.
fn normalise(key: &str) -> String {
    key.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn snapshot(found: &Found) -> Snapshot {
    Snapshot {
        item_id: found.change.item.item().to_owned(),
        version: found.version.clone(),
        data: String::new(),
    }
}

/// The item's whole state as a change of `kind`: `Created` for an item to make on the other side,
/// `Updated` for a matched item whose values go over.
fn inbox_entry(pair: &PairConfig, found: &Found, kind: ChangeKind, now: i64) -> NewInboxEntry {
    let change = Change {
        kind,
        ..found.change.clone()
    };
    let key = format!(
        "backfill:{}:{}:{}:{}:{}",
        pair.slug,
        change.side(),
        change.item.item(),
        found.version,
        kind.as_str()
    );
    NewInboxEntry::polled(&pair.slug, &change, key, now)
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn keys_match_whatever_their_case_and_spacing() {
        assert_eq!(normalise("  Fix the   Login bug "), "fix the login bug");
        assert_eq!(normalise("Ünïcode"), "ünïcode");
        assert_eq!(normalise(" \n "), "");
    }
}
