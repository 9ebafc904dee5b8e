//! The Miro board scan: Miro retired its REST webhooks, so its changes are found by paging through
//! each pair's board, comparing every item's `modifiedAt` with the last scan's snapshot, and
//! turning what differs into changes in the inbox. An item missing from a completed scan is a
//! delete only once Miro answers 404 for it. The snapshot advances only after the changes are
//! stored, so a scan cut off at any point is simply done again, and the inbox's dedupe keys
//! (`board, item, modifiedAt`) keep a repeated scan from doubling anything.

use crate::config::PairConfig;
use crate::domain::change::{Change, ChangeKind, ItemRef, Via};
use crate::domain::miro::ItemType;
use crate::domain::{MiroItemId, Side};
use crate::runtime::Engine;
use crate::store::keys;
use crate::store::{NewInboxEntry, Snapshot};
use std::collections::{HashMap, HashSet};

/// What one scan found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanReport {
    pub items: usize,
    pub changes: usize,
    pub deleted: usize,
}

/// Scans one pair's board once.
pub async fn scan_pair(engine: &Engine, pair: &PairConfig) -> anyhow::Result<ScanReport> {
    scan_pair_of(engine, pair, None).await
}

/// Scans one pair's board once, only the items of one type when `only` says so (a board too
/// big to scan whole as often as it is busy is scanned type by type, in turns). Each item's
/// snapshot keeps its type, so a scan of one type takes only that type's missing items for
/// deleted.
pub(crate) async fn scan_pair_of(
    engine: &Engine,
    pair: &PairConfig,
    only: Option<ItemType>,
) -> anyhow::Result<ScanReport> {
    let board = &pair.miro_board;
    let miro = engine.miro.polling();
    let mut first = engine
        .store
        .cursor(&keys::scan_cursor(&pair.slug))
        .await?
        .is_none();
    if first && pair.sync_existing {
        // The items already on both boards are matched and linked (or queued to be created)
        // first; the scan below then goes on from the snapshots that leaves.
        let report =
            super::backfill::backfill(engine, pair, false, &indicatif::ProgressBar::hidden())
                .await?;
        tracing::info!(pair = %pair.name, ?report, "existing items matched, linked and queued");
        first = false;
    }
    let before: HashMap<MiroItemId, Snapshot> = engine
        .store
        .snapshots(&pair.slug, Side::Miro.as_str())
        .await?
        .into_iter()
        .map(|s| (MiroItemId::from(s.item_id.as_str()), s))
        .collect();
    // The text items boardsync made for monday updates are its own, not items to sync.
    let notes = super::miro_items::own_notes(engine, pair).await?;
    let now = engine.clock.now_ms();
    let mut report = ScanReport::default();
    let mut listed: HashSet<MiroItemId> = HashSet::new();
    let mut changed: Vec<Snapshot> = Vec::new();
    let mut entries: Vec<NewInboxEntry> = Vec::new();
    for item in miro.all_items_of(board, only).await? {
        let Some(item_type) = ItemType::parse(&item.item_type) else {
            continue;
        };
        if !pair.miro_items.contains(&item_type) {
            continue;
        }
        if notes.contains(&item.id) {
            // Listed, so that a snapshot a scan took before it was known for a note is not
            // taken for a delete.
            listed.insert(item.id.clone());
            continue;
        }
        report.items += 1;
        listed.insert(item.id.clone());
        let version = item.modified_at.clone().unwrap_or_default();
        let known = before.get(&item.id);
        let snapshot = Snapshot {
            item_id: item.id.to_string(),
            version: version.clone(),
            data: item_type.as_str().to_owned(),
        };
        if let Some(known) = known
            && known.version == version
        {
            if known.data.is_empty() {
                // Kept before snapshots said the type: say it now, for scans in turns.
                changed.push(snapshot);
            }
            continue;
        }
        if first && !pair.sync_existing {
            // Items already on the board when the pair is first seen stay as they are.
            changed.push(snapshot);
            continue;
        }
        // Deleted between the listing and the read: the next scan sees it gone.
        let Some(change) =
            super::miro_items::item_change(&miro, pair, item, item_type, known.is_some()).await?
        else {
            continue;
        };
        entries.push(NewInboxEntry::polled(
            &pair.slug,
            &change,
            format!("poll:{board}:{}:{version}", change.item.item()),
            now,
        ));
        changed.push(snapshot);
    }
    let mut gone = Vec::new();
    for (id, snapshot) in &before {
        let other_type = only.is_some_and(|t| snapshot.data != t.as_str());
        if other_type || listed.contains(id) || miro.item_exists(board, id).await? {
            continue;
        }
        let change = Change {
            source_us: Some(now * 1000),
            ..Change::new(
                ItemRef::miro(board.clone(), id.clone()),
                Via::Poll,
                ChangeKind::Deleted,
            )
        };
        entries.push(NewInboxEntry::polled(
            &pair.slug,
            &change,
            format!("poll:{board}:{id}:deleted:{}", snapshot.version),
            now,
        ));
        gone.push(id.to_string());
        report.deleted += 1;
    }
    report.changes = entries.len();
    engine.enqueue_polled(&entries, now).await?;
    engine
        .store
        .save_snapshots(&pair.slug, Side::Miro.as_str(), &changed, &gone, now)
        .await?;
    engine
        .store
        .record_cursor(&keys::scan_cursor(&pair.slug), &now.to_string(), now)
        .await?;
    Ok(report)
}
