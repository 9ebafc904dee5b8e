//! Connectors written: on Miro by drawing and deleting connectors, on monday as the ids of a
//! dependency (or board_relation) column, keeping the dependencies monday holds on items that have
//! no twin on Miro, which Miro could not show. The connector poll that reads them is
//! `pollers::connectors`.

use crate::clients::ApiError;
use crate::clients::monday::{Items, items};
use crate::config::PairConfig;
use crate::domain::{MiroItemId, MondayItemId};
use crate::mapping::values::{self};
use crate::runtime::{Engine, WriteError};
use serde_json::Value;
use std::collections::BTreeSet;

/// Brings the connectors that start at Miro item `item` to the monday ids in `logical`: draws
/// one to each twin it lacks, deletes those to twins that are not among them. An id whose item
/// has no twin on Miro is skipped, and a connector to an item with no twin on monday is kept.
pub(crate) async fn write_miro(
    engine: &Engine,
    pair: &PairConfig,
    item: &MiroItemId,
    logical: &str,
) -> Result<(), WriteError> {
    let board = &pair.miro_board;
    let mut want = BTreeSet::new();
    for id in values::item_ids(logical) {
        match engine
            .store
            .miro_twin(&pair.slug, &MondayItemId(id.to_string()))
            .await?
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
        } else if engine.store.monday_twin(&pair.slug, end).await?.is_some() {
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
pub(crate) async fn monday_value(
    engine: &Engine,
    pair: &PairConfig,
    item: Option<&MondayItemId>,
    column: &str,
    logical: &str,
) -> Result<Value, WriteError> {
    let mut ids: Vec<String> = values::item_ids(logical)
        .iter()
        .map(u64::to_string)
        .collect();
    if let Some(item) = item {
        for id in monday_linked_ids(engine, item, column).await? {
            if engine
                .store
                .miro_twin(&pair.slug, &id.as_str().into())
                .await?
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
    item: &MondayItemId,
    column: &str,
) -> Result<Vec<String>, ApiError> {
    let data = engine
        .monday
        .run::<Items>(
            items::Variables {
                ids: Some(vec![item.to_string()]),
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
        .and_then(|c| crate::runtime::linked_item_ids(&c.on))
        .unwrap_or_default())
}
