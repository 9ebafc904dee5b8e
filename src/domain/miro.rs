//! What boardsync knows of Miro's item types and their fields, from the public REST API: which
//! types it syncs, which field paths each type has, and which fields take a fixed set of values (and
//! so can carry a value map to a monday status label).

use super::change::id_text;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// The Miro item types boardsync can keep in step with monday items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemType {
    StickyNote,
    Card,
    AppCard,
    Shape,
    Text,
}

impl ItemType {
    pub(crate) const ALL: [ItemType; 5] = [
        ItemType::StickyNote,
        ItemType::Card,
        ItemType::AppCard,
        ItemType::Shape,
        ItemType::Text,
    ];

    /// The `type` string Miro uses in item bodies.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ItemType::StickyNote => "sticky_note",
            ItemType::Card => "card",
            ItemType::AppCard => "app_card",
            ItemType::Shape => "shape",
            ItemType::Text => "text",
        }
    }

    /// The path segment of the typed REST endpoints (`/v2/boards/{id}/sticky_notes`).
    pub(crate) fn collection(self) -> &'static str {
        match self {
            ItemType::StickyNote => "sticky_notes",
            ItemType::Card => "cards",
            ItemType::AppCard => "app_cards",
            ItemType::Shape => "shapes",
            ItemType::Text => "texts",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<ItemType> {
        ItemType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The field paths this type carries, as the mapping names them.
    pub(crate) fn fields(self) -> &'static [&'static str] {
        const COMMON: [&str; 3] = ["tags", "connectors", "comments"];
        match self {
            ItemType::StickyNote => &[
                "data.content",
                "data.shape",
                "style.fillColor",
                "style.textAlign",
                "style.textAlignVertical",
                COMMON[0],
                COMMON[1],
                COMMON[2],
            ],
            ItemType::Card => &[
                "data.title",
                "data.description",
                "data.dueDate",
                "data.assigneeId",
                "style.cardTheme",
                COMMON[0],
                COMMON[1],
                COMMON[2],
            ],
            ItemType::AppCard => &[
                "data.title",
                "data.description",
                "data.status",
                "style.fillColor",
                COMMON[1],
                COMMON[2],
            ],
            ItemType::Shape => &[
                "data.content",
                "data.shape",
                "style.fillColor",
                "style.borderColor",
                "style.color",
                COMMON[1],
                COMMON[2],
            ],
            ItemType::Text => &[
                "data.content",
                "style.color",
                "style.fillColor",
                COMMON[1],
                COMMON[2],
            ],
        }
    }

    pub(crate) fn has_field(self, path: &str) -> bool {
        self.fields().contains(&path)
    }
}

impl fmt::Display for ItemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A sticky note's `style.fillColor`, as the spec enumerates it.
pub(crate) const STICKY_NOTE_COLORS: [&str; 16] = [
    "gray",
    "light_yellow",
    "yellow",
    "orange",
    "light_green",
    "green",
    "dark_green",
    "cyan",
    "light_pink",
    "pink",
    "violet",
    "red",
    "light_blue",
    "blue",
    "dark_blue",
    "black",
];

/// An app card's `data.status`.
pub(crate) const APP_CARD_STATUSES: [&str; 3] = ["disconnected", "connected", "disabled"];

/// What values a Miro field may hold, as far as a value map cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldValues {
    /// Free text (HTML content, titles, descriptions) or structured fields: no value map.
    Free,
    /// One of a fixed list.
    OneOf(&'static [&'static str]),
    /// A colour written as `#rrggbb`.
    HexColor,
}

/// The values `path` takes on `item_type`, for checking value maps.
pub(crate) fn field_values(item_type: ItemType, path: &str) -> FieldValues {
    match (item_type, path) {
        (ItemType::StickyNote, "style.fillColor") => FieldValues::OneOf(&STICKY_NOTE_COLORS),
        (ItemType::AppCard, "data.status") => FieldValues::OneOf(&APP_CARD_STATUSES),
        (ItemType::StickyNote, "data.shape") => FieldValues::OneOf(&["square", "rectangle"]),
        (ItemType::StickyNote, "style.textAlign") => {
            FieldValues::OneOf(&["left", "right", "center"])
        }
        (ItemType::StickyNote, "style.textAlignVertical") => {
            FieldValues::OneOf(&["top", "middle", "bottom"])
        }
        (ItemType::Card, "style.cardTheme")
        | (ItemType::AppCard | ItemType::Shape | ItemType::Text, "style.fillColor")
        | (ItemType::Shape, "style.borderColor" | "style.color")
        | (ItemType::Text, "style.color") => FieldValues::HexColor,
        _ => FieldValues::Free,
    }
}

/// An item as Miro returns it (or as its webhook carries it), flattened to the field paths the
/// mapping names: `data.content`, `style.fillColor`, ..., and `parent` (the frame's id). Every
/// source of Miro changes goes through this, so a path means the same wherever it came from.
pub(crate) fn item_fields(item: &Value) -> BTreeMap<String, Value> {
    let mut fields = BTreeMap::new();
    for part in ["data", "style"] {
        if let Some(o) = item[part].as_object() {
            for (k, val) in o {
                fields.insert(format!("{part}.{k}"), val.clone());
            }
        }
    }
    if let Some(parent) = item["parent"].get("id").and_then(id_text) {
        fields.insert("parent".into(), Value::String(parent));
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_name() {
        for t in ItemType::ALL {
            assert_eq!(ItemType::parse(t.as_str()), Some(t));
        }
        assert_eq!(ItemType::parse("frame"), None);
    }

    #[test]
    fn only_enumerated_or_colour_fields_take_value_maps() {
        assert!(matches!(
            field_values(ItemType::StickyNote, "style.fillColor"),
            FieldValues::OneOf(v) if v.contains(&"light_green")
        ));
        assert_eq!(
            field_values(ItemType::Card, "style.cardTheme"),
            FieldValues::HexColor
        );
        assert_eq!(
            field_values(ItemType::StickyNote, "data.content"),
            FieldValues::Free
        );
    }
}
