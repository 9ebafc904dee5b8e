//! The Miro content-logs feed, for Enterprise organisations (`[miro] org_id`): the only place Miro
//! reports comments, and a log of every item change with its author. One task reads it for all
//! pairs, under the lease `poll:content-logs` so that one replica does, every
//! `[poller] content_log_interval`: one call per round names every mapped board (each call costs
//! 2,000 credits), and its pages are followed to the end. What it finds becomes changes:
//!
//! - a comment added to an item (`comment_message`, `create`): a `Commented` change, one per
//!   comment. Edits and deletes of comments are not synced;
//! - a change to an item (`widget`): the change the board scan would make for it, under the
//!   scan's dedupe key and against the scan's snapshots, so the two never double a change and the
//!   scan (slowed down while this feed runs) only backs it up.
//!
//! The window read runs from the stored cursor `contentlog:{org}` (where the last round ended;
//! the first round starts the feed now, nothing older) to a few seconds before now. Changes are
//! stored before the cursor advances: a round cut off anywhere is read again, and the dedupe keys
//! (`contentlog:{entry id}`) drop what was already stored, so a restart neither skips nor doubles.

use super::miro_items::item_change;
use crate::clients::miro::{CONTENT_LOG_BOARDS, ContentLogEntry, MiroClient, MiroItem};
use crate::config::PairConfig;
use crate::domain::change::{Change, ChangeKind, ItemRef, Via, id_text, micros};
use crate::domain::miro::ItemType;
use crate::domain::{MiroBoardId, MiroItemId, Side};
use crate::runtime::Engine;
use crate::runtime::Lease;
use crate::store::keys;
use crate::store::{NewInboxEntry, Snapshot};
use crate::supervisor::WorkerStatus;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How far before now a window ends: an entry may reach the feed a moment after its change.
const SETTLE_MS: i64 = 5_000;
/// How often a waiting reader looks at the clock (the engine's, which tests move forward).
const TICK: Duration = Duration::from_millis(500);

/// What one round read and stored.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct RoundReport {
    pub entries: usize,
    pub changes: usize,
}

/// Reads the feed until `shutdown`, telling `status` whether this replica holds the feed's lease;
/// returns at once without an `org_id` (the feed is Enterprise only, and the scan then finds every
/// change).
pub(crate) async fn run_as(engine: Engine, shutdown: CancellationToken, status: WorkerStatus) {
    let Some(org) = engine.config.miro.org_id.clone() else {
        return;
    };
    let mut lease = Lease::new(
        keys::CONTENT_LOG_LEASE,
        status.holder(),
        engine.config.poller.lease.0,
    )
    .reporting(&status);
    let interval =
        i64::try_from(engine.config.poller.content_log_interval.0.as_millis()).unwrap_or(i64::MAX);
    loop {
        if !lease.acquire(&engine, &shutdown).await {
            break;
        }
        let Some(read) =
            super::schedule::while_held(&mut lease, &engine, round(&engine, &org)).await
        else {
            tracing::info!("another replica took over the content logs");
            continue;
        };
        let outcome = match read {
            Ok(report) => {
                if report.changes > 0 {
                    tracing::debug!(?report, "read the Miro content logs");
                }
                "ok"
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the Miro content logs; will try again");
                "error"
            }
        };
        engine
            .metrics
            .polls
            .with_label_values(&["all", "miro_content_log", outcome])
            .inc();
        let due = engine.clock.now_ms().saturating_add(interval);
        let wait = async {
            while engine.clock.now_ms() < due {
                tokio::time::sleep(TICK).await;
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            held = super::schedule::while_held(&mut lease, &engine, wait) => if held.is_none() { continue },
        }
    }
    lease.release(&engine).await;
}

/// Reads the window since the last round and stores what it found, then advances the cursor.
pub(crate) async fn round(engine: &Engine, org: &str) -> anyhow::Result<RoundReport> {
    let key = keys::content_log_cursor(org);
    let now = engine.clock.now_ms();
    let stored = engine.store.cursor(&key).await?;
    let Some(from) = stored.and_then(|c| c.parse::<i64>().ok()) else {
        // The first round starts the feed: what happened before is on the boards already.
        let start = whole_second(now);
        engine
            .store
            .record_cursor(&key, &start.to_string(), now)
            .await?;
        return Ok(RoundReport::default());
    };
    let to = whole_second(now - SETTLE_MS);
    if to <= from {
        return Ok(RoundReport::default());
    }
    let boards: BTreeSet<MiroBoardId> = engine
        .config
        .pairs
        .iter()
        .map(|p| p.miro_board.clone())
        .collect();
    let boards: Vec<MiroBoardId> = boards.into_iter().collect();
    let miro = engine.miro.polling();
    let mut read = Vec::new();
    for chunk in boards.chunks(CONTENT_LOG_BOARDS) {
        let mut cursor: Option<String> = None;
        loop {
            let page = miro
                .content_logs(org, chunk, &iso(from), &iso(to), cursor.as_deref())
                .await?;
            read.extend(page.data);
            match page.cursor {
                Some(c) if !c.is_empty() => cursor = Some(c),
                _ => break,
            }
        }
    }
    let mut report = RoundReport {
        entries: read.len(),
        changes: 0,
    };
    let mut found: Vec<(usize, NewInboxEntry)> = Vec::new();
    found.extend(comments(engine, &read, now));
    let mut snapshots = Vec::new();
    for pair in &engine.config.pairs {
        let of_pair = items(engine, &miro, pair, &read, now).await?;
        found.extend(of_pair.changes);
        snapshots.push((pair, of_pair.seen, of_pair.gone));
    }
    // In the feed's order: an item's create before the comments on it.
    found.sort_by_key(|(at, _)| *at);
    let entries: Vec<NewInboxEntry> = found.into_iter().map(|(_, e)| e).collect();
    report.changes = entries.len();
    engine.enqueue_polled(&entries, now).await?;
    for (pair, seen, gone) in snapshots {
        engine
            .store
            .save_snapshots(&pair.slug, Side::Miro.as_str(), &seen, &gone, now)
            .await?;
    }
    engine
        .store
        .record_cursor(&key, &to.to_string(), now)
        .await?;
    Ok(report)
}

/// Every comment added in `read`, as a `Commented` change of the item it is on, with its place in
/// the feed.
fn comments(engine: &Engine, read: &[ContentLogEntry], now: i64) -> Vec<(usize, NewInboxEntry)> {
    let mut out = Vec::new();
    for (at, e) in read.iter().enumerate() {
        if e.item_type != "comment_message" || e.action != "create" {
            continue;
        }
        let Some(item) = id_text(&e.state["widgetId"]) else {
            continue;
        };
        let on_board: Vec<&PairConfig> = engine
            .config
            .pairs
            .iter()
            .filter(|p| p.miro_board == e.board)
            .collect();
        let Some(first) = on_board.first() else {
            continue;
        };
        let text = |v: &Value| Value::String(v.as_str().unwrap_or_default().to_owned());
        let mut fields = BTreeMap::new();
        fields.insert(
            "comment.id".to_owned(),
            Value::String(
                e.item_id
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            ),
        );
        fields.insert("comment.text".to_owned(), text(&e.state["content"]));
        fields.insert("comment.author".to_owned(), text(&e.actor["name"]));
        let change = feed_change(
            e,
            item.into(),
            ChangeKind::Commented,
            Via::ContentLog,
            fields,
        );
        let mut stored =
            NewInboxEntry::polled(&first.slug, &change, format!("contentlog:{}", e.id), now);
        if on_board.len() > 1 {
            // The processor finds the pair whose link holds the item.
            stored.pair = None;
        }
        out.push((at, stored));
    }
    out
}

/// What the feed says of one pair's items.
#[derive(Default)]
struct Items {
    /// Changes as the scan would make them, with their places in the feed.
    changes: Vec<(usize, NewInboxEntry)>,
    /// The snapshots they leave, and the items gone.
    seen: Vec<Snapshot>,
    gone: Vec<String>,
}

/// Item changes in `read` on the pair's board, as the scan would make them.
async fn items(
    engine: &Engine,
    miro: &MiroClient,
    pair: &PairConfig,
    read: &[ContentLogEntry],
    now: i64,
) -> anyhow::Result<Items> {
    let board = &pair.miro_board;
    // Each item once, as the feed last left it, at the place it first appears.
    let mut last: BTreeMap<&MiroItemId, (usize, &ContentLogEntry)> = BTreeMap::new();
    for (at, e) in read.iter().enumerate() {
        if e.item_type != "widget" || &e.board != board {
            continue;
        }
        let Some(id) = e.item_id.as_ref() else {
            continue;
        };
        last.entry(id)
            .and_modify(|(_, latest)| *latest = e)
            .or_insert((at, e));
    }
    if last.is_empty()
        || engine
            .store
            .cursor(&keys::scan_cursor(&pair.slug))
            .await?
            .is_none()
    {
        // Until the pair's first scan has taken the board as it is, nothing on it is a change.
        return Ok(Items::default());
    }
    let before: HashMap<MiroItemId, String> = engine
        .store
        .snapshots(&pair.slug, Side::Miro.as_str())
        .await?
        .into_iter()
        .map(|s| (MiroItemId::from(s.item_id), s.version))
        .collect();
    let notes = super::miro_items::own_notes(engine, pair).await?;
    let mut found = Items::default();
    for (id, (at, e)) in last {
        let known = before.get(id);
        if e.action == "delete" {
            // As the scan does for an item missing from the board.
            if let Some(version) = known {
                let change = feed_change(
                    e,
                    id.clone(),
                    ChangeKind::Deleted,
                    Via::Poll,
                    BTreeMap::new(),
                );
                let key = format!("poll:{board}:{id}:deleted:{version}");
                found
                    .changes
                    .push((at, NewInboxEntry::polled(&pair.slug, &change, key, now)));
                found.gone.push(id.to_string());
            }
            continue;
        }
        // An entry whose state is not an item as the REST API gives it is left to the scan.
        let Ok(item) = serde_json::from_value::<MiroItem>(e.state.clone()) else {
            continue;
        };
        let (Some(item_type), Some(version)) =
            (ItemType::parse(&item.item_type), item.modified_at.clone())
        else {
            continue;
        };
        if !pair.miro_items.contains(&item_type) || notes.contains(id) || known == Some(&version) {
            continue;
        }
        // Gone since: the scan or the next round sees it.
        let Some(change) = item_change(miro, pair, item, item_type, known.is_some()).await? else {
            continue;
        };
        // The scan's key for the same version of the item: whichever source is first stores it.
        let key = format!("poll:{board}:{id}:{version}");
        found
            .changes
            .push((at, NewInboxEntry::polled(&pair.slug, &change, key, now)));
        found.seen.push(Snapshot {
            item_id: id.to_string(),
            version,
            data: String::new(),
        });
    }
    Ok(found)
}

/// A change of `item` that entry `e` reports: by its actor, at its time.
fn feed_change(
    e: &ContentLogEntry,
    item: MiroItemId,
    kind: ChangeKind,
    via: Via,
    fields: BTreeMap<String, Value>,
) -> Change {
    Change {
        fields,
        author: id_text(&e.actor["id"]),
        source_us: e
            .at
            .as_ref()
            .and_then(|t| micros(&Value::String(t.clone()))),
        ..Change::new(ItemRef::miro(e.board.clone(), item), via, kind)
    }
}

fn whole_second(ms: i64) -> i64 {
    ms.div_euclid(1000) * 1000
}

/// ISO 8601 UTC with a trailing `Z`, as the feed's `from` and `to` take it.
fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_whole_seconds_in_utc() {
        assert_eq!(whole_second(1_675_265_075_250), 1_675_265_075_000);
        assert_eq!(iso(1_675_265_075_000), "2023-02-01T15:24:35Z");
    }
}
