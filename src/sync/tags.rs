//! Tags. Miro keeps an item's tags apart from the item: no tag field on its body, no event, and
//! attaching a tag leaves the item's `modifiedAt` alone, so the board scan never sees them. The
//! tag poll lists the board's tags and each tag's items, inverts that into item → titles, and
//! turns each linked item whose titles changed since its snapshot into a change with one field,
//! `tags`, whose logical value is the titles normalised ([`values::normalise_tags`]). From there a
//! tag change is a field change like any other: the planner compares it with the link's state, so
//! echoes, conflicts and directions need nothing of their own.
//!
//! The same snapshot answers the pair filter `miro_filter.tag` (which items belong to the pair),
//! and this module also writes tags: on Miro by attaching and detaching (creating a tag the board
//! lacks), on monday by tag ids (`create_or_get_tag`).

use super::Engine;
use super::values::{self, FILTER_TAG, TAGS};
use crate::clients::ApiError;
use crate::clients::miro::{MiroClient, Tag};
use crate::config::PairConfig;
use crate::domain::Side;
use crate::domain::change::{Change, ChangeKind, Via};
use crate::domain::miro::ItemType;
use crate::store::{Snapshot, StoreError};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// The snapshot side of the tag poll: per item, its normalised titles, the filter tag included
/// (see [`RelationPoll`]).
pub const SNAPSHOT_SIDE: &str = "miro-tags";
/// Miro allows this many tags on a sticky note or a card.
pub const MAX_TAGS_PER_ITEM: usize = 8;

/// What one poll of a pair found: the changes it queued, and what it left out (items that are
/// not linked, for tags; connector ends that are not linked, for connectors).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollReport {
    pub changes: usize,
    pub ignored: usize,
}

/// Where the time of the pair's last completed tag poll is kept.
pub fn cursor(pair: &PairConfig) -> String {
    format!("tags:{}", pair.slug)
}

/// Whether any of the pair's fields reads the Miro path `path` on one of its item types.
pub fn maps(pair: &PairConfig, path: &str) -> bool {
    pair.fields.iter().any(|f| {
        pair.miro_items
            .iter()
            .any(|t| f.miro.path_for(*t) == Some(path))
    })
}

/// Whether the pair needs the tag poll: it maps tags, or filters by a tag.
pub fn wanted(pair: &PairConfig) -> bool {
    pair.miro_filter.tag.is_some() || maps(pair, TAGS)
}

/// Polls the tags of one pair's board once (nothing when the pair has no use for them). Called
/// by the poll loop after each scan of the pair's items.
pub async fn poll_pair(engine: &Engine, pair: &PairConfig) -> anyhow::Result<PollReport> {
    let mut report = PollReport::default();
    if !wanted(pair) {
        return Ok(report);
    }
    let board = pair.miro_board.as_str();
    let miro = engine.miro.polling();
    // Item → its type and titles, from each tag's items (cheaper than each item's tags).
    let mut seen: HashMap<String, (ItemType, Vec<String>)> = HashMap::new();
    for tag in miro.board_tags(board).await? {
        for item in miro.items_with_tag(board, &tag.id).await? {
            let Some(t) = ItemType::parse(&item.item_type).filter(|t| pair.miro_items.contains(t))
            else {
                continue;
            };
            seen.entry(item.id)
                .or_insert_with(|| (t, Vec::new()))
                .1
                .push(tag.title.clone());
        }
    }
    let mut poll = RelationPoll::start(engine, pair, SNAPSHOT_SIDE, cursor(pair)).await?;
    for id in poll.items(seen.keys()) {
        let titles = seen
            .get(&id)
            .map(|(_, t)| values::normalise_tags(t.iter().map(String::as_str)))
            .unwrap_or_default();
        let Some(had) = poll.diff(&id, &titles) else {
            continue;
        };
        let item_type = seen.get(&id).map(|(t, _)| *t);
        match change_for(
            engine,
            pair,
            &id,
            item_type,
            had.as_deref(),
            &titles,
            poll.now,
        )
        .await?
        {
            Some(change) => poll.report(&change, &titles),
            None => report.ignored += 1,
        }
    }
    report.changes = poll.finish().await?;
    Ok(report)
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
    pub async fn start(
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
    pub fn items<'s>(&self, seen: impl Iterator<Item = &'s String>) -> BTreeSet<String> {
        let mut items: BTreeSet<String> = seen.cloned().collect();
        items.extend(self.before.keys().cloned());
        items
    }

    /// Passes over `item` this round (its snapshot goes if the scan no longer knows it).
    pub fn skip(&mut self, item: &str) {
        if !self.scanned.contains(item) && self.before.contains_key(item) {
            self.gone.push(item.to_owned());
        }
    }

    /// Notes that `item` holds `value` now. `Some` with its value before (`None`: none was
    /// seen) when that is a change to report; `None` when it is not (unchanged, not scanned, or
    /// the first poll).
    pub fn diff(&mut self, item: &str, value: &str) -> Option<Option<String>> {
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
    pub fn report(&mut self, change: &Change, value: &str) {
        let generation = self.generations.get(&change.item_id).copied().unwrap_or(0);
        let digest = Sha256::digest(value.as_bytes());
        let key = format!(
            "{}:{}:{}:{generation}:{}",
            self.side,
            self.pair.slug,
            change.item_id,
            hex::encode(&digest[..8])
        );
        self.entries
            .push(super::scan::entry(self.pair, change, key, self.now));
    }

    /// Stores the changes, then the snapshot and the cursor; the number of changes.
    pub async fn finish(self) -> anyhow::Result<usize> {
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
        side: Side::Miro,
        via: Via::Poll,
        board: pair.miro_board.as_str().to_owned(),
        item_id: item.to_owned(),
        item_type: Some(item_type.as_str().into()),
        kind: ChangeKind::Updated,
        fields,
        column_types: Default::default(),
        author: None,
        source_us: Some(now * 1000),
        incomplete,
        read_back: false,
    }
}

/// The change for an item whose titles are now `titles` (were `had`), or `None` when it is left
/// out: an item that is not linked is no twin's, and a tag change does not make it one, except
/// that attaching the pair's filter tag brings an item into the pair (it is then read whole, as
/// a change without the item's fields).
async fn change_for(
    engine: &Engine,
    pair: &PairConfig,
    id: &str,
    seen_type: Option<ItemType>,
    had: Option<&str>,
    titles: &str,
    now: i64,
) -> Result<Option<Change>, StoreError> {
    let link = engine.store.link_by_miro(&pair.slug, id).await?;
    let carries = |titles: &str| {
        pair.miro_filter
            .tag
            .as_deref()
            .map(|tag| values::tag_titles(titles).iter().any(|t| t == tag))
    };
    let (item_type, incomplete) = match &link {
        Some(l) => (seen_type.or_else(|| ItemType::parse(&l.miro_type)), false),
        None => {
            let entered = carries(titles) == Some(true) && carries(had.unwrap_or("")) != Some(true);
            if !entered {
                return Ok(None);
            }
            (seen_type, true)
        }
    };
    let Some(item_type) = item_type else {
        return Ok(None);
    };
    let mut fields = BTreeMap::new();
    fields.insert(TAGS.to_owned(), Value::String(logical(pair, titles)));
    if let Some(inside) = carries(titles) {
        fields.insert(FILTER_TAG.to_owned(), Value::Bool(inside));
    }
    Ok(Some(polled_change(
        pair, id, item_type, fields, incomplete, now,
    )))
}

/// The logical value of a Miro item's titles for `pair`: the pair's filter tag says which pair
/// the item belongs to, and is not synced as one of its tags.
pub fn logical(pair: &PairConfig, titles: &str) -> String {
    let filter = pair.miro_filter.tag.as_deref();
    let titles = values::tag_titles(titles);
    values::normalise_tags(
        titles
            .iter()
            .map(String::as_str)
            .filter(|t| Some(*t) != filter),
    )
}

/// Whether the Miro item carries the pair's filter tag, as the last tag poll saw it; `None` for
/// an item it has not seen with a tag.
async fn carries_filter_tag(
    engine: &Engine,
    pair: &PairConfig,
    item: &str,
    tag: &str,
) -> Result<Option<bool>, StoreError> {
    Ok(engine
        .store
        .snapshot(&pair.slug, SNAPSHOT_SIDE, item)
        .await?
        .map(|s| values::tag_titles(&s.version).iter().any(|t| t == tag)))
}

/// Whether a Miro change's item passes the pair's tag filter (for a board in several pairs, told
/// apart by their tags). Changes of the other side, and pairs without a tag filter, pass.
pub async fn passes(
    engine: &Engine,
    pair: &PairConfig,
    change: &Change,
) -> Result<bool, StoreError> {
    let Some(tag) = pair.miro_filter.tag.as_deref() else {
        return Ok(true);
    };
    if change.side != Side::Miro {
        return Ok(true);
    }
    if let Some(Value::Bool(inside)) = change.fields.get(FILTER_TAG) {
        return Ok(*inside);
    }
    Ok(carries_filter_tag(engine, pair, &change.item_id, tag)
        .await?
        .unwrap_or(false))
}

/// Readies a Miro change for the planner, before the processor reads the item: says whether the
/// item carries the pair's filter tag (for the planner's scope), and decides what becomes of a
/// change that carries only tags or connectors. Such a change of a linked item needs nothing
/// more; one of an item that is not linked (the link may have ended since the poll) brings the
/// item into the pair only when it just got the pair's tag (the item is then read whole);
/// otherwise it is ignored, with the reason returned.
pub async fn prepare(
    engine: &Engine,
    pair: &PairConfig,
    change: &mut Change,
) -> Result<Option<String>, StoreError> {
    if change.side != Side::Miro
        || !matches!(
            change.kind,
            ChangeKind::Created | ChangeKind::Updated | ChangeKind::Restored
        )
    {
        return Ok(None);
    }
    if let Some(tag) = pair.miro_filter.tag.as_deref()
        && !change.fields.contains_key(FILTER_TAG)
        && let Some(inside) = carries_filter_tag(engine, pair, &change.item_id, tag).await?
    {
        change
            .fields
            .insert(FILTER_TAG.to_owned(), Value::Bool(inside));
    }
    let relations_only = change
        .fields
        .keys()
        .all(|k| values::polled_apart(k) || k == FILTER_TAG)
        && change.fields.keys().any(|k| values::polled_apart(k));
    if !relations_only {
        return Ok(None);
    }
    let linked = engine
        .store
        .link_by_miro(&pair.slug, &change.item_id)
        .await?
        .is_some();
    if linked {
        change.incomplete = false;
        return Ok(None);
    }
    let entered = change.fields.get(FILTER_TAG) == Some(&Value::Bool(true))
        && change.fields.contains_key(TAGS);
    if entered {
        change.incomplete = true;
        return Ok(None);
    }
    Ok(Some("the item is not linked".to_owned()))
}

/// Brings a Miro item's tags to `want` (titles), the pair's filter tag included: detaches the
/// others first (Miro allows [`MAX_TAGS_PER_ITEM`]), then attaches the missing ones, making tags
/// the board lacks. More than Miro allows is a permanent error.
pub async fn write_miro(
    engine: &Engine,
    pair: &PairConfig,
    item: &str,
    logical: &str,
) -> Result<(), ApiError> {
    let mut want = values::tag_titles(logical);
    if let Some(tag) = &pair.miro_filter.tag
        && !want.contains(tag)
    {
        want.push(tag.clone());
    }
    if want.len() > MAX_TAGS_PER_ITEM {
        return Err(ApiError::Rejected(format!(
            "Miro allows at most {MAX_TAGS_PER_ITEM} tags on an item, and this one would have {}: {}",
            want.len(),
            want.join(", ")
        )));
    }
    set_miro_tags(&engine.miro, pair.miro_board.as_str(), item, &want, true).await
}

/// Attaches the tag titled `title` to a Miro item, making it on the board when missing (the
/// `archived` tag, the pair's filter tag on a new item).
pub async fn attach_miro(
    miro: &MiroClient,
    board: &str,
    item: &str,
    title: &str,
) -> Result<(), ApiError> {
    set_miro_tags(miro, board, item, &[title.to_owned()], false).await
}

/// Attaches each of `want` the item lacks; with `replace`, first detaches every tag not in it.
async fn set_miro_tags(
    miro: &MiroClient,
    board: &str,
    item: &str,
    want: &[String],
    replace: bool,
) -> Result<(), ApiError> {
    let current = miro.item_tags(board, item).await?;
    let same = |t: &Tag, title: &str| t.title.trim() == title;
    if replace {
        for tag in &current {
            if !want.iter().any(|w| same(tag, w)) {
                miro.detach_tag(board, item, &tag.id).await?;
            }
        }
    }
    let mut board_tags: Option<Vec<Tag>> = None;
    for title in want {
        if current.iter().any(|t| same(t, title)) {
            continue;
        }
        let tag = board_tag(miro, board, &mut board_tags, title).await?;
        miro.attach_tag(board, item, &tag.id).await?;
    }
    Ok(())
}

/// The board's tag titled `title`, made when the board has none (the board's tags are listed
/// once per write). A tag someone made meanwhile is found on a second look.
async fn board_tag(
    miro: &MiroClient,
    board: &str,
    known: &mut Option<Vec<Tag>>,
    title: &str,
) -> Result<Tag, ApiError> {
    if known.is_none() {
        *known = Some(miro.board_tags(board).await?);
    }
    let tags = known.as_mut().expect("listed above");
    if let Some(t) = tags.iter().find(|t| t.title.trim() == title) {
        return Ok(t.clone());
    }
    match miro.create_tag(board, title).await {
        Ok(t) => {
            tags.push(t.clone());
            Ok(t)
        }
        Err(ApiError::Rejected(why)) => {
            let again = miro.board_tags(board).await?;
            let found = again.iter().find(|t| t.title.trim() == title).cloned();
            *known = Some(again);
            found.ok_or(ApiError::Rejected(why))
        }
        Err(e) => Err(e),
    }
}

/// A monday tags column's value for a logical value: each name's tag id (made when the account
/// has no tag by that name).
pub async fn monday_value(engine: &Engine, board: &str, logical: &str) -> Result<Value, ApiError> {
    let mut ids = Vec::new();
    for name in values::tag_titles(logical) {
        ids.push(engine.monday.tag_id(board, &name).await?);
    }
    Ok(values::tags_to_monday(&ids))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Direction, FieldMapping, MiroSide};

    fn pair(filter: Option<&str>) -> PairConfig {
        let extra = filter.map_or(String::new(), |t| {
            format!("miro_filter = {{ tag = \"{t}\" }}")
        });
        super::super::plan::tests::pair_with(
            &format!("{extra}\nmiro_items = [\"sticky_note\", \"shape\"]"),
            r#"title = { miro = "data.content", monday = "name" }"#,
        )
    }

    #[test]
    fn the_filter_tag_is_not_synced_as_one_of_the_items_tags() {
        let p = pair(Some("sprint"));
        assert_eq!(logical(&p, "bug, sprint, Urgent"), "bug, Urgent");
        assert_eq!(logical(&p, "sprint"), "");
        assert_eq!(logical(&pair(None), "bug, sprint"), "bug, sprint");
    }

    #[test]
    fn the_tag_poll_runs_only_for_pairs_that_use_tags() {
        let mut p = pair(None);
        assert!(!wanted(&p));
        p.fields.push(FieldMapping {
            name: "tags".into(),
            miro: MiroSide::All("tags".into()),
            monday: "tags".into(),
            direction: Direction::Both,
            values: Vec::new(),
            miro_as: None,
        });
        assert!(wanted(&p));
        assert!(wanted(&pair(Some("sprint"))));
        assert!(!maps(&p, values::CONNECTORS));
    }
}
