//! The normalised change: what every source (webhooks, pollers, content logs, the reconciler)
//! turns an event into, so that there is one processing path. It says which item changed on which
//! side, how, which fields now hold which values, who did it and when; it decides nothing.

use super::Side;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// How the change reached boardsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Webhook,
    Poll,
    ContentLog,
    Reconcile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
    Archived,
    Restored,
    /// Moved to another monday group.
    Moved,
    /// A comment (Miro) or an update (monday) was added.
    Commented,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
            ChangeKind::Deleted => "deleted",
            ChangeKind::Archived => "archived",
            ChangeKind::Restored => "restored",
            ChangeKind::Moved => "moved",
            ChangeKind::Commented => "commented",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub side: Side,
    pub via: Via,
    /// The board id on its side (Miro board id, or monday board id as digits).
    pub board: String,
    /// The item id on its side, always as a string (Miro ids exceed 2^53).
    pub item_id: String,
    /// Miro's item type (`sticky_note`, ...); `item` for monday.
    pub item_type: Option<String>,
    pub kind: ChangeKind,
    /// Field → its value now: Miro paths (`data.content`, `style.fillColor`, `parent`), monday
    /// `name`, `group` or a column id with the column's value as the event gave it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Value>,
    /// monday column id → the column type the event named (`color` for status, `text`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub column_types: BTreeMap<String, String>,
    /// The acting user's id on that side.
    pub author: Option<String>,
    /// When the change happened at the source, in Unix milliseconds.
    pub source_ts: Option<i64>,
    /// The event did not carry every mapped field: the processor must fetch the item.
    #[serde(default)]
    pub incomplete: bool,
}

/// A JSON number or string id as text, without ever going through a float.
pub fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

/// RFC 3339 text to Unix milliseconds.
pub fn millis(v: &Value) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_above_2_pow_53_keep_every_digit() {
        let v: Value = serde_json::from_str("3458764540087247854").unwrap();
        assert_eq!(id_text(&v).as_deref(), Some("3458764540087247854"));
        assert_eq!(id_text(&Value::from(1.5)), None);
        assert_eq!(id_text(&Value::from("")), None);
    }

    #[test]
    fn times_with_or_without_milliseconds_parse() {
        assert_eq!(
            millis(&"2023-02-01T15:24:35Z".into()),
            Some(1_675_265_075_000)
        );
        assert_eq!(
            millis(&"2023-02-01T15:24:35.250Z".into()),
            Some(1_675_265_075_250)
        );
        assert_eq!(millis(&"yesterday".into()), None);
    }
}
