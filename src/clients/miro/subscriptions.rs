//! Miro board subscriptions (the retired webhooks): listing, making and deleting them, where they
//! still answer.

use super::client::{LEVEL_1, MiroClient, enc, parse};
use crate::clients::error::ApiError;
use crate::domain::MiroBoardId;
use serde::Deserialize;
use serde_json::{Value, json};

/// A Miro board subscription (a retired webhook).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BoardSubscription {
    pub id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub data: Value,
}

impl BoardSubscription {
    pub(crate) fn board(&self) -> &str {
        self.data["boardId"].as_str().unwrap_or_default()
    }
}

impl MiroClient {
    /// Every board subscription the token made (Miro's retired webhooks; only where they still
    /// answer, such as the sandbox).
    pub(crate) async fn subscriptions(&self) -> Result<Vec<BoardSubscription>, ApiError> {
        self.cursor_pages("v2-experimental/webhooks/subscriptions", 100, LEVEL_1)
            .await
    }

    /// Subscribes `callback` to the board's item events; Miro first sends it a challenge.
    pub(crate) async fn subscribe(
        &self,
        board: &MiroBoardId,
        callback: &str,
    ) -> Result<String, ApiError> {
        let made: BoardSubscription = parse(
            self.call(
                reqwest::Method::POST,
                "v2-experimental/webhooks/board_subscriptions",
                &[],
                Some(&json!({ "boardId": board, "callbackUrl": callback, "status": "enabled" })),
                LEVEL_1,
            )
            .await?,
        )?;
        Ok(made.id)
    }

    /// Deletes a board subscription; one already gone counts as deleted.
    pub(crate) async fn unsubscribe(&self, id: &str) -> Result<(), ApiError> {
        let path = format!("v2-experimental/webhooks/subscriptions/{}", enc(id));
        match self
            .call(reqwest::Method::DELETE, &path, &[], None, LEVEL_1)
            .await
        {
            Ok(_) | Err(ApiError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
