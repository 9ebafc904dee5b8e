//! Reads an item whose change did not carry every field (a monday column type whose webhook
//! payload boardsync does not know, Miro's `changes[]` shape), so the planner sees whole values.

use super::Engine;
use crate::clients::ApiError;
use crate::clients::monday::{Items, items};
use crate::config::PairConfig;
use crate::domain::Side;
use crate::domain::change::Change;
use crate::domain::miro::ItemType;
use serde_json::Value;

/// Replaces `change.fields` with the item's current fields.
pub async fn complete(
    engine: &Engine,
    pair: &PairConfig,
    change: &mut Change,
) -> Result<(), ApiError> {
    match change.side {
        Side::Miro => {
            let item_type = change
                .item_type
                .as_deref()
                .and_then(ItemType::parse)
                .ok_or_else(|| {
                    ApiError::Rejected("the change does not name a Miro item type".into())
                })?;
            let item = engine
                .miro
                .get_item(pair.miro_board.as_str(), item_type, &change.item_id)
                .await?;
            change.fields = item.fields();
        }
        Side::Monday => {
            let data = engine
                .monday
                .run::<Items>(
                    items::Variables {
                        ids: Some(vec![change.item_id.clone()]),
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
                .ok_or_else(|| ApiError::NotFound(format!("monday item {}", change.item_id)))?;
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
                change
                    .fields
                    .insert(cv.id, Value::String(cv.text.unwrap_or_default()));
            }
        }
    }
    change.incomplete = false;
    Ok(())
}
