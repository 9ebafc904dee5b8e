//! The Enterprise content-logs feed: what happened on a set of boards in a time window, comments
//! included, read a page at a time.

use super::client::{LEVEL_4, MiroClient, enc, parse};
use crate::clients::error::ApiError;
use crate::domain::{MiroBoardId, MiroItemId};
use serde::Deserialize;
use serde_json::Value;

/// One entry of the Enterprise content-logs feed: a change to an item (`itemType` `widget`) or
/// to a comment (`comment_thread`, `comment_message`), who made it and the state it left.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ContentLogEntry {
    pub id: String,
    /// The board.
    #[serde(rename = "contentId", default)]
    pub board: MiroBoardId,
    /// `create`, `update` or `delete`.
    #[serde(rename = "actionType", default)]
    pub action: String,
    #[serde(rename = "actionTime", default)]
    pub at: Option<String>,
    #[serde(default)]
    pub actor: Value,
    #[serde(rename = "itemType", default)]
    pub item_type: String,
    #[serde(rename = "itemId", default, deserialize_with = "optional_id")]
    pub item_id: Option<MiroItemId>,
    #[serde(default)]
    pub state: Value,
}

/// One page of the content-logs feed.
#[derive(Debug, Deserialize)]
pub(crate) struct ContentLogPage {
    pub data: Vec<ContentLogEntry>,
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Entries per page of the content-logs feed (Miro's maximum).
pub(crate) const CONTENT_LOG_LIMIT: u32 = 1_000;
/// Boards one content-logs call may name (`board_ids` holds at most 15).
pub(crate) const CONTENT_LOG_BOARDS: usize = 15;

impl MiroClient {
    /// One page of the organisation's content-logs feed (Enterprise only; Level 4): what
    /// happened on `boards` between `from` and `to` (ISO 8601 UTC), oldest first.
    pub(crate) async fn content_logs(
        &self,
        org: &str,
        boards: &[MiroBoardId],
        from: &str,
        to: &str,
        cursor: Option<&str>,
    ) -> Result<ContentLogPage, ApiError> {
        let mut query = vec![
            ("from", from.to_owned()),
            ("to", to.to_owned()),
            (
                "board_ids",
                boards
                    .iter()
                    .map(MiroBoardId::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("limit", CONTENT_LOG_LIMIT.to_string()),
            ("sorting", "asc".to_owned()),
        ];
        if let Some(c) = cursor {
            query.push(("cursor", c.to_owned()));
        }
        let path = format!("v2/orgs/{}/content-logs/items", enc(org));
        parse(
            self.call(reqwest::Method::GET, &path, &query, None, LEVEL_4)
                .await?,
        )
    }
}

/// An id that may be absent or null.
fn optional_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<MiroItemId>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(crate::domain::change::id_text(&v).map(MiroItemId))
}
