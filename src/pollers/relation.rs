//! What the tag and connector polls share. Each keeps its own snapshot side, whose `version` is
//! an item's value and whose `data` is a generation number that grows with every change (so a
//! dedupe key never repeats when a value comes back to an earlier one).

use crate::config::PairConfig;
use crate::domain::Side;
use crate::domain::change::{Change, ChangeKind, ItemRef, Via};
use crate::domain::miro::ItemType;
use crate::runtime::Engine;
use crate::store::{Snapshot, StoreError};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// What one poll of a pair found: the changes it queued, and what it left out (items that are
/// not linked, for tags; connector ends that are not linked, for connectors).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollReport {
    pub changes: usize,
    pub ignored: usize,
}

/// What the tag and connector polls share: each keeps its own snapshot side, whose `version` is
/// an item's value and whose `data` is a generation number that grows with every change (so a
/// dedupe key never repeats when a value comes back to an earlier one), and reports only items
/// the board scan knows: an item it does not is new since the scan (reported next round, once
/// the scan has) or deleted (its snapshot goes). The snapshot and cursor advance only after the
/// changes are stored, so a poll cut off is simply done again.
pub(super) struct RelationPoll<'a> {
    engine: &'a Engine,
    pair: &'a PairConfig,
    side: &'static str,
    cursor: String,
    pub now: i64,
    before: HashMap<String, Snapshot>,
    scanned: HashSet<String>,
    /// The pair's first poll takes the values as they are, as its first scan takes the items
    /// (unless the pair links existing items, whose values then sync too).
    first: bool,
    generations: HashMap<String, u64>,
    entries: Vec<crate::store::NewInboxEntry>,
    saved: Vec<Snapshot>,
    gone: Vec<String>,
}

impl<'a> RelationPoll<'a> {
    pub(crate) async fn start(
        engine: &'a Engine,
        pair: &'a PairConfig,
        side: &'static str,
        cursor: String,
    ) -> Result<RelationPoll<'a>, StoreError> {
        let snapshots = |side: &'static str| engine.store.snapshots(&pair.slug, side);
        let before = snapshots(side)
            .await?
            .into_iter()
            .map(|s| (s.item_id.clone(), s))
            .collect();
        let scanned = snapshots(Side::Miro.as_str())
            .await?
            .into_iter()
            .map(|s| s.item_id)
            .collect();
        let first = engine.store.cursor(&cursor).await?.is_none() && !pair.sync_existing;
        Ok(RelationPoll {
            engine,
            pair,
            side,
            cursor,
            now: engine.clock.now_ms(),
            before,
            scanned,
            first,
            generations: HashMap::new(),
            entries: Vec::new(),
            saved: Vec::new(),
            gone: Vec::new(),
        })
    }

    /// The items to compare: those `seen` now and those with a snapshot.
    pub(crate) fn items<'s>(&self, seen: impl Iterator<Item = &'s String>) -> BTreeSet<String> {
        let mut items: BTreeSet<String> = seen.cloned().collect();
        items.extend(self.before.keys().cloned());
        items
    }

    /// Passes over `item` this round (its snapshot goes if the scan no longer knows it).
    pub(crate) fn skip(&mut self, item: &str) {
        if !self.scanned.contains(item) && self.before.contains_key(item) {
            self.gone.push(item.to_owned());
        }
    }

    /// Notes that `item` holds `value` now. `Some` with its value before (`None`: none was
    /// seen) when that is a change to report; `None` when it is not (unchanged, not scanned, or
    /// the first poll).
    pub(crate) fn diff(&mut self, item: &str, value: &str) -> Option<Option<String>> {
        if !self.scanned.contains(item) {
            self.skip(item);
            return None;
        }
        let prev = self.before.get(item);
        if prev.map_or("", |s| s.version.as_str()) == value {
            return None;
        }
        let generation = prev.and_then(|s| s.data.parse::<u64>().ok()).unwrap_or(0) + 1;
        self.saved.push(Snapshot {
            item_id: item.to_owned(),
            version: value.to_owned(),
            data: generation.to_string(),
        });
        self.generations.insert(item.to_owned(), generation);
        (!self.first).then(|| prev.map(|s| s.version.clone()))
    }

    /// Queues `change`, which reports `value`, under a key of its item's generation.
    pub(crate) fn report(&mut self, change: &Change, value: &str) {
        let generation = self
            .generations
            .get(change.item.item())
            .copied()
            .unwrap_or(0);
        let digest = Sha256::digest(value.as_bytes());
        let key = format!(
            "{}:{}:{}:{generation}:{}",
            self.side,
            self.pair.slug,
            change.item.item(),
            hex::encode(&digest[..8])
        );
        self.entries.push(crate::store::NewInboxEntry::polled(
            &self.pair.slug,
            change,
            key,
            self.now,
        ));
    }

    /// Stores the changes, then the snapshot and the cursor; the number of changes.
    pub(crate) async fn finish(self) -> anyhow::Result<usize> {
        let (engine, slug, now) = (self.engine, &self.pair.slug, self.now);
        engine.enqueue_polled(&self.entries, now).await?;
        engine
            .store
            .save_snapshots(slug, self.side, &self.saved, &self.gone, now)
            .await?;
        engine
            .store
            .record_cursor(&self.cursor, &now.to_string(), now)
            .await?;
        Ok(self.entries.len())
    }
}

/// A change a tag or connector poll found: `fields` of one Miro item, as of `now`.
pub(super) fn polled_change(
    pair: &PairConfig,
    item: &str,
    item_type: ItemType,
    fields: BTreeMap<String, Value>,
    incomplete: bool,
    now: i64,
) -> Change {
    Change {
        item_type: Some(item_type.as_str().into()),
        fields,
        source_us: Some(now * 1000),
        incomplete,
        ..Change::new(
            ItemRef::miro(pair.miro_board.clone(), item),
            Via::Poll,
            ChangeKind::Updated,
        )
    }
}
