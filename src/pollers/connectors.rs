//! Connectors as monday dependencies. A connector from item A to item B on Miro says that A
//! depends on B: A's field `connectors` holds the *monday* ids of the items at the ends of the
//! connectors that start at A, sorted ([`values::normalise_ids`]), which is what a monday
//! `dependency` (or `board_relation`) column holds. An end that has no twin on monday cannot be
//! said in monday's terms: it is left out, and counted.
//!
//! Miro has no event for connectors and they are not on the items, so the connector poll pages
//! through the board's connectors, groups them by start item, and turns each linked item whose
//! value changed since its snapshot into a change with one field, as the tag poll does. The
//! dispatcher writes them (`sync::dispatcher::connectors`).

use crate::config::PairConfig;
use crate::domain::miro::ItemType;
use crate::mapping::values::{self, CONNECTORS};
use crate::runtime::Engine;
use crate::store::keys;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

use super::relation::{PollReport, RelationPoll, polled_change};

/// Whether the pair needs the connector poll: one of its fields reads `connectors`.
pub fn wanted(pair: &PairConfig) -> bool {
    values::maps(pair, CONNECTORS)
}

/// Polls the connectors of one pair's board once (nothing when no field maps them). Called by
/// the poll loop after each scan of the pair's items.
pub async fn poll_pair(engine: &Engine, pair: &PairConfig) -> anyhow::Result<PollReport> {
    let mut report = PollReport::default();
    if !wanted(pair) {
        return Ok(report);
    }
    let board = &pair.miro_board;
    // Start item → the items at the ends of its connectors.
    let mut ends: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // (Kept as text: the relation poll compares them with its snapshots, kept as text.)
    for connector in engine.miro.polling().connectors(board).await? {
        if let Some((start, end)) = connector.ends() {
            ends.entry(start.to_string())
                .or_default()
                .insert(end.to_string());
        }
    }
    let mut poll = RelationPoll::start(
        engine,
        pair,
        keys::CONNECTORS_SNAPSHOT,
        keys::connectors_cursor(&pair.slug),
    )
    .await?;
    for start in poll.items(ends.keys()) {
        // Only a linked item's connectors say anything to monday; an item linked later is
        // reported then (it has no snapshot until it is).
        let Some(link) = engine
            .store
            .link_by_miro(&pair.slug, &start.as_str().into())
            .await?
        else {
            poll.skip(&start);
            continue;
        };
        let mut linked = Vec::new();
        for end in ends.get(&start).into_iter().flatten() {
            match engine
                .store
                .monday_twin(&pair.slug, &end.as_str().into())
                .await?
            {
                Some(id) => linked.push(id.0),
                None => report.ignored += 1,
            }
        }
        let value = values::normalise_ids(linked.iter().map(String::as_str));
        if poll.diff(&start, &value).is_none() {
            continue;
        }
        let item_type = ItemType::parse(&link.miro_type).unwrap_or(pair.miro_new_item);
        let fields = BTreeMap::from([(CONNECTORS.to_owned(), Value::String(value.clone()))]);
        let change = polled_change(pair, &start, item_type, fields, false, poll.now);
        poll.report(&change, &value);
    }
    report.changes = poll.finish().await?;
    Ok(report)
}
