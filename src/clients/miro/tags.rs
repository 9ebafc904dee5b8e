//! Miro tags: a board's tags, making one, and attaching and detaching them on items.

use super::client::{LEVEL_1, MiroClient, enc, parse};
use super::items::{MiroItem, string_id};
use crate::clients::error::ApiError;
use crate::domain::{MiroBoardId, MiroItemId};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
struct ItemTags {
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Tag {
    #[serde(deserialize_with = "string_id")]
    pub id: String,
    pub title: String,
}

impl MiroClient {
    /// Every tag of the board, page after page (offset paging).
    pub(crate) async fn board_tags(&self, board: &MiroBoardId) -> Result<Vec<Tag>, ApiError> {
        let path = format!("v2/boards/{}/tags", enc(board));
        self.offset_pages(&path, &[], LEVEL_1).await
    }

    /// Makes a tag on the board (Miro: titles are unique per board, at most 120 characters).
    /// Tag colours are not synced: boardsync's tags are gray.
    pub(crate) async fn create_tag(
        &self,
        board: &MiroBoardId,
        title: &str,
    ) -> Result<Tag, ApiError> {
        parse(
            self.call(
                reqwest::Method::POST,
                &format!("v2/boards/{}/tags", enc(board)),
                &[],
                Some(&json!({ "title": title, "fillColor": "gray" })),
                LEVEL_1,
            )
            .await?,
        )
    }

    /// Every item carrying the tag, page after page (offset paging).
    pub(crate) async fn items_with_tag(
        &self,
        board: &MiroBoardId,
        tag: &str,
    ) -> Result<Vec<MiroItem>, ApiError> {
        let path = format!("v2/boards/{}/items", enc(board));
        self.offset_pages(&path, &[("tag_id", tag.to_owned())], LEVEL_1)
            .await
    }

    /// The tags of one item.
    pub(crate) async fn item_tags(
        &self,
        board: &MiroBoardId,
        id: &MiroItemId,
    ) -> Result<Vec<Tag>, ApiError> {
        let path = format!("v2/boards/{}/items/{}/tags", enc(board), enc(id));
        let tags: ItemTags = parse(
            self.call(reqwest::Method::GET, &path, &[], None, LEVEL_1)
                .await?,
        )?;
        Ok(tags.tags)
    }

    /// Attaches a tag to an item.
    pub(crate) async fn attach_tag(
        &self,
        board: &MiroBoardId,
        id: &MiroItemId,
        tag: &str,
    ) -> Result<(), ApiError> {
        self.item_tag(reqwest::Method::POST, board, id, tag).await
    }

    /// Detaches a tag from an item.
    pub(crate) async fn detach_tag(
        &self,
        board: &MiroBoardId,
        id: &MiroItemId,
        tag: &str,
    ) -> Result<(), ApiError> {
        self.item_tag(reqwest::Method::DELETE, board, id, tag).await
    }

    /// `POST` (attach) or `DELETE` (detach) `.../items/{id}?tag_id=`, bodiless as Miro's own
    /// client sends them. Without `tag_id` the same `DELETE` would delete the item, so an empty
    /// tag id is refused here.
    async fn item_tag(
        &self,
        method: reqwest::Method,
        board: &MiroBoardId,
        id: &MiroItemId,
        tag: &str,
    ) -> Result<(), ApiError> {
        if tag.is_empty() {
            return Err(ApiError::Rejected("no tag id".into()));
        }
        let path = format!("v2/boards/{}/items/{}", enc(board), enc(id));
        self.call(method, &path, &[("tag_id", tag.to_owned())], None, LEVEL_1)
            .await
            .map(|_| ())
    }
}
