//! The monday GraphQL client. Each operation is a file under `schema/`, compiled against
//! `schema/monday.graphql` (our checked subset of monday's schema) by graphql_client, so a query
//! that asks for a field monday does not have fails the build, not the sync.
//!
//! monday answers application errors with HTTP 200 and `errors[].extensions.code`, and limits
//! with 429 and `retry_in_seconds`; [`classify`] turns both into an [`ApiError`] in one place.

mod limits;
mod operations;

pub(crate) use operations::*;

use super::error::{ApiError, excerpt, transport};
use crate::clock::Clock;
use crate::domain::{MondayBoardId, MondayItemId};
use graphql_client::{GraphQLQuery, QueryBody};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use url::Url;

/// The longest monday asks us to wait that we honour as given; longer waits are capped here and
/// the call is simply tried again then.
const MAX_RETRY_IN_SECONDS: i64 = 60;

#[derive(Clone)]
pub struct MondayClient {
    http: reqwest::Client,
    url: Url,
    token: String,
    api_version: String,
    /// Tag ids by (board, name), as `create_or_get_tag` answered them: a tag's id never changes,
    /// so each name costs one call per board for the life of the process.
    tag_ids: Arc<Mutex<HashMap<(MondayBoardId, String), i64>>>,
    /// The daemon's clock: rate-limit waits are reckoned on it.
    clock: Clock,
    /// monday's per-minute limits, shared by every clone: calls wait for the next window
    /// rather than draw 429s.
    limits: Arc<Mutex<limits::Limits>>,
    /// `boardsync_monday_calls_waiting`, when the engine counts.
    waiting: Option<prometheus::IntGauge>,
}

impl std::fmt::Debug for MondayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MondayClient")
            .field("url", &self.url.as_str())
            .finish()
    }
}

impl MondayClient {
    pub(crate) fn new(
        http: reqwest::Client,
        url: Url,
        token: &str,
        api_version: &str,
        clock: Clock,
    ) -> MondayClient {
        MondayClient {
            clock,
            http,
            url,
            token: token.to_owned(),
            api_version: api_version.to_owned(),
            tag_ids: Arc::default(),
            limits: Arc::default(),
            waiting: None,
        }
    }

    /// This client counting the calls that wait for monday's next window in `gauge`.
    pub(crate) fn counted(mut self, gauge: prometheus::IntGauge) -> MondayClient {
        self.waiting = Some(gauge);
        self
    }

    /// The id of the tag named `name`, made when the account has none by that name.
    pub(crate) async fn tag_id(&self, board: &MondayBoardId, name: &str) -> Result<i64, ApiError> {
        let key = (board.clone(), name.to_owned());
        if let Some(id) = self.tag_ids.lock().expect("tag ids").get(&key) {
            return Ok(*id);
        }
        let tag = self
            .run::<CreateOrGetTag>(
                create_or_get_tag::Variables {
                    board: Some(board.to_string()),
                    name: Some(name.to_owned()),
                },
                None,
            )
            .await?
            .create_or_get_tag
            .ok_or_else(|| ApiError::Rejected(format!("monday made no tag `{name}`")))?;
        let id = tag.id.parse::<i64>().map_err(|_| {
            ApiError::Rejected(format!("monday's tag id `{}` is not a number", tag.id))
        })?;
        self.tag_ids.lock().expect("tag ids").insert(key, id);
        Ok(id)
    }

    /// Runs one operation. With `idempotency_key`, monday replays the first answer to a repeat
    /// of the same mutation for 30 minutes instead of running it again.
    pub(crate) async fn run<Q: GraphQLQuery>(
        &self,
        variables: Q::Variables,
        idempotency_key: Option<&str>,
    ) -> Result<Q::ResponseData, ApiError> {
        let body: QueryBody<Q::Variables> = Q::build_query(variables);
        let mutation = body.query.trim_start().starts_with("mutation");
        let ticket = limits::wait_turn(
            &self.limits,
            body.operation_name,
            mutation,
            &self.clock,
            self.waiting.as_ref(),
        )
        .await;
        let answer = self.exchange::<Q>(&body, idempotency_key).await;
        let (told, retry_at) = match &answer {
            Ok((_, told)) => (Some(told), None),
            Err((ApiError::RateLimited { retry_at, .. }, told)) => (told.as_ref(), Some(*retry_at)),
            Err((_, told)) => (told.as_ref(), None),
        };
        ticket.finish(told, retry_at, self.clock.now_ms());
        answer.map(|(data, _)| data).map_err(|(e, _)| e)
    }

    /// One request and its answer, with the answer's limit headers when there was an answer.
    async fn exchange<Q: GraphQLQuery>(
        &self,
        body: &QueryBody<Q::Variables>,
        idempotency_key: Option<&str>,
    ) -> Result<(Q::ResponseData, limits::HeaderReading), (ApiError, Option<limits::HeaderReading>)>
    {
        let mut request = self
            .http
            .post(self.url.clone())
            .header("Authorization", &self.token)
            .header("API-Version", &self.api_version)
            .json(body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.map_err(|e| (transport(e), None))?;
        let told = limits::HeaderReading::read(response.headers());
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok()?.parse::<i64>().ok());
        let text = match response.text().await {
            Ok(text) => text,
            Err(e) => return Err((transport(e), Some(told))),
        };
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        if let Some(e) = classify(
            status,
            parsed.as_ref(),
            retry_after,
            &text,
            self.clock.now_ms(),
        ) {
            return Err((e, Some(told)));
        }
        let data = parsed
            .as_ref()
            .and_then(|v| v.get("data"))
            .filter(|d| !d.is_null());
        let Some(data) = data else {
            let e = ApiError::Rejected(format!("monday answered without data: {}", excerpt(&text)));
            return Err((e, Some(told)));
        };
        match serde_json::from_value(data.clone()) {
            Ok(data) => Ok((data, told)),
            Err(e) => Err((
                ApiError::Rejected(format!(
                    "monday's answer is not what boardsync expects: {e}"
                )),
                Some(told),
            )),
        }
    }
}

/// An item of a board, as [`MondayClient::board_items`] pages it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BoardItem {
    pub id: MondayItemId,
    pub name: String,
    pub group: Option<String>,
    pub created_at: Option<String>,
    pub creator_id: String,
    pub updated_at: Option<String>,
    /// Column id → the column's text.
    pub texts: Vec<(String, String)>,
}

impl BoardItem {
    /// The item's fields as a change carries them: `name`, `group`, and each column's text.
    pub(crate) fn fields(&self) -> std::collections::BTreeMap<String, Value> {
        let mut fields = std::collections::BTreeMap::new();
        fields.insert("name".to_owned(), Value::String(self.name.clone()));
        if let Some(g) = &self.group {
            fields.insert("group".to_owned(), Value::String(g.clone()));
        }
        for (column, text) in &self.texts {
            fields.insert(column.clone(), Value::String(text.clone()));
        }
        fields
    }
}

/// Items per page (monday's maximum).
const ITEMS_PAGE: i64 = 500;
/// How many times one listing starts over when its cursor dies before the last page.
const LISTING_RESTARTS: usize = 2;

/// Whether a call failed because its `items_page` cursor no longer leads anywhere: monday lets a
/// cursor live 60 minutes from the first page (`CursorExpiredError`), and one it does not know
/// (`InvalidCursorException`) is as dead. The listing must then start over from the first page:
/// monday's item order is not stable, so a new cursor cannot pick up where the old one stopped.
fn cursor_gone(e: &ApiError) -> bool {
    matches!(e, ApiError::Rejected(m)
        if m.contains("CursorExpiredError") || m.contains("InvalidCursorException"))
}

impl MondayClient {
    /// Every item of the board, paged with `items_page` and `next_items_page`. A listing whose
    /// cursor expires before the last page (it took more than an hour) starts over, twice at
    /// most. `NotFound` when the board does not exist or the token cannot see it.
    pub(crate) async fn board_items(
        &self,
        board: &MondayBoardId,
    ) -> Result<Vec<BoardItem>, ApiError> {
        let mut restarts = 0;
        loop {
            match self.list_board_once(board).await {
                Err(e) if cursor_gone(&e) && restarts < LISTING_RESTARTS => {
                    restarts += 1;
                    tracing::info!(%board, error = %e, "the monday listing's cursor died before its last page; starting over");
                }
                done => return done,
            }
        }
    }

    async fn list_board_once(&self, board: &MondayBoardId) -> Result<Vec<BoardItem>, ApiError> {
        macro_rules! item {
            ($i:expr) => {
                BoardItem {
                    id: MondayItemId($i.id),
                    name: $i.name,
                    group: $i.group.map(|g| g.id),
                    created_at: $i.created_at,
                    creator_id: $i.creator_id,
                    updated_at: $i.updated_at,
                    texts: $i
                        .column_values
                        .into_iter()
                        .map(|c| (c.id, c.text.unwrap_or_default()))
                        .collect(),
                }
            };
        }
        let first = self
            .run::<ItemsPage>(
                items_page::Variables {
                    board: board.to_string(),
                    limit: ITEMS_PAGE,
                },
                None,
            )
            .await?;
        let page = first
            .boards
            .into_iter()
            .flatten()
            .flatten()
            .next()
            .ok_or_else(|| ApiError::NotFound(format!("monday board {board}")))?
            .items_page;
        let mut items: Vec<BoardItem> = page.items.into_iter().map(|i| item!(i)).collect();
        let mut cursor = page.cursor;
        while let Some(c) = cursor.take() {
            let next = self
                .run::<NextItemsPage>(
                    next_items_page::Variables {
                        cursor: c,
                        limit: ITEMS_PAGE,
                    },
                    None,
                )
                .await?
                .next_items_page;
            items.extend(next.items.into_iter().map(|i| item!(i)));
            cursor = next.cursor;
        }
        Ok(items)
    }
}

/// The name monday uses for a value of one of its enums (`status`, `change_column_value`), as
/// graphql_client serialises it.
pub(crate) fn enum_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// monday's answer as a decision, or `None` when it succeeded. Reads both the current error format
/// (`errors[].extensions.code`) and the legacy top-level `error_code`. `now` is the daemon's
/// clock, from which waits are reckoned.
pub(crate) fn classify(
    status: u16,
    body: Option<&Value>,
    retry_after: Option<i64>,
    text: &str,
    now: i64,
) -> Option<ApiError> {
    let first_error = body.and_then(|b| b["errors"].get(0));
    let code = first_error
        .and_then(|e| e["extensions"]["code"].as_str())
        .or_else(|| body.and_then(|b| b["error_code"].as_str()));
    if (200..300).contains(&status) && code.is_none() && first_error.is_none() {
        return None;
    }
    let message = format!(
        "monday answered {status}{}: {}",
        code.map(|c| format!(" {c}")).unwrap_or_default(),
        first_error
            .and_then(|e| e["message"].as_str())
            .or_else(|| body.and_then(|b| b["error_message"].as_str()))
            .map(str::to_owned)
            .unwrap_or_else(|| excerpt(text))
    );
    let retry_in = first_error
        .and_then(|e| e["extensions"]["retry_in_seconds"].as_i64())
        .or_else(|| body.and_then(|b| b["error_data"]["retry_in_seconds"].as_i64()))
        .or(retry_after);
    let wait = |secs: Option<i64>| ApiError::RateLimited {
        retry_at: now
            + secs
                .unwrap_or(MAX_RETRY_IN_SECONDS)
                .clamp(1, MAX_RETRY_IN_SECONDS)
                * 1000,
        reason: message.clone(),
    };
    Some(match code {
        Some("DAILY_LIMIT_EXCEEDED") => ApiError::RateLimited {
            retry_at: next_utc_midnight(now),
            reason: message,
        },
        Some(
            "COMPLEXITY_BUDGET_EXHAUSTED"
            | "ComplexityException"
            | "complexityBudgetExhausted"
            | "maxConcurrencyExceeded"
            | "FIELD_LIMIT_EXCEEDED"
            | "IP_RATE_LIMIT_EXCEEDED"
            | "RATE_LIMIT_EXCEEDED"
            | "Rate Limit Exceeded",
        ) => wait(retry_in),
        _ if status == 429 => wait(retry_in),
        Some("IDEMPOTENCY_CONFLICT" | "API_TEMPORARILY_BLOCKED") => ApiError::Transient(message),
        Some("ResourceNotFoundException" | "InvalidItemIdException") => ApiError::NotFound(message),
        _ if status == 404 => ApiError::NotFound(message),
        _ if status == 423 || status == 408 || status >= 500 => ApiError::Transient(message),
        _ => ApiError::Rejected(message),
    })
}

fn next_utc_midnight(now_ms: i64) -> i64 {
    const DAY: i64 = 86_400_000;
    (now_ms / DAY + 1) * DAY
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The daemon's clock in these tests: 2027-01-15T08:00:00Z.
    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn application_errors_in_a_200_are_errors() {
        let body = json!({"errors": [{"message": "label does not exist", "extensions": {"code": "ColumnValueException"}}]});
        assert!(matches!(
            classify(200, Some(&body), None, "", NOW),
            Some(ApiError::Rejected(m)) if m.contains("ColumnValueException")
        ));
        assert_eq!(
            classify(200, Some(&json!({"data": {"me": null}})), None, "", NOW),
            None
        );
    }

    #[test]
    fn limits_wait_retry_in_seconds_and_the_daily_cap_waits_for_midnight() {
        let body = json!({"errors": [{"message": "Complexity budget exhausted", "extensions": {"code": "COMPLEXITY_BUDGET_EXHAUSTED", "retry_in_seconds": 7}}]});
        let Some(ApiError::RateLimited { retry_at, .. }) =
            classify(429, Some(&body), None, "", NOW)
        else {
            panic!("a limit");
        };
        assert_eq!(retry_at - NOW, 7_000);
        let legacy = json!({"error_code": "FIELD_LIMIT_EXCEEDED", "error_data": {"retry_in_seconds": 15}, "status_code": 429});
        let Some(ApiError::RateLimited { retry_at, .. }) =
            classify(429, Some(&legacy), None, "", NOW)
        else {
            panic!("a limit");
        };
        assert_eq!(retry_at - NOW, 15_000);
        let daily = json!({"errors": [{"message": "daily", "extensions": {"code": "DAILY_LIMIT_EXCEEDED"}}]});
        let Some(ApiError::RateLimited { retry_at, .. }) =
            classify(429, Some(&daily), None, "", NOW)
        else {
            panic!("a limit");
        };
        assert_eq!(retry_at % 86_400_000, 0);
        assert!(retry_at > NOW && retry_at - NOW <= 86_400_000);
    }

    #[test]
    fn an_expired_or_unknown_cursor_is_told_apart_from_other_rejections() {
        let error = |code: &str| {
            let body = json!({"errors": [{"message": "The cursor has expired", "extensions": {"code": code}}]});
            classify(200, Some(&body), None, "", NOW).expect("an error")
        };
        assert!(cursor_gone(&error("CursorExpiredError")));
        assert!(cursor_gone(&error("InvalidCursorException")));
        assert!(!cursor_gone(&error("InvalidArgumentException")));
        assert!(!cursor_gone(&ApiError::Transient(
            "CursorExpiredError".into()
        )));
    }

    #[test]
    fn conflicts_and_server_errors_are_transient_and_missing_items_are_gone() {
        let conflict = json!({"errors": [{"message": "in use", "extensions": {"code": "IDEMPOTENCY_CONFLICT"}}]});
        assert!(matches!(
            classify(409, Some(&conflict), None, "", NOW),
            Some(ApiError::Transient(_))
        ));
        assert!(matches!(
            classify(503, None, None, "oops", NOW),
            Some(ApiError::Transient(_))
        ));
        let gone = json!({"errors": [{"message": "Item not found", "extensions": {"code": "ResourceNotFoundException"}}]});
        assert!(matches!(
            classify(200, Some(&gone), None, "", NOW),
            Some(ApiError::NotFound(_))
        ));
        assert!(matches!(
            classify(401, None, None, "no", NOW),
            Some(ApiError::Rejected(_))
        ));
    }
}
