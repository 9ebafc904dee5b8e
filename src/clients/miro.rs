//! The Miro REST client: items by cursor, items by type (the only reads that include `style`),
//! typed creates, partial updates and deletes, and tags. Every answer's credit headers feed a
//! budget, so the client waits for the next window rather than drawing a 429 in steady state.

use super::error::{ApiError, excerpt, transport};
use crate::domain::miro::{ItemType, item_fields};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use url::Url;

/// Credits a call of each Miro rate-limit level costs.
pub const LEVEL_1: u64 = 50;
pub const LEVEL_2: u64 = 100;
pub const LEVEL_3: u64 = 500;
pub const LEVEL_4: u64 = 2_000;
/// Credits always left for other work: the budget waits for the next window below this.
const CREDIT_RESERVE: u64 = 500;
/// Items per page of the board listing (Miro's maximum).
pub const PAGE_LIMIT: u32 = 50;

/// An item as the listing or a typed read returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct MiroItem {
    #[serde(deserialize_with = "string_id")]
    pub id: String,
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
    pub fn fields(&self) -> BTreeMap<String, Value> {
        item_fields(&json!({ "data": self.data, "style": self.style, "parent": self.parent }))
    }

    pub fn modified_by(&self) -> Option<String> {
        self.modified_by
            .as_ref()
            .and_then(|u| crate::domain::change::id_text(&u["id"]))
    }

    pub fn created_by(&self) -> Option<String> {
        self.created_by
            .as_ref()
            .and_then(|u| crate::domain::change::id_text(&u["id"]))
    }
}

/// One page of the board listing.
#[derive(Debug, Deserialize)]
pub struct ItemPage {
    pub data: Vec<MiroItem>,
    #[serde(default)]
    pub cursor: Option<String>,
}

/// One entry of the Enterprise content-logs feed: a change to an item (`itemType` `widget`) or
/// to a comment (`comment_thread`, `comment_message`), who made it and the state it left.
#[derive(Debug, Clone, Deserialize)]
pub struct ContentLogEntry {
    pub id: String,
    /// The board.
    #[serde(rename = "contentId", default)]
    pub board: String,
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
    pub item_id: Option<String>,
    #[serde(default)]
    pub state: Value,
}

/// One page of the content-logs feed.
#[derive(Debug, Deserialize)]
pub struct ContentLogPage {
    pub data: Vec<ContentLogEntry>,
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Entries per page of the content-logs feed (Miro's maximum).
pub const CONTENT_LOG_LIMIT: u32 = 1_000;
/// Boards one content-logs call may name (`board_ids` holds at most 15).
pub const CONTENT_LOG_BOARDS: usize = 15;

/// A Miro board subscription (a retired webhook).
#[derive(Debug, Clone, Deserialize)]
pub struct BoardSubscription {
    pub id: String,
    #[serde(default)]
    pub status: String,
    #[serde(rename = "callbackUrl", default)]
    pub callback_url: String,
    #[serde(default)]
    pub data: Value,
}

impl BoardSubscription {
    pub fn board(&self) -> &str {
        self.data["boardId"].as_str().unwrap_or_default()
    }
}

#[derive(Debug, Deserialize)]
struct CursorPage<T> {
    data: Vec<T>,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
struct OffsetPage<T> {
    data: Vec<T>,
    #[serde(default)]
    total: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct ItemTags {
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tag {
    #[serde(deserialize_with = "string_id")]
    pub id: String,
    pub title: String,
}

/// A connector: a line from one item to another.
#[derive(Debug, Clone, Deserialize)]
pub struct Connector {
    #[serde(deserialize_with = "string_id")]
    pub id: String,
    #[serde(rename = "startItem", default)]
    pub start_item: Option<ConnectorEnd>,
    #[serde(rename = "endItem", default)]
    pub end_item: Option<ConnectorEnd>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ConnectorEnd {
    #[serde(deserialize_with = "string_id")]
    pub id: String,
}

impl Connector {
    /// The ids of the items at its start and end, when it has both.
    pub fn ends(&self) -> Option<(&str, &str)> {
        Some((&self.start_item.as_ref()?.id, &self.end_item.as_ref()?.id))
    }
}

/// What a call is for: pollers may use only their share of the credits, so writes always have
/// room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Poll,
    Write,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Poll => "poll",
            Purpose::Write => "write",
        }
    }
}

/// The credit window as the answers describe it (times in local Unix ms), and what boardsync
/// booked against it. Shared by every clone of a client.
#[derive(Debug, Default)]
struct Budget {
    /// `X-RateLimit-Limit`: credits per window.
    limit: Option<u64>,
    /// `X-RateLimit-Remaining` less what was booked since; `None` once the window has reset and
    /// no answer has told the new count yet.
    remaining: Option<u64>,
    /// When the window resets; 0 when not known.
    reset_at: i64,
    /// Credits pollers booked in this window.
    polled: u64,
    /// Credits booked since start, by purpose.
    spent_poll: u64,
    spent_write: u64,
}

impl Budget {
    /// Starts the next window once its reset has passed.
    fn roll(&mut self, now: i64) {
        if self.reset_at != 0 && now >= self.reset_at {
            self.remaining = None;
            self.polled = 0;
            self.reset_at = 0;
        }
    }

    /// Books `cost` for `purpose`, or says until when it must wait.
    fn book(&mut self, purpose: Purpose, cost: u64, poll_share: f64, now: i64) -> Result<(), i64> {
        self.roll(now);
        // With the window's end unknown, a wait is a second: by then an answer has told it.
        let until = if self.reset_at != 0 {
            self.reset_at
        } else {
            now + 1_000
        };
        if self.remaining.is_some_and(|r| r < cost + CREDIT_RESERVE) {
            return Err(until);
        }
        if purpose == Purpose::Poll
            && let Some(limit) = self.limit
            && (self.polled + cost) as f64 > limit as f64 * poll_share
        {
            return Err(until);
        }
        if let Some(r) = self.remaining.as_mut() {
            *r -= cost;
        }
        match purpose {
            Purpose::Poll => {
                self.polled += cost;
                self.spent_poll += cost;
            }
            Purpose::Write => self.spent_write += cost,
        }
        Ok(())
    }
}

#[derive(Clone)]
pub struct MiroClient {
    http: reqwest::Client,
    base: Url,
    token: String,
    budget: Arc<Mutex<Budget>>,
    purpose: Purpose,
    /// The share of each window's credits that calls made for polls may use.
    poll_share: f64,
    /// `boardsync_miro_credits_used_total{purpose}`, when the engine counts.
    credits_used: Option<prometheus::IntCounterVec>,
}

impl std::fmt::Debug for MiroClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiroClient")
            .field("base", &self.base.as_str())
            .finish()
    }
}

impl MiroClient {
    pub fn new(http: reqwest::Client, base: Url, token: &str) -> MiroClient {
        MiroClient {
            http,
            base,
            token: token.to_owned(),
            budget: Arc::default(),
            purpose: Purpose::Write,
            poll_share: 1.0,
            credits_used: None,
        }
    }

    /// This client with pollers limited to `share` of each window's credits, counting the
    /// credits it uses in `counter` (labelled by purpose).
    pub fn governed(mut self, share: f64, counter: prometheus::IntCounterVec) -> MiroClient {
        self.poll_share = share;
        self.credits_used = Some(counter);
        self
    }

    /// The same client (same credit budget) for a poller's calls: they wait when the pollers
    /// have used their share of the window.
    pub fn polling(&self) -> MiroClient {
        MiroClient {
            purpose: Purpose::Poll,
            ..self.clone()
        }
    }

    /// Miro's credits per window, once an answer has said it.
    pub fn credit_limit(&self) -> Option<u64> {
        self.budget.lock().expect("credits lock").limit
    }

    /// The credits booked by pollers since start.
    pub fn poll_credits_spent(&self) -> u64 {
        self.budget.lock().expect("credits lock").spent_poll
    }

    /// The id of the user the token acts as: boardsync's own user, whose changes are its own.
    pub async fn own_user_id(&self) -> Result<String, ApiError> {
        let v = self
            .call(reqwest::Method::GET, "v1/oauth-token", &[], None, LEVEL_1)
            .await?;
        crate::domain::change::id_text(&v["user"]["id"])
            .ok_or_else(|| ApiError::Rejected("Miro's token information has no user id".into()))
    }

    /// One page of the board's items, `limit` at most 50.
    pub async fn list_items(
        &self,
        board: &str,
        cursor: Option<&str>,
    ) -> Result<ItemPage, ApiError> {
        self.list_page(board, cursor, None).await
    }

    /// One page of the board's items, of one type only when `only` says so.
    async fn list_page(
        &self,
        board: &str,
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
    pub async fn all_items(&self, board: &str) -> Result<Vec<MiroItem>, ApiError> {
        self.all_items_of(board, None).await
    }

    /// Every item of the board (of one type, when `only` says so), page after page.
    pub async fn all_items_of(
        &self,
        board: &str,
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
    pub async fn get_item(
        &self,
        board: &str,
        item_type: ItemType,
        id: &str,
    ) -> Result<MiroItem, ApiError> {
        let path = item_path(board, item_type, id);
        parse(
            self.call(reqwest::Method::GET, &path, &[], None, LEVEL_1)
                .await?,
        )
    }

    /// Whether an item of any type still exists (Miro answers 404 when it does not).
    pub async fn item_exists(&self, board: &str, id: &str) -> Result<bool, ApiError> {
        Ok(self.item(board, id).await?.is_some())
    }

    /// An item of any type (without `style`), or `None` when Miro answers 404.
    pub async fn item(&self, board: &str, id: &str) -> Result<Option<MiroItem>, ApiError> {
        let path = format!("v2/boards/{}/items/{}", enc(board), enc(id));
        self.found(&path).await?.map(parse).transpose()
    }

    /// Whether the board exists and the token can see it.
    pub async fn board_exists(&self, board: &str) -> Result<bool, ApiError> {
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
    pub async fn create_item(
        &self,
        board: &str,
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
    pub async fn update_item(
        &self,
        board: &str,
        item_type: ItemType,
        id: &str,
        body: &Value,
    ) -> Result<MiroItem, ApiError> {
        let path = item_path(board, item_type, id);
        parse(
            self.call(reqwest::Method::PATCH, &path, &[], Some(body), LEVEL_2)
                .await?,
        )
    }

    /// Deletes an item; one already gone counts as deleted.
    pub async fn delete_item(
        &self,
        board: &str,
        item_type: ItemType,
        id: &str,
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

    /// One page of the organisation's content-logs feed (Enterprise only; Level 4): what
    /// happened on `boards` between `from` and `to` (ISO 8601 UTC), oldest first.
    pub async fn content_logs(
        &self,
        org: &str,
        boards: &[String],
        from: &str,
        to: &str,
        cursor: Option<&str>,
    ) -> Result<ContentLogPage, ApiError> {
        let mut query = vec![
            ("from", from.to_owned()),
            ("to", to.to_owned()),
            ("board_ids", boards.join(",")),
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

    /// Every board subscription the token made (Miro's retired webhooks; only where they still
    /// answer, such as the sandbox).
    pub async fn subscriptions(&self) -> Result<Vec<BoardSubscription>, ApiError> {
        self.cursor_pages("v2-experimental/webhooks/subscriptions", 100, LEVEL_1)
            .await
    }

    /// Subscribes `callback` to the board's item events; Miro first sends it a challenge.
    pub async fn subscribe(&self, board: &str, callback: &str) -> Result<String, ApiError> {
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
    pub async fn unsubscribe(&self, id: &str) -> Result<(), ApiError> {
        let path = format!("v2-experimental/webhooks/subscriptions/{}", enc(id));
        match self
            .call(reqwest::Method::DELETE, &path, &[], None, LEVEL_1)
            .await
        {
            Ok(_) | Err(ApiError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every tag of the board, page after page (offset paging).
    pub async fn board_tags(&self, board: &str) -> Result<Vec<Tag>, ApiError> {
        let path = format!("v2/boards/{}/tags", enc(board));
        self.offset_pages(&path, &[], LEVEL_1).await
    }

    /// Makes a tag on the board (Miro: titles are unique per board, at most 120 characters).
    /// Tag colours are not synced: boardsync's tags are gray.
    pub async fn create_tag(&self, board: &str, title: &str) -> Result<Tag, ApiError> {
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
    pub async fn items_with_tag(&self, board: &str, tag: &str) -> Result<Vec<MiroItem>, ApiError> {
        let path = format!("v2/boards/{}/items", enc(board));
        self.offset_pages(&path, &[("tag_id", tag.to_owned())], LEVEL_1)
            .await
    }

    /// The tags of one item.
    pub async fn item_tags(&self, board: &str, id: &str) -> Result<Vec<Tag>, ApiError> {
        let path = format!("v2/boards/{}/items/{}/tags", enc(board), enc(id));
        let tags: ItemTags = parse(
            self.call(reqwest::Method::GET, &path, &[], None, LEVEL_1)
                .await?,
        )?;
        Ok(tags.tags)
    }

    /// Attaches a tag to an item.
    pub async fn attach_tag(&self, board: &str, id: &str, tag: &str) -> Result<(), ApiError> {
        self.item_tag(reqwest::Method::POST, board, id, tag).await
    }

    /// Detaches a tag from an item.
    pub async fn detach_tag(&self, board: &str, id: &str, tag: &str) -> Result<(), ApiError> {
        self.item_tag(reqwest::Method::DELETE, board, id, tag).await
    }

    /// `POST` (attach) or `DELETE` (detach) `.../items/{id}?tag_id=`, bodiless as Miro's own
    /// client sends them. Without `tag_id` the same `DELETE` would delete the item, so an empty
    /// tag id is refused here.
    async fn item_tag(
        &self,
        method: reqwest::Method,
        board: &str,
        id: &str,
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

    /// Every connector of the board, page after page (cursor paging).
    pub async fn connectors(&self, board: &str) -> Result<Vec<Connector>, ApiError> {
        let path = format!("v2/boards/{}/connectors", enc(board));
        self.cursor_pages(&path, PAGE_LIMIT, LEVEL_2).await
    }

    /// Draws a connector from `start` to `end`.
    pub async fn create_connector(
        &self,
        board: &str,
        start: &str,
        end: &str,
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
    pub async fn delete_connector(&self, board: &str, id: &str) -> Result<(), ApiError> {
        let path = format!("v2/boards/{}/connectors/{}", enc(board), enc(id));
        match self
            .call(reqwest::Method::DELETE, &path, &[], None, LEVEL_3)
            .await
        {
            Ok(_) | Err(ApiError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every element of a cursor-paged list (`{data, cursor, ...}`), `limit` at a time; the last
    /// page has no cursor, or an empty one.
    async fn cursor_pages<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        limit: u32,
        cost: u64,
    ) -> Result<Vec<T>, ApiError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("limit", limit.to_string())];
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let page: CursorPage<T> = parse(
                self.call(reqwest::Method::GET, path, &query, None, cost)
                    .await?,
            )?;
            out.extend(page.data);
            match page.cursor {
                Some(c) if !c.is_empty() => cursor = Some(c),
                _ => return Ok(out),
            }
        }
    }

    /// Every element of an offset-paged list (`{data, total, offset, ...}`), 50 at a time.
    async fn offset_pages<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        cost: u64,
    ) -> Result<Vec<T>, ApiError> {
        let mut out: Vec<T> = Vec::new();
        loop {
            let mut q = query.to_vec();
            q.push(("limit", PAGE_LIMIT.to_string()));
            q.push(("offset", out.len().to_string()));
            let page: OffsetPage<T> = parse(
                self.call(reqwest::Method::GET, path, &q, None, cost)
                    .await?,
            )?;
            let (got, total) = (page.data.len(), page.total);
            out.extend(page.data);
            // `total` says when to stop; a short or empty page stops too, so a list that shrinks
            // while it is read cannot loop.
            if got == 0 || got < PAGE_LIMIT as usize || total.is_some_and(|t| out.len() >= t) {
                return Ok(out);
            }
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        cost: u64,
    ) -> Result<Value, ApiError> {
        self.wait_for_credits(cost).await;
        let url = self
            .base
            .join(path)
            .map_err(|e| ApiError::Rejected(format!("bad Miro URL {path}: {e}")))?;
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(&self.token)
            .query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        self.note_credits(&headers);
        let text = response.text().await.map_err(transport)?;
        if status.is_success() {
            if text.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text)
                .map_err(|e| ApiError::Rejected(format!("Miro's answer did not parse: {e}")));
        }
        Err(classify(status.as_u16(), &headers, &text))
    }

    /// Books `cost`, first waiting for the next credit window when the last answer left less
    /// than `cost` plus a reserve, or when this is a poller's call and the pollers have used their
    /// share of the window. Booking before the answer makes calls sent at once count against one
    /// budget; each answer's headers set the count to Miro's own again.
    async fn wait_for_credits(&self, cost: u64) {
        loop {
            let now = chrono::Utc::now().timestamp_millis();
            let booked = self.budget.lock().expect("credits lock").book(
                self.purpose,
                cost,
                self.poll_share,
                now,
            );
            match booked {
                Ok(()) => break,
                Err(until) => {
                    tracing::debug!(
                        wait_ms = until - now,
                        purpose = self.purpose.as_str(),
                        "Miro credits used up for now; waiting for the next window"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(
                        (until - now).max(1) as u64
                    ))
                    .await;
                }
            }
        }
        if let Some(counter) = &self.credits_used {
            counter
                .with_label_values(&[self.purpose.as_str()])
                .inc_by(cost);
        }
    }

    fn note_credits(&self, headers: &reqwest::header::HeaderMap) {
        let number = |name: &str| -> Option<i64> { headers.get(name)?.to_str().ok()?.parse().ok() };
        if let (Some(remaining), Some(reset)) =
            (number("X-RateLimit-Remaining"), number("X-RateLimit-Reset"))
        {
            let mut budget = self.budget.lock().expect("credits lock");
            budget.remaining = Some(remaining.max(0) as u64);
            budget.reset_at = reset_at(headers, reset);
            if let Some(limit) = number("X-RateLimit-Limit") {
                budget.limit = Some(limit.max(0) as u64);
            }
        }
    }
}

/// `X-RateLimit-Reset` (epoch seconds on Miro's clock) as local Unix ms: its distance from the
/// answer's `Date` added to our clock, so a skewed clock on either side does not matter.
fn reset_at(headers: &reqwest::header::HeaderMap, reset_epoch_s: i64) -> i64 {
    let now = chrono::Utc::now().timestamp_millis();
    let their_now = http_date_ms(headers).unwrap_or(now);
    // Both are whole seconds (`Date` has no fraction): a second more is sure to be past the reset.
    now + (reset_epoch_s * 1000 - their_now + 1000).clamp(0, 121_000)
}

/// Unix milliseconds of an HTTP `Date` header, when there is a valid one.
fn http_date_ms(headers: &reqwest::header::HeaderMap) -> Option<i64> {
    let text = headers.get(reqwest::header::DATE)?.to_str().ok()?;
    chrono::DateTime::parse_from_rfc2822(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Miro's answer as a decision: 429 waits for the window, 5xx and 423 back off, 404 is gone,
/// every other 4xx is permanent.
pub fn classify(status: u16, headers: &reqwest::header::HeaderMap, body: &str) -> ApiError {
    let message = || format!("Miro answered {status}: {}", excerpt(body));
    match status {
        429 => {
            let reset = headers
                .get("X-RateLimit-Reset")
                .and_then(|v| v.to_str().ok()?.parse::<i64>().ok());
            let retry_at = match reset {
                Some(r) => reset_at(headers, r),
                None => chrono::Utc::now().timestamp_millis() + 60_000,
            };
            ApiError::RateLimited {
                retry_at,
                reason: message(),
            }
        }
        404 => ApiError::NotFound(message()),
        408 | 423 | 500..=599 => ApiError::Transient(message()),
        _ => ApiError::Rejected(message()),
    }
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| {
        ApiError::Rejected(format!("Miro's answer is not what boardsync expects: {e}"))
    })
}

/// `v2/boards/{board}/{sticky_notes|cards|...}/{id}`.
fn item_path(board: &str, item_type: ItemType, id: &str) -> String {
    format!(
        "v2/boards/{}/{}/{}",
        enc(board),
        item_type.collection(),
        enc(id)
    )
}

/// A path segment, percent-encoded (board ids end in `=`).
fn enc(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

/// An id that may be absent or null.
fn optional_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(crate::domain::change::id_text(&v))
}

/// Miro sends ids as strings; accept numbers too, without going through a float.
fn string_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = Value::deserialize(d)?;
    crate::domain::change::id_text(&v)
        .ok_or_else(|| serde::de::Error::custom("an id must be a string or an integer"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn statuses_become_the_decision_the_dispatcher_makes() {
        let none = HeaderMap::new();
        assert!(matches!(classify(500, &none, ""), ApiError::Transient(_)));
        assert!(matches!(classify(423, &none, ""), ApiError::Transient(_)));
        assert!(matches!(classify(404, &none, ""), ApiError::NotFound(_)));
        assert!(matches!(classify(400, &none, "bad"), ApiError::Rejected(_)));
        assert!(matches!(
            classify(429, &none, ""),
            ApiError::RateLimited { .. }
        ));
    }

    #[test]
    fn a_rate_limit_waits_as_long_as_the_reset_is_after_the_answers_date() {
        let mut headers = HeaderMap::new();
        // Miro's clock says 10:00:00 and the window resets at 10:00:30: wait 30 s from our now
        // (and a second more, for the whole seconds both are given in), whatever our own clock
        // says.
        headers.insert(
            "Date",
            HeaderValue::from_static("Mon, 30 Nov 2026 10:00:00 GMT"),
        );
        let date = chrono::DateTime::parse_from_rfc2822("Mon, 30 Nov 2026 10:00:00 GMT").unwrap();
        let reset = date.timestamp() + 30;
        headers.insert("X-RateLimit-Reset", HeaderValue::from(reset));
        let before = chrono::Utc::now().timestamp_millis();
        let ApiError::RateLimited { retry_at, .. } = classify(429, &headers, "") else {
            panic!("429 is a rate limit");
        };
        let wait = retry_at - before;
        assert!((30_000..=32_000).contains(&wait), "waited {wait} ms");
    }

    #[test]
    fn pollers_stop_at_their_share_and_writes_go_on_until_the_reserve() {
        let mut b = Budget {
            limit: Some(10_000),
            remaining: Some(10_000),
            reset_at: 60_000,
            ..Budget::default()
        };
        for _ in 0..50 {
            b.book(Purpose::Poll, 100, 0.5, 0).unwrap();
        }
        assert_eq!(b.book(Purpose::Poll, 100, 0.5, 0), Err(60_000));
        for _ in 0..45 {
            b.book(Purpose::Write, 100, 0.5, 0).unwrap();
        }
        assert_eq!(b.book(Purpose::Write, 100, 0.5, 0), Err(60_000));
        assert_eq!((b.spent_poll, b.spent_write), (5_000, 4_500));
        // The next window: both may go again, before any answer has told the new count.
        b.book(Purpose::Poll, 100, 0.5, 60_000).unwrap();
        assert_eq!((b.polled, b.remaining), (100, None));
    }

    #[test]
    fn ids_above_2_pow_53_survive_as_text() {
        let item: MiroItem = serde_json::from_value(json!({
            "id": 3458764517517819999u64, "type": "sticky_note",
            "data": {"content": "<p>x</p>"}, "style": {"fillColor": "red"},
            "parent": {"id": "3458764517517810000"}
        }))
        .unwrap();
        assert_eq!(item.id, "3458764517517819999");
        let fields = item.fields();
        assert_eq!(fields["style.fillColor"], "red");
        assert_eq!(fields["parent"], "3458764517517810000");
    }
}
