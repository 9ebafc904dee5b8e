//! The normalised change: what every source (webhooks, pollers, content logs, the reconciler)
//! turns an event into, so that there is one processing path. It says which item changed on which
//! side, how, which fields now hold which values, who did it and when; it decides nothing.

use super::{MiroBoardId, MiroItemId, MondayBoardId, MondayItemId, Side};
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
    pub(crate) fn as_str(self) -> &'static str {
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

/// The item a change is about: its board and its id, typed by the side they belong to, so that a
/// Miro id cannot reach a place that expects a monday one. Stored (in the inbox's JSON) flat, as
/// `side`, `board` and `item_id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "side", rename_all = "snake_case")]
pub enum ItemRef {
    Miro {
        board: MiroBoardId,
        item_id: MiroItemId,
    },
    Monday {
        board: MondayBoardId,
        item_id: MondayItemId,
    },
}

impl ItemRef {
    pub(crate) fn miro(board: impl Into<MiroBoardId>, item: impl Into<MiroItemId>) -> ItemRef {
        ItemRef::Miro {
            board: board.into(),
            item_id: item.into(),
        }
    }

    pub(crate) fn monday(
        board: impl Into<MondayBoardId>,
        item: impl Into<MondayItemId>,
    ) -> ItemRef {
        ItemRef::Monday {
            board: board.into(),
            item_id: item.into(),
        }
    }

    pub(crate) fn side(&self) -> Side {
        match self {
            ItemRef::Miro { .. } => Side::Miro,
            ItemRef::Monday { .. } => Side::Monday,
        }
    }

    /// The board id as text, for keys, logs and matching against a pair.
    pub(crate) fn board(&self) -> &str {
        match self {
            ItemRef::Miro { board, .. } => board.as_str(),
            ItemRef::Monday { board, .. } => board.as_str(),
        }
    }

    /// The item id as text, for keys, logs and history.
    pub fn item(&self) -> &str {
        match self {
            ItemRef::Miro { item_id, .. } => item_id.as_str(),
            ItemRef::Monday { item_id, .. } => item_id.as_str(),
        }
    }

    pub(crate) fn miro_item(&self) -> Option<&MiroItemId> {
        match self {
            ItemRef::Miro { item_id, .. } => Some(item_id),
            ItemRef::Monday { .. } => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn monday_item(&self) -> Option<&MondayItemId> {
        match self {
            ItemRef::Monday { item_id, .. } => Some(item_id),
            ItemRef::Miro { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Which item on which side.
    #[serde(flatten)]
    pub item: ItemRef,
    pub via: Via,
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
    /// When the change happened at the source, in Unix microseconds: the finest grain either
    /// side gives (monday's `changedAt` has microseconds; Miro's `modifiedAt` and monday's
    /// `triggerTime` milliseconds). Stored changes from before the unit changed are read in ms.
    #[serde(
        default,
        rename = "source_us",
        alias = "source_ts",
        deserialize_with = "micros_or_legacy_millis"
    )]
    pub source_us: Option<i64>,
    /// The event did not carry every mapped field: the processor must fetch the item.
    #[serde(default)]
    pub incomplete: bool,
    /// The fields were read from the API while the change was processed: they are the item's
    /// values now, at least as new as any change with the same source time.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_back: bool,
}

impl Change {
    /// A change of `kind` to `item` that carries nothing else yet: no fields, no author, no time.
    pub(crate) fn new(item: ItemRef, via: Via, kind: ChangeKind) -> Change {
        Change {
            item,
            via,
            item_type: None,
            kind,
            fields: BTreeMap::new(),
            column_types: BTreeMap::new(),
            author: None,
            source_us: None,
            incomplete: false,
            read_back: false,
        }
    }

    pub(crate) fn side(&self) -> Side {
        self.item.side()
    }
}

/// Below this, a stored time is in milliseconds (it would be 1973 in microseconds, and the year
/// 5138 in milliseconds): what boardsync stored before it kept microseconds.
const LEGACY_MILLIS_BELOW: i64 = 100_000_000_000_000;

/// A time in Unix microseconds, read from a value that may have been stored in milliseconds.
pub(crate) fn legacy_micros(t: i64) -> i64 {
    if t != 0 && t.abs() < LEGACY_MILLIS_BELOW {
        t.saturating_mul(1000)
    } else {
        t
    }
}

fn micros_or_legacy_millis<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<i64>, D::Error> {
    Ok(Option::<i64>::deserialize(d)?.map(legacy_micros))
}

/// A JSON number or string id as text, without ever going through a float.
pub(crate) fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

/// RFC 3339 text to Unix milliseconds.
pub(crate) fn millis(v: &Value) -> Option<i64> {
    micros(v).map(|us| us.div_euclid(1000))
}

/// RFC 3339 text to Unix microseconds (keeping whatever fraction the text has, to the µs).
pub(crate) fn micros(v: &Value) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.timestamp_micros())
}

/// Epoch seconds written as a decimal (`1738777972.386279`, monday's `changedAt`) to Unix
/// microseconds, from the number's text: an f64 holds about 16 significant digits, these have 16
/// or 17, and the text says exactly what monday meant. Digits past the microsecond are dropped.
pub(crate) fn decimal_seconds_micros(text: &str) -> Option<i64> {
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let seconds: i64 = whole.parse().ok()?;
    let micros: i64 = format!("{:0<6}", &fraction[..fraction.len().min(6)])
        .parse()
        .ok()?;
    seconds.checked_mul(1_000_000)?.checked_add(micros)
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
        assert_eq!(
            micros(&"2023-02-01T15:24:35.250123Z".into()),
            Some(1_675_265_075_250_123)
        );
    }

    #[test]
    fn monday_changed_at_keeps_every_microsecond() {
        assert_eq!(
            decimal_seconds_micros("1738777972.386279"),
            Some(1_738_777_972_386_279)
        );
        // Seven decimals (seen in monday's samples): the seventh is below a microsecond.
        assert_eq!(
            decimal_seconds_micros("1633943701.9457765"),
            Some(1_633_943_701_945_776)
        );
        assert_eq!(
            decimal_seconds_micros("1738777972.5"),
            Some(1_738_777_972_500_000)
        );
        assert_eq!(
            decimal_seconds_micros("1738777972"),
            Some(1_738_777_972_000_000)
        );
        assert_ne!(
            decimal_seconds_micros("1738777972.386279"),
            decimal_seconds_micros("1738777972.386280")
        );
        assert_eq!(decimal_seconds_micros("-1.5"), None);
        assert_eq!(decimal_seconds_micros("1e9"), None);
        assert_eq!(decimal_seconds_micros(""), None);
    }

    #[test]
    fn a_change_is_stored_with_its_side_board_and_item_flat_as_before() {
        let change = Change::new(
            ItemRef::monday("1000000001", "200"),
            Via::Webhook,
            ChangeKind::Updated,
        );
        let stored = serde_json::to_value(&change).unwrap();
        assert_eq!(stored["side"], "monday");
        assert_eq!(stored["board"], "1000000001");
        assert_eq!(stored["item_id"], "200");
        assert!(stored.get("item").is_none(), "{stored}");
        let again: Change = serde_json::from_value(stored).unwrap();
        assert_eq!(again, change);
        assert_eq!(again.side(), Side::Monday);
        assert_eq!(again.item.monday_item().map(|i| i.as_str()), Some("200"));
        assert_eq!(again.item.miro_item(), None);

        let unknown =
            r#"{"side":"trello","via":"poll","board":"b","item_id":"1","kind":"updated"}"#;
        assert!(serde_json::from_str::<Change>(unknown).is_err());
    }

    #[test]
    fn changes_stored_in_milliseconds_read_as_microseconds() {
        let old = r#"{"side":"miro","via":"poll","board":"b","item_id":"1","item_type":null,
            "kind":"updated","author":null,"source_ts":1675265075250}"#;
        let change: Change = serde_json::from_str(old).unwrap();
        assert_eq!(change.source_us, Some(1_675_265_075_250_000));
        let again: Change = serde_json::from_str(&serde_json::to_string(&change).unwrap()).unwrap();
        assert_eq!(again.source_us, Some(1_675_265_075_250_000));
        assert!(!again.read_back);
    }
}
