//! What a monday item read means that both the pollers and the sync engine need.

use crate::clients::monday::items;

/// The item ids a dependency or board_relation column value links to; `None` for other columns.
pub(crate) fn linked_item_ids(on: &items::ItemsItemsColumnValuesOn) -> Option<Vec<String>> {
    match on {
        items::ItemsItemsColumnValuesOn::DependencyValue(d) => Some(d.linked_item_ids.clone()),
        items::ItemsItemsColumnValuesOn::BoardRelationValue(b) => Some(b.linked_item_ids.clone()),
        _ => None,
    }
}
