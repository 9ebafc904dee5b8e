//! The planner's inputs and outputs: the context of a change, the writes it plans, what becomes of
//! the link, and the conflict it may record.

use super::state::LinkFields;
use crate::config::{MiroAs, PairConfig};
use crate::domain::Side;
use crate::domain::miro::ItemType;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What the processor records for a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    Applied,
    Echo,
    Stale,
    Conflict,
    Filtered,
    Ignored,
    Failed,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Echo => "echo",
            Outcome::Stale => "stale",
            Outcome::Conflict => "conflict",
            Outcome::Filtered => "filtered",
            Outcome::Ignored => "ignored",
            Outcome::Failed => "failed",
        }
    }
}

/// One write to make, as stored in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Write {
    /// `values`: monday column id (or `name`) → logical value.
    CreateMonday {
        name: String,
        group: Option<String>,
        values: BTreeMap<String, String>,
    },
    UpdateMonday {
        values: BTreeMap<String, String>,
    },
    ArchiveMonday,
    DeleteMonday,
    /// `fields`: Miro path → the value to write.
    CreateMiro {
        item_type: ItemType,
        frame: Option<String>,
        fields: BTreeMap<String, Value>,
    },
    UpdateMiro {
        fields: BTreeMap<String, Value>,
    },
    DeleteMiro,
    TagMiro {
        title: String,
    },
    /// A Miro comment as a monday update (`create_update`); `body` is HTML.
    CommentMonday {
        body: String,
    },
    /// A monday update shown on Miro; `author_id` is the monday user who posted it.
    CommentMiro {
        author_id: Option<String>,
        text: String,
        miro_as: MiroAs,
    },
}

impl Write {
    pub(crate) fn target(&self) -> Side {
        match self {
            Write::CreateMonday { .. }
            | Write::UpdateMonday { .. }
            | Write::ArchiveMonday
            | Write::DeleteMonday
            | Write::CommentMonday { .. } => Side::Monday,
            _ => Side::Miro,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Write::CreateMonday { .. } => "create_monday",
            Write::UpdateMonday { .. } => "update_monday",
            Write::ArchiveMonday => "archive_monday",
            Write::DeleteMonday => "delete_monday",
            Write::CreateMiro { .. } => "create_miro",
            Write::UpdateMiro { .. } => "update_miro",
            Write::DeleteMiro => "delete_miro",
            Write::TagMiro { .. } => "tag_miro",
            Write::CommentMonday { .. } => "comment_monday",
            Write::CommentMiro { .. } => "comment_miro",
        }
    }
}

/// What becomes of the link.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LinkChange {
    /// Nothing beyond the field state in [`Plan::fields`].
    Keep,
    /// A new link; the other side's id is not known until its create is done.
    Create { miro_type: ItemType },
    /// The link ends (the item was deleted or archived on one side).
    Remove,
    /// A field kept coming back to values boardsync wrote: no more writes until released.
    Quarantine,
}

/// A field both sides changed since the last sync, and how it was settled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Conflict {
    pub field: String,
    pub winner: Side,
    pub won: String,
    pub lost: String,
    /// The two edits' source times, Unix microseconds.
    pub miro_us: i64,
    pub monday_us: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub outcome: Outcome,
    pub detail: Option<String>,
    pub fields: LinkFields,
    pub link: LinkChange,
    pub writes: Vec<Write>,
    pub conflicts: Vec<Conflict>,
    /// A human name for the item, for history and the demo's output.
    pub title: Option<String>,
    /// The change reports a field at the same source time as another change already seen from
    /// its side, with another value: which came last cannot be told from the changes. The
    /// processor reads the item's current values and plans again with those
    /// ([`Change::read_back`](crate::domain::change::Change::read_back)); nothing else in this plan counts.
    pub read_item: bool,
}

impl Plan {
    pub(super) fn nothing(outcome: Outcome, detail: impl Into<String>, fields: LinkFields) -> Plan {
        Plan {
            outcome,
            detail: Some(detail.into()),
            fields,
            link: LinkChange::Keep,
            writes: Vec::new(),
            conflicts: Vec::new(),
            title: None,
            read_item: false,
        }
    }
}

/// The context a change is planned in.
pub(crate) struct Context<'a> {
    pub pair: &'a PairConfig,
    /// boardsync's own user on the change's side, when known.
    pub own_user: Option<&'a str>,
    /// How many times within the loop window the fields of one item may come back to values
    /// boardsync wrote before its link is quarantined.
    pub max_loop_returns: u32,
    /// Unix milliseconds.
    pub now: i64,
}
