//! Small pure answers the planner needs in several places: a field's logical value, whether an
//! item is in the pair's scope, its title.

use crate::config::{FieldMapping, PairConfig};
use crate::domain::Side;
use crate::domain::change::{Change, ChangeKind};
use crate::domain::miro::ItemType;
use crate::mapping::values;
use serde_json::Value;

/// The field's logical value on the change's side (`Some(None)` when the value map has no entry
/// for it), or `None` when the change does not carry the field.
pub(crate) fn logical_value(
    change: &Change,
    field: &FieldMapping,
    miro_type: ItemType,
) -> Option<Option<String>> {
    match change.side() {
        Side::Miro => {
            let path = field.miro.path_for(miro_type)?;
            Some(values::from_miro(field, path, change.fields.get(path)?))
        }
        Side::Monday => Some(values::from_monday(change.fields.get(&field.monday)?)),
    }
}

/// Whether the scan found this field as boardsync's own write set it ([`values::OWN_FIELDS`]).
pub(super) fn set_by_own_write(change: &Change, field: &FieldMapping, miro_type: ItemType) -> bool {
    noted(change, values::OWN_FIELDS, field, miro_type)
}

/// Whether a write of boardsync's set this field in a version newer than the one the change
/// reports ([`values::LATER_OWN_FIELDS`]): what the change shows of it is stale.
pub(super) fn set_by_later_own_write(
    change: &Change,
    field: &FieldMapping,
    miro_type: ItemType,
) -> bool {
    noted(change, values::LATER_OWN_FIELDS, field, miro_type)
}

fn noted(change: &Change, key: &str, field: &FieldMapping, miro_type: ItemType) -> bool {
    let Some(path) = field.miro.path_for(miro_type) else {
        return false;
    };
    change
        .fields
        .get(key)
        .and_then(Value::as_array)
        .is_some_and(|paths| paths.iter().any(|p| p == path))
}

pub(super) fn in_miro_scope(change: &Change, pair: &PairConfig) -> bool {
    match &pair.miro_filter.frame {
        None => true,
        Some(frame) => match change.fields.get("parent") {
            Some(Value::String(p)) => p == frame,
            // A change that does not say where the item is (a partial update) keeps its scope.
            None => change.kind != ChangeKind::Created,
            Some(_) => false,
        },
    }
}

/// Whether a Miro change's item carries the pair's `miro_filter.tag`, as the processor found it
/// in the tag poll's snapshot. An item the tag poll has not seen yet is out of the pair unless it
/// is `linked` already (boardsync tags the items it makes, and the poll sees that a round later).
pub(super) fn in_tag_scope(change: &Change, pair: &PairConfig, linked: bool) -> bool {
    if pair.miro_filter.tag.is_none() {
        return true;
    }
    match change.fields.get(values::FILTER_TAG) {
        Some(Value::Bool(inside)) => *inside,
        _ => linked,
    }
}

/// The name of the field that maps to the monday item name, if any.
pub(super) fn title_field(pair: &PairConfig) -> Option<&str> {
    pair.fields
        .iter()
        .find(|f| f.monday == "name")
        .map(|f| f.name.as_str())
}

pub(super) fn title_of(change: &Change, pair: &PairConfig, miro_type: ItemType) -> Option<String> {
    match change.side() {
        Side::Monday => change.fields.get("name").and_then(values::from_monday),
        Side::Miro => {
            let field = pair.fields.iter().find(|f| f.monday == "name")?;
            let path = field.miro.path_for(miro_type)?;
            values::from_miro(field, path, change.fields.get(path)?)
        }
    }
}
