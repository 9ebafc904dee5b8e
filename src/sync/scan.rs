//! The Miro board scan: Miro retired its REST webhooks, so its changes are found by paging through
//! each pair's board, comparing every item's `modifiedAt` with the last scan's snapshot, and
//! turning what differs into changes in the inbox. An item missing from a completed scan is a
//! delete only once Miro answers 404 for it. The snapshot advances only after the changes are
//! stored, so a scan cut off at any point is simply done again, and the inbox's dedupe keys
//! (`board, item, modifiedAt`) keep a repeated scan from doubling anything.

use super::{Engine, now_ms};
use crate::config::PairConfig;
use crate::domain::Side;
use crate::domain::change::{Change, ChangeKind, Via, millis};
use crate::domain::miro::ItemType;
use crate::store::{NewInboxEntry, Snapshot};
use std::collections::{HashMap, HashSet};
use tokio_util::sync::CancellationToken;

/// What one scan found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanReport {
    pub items: usize,
    pub changes: usize,
    pub deleted: usize,
}

pub async fn run(engine: Engine, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(engine.config.poller.interval.0);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        for pair in &engine.config.pairs {
            match scan_pair(&engine, pair).await {
                Ok(report) if report.changes > 0 => {
                    tracing::debug!(pair = %pair.name, ?report, "scanned the Miro board")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(pair = %pair.name, error = %e, "Miro board scan failed; will try again")
                }
            }
        }
    }
}

/// Where the time of the pair's last completed scan is kept.
pub fn scan_cursor(pair: &PairConfig) -> String {
    format!("scan:{}", pair.slug)
}

/// Scans one pair's board once.
pub async fn scan_pair(engine: &Engine, pair: &PairConfig) -> anyhow::Result<ScanReport> {
    let board = pair.miro_board.as_str();
    let first = engine.store.cursor(&scan_cursor(pair)).await?.is_none();
    let before: HashMap<String, Snapshot> = engine
        .store
        .snapshots(&pair.slug, Side::Miro.as_str())
        .await?
        .into_iter()
        .map(|s| (s.item_id.clone(), s))
        .collect();
    let needs_style = pair.fields.iter().any(|f| match &f.miro {
        crate::config::MiroSide::All(p) => p.starts_with("style."),
        crate::config::MiroSide::PerType(m) => m.values().any(|p| p.starts_with("style.")),
    });
    let now = now_ms();
    let mut report = ScanReport::default();
    let mut listed: HashSet<String> = HashSet::new();
    let mut changed: Vec<Snapshot> = Vec::new();
    let mut entries: Vec<NewInboxEntry> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = engine.miro.list_items(board, cursor.as_deref()).await?;
        for item in page.data {
            let Some(item_type) = ItemType::parse(&item.item_type) else {
                continue;
            };
            if !pair.miro_items.contains(&item_type) {
                continue;
            }
            report.items += 1;
            listed.insert(item.id.clone());
            let version = item.modified_at.clone().unwrap_or_default();
            let known = before.get(&item.id);
            if known.is_some_and(|s| s.version == version) {
                continue;
            }
            let snapshot = Snapshot {
                item_id: item.id.clone(),
                version: version.clone(),
                data: String::new(),
            };
            if first && !pair.sync_existing {
                // Items already on the board when the pair is first seen stay as they are.
                changed.push(snapshot);
                continue;
            }
            let full = if needs_style {
                match engine.miro.get_item(board, item_type, &item.id).await {
                    Ok(full) => full,
                    // Deleted between the listing and the read: the next scan sees it gone.
                    Err(crate::clients::ApiError::NotFound(_)) => continue,
                    Err(e) => return Err(e.into()),
                }
            } else {
                item
            };
            let change = Change {
                side: Side::Miro,
                via: Via::Poll,
                board: board.to_owned(),
                item_id: full.id.clone(),
                item_type: Some(item_type.as_str().into()),
                kind: if known.is_some() {
                    ChangeKind::Updated
                } else {
                    ChangeKind::Created
                },
                fields: full.fields(),
                column_types: Default::default(),
                author: full.modified_by(),
                source_ts: millis(&serde_json::Value::String(version.clone())),
                incomplete: false,
            };
            entries.push(entry(
                pair,
                &change,
                format!("poll:{board}:{}:{version}", full.id),
                now,
            ));
            changed.push(snapshot);
        }
        match page.cursor {
            Some(c) if !c.is_empty() => cursor = Some(c),
            _ => break,
        }
    }
    let mut gone = Vec::new();
    for (id, snapshot) in &before {
        if listed.contains(id) || engine.miro.item_exists(board, id).await? {
            continue;
        }
        let change = Change {
            side: Side::Miro,
            via: Via::Poll,
            board: board.to_owned(),
            item_id: id.clone(),
            item_type: None,
            kind: ChangeKind::Deleted,
            fields: Default::default(),
            column_types: Default::default(),
            author: None,
            source_ts: Some(now),
            incomplete: false,
        };
        entries.push(entry(
            pair,
            &change,
            format!("poll:{board}:{id}:deleted:{}", snapshot.version),
            now,
        ));
        gone.push(id.clone());
        report.deleted += 1;
    }
    report.changes = entries.len();
    if !entries.is_empty() {
        let expires = now + engine.config.ingress.dedupe_ttl.0.as_millis() as i64;
        let batch: Vec<(&NewInboxEntry, i64)> = entries.iter().map(|e| (e, expires)).collect();
        engine.store.insert_inbox_batch(&batch).await?;
        engine.wake_processor.notify_one();
    }
    engine
        .store
        .save_snapshots(&pair.slug, Side::Miro.as_str(), &changed, &gone, now)
        .await?;
    engine
        .store
        .record_cursor(&scan_cursor(pair), &now.to_string(), now)
        .await?;
    Ok(report)
}

fn entry(pair: &PairConfig, change: &Change, dedupe_key: String, now: i64) -> NewInboxEntry {
    NewInboxEntry {
        dedupe_key,
        source: Side::Miro.as_str().into(),
        pair: Some(pair.slug.clone()),
        board_id: change.board.clone(),
        item_id: Some(change.item_id.clone()),
        kind: change.kind.as_str().into(),
        change: serde_json::to_string(change).expect("a change serialises"),
        raw_body: None,
        source_ts: change.source_ts,
        received_at: now,
        outcome: None,
    }
}
