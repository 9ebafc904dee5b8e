//! Reads an item whose change did not carry every field (a monday column type whose webhook
//! payload boardsync does not know or that carries ids only, such as tags; Miro's `changes[]`
//! shape; a Miro item that came into its pair by getting the pair's tag), so the planner sees
//! whole values.

use crate::clients::ApiError;
use crate::clients::monday::{Items, items};
use crate::config::PairConfig;
use crate::domain::change::{Change, ItemRef};
use crate::domain::miro::ItemType;
use crate::mapping::values;
use crate::runtime::Engine;
use serde_json::Value;

/// Replaces `change.fields` with the item's current fields.
pub(crate) async fn complete(
    engine: &Engine,
    pair: &PairConfig,
    change: &mut Change,
) -> Result<(), ApiError> {
    match &change.item {
        ItemRef::Miro { item_id, .. } => {
            let item_type = change
                .item_type
                .as_deref()
                .and_then(ItemType::parse)
                .ok_or_else(|| {
                    ApiError::Rejected("the change does not name a Miro item type".into())
                })?;
            let item = engine
                .miro
                .get_item(&pair.miro_board, item_type, item_id)
                .await?;
            // Tags and connectors are not on the item: what the poll said of them stays.
            let mut fields = item.fields();
            fields.extend(
                std::mem::take(&mut change.fields)
                    .into_iter()
                    .filter(|(k, _)| values::polled_apart(k) || k == values::FILTER_TAG),
            );
            change.fields = fields;
        }
        ItemRef::Monday { item_id, .. } => {
            let data = engine
                .monday
                .run::<Items>(
                    items::Variables {
                        ids: Some(vec![item_id.to_string()]),
                        limit: Some(1),
                    },
                    None,
                )
                .await?;
            let item = data
                .items
                .into_iter()
                .flatten()
                .flatten()
                .next()
                .ok_or_else(|| ApiError::NotFound(format!("monday item {item_id}")))?;
            change.fields.clear();
            change
                .fields
                .insert("name".into(), Value::String(item.name));
            if let Some(group) = item.group {
                change
                    .fields
                    .insert("group".into(), Value::String(group.id));
            }
            for cv in item.column_values {
                // Tags as their names, normalised as Miro's are; dependency and board_relation
                // columns (which have no text) as their items' ids; the rest as their text.
                let logical = match &cv.on {
                    items::ItemsItemsColumnValuesOn::TagsValue(t) => {
                        values::normalise_tags(t.tags.iter().map(|t| t.name.as_str()))
                    }
                    on => match crate::runtime::linked_item_ids(on) {
                        Some(ids) => values::normalise_ids(ids.iter().map(String::as_str)),
                        None => cv.text.unwrap_or_default(),
                    },
                };
                change.fields.insert(cv.id, Value::String(logical));
            }
        }
    }
    change.incomplete = false;
    Ok(())
}
