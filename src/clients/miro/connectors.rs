//! Miro connectors, the lines between items: listing, drawing and deleting them.

use super::client::{LEVEL_2, LEVEL_3, MiroClient, PAGE_LIMIT, enc, parse};
use super::items::string_id;
use crate::clients::error::ApiError;
use crate::domain::{MiroBoardId, MiroItemId};
use serde::Deserialize;
use serde_json::json;

/// A connector: a line from one item to another.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Connector {
    #[serde(deserialize_with = "string_id")]
    pub id: String,
    #[serde(rename = "startItem", default)]
    pub start_item: Option<ConnectorEnd>,
    #[serde(rename = "endItem", default)]
    pub end_item: Option<ConnectorEnd>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ConnectorEnd {
    #[serde(deserialize_with = "string_id")]
    pub id: MiroItemId,
}

impl Connector {
    /// The ids of the items at its start and end, when it has both.
    pub(crate) fn ends(&self) -> Option<(&MiroItemId, &MiroItemId)> {
        Some((&self.start_item.as_ref()?.id, &self.end_item.as_ref()?.id))
    }
}

impl MiroClient {
    /// Every connector of the board, page after page (cursor paging).
    pub(crate) async fn connectors(&self, board: &MiroBoardId) -> Result<Vec<Connector>, ApiError> {
        let path = format!("v2/boards/{}/connectors", enc(board));
        self.cursor_pages(&path, PAGE_LIMIT, LEVEL_2).await
    }

    /// Draws a connector from `start` to `end`.
    pub(crate) async fn create_connector(
        &self,
        board: &MiroBoardId,
        start: &MiroItemId,
        end: &MiroItemId,
    ) -> Result<Connector, ApiError> {
        parse(
            self.call(
                reqwest::Method::POST,
                &format!("v2/boards/{}/connectors", enc(board)),
                &[],
                Some(&json!({ "startItem": { "id": start }, "endItem": { "id": end } })),
                LEVEL_2,
            )
            .await?,
        )
    }

    /// Deletes a connector; one already gone counts as deleted.
    pub(crate) async fn delete_connector(
        &self,
        board: &MiroBoardId,
        id: &str,
    ) -> Result<(), ApiError> {
        let path = format!("v2/boards/{}/connectors/{}", enc(board), enc(id));
        match self
            .call(reqwest::Method::DELETE, &path, &[], None, LEVEL_3)
            .await
        {
            Ok(_) | Err(ApiError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
