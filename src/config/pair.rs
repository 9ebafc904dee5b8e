//! One `[[pair]]` as the rest of the program sees it: its boards, filters, policies and field
//! mappings, with the small rules that read them (which way a field flows, how values map).

use crate::domain::miro::ItemType;
use crate::domain::{MiroBoardId, MondayBoardId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// How a field conflict is settled when both sides changed it since the last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// The change with the later source timestamp wins.
    #[default]
    Newest,
    /// Miro always wins.
    Miro,
    /// monday always wins.
    Monday,
}

/// What a delete on one side does to the linked item on the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletePolicy {
    /// Archive the monday item; on Miro (which has no archive) unlink it and tag it `archived`.
    #[default]
    Archive,
    Delete,
    /// Only unlink.
    Ignore,
}

impl ConflictPolicy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ConflictPolicy::Newest => "newest",
            ConflictPolicy::Miro => "miro",
            ConflictPolicy::Monday => "monday",
        }
    }
}

impl DeletePolicy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DeletePolicy::Archive => "archive",
            DeletePolicy::Delete => "delete",
            DeletePolicy::Ignore => "ignore",
        }
    }
}

/// Which way a field flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Both,
    MiroToMonday,
    MondayToMiro,
}

impl Direction {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Direction::Both => "both",
            Direction::MiroToMonday => "miro_to_monday",
            Direction::MondayToMiro => "monday_to_miro",
        }
    }

    pub(crate) fn to_monday(self) -> bool {
        self != Direction::MondayToMiro
    }

    pub(crate) fn to_miro(self) -> bool {
        self != Direction::MiroToMonday
    }
}

/// One `[[pair]]`: a Miro board kept in step with a monday board.
#[derive(Debug, Clone)]
pub struct PairConfig {
    pub name: String,
    /// The name as a URL slug; unique among pairs.
    pub slug: String,
    pub miro_board: MiroBoardId,
    pub monday_board: MondayBoardId,
    /// The Miro item types that sync.
    pub miro_items: Vec<ItemType>,
    /// The type that items born on monday become on Miro.
    pub miro_new_item: ItemType,
    /// The group that items born on Miro land in; `None` is the board's top group.
    pub monday_group: Option<String>,
    /// The frame that items born on monday land in; `None` is the board itself.
    pub miro_frame: Option<String>,
    pub conflict: ConflictPolicy,
    pub on_delete: DeletePolicy,
    /// Link (and create) the items already on both boards when the pair is first seen.
    pub sync_existing: bool,
    /// The field existing items are matched by (`sync_existing`, `backfill`); `None` is the one
    /// mapped to the monday item name.
    pub match_by: Option<String>,
    pub fields: Vec<FieldMapping>,
    pub miro_filter: MiroFilter,
    pub monday_filter: MondayFilter,
}

/// Only Miro items that pass this filter belong to the pair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MiroFilter {
    pub frame: Option<String>,
    pub tag: Option<String>,
}

/// Only monday items in these groups belong to the pair; empty means every group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MondayFilter {
    pub groups: Vec<String>,
}

/// One entry of `[pair.fields]`.
#[derive(Debug, Clone)]
pub struct FieldMapping {
    /// The key in `[pair.fields]`, e.g. `status`.
    pub name: String,
    pub miro: MiroSide,
    /// `name` (the item name) or a monday column id.
    pub monday: String,
    pub direction: Direction,
    /// Miro value → monday label, in file order. Empty: values are copied as they are.
    pub values: Vec<(String, String)>,
    /// How monday updates appear on Miro; set on the comments field only (see
    /// [`FieldMapping::is_comments`]).
    pub miro_as: Option<MiroAs>,
}

/// The Miro side of the comments field: Miro comments have no API, they are read off the
/// content-logs feed.
pub(crate) const MIRO_COMMENTS: &str = "comments";
/// The monday side of the comments field: an item's updates, which are not a column.
pub(crate) const MONDAY_UPDATES: &str = "updates";

/// How a monday update appears on Miro, which has no API to write comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MiroAs {
    /// A text item beside the linked item, holding "author: text".
    #[default]
    Text,
    /// A field "monday update" in the linked app card's `data.fields`, holding the latest update.
    AppCardField,
}

/// The Miro side of a field: one path for every synced type, or one per type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MiroSide {
    All(String),
    PerType(BTreeMap<ItemType, String>),
}

impl MiroSide {
    /// The field path on items of `item_type`, if this field applies to them.
    pub(crate) fn path_for(&self, item_type: ItemType) -> Option<&str> {
        match self {
            MiroSide::All(path) => Some(path),
            MiroSide::PerType(paths) => paths.get(&item_type).map(String::as_str),
        }
    }
}

impl fmt::Display for MiroSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MiroSide::All(path) => f.write_str(path),
            MiroSide::PerType(paths) => {
                let parts: Vec<String> = paths.iter().map(|(t, p)| format!("{t}: {p}")).collect();
                write!(f, "{{{}}}", parts.join(", "))
            }
        }
    }
}

impl FieldMapping {
    /// Whether this field maps Miro comments to monday updates (`miro = "comments"`,
    /// `monday = "updates"`): those sync as comments are added, not as values.
    pub(crate) fn is_comments(&self) -> bool {
        self.monday == MONDAY_UPDATES
    }

    /// The monday label for a Miro value, through the value map (or the value itself without one).
    pub(crate) fn to_monday_value<'a>(&'a self, miro_value: &'a str) -> Option<&'a str> {
        if self.values.is_empty() {
            return Some(miro_value);
        }
        self.values
            .iter()
            .find(|(m, _)| m == miro_value)
            .map(|(_, label)| label.as_str())
    }

    /// The Miro value for a monday label: the first entry of the value map naming that label.
    pub(crate) fn to_miro_value<'a>(&'a self, monday_value: &'a str) -> Option<&'a str> {
        if self.values.is_empty() {
            return Some(monday_value);
        }
        self.values
            .iter()
            .find(|(_, label)| label == monday_value)
            .map(|(m, _)| m.as_str())
    }
}
