//! Connectors as monday dependencies. A connector from item A to item B on Miro says that A
//! depends on B: A's field `connectors` holds the *monday* ids of the items at the ends of the
//! connectors that start at A, sorted ([`values::normalise_ids`]), which is what a monday
//! `dependency` (or `board_relation`) column holds. An end that has no twin on monday cannot be
//! said in monday's terms: it is left out, and counted.
//!
//! Miro has no event for connectors and they are not on the items, so the connector poll pages
//! through the board's connectors, groups them by start item, and turns each linked item whose
//! value changed since its snapshot into a change with one field, as the tag poll does. Writing a
//! value back to Miro draws and deletes connectors; writing it to monday keeps the dependencies
//! monday holds on items that have no twin on Miro, which Miro could not show.

use super::Engine;
use super::processor::PENDING_ID;
use super::values::{self, CONNECTORS};
use crate::clients::ApiError;
use crate::clients::monday::{Items, items};
use crate::config::PairConfig;
use crate::domain::Side;
use crate::domain::change::Change;
use crate::domain::miro::ItemType;
use crate::store::StoreError;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub use super::tags::PollReport;
use super::tags::{RelationPoll, polled_change};

/// The snapshot side of the connector poll: per start item, its logical value (see
/// `tags::RelationPoll`).
pub const SNAPSHOT_SIDE: &str = "miro-connectors";

/// Where the time of the pair's last completed connector poll is kept.
pub fn cursor(pair: &PairConfig) -> String {
    format!("connectors:{}", pair.slug)
}

/// Whether the pair needs the connector poll: one of its fields reads `connectors`.
pub fn wanted(pair: &PairConfig) -> bool {
    super::tags::maps(pair, CONNECTORS)
}

/// The id of the pair's twin of item `id` of side `side`, once it has one (its create done).
async fn twin(
    engine: &Engine,
    pair: &PairConfig,
    side: Side,
    id: &str,
) -> Result<Option<String>, StoreError> {
    let link = match side {
        Side::Miro => engine.store.link_by_miro(&pair.slug, id).await?,
        Side::Monday => engine.store.link_by_monday(&pair.slug, id).await?,
    };
    Ok(link
        .map(|l| match side {
            Side::Miro => l.monday_item_id,
            Side::Monday => l.miro_item_id,
        })
        .filter(|id| !id.starts_with(PENDING_ID)))
}

/// Polls the connectors of one pair's board once (nothing when no field maps them). Called by
/// the poll loop after each scan of the pair's items.
pub async fn poll_pair(engine: &Engine, pair: &PairConfig) -> anyhow::Result<PollReport> {
    let mut report = PollReport::default();
    if !wanted(pair) {
        return Ok(report);
    }
    let board = pair.miro_board.as_str();
    // Start item → the items at the ends of its connectors.
    let mut ends: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for connector in engine.miro.polling().connectors(board).await? {
        if let Some((start, end)) = connector.ends() {
            ends.entry(start.to_owned())
                .or_default()
                .insert(end.to_owned());
        }
    }
    let mut poll = RelationPoll::start(engine, pair, SNAPSHOT_SIDE, cursor(pair)).await?;
    for start in poll.items(ends.keys()) {
        // Only a linked item's connectors say anything to monday; an item linked later is
        // reported then (it has no snapshot until it is).
        let Some(link) = engine.store.link_by_miro(&pair.slug, &start).await? else {
            poll.skip(&start);
            continue;
        };
        let mut linked = Vec::new();
        for end in ends.get(&start).into_iter().flatten() {
            match twin(engine, pair, Side::Miro, end).await? {
                Some(id) => linked.push(id),
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

/// The monday columns the pair's connector fields write to.
fn columns(pair: &PairConfig) -> Vec<&str> {
    pair.fields
        .iter()
        .filter(|f| {
            pair.miro_items
                .iter()
                .any(|t| f.miro.path_for(*t) == Some(CONNECTORS))
        })
        .map(|f| f.monday.as_str())
        .collect()
}

/// Keeps, in a monday change's dependency values, only the items that have a twin on Miro: the
/// others cannot be drawn there, and are left alone on monday. Returns how many it left out.
pub async fn keep_linked(
    engine: &Engine,
    pair: &PairConfig,
    change: &mut Change,
) -> Result<usize, StoreError> {
    let mut ignored = 0;
    if change.side != Side::Monday {
        return Ok(0);
    }
    for column in columns(pair) {
        let Some(ids) = change.fields.get(column).and_then(values::from_monday) else {
            continue;
        };
        let mut kept = Vec::new();
        for id in values::item_ids(&ids) {
            let id = id.to_string();
            if twin(engine, pair, Side::Monday, &id).await?.is_some() {
                kept.push(id);
            } else {
                ignored += 1;
            }
        }
        let value = values::normalise_ids(kept.iter().map(String::as_str));
        change
            .fields
            .insert(column.to_owned(), Value::String(value));
    }
    Ok(ignored)
}

/// Brings the connectors that start at Miro item `item` to the monday ids in `logical`: draws
/// one to each twin it lacks, deletes those to twins that are not among them. An id whose item
/// has no twin on Miro is skipped, and a connector to an item with no twin on monday is kept.
pub async fn write_miro(
    engine: &Engine,
    pair: &PairConfig,
    item: &str,
    logical: &str,
) -> Result<(), ApiError> {
    let board = pair.miro_board.as_str();
    let mut want = BTreeSet::new();
    for id in values::item_ids(logical) {
        match twin(engine, pair, Side::Monday, &id.to_string())
            .await
            .map_err(store_error)?
        {
            Some(miro_id) => {
                want.insert(miro_id);
            }
            None => {
                tracing::debug!(pair = %pair.name, monday_item = id, "no Miro twin to draw a connector to")
            }
        }
    }
    let mut have = BTreeSet::new();
    for connector in engine.miro.connectors(board).await? {
        let Some((start, end)) = connector.ends() else {
            continue;
        };
        if start != item {
            continue;
        }
        if want.contains(end) {
            have.insert(end.to_owned());
        } else if twin(engine, pair, Side::Miro, end)
            .await
            .map_err(store_error)?
            .is_some()
        {
            engine.miro.delete_connector(board, &connector.id).await?;
        }
        // A connector to an item with no twin on monday is not monday's to remove.
    }
    for end in want.difference(&have) {
        engine.miro.create_connector(board, item, end).await?;
    }
    Ok(())
}

/// A monday dependency column's value for a logical value from Miro: those items, and the ones
/// the column holds now that have no twin on Miro (Miro cannot show them, so it cannot have
/// removed them). `item` is `None` for an item being created.
pub async fn monday_value(
    engine: &Engine,
    pair: &PairConfig,
    item: Option<&str>,
    column: &str,
    logical: &str,
) -> Result<Value, ApiError> {
    let mut ids: Vec<String> = values::item_ids(logical)
        .iter()
        .map(u64::to_string)
        .collect();
    if let Some(item) = item {
        for id in monday_linked_ids(engine, item, column).await? {
            if twin(engine, pair, Side::Monday, &id)
                .await
                .map_err(store_error)?
                .is_none()
            {
                ids.push(id);
            }
        }
    }
    let value = values::normalise_ids(ids.iter().map(String::as_str));
    Ok(values::to_monday("dependency", &value))
}

/// The item ids a monday item's dependency or board_relation column links to now.
async fn monday_linked_ids(
    engine: &Engine,
    item: &str,
    column: &str,
) -> Result<Vec<String>, ApiError> {
    let data = engine
        .monday
        .run::<Items>(
            items::Variables {
                ids: Some(vec![item.to_owned()]),
                limit: Some(1),
            },
            None,
        )
        .await?;
    let Some(found) = data.items.into_iter().flatten().flatten().next() else {
        return Err(ApiError::NotFound(format!("monday item {item}")));
    };
    Ok(found
        .column_values
        .into_iter()
        .find(|c| c.id == column)
        .and_then(|c| super::fetch::linked_item_ids(&c.on))
        .unwrap_or_default())
}

fn store_error(e: StoreError) -> ApiError {
    ApiError::Transient(format!("the store: {e}"))
}
