//! Miro items: the item as Miro returns it, the board listing, and reading, creating, changing
//! and deleting items one at a time.

use super::client::{LEVEL_1, LEVEL_2, LEVEL_3, MiroClient, PAGE_LIMIT, enc, parse};
use crate::clients::error::ApiError;
use crate::domain::miro::{ItemType, item_fields};
use crate::domain::{MiroBoardId, MiroItemId};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// An item as the listing or a typed read returns it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct MiroItem {
    #[serde(deserialize_with = "string_id")]
    pub id: MiroItemId,
    #[serde(rename = "type")]
    pub item_type: String,
    #[serde(default)]
    pub data: Value,
    #[serde(default)]
    pub style: Value,
    #[serde(default)]
    pub parent: Option<Value>,
    /// `{x, y}` of the centre, relative to the parent frame's top left when there is one.
    #[serde(default)]
    pub position: Value,
    #[serde(default)]
    pub geometry: Value,
    #[serde(rename = "modifiedAt", default)]
    pub modified_at: Option<String>,
    #[serde(rename = "modifiedBy", default)]
    pub modified_by: Option<Value>,
    #[serde(rename = "createdAt", default)]
    pub created_at: Option<String>,
    #[serde(rename = "createdBy", default)]
    pub created_by: Option<Value>,
}

impl MiroItem {
    /// The item's fields under the paths the mapping names (`data.content`, `style.fillColor`...).
    pub(crate) fn fields(&self) -> BTreeMap<String, Value> {
        item_fields(&json!({ "data": self.data, "style": self.style, "parent": self.parent }))
    }

    pub(crate) fn modified_by(&self) -> Option<String> {
        self.modified_by
            .as_ref()
            .and_then(|u| crate::domain::change::id_text(&u["id"]))
    }

    pub(crate) fn created_by(&self) -> Option<String> {
        self.created_by
            .as_ref()
            .and_then(|u| crate::domain::change::id_text(&u["id"]))
    }
}

/// One page of the board listing.
#[derive(Debug, Deserialize)]
pub(crate) struct ItemPage {
    pub data: Vec<MiroItem>,
    #[serde(default)]
    pub cursor: Option<String>,
}

impl MiroClient {
    /// One page of the board's items, of one type only when `only` says so.
    async fn list_page(
        &self,
        board: &MiroBoardId,
        cursor: Option<&str>,
        only: Option<ItemType>,
    ) -> Result<ItemPage, ApiError> {
        let mut query = vec![("limit", PAGE_LIMIT.to_string())];
        if let Some(c) = cursor {
            query.push(("cursor", c.to_owned()));
        }
        if let Some(t) = only {
            query.push(("type", t.as_str().to_owned()));
        }
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("v2/boards/{}/items", enc(board)),
                &query,
                None,
                LEVEL_2,
            )
            .await?;
        parse(v)
    }

    /// Every item of the board, page after page.
    pub(crate) async fn all_items(&self, board: &MiroBoardId) -> Result<Vec<MiroItem>, ApiError> {
        self.all_items_of(board, None).await
    }

    /// Every item of the board (of one type, when `only` says so), page after page.
    pub(crate) async fn all_items_of(
        &self,
        board: &MiroBoardId,
        only: Option<ItemType>,
    ) -> Result<Vec<MiroItem>, ApiError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.list_page(board, cursor.as_deref(), only).await?;
            items.extend(page.data);
            match page.cursor {
                Some(c) if !c.is_empty() => cursor = Some(c),
                _ => return Ok(items),
            }
        }
    }

    /// The item with its `style`, read through its type's endpoint.
    pub(crate) async fn get_item(
        &self,
        board: &MiroBoardId,
        item_type: ItemType,
        id: &MiroItemId,
    ) -> Result<MiroItem, ApiError> {
        let path = item_path(board, item_type, id);
        parse(
            self.call(reqwest::Method::GET, &path, &[], None, LEVEL_1)
                .await?,
        )
    }

    /// Whether an item of any type still exists (Miro answers 404 when it does not).
    pub(crate) async fn item_exists(
        &self,
        board: &MiroBoardId,
        id: &MiroItemId,
    ) -> Result<bool, ApiError> {
        Ok(self.item(board, id).await?.is_some())
    }

    /// An item of any type (without `style`), or `None` when Miro answers 404.
    pub(crate) async fn item(
        &self,
        board: &MiroBoardId,
        id: &MiroItemId,
    ) -> Result<Option<MiroItem>, ApiError> {
        let path = format!("v2/boards/{}/items/{}", enc(board), enc(id));
        self.found(&path).await?.map(parse).transpose()
    }

    /// Whether the board exists and the token can see it.
    pub(crate) async fn board_exists(&self, board: &MiroBoardId) -> Result<bool, ApiError> {
        let path = format!("v2/boards/{}", enc(board));
        Ok(self.found(&path).await?.is_some())
    }

    async fn found(&self, path: &str) -> Result<Option<Value>, ApiError> {
        match self
            .call(reqwest::Method::GET, path, &[], None, LEVEL_1)
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(ApiError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates an item of `item_type` from `body` (`data`, `style`, `parent`...).
    pub(crate) async fn create_item(
        &self,
        board: &MiroBoardId,
        item_type: ItemType,
        body: &Value,
    ) -> Result<MiroItem, ApiError> {
        let path = format!("v2/boards/{}/{}", enc(board), item_type.collection());
        parse(
            self.call(reqwest::Method::POST, &path, &[], Some(body), LEVEL_2)
                .await?,
        )
    }

    /// Changes the fields in `body` and nothing else.
    pub(crate) async fn update_item(
        &self,
        board: &MiroBoardId,
        item_type: ItemType,
        id: &MiroItemId,
        body: &Value,
    ) -> Result<MiroItem, ApiError> {
        let path = item_path(board, item_type, id);
        parse(
            self.call(reqwest::Method::PATCH, &path, &[], Some(body), LEVEL_2)
                .await?,
        )
    }

    /// Deletes an item; one already gone counts as deleted.
    pub(crate) async fn delete_item(
        &self,
        board: &MiroBoardId,
        item_type: ItemType,
        id: &MiroItemId,
    ) -> Result<(), ApiError> {
        let path = item_path(board, item_type, id);
        match self
            .call(reqwest::Method::DELETE, &path, &[], None, LEVEL_3)
            .await
        {
            Ok(_) | Err(ApiError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// `v2/boards/{board}/{sticky_notes|cards|...}/{id}`.
fn item_path(board: &MiroBoardId, item_type: ItemType, id: &MiroItemId) -> String {
    format!(
        "v2/boards/{}/{}/{}",
        enc(board),
        item_type.collection(),
        enc(id)
    )
}

/// Miro sends ids as strings; accept numbers too, without going through a float.
pub(super) fn string_id<'de, D: serde::Deserializer<'de>, T: From<String>>(
    d: D,
) -> Result<T, D::Error> {
    let v = Value::deserialize(d)?;
    crate::domain::change::id_text(&v)
        .map(T::from)
        .ok_or_else(|| serde::de::Error::custom("an id must be a string or an integer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_above_2_pow_53_survive_as_text() {
        let item: MiroItem = serde_json::from_value(json!({
            "id": 3458764517517819999u64, "type": "sticky_note",
            "data": {"content": "<p>x</p>"}, "style": {"fillColor": "red"},
            "parent": {"id": "3458764517517810000"}
        }))
        .unwrap();
        assert_eq!(item.id.as_str(), "3458764517517819999");
        let fields = item.fields();
        assert_eq!(fields["style.fillColor"], "red");
        assert_eq!(fields["parent"], "3458764517517810000");
    }
}
