//! monday webhooks as monday sends them: a challenge at `create_webhook`; then, for every change a
//! subscription matches, a POST with the legacy `type` names (`create_pulse`, `update_column_value`,
//! ...), a 32-hex `triggerUuid`, `subscriptionId` = the webhook id, and the acting `userId`; a JWT
//! in `Authorization` when the webhook was made with an app token. Anything but 200 is retried
//! every `webhook_retry_interval` of the shared clock for 30 minutes, with the same `triggerUuid`
//! and `isRetry: true`, then dropped. Deliveries fire for every writer, boardsync included.

use super::model::State as Data;
use super::{Call, MondayCtx, app_error};
use crate::clock::Clock;
use crate::sandbox::faults::WebhookFault;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use std::time::Duration;

/// How long monday keeps retrying a delivery.
const RETRY_WINDOW_MS: i64 = 30 * 60 * 1000;
/// How often the retry loop looks for due deliveries (real time).
const TICK: Duration = Duration::from_millis(25);

/// What a mutation did, for the subscriptions to hear about.
pub(crate) enum Happened {
    Created {
        item: u64,
    },
    ColumnChanged {
        item: u64,
        column: String,
        previous: Option<Value>,
    },
    Renamed {
        item: u64,
        previous: String,
    },
    Archived {
        item: u64,
    },
    Deleted {
        item: u64,
    },
    Commented {
        item: u64,
        update: u64,
    },
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Delivery {
    pub url: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "triggerUuid")]
    pub trigger_uuid: String,
    pub attempts: u32,
    /// pending, delivered, failed (gave up after 30 minutes) or dropped (a fault).
    pub status: &'static str,
    pub last_status: Option<u16>,
    #[serde(skip)]
    body: Value,
    #[serde(skip)]
    jwt: Option<(i64, i64)>,
    #[serde(skip)]
    first_ms: i64,
    #[serde(skip)]
    next_ms: i64,
    #[serde(skip)]
    in_flight: bool,
    #[serde(skip)]
    held: bool,
}

/// The event-specific fields of a delivery and the subscription events it matches.
fn describe(
    state: &Data,
    board: u64,
    h: &Happened,
    changed_at: f64,
) -> Option<(Vec<&'static str>, Option<String>, Value)> {
    let b = state.boards.get(&board)?;
    let group = |item: &super::model::Item| b.groups.iter().position(|g| g.id == item.group);
    Some(match h {
        Happened::Created { item } => {
            let i = b.items.get(item)?;
            let g = b.groups.iter().find(|g| g.id == i.group)?;
            (
                vec!["create_item"],
                None,
                json!({
                    "type": "create_pulse", "boardId": board, "pulseId": i.id, "pulseName": i.name, "groupId": g.id,
                    "groupName": g.title, "groupColor": g.color, "isTopGroup": group(i) == Some(0),
                    "columnValues": super::ops::column_values_of(b, i),
                }),
            )
        }
        Happened::ColumnChanged {
            item,
            column,
            previous,
        } => {
            let i = b.items.get(item)?;
            let c = b.columns.iter().find(|c| &c.id == column)?;
            let (kind, value) = c.webhook_value(i.values.get(column));
            let previous = previous
                .as_ref()
                .map(|p| c.webhook_value(Some(p)).1)
                .unwrap_or(Value::Null);
            let mut events = vec!["change_column_value", "change_specific_column_value"];
            if c.kind == "status" {
                events.push("change_status_column_value");
            }
            (
                events,
                Some(column.clone()),
                json!({
                    "type": "update_column_value", "boardId": board, "groupId": i.group, "pulseId": i.id, "pulseName": i.name,
                    "columnId": c.id, "columnType": kind, "columnTitle": c.title, "value": value, "previousValue": previous,
                    "changedAt": changed_at, "isTopGroup": group(i) == Some(0),
                }),
            )
        }
        Happened::Renamed { item, previous } => {
            let i = b.items.get(item)?;
            (
                vec!["change_name"],
                None,
                json!({
                    "type": "update_name", "boardId": board, "groupId": i.group, "pulseId": i.id,
                    "value": { "name": i.name }, "previousValue": { "name": previous },
                }),
            )
        }
        Happened::Archived { item } | Happened::Deleted { item } => {
            let i = b.items.get(item)?;
            let (event, kind) = if matches!(h, Happened::Archived { .. }) {
                ("item_archived", "archive_pulse")
            } else {
                ("item_deleted", "delete_pulse")
            };
            (
                vec![event],
                None,
                json!({ "type": kind, "boardId": board, "itemId": i.id, "itemName": i.name }),
            )
        }
        Happened::Commented { item, update } => {
            let i = b.items.get(item)?;
            let u = i.updates.iter().find(|u| u.id == *update)?;
            (
                vec!["create_update"],
                None,
                json!({
                    "type": "create_update", "boardId": board, "pulseId": i.id, "body": u.body,
                    "textBody": super::schema::strip_tags(&u.body), "updateId": u.id, "replyId": null,
                }),
            )
        }
    })
}

/// Queues a delivery to every subscription of `board` that matches what happened at `now` (the
/// time the change was applied, so deliveries carry times in the order of the changes).
pub(crate) fn report(
    m: &MondayCtx,
    call: &Call,
    board: u64,
    happened: Vec<Happened>,
    now: DateTime<Utc>,
) {
    let mut queued = Vec::new();
    {
        let state = m.state.lock().expect("monday state");
        for h in &happened {
            let changed_at = now.timestamp_micros() as f64 / 1e6;
            let Some((events, column, fields)) = describe(&state, board, h, changed_at) else {
                continue;
            };
            let trigger = uuid::Uuid::new_v4().simple().to_string();
            for w in state
                .webhooks
                .values()
                .filter(|w| w.board == board && events.contains(&w.event.as_str()))
            {
                if w.event == "change_specific_column_value" {
                    let wanted = w
                        .config
                        .as_deref()
                        .and_then(|c| serde_json::from_str::<Value>(c).ok());
                    if wanted.as_ref().and_then(|c| c["columnId"].as_str()) != column.as_deref() {
                        continue;
                    }
                }
                let mut event = json!({
                    "app": "monday", "triggerTime": Clock::iso_millis(now), "subscriptionId": w.id, "isRetry": false,
                    "userId": call.user.monday_id, "originalTriggerUuid": null, "triggerUuid": trigger,
                });
                for (k, v) in fields.as_object().expect("fields are an object") {
                    event[k] = v.clone();
                }
                queued.push(Delivery {
                    url: w.url.clone(),
                    kind: fields["type"].as_str().unwrap_or_default().to_owned(),
                    trigger_uuid: trigger.clone(),
                    attempts: 0,
                    status: "pending",
                    last_status: None,
                    body: json!({ "event": event }),
                    jwt: w
                        .app
                        .then_some((call.user.monday_account_id, call.user.monday_id)),
                    first_ms: now.timestamp_millis(),
                    next_ms: now.timestamp_millis(),
                    in_flight: false,
                    held: false,
                });
            }
        }
    }
    let mut deliveries = m.deliveries.lock().expect("deliveries");
    for mut d in queued {
        match m.instruments.faults.for_webhook(&d.url) {
            Some(WebhookFault::Drop) => d.status = "dropped",
            Some(WebhookFault::Duplicate) => deliveries.push(d.clone()),
            Some(WebhookFault::Reorder) => d.held = true,
            None => {}
        }
        deliveries.push(d);
    }
}

/// Sends `{"challenge": ...}` to `url`; the webhook is made only if it is echoed with 200.
pub(crate) async fn challenge(m: &MondayCtx, url: &str) -> async_graphql::Result<()> {
    let challenge = uuid::Uuid::new_v4().simple().to_string();
    let echoed = m.shared.challenge_echoed(url, &challenge).await;
    if echoed {
        Ok(())
    } else {
        Err(app_error(
            "InternalServerError",
            "Failed to communicate with URL provided: the challenge was not answered",
        ))
    }
}

fn jwt(m: &MondayCtx, url: &str, (account, user): (i64, i64)) -> Option<String> {
    let now = m.shared.clock.now().timestamp();
    let claims = json!({
        "accountId": account, "userId": user, "aud": url, "iat": now, "exp": now + 300,
        "shortLivedToken": format!("sandbox-short-{user}"),
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(m.shared.secret.as_bytes()),
    )
    .ok()
}

/// The loop that sends due deliveries and schedules retries, until the sandbox stops.
pub(crate) async fn run(m: MondayCtx, interval: Duration) {
    let interval_ms = i64::try_from(interval.as_millis()).unwrap_or(60_000);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = m.shared.shutdown.cancelled() => return,
        }
        let now = m.shared.clock.now_ms();
        let due: Vec<(usize, Delivery)> = {
            let mut deliveries = m.deliveries.lock().expect("deliveries");
            let any_sendable = deliveries
                .iter()
                .any(|d| d.status == "pending" && !d.held && !d.in_flight && d.next_ms <= now);
            deliveries
                .iter_mut()
                .enumerate()
                // A held (reordered) delivery goes out once a later one does.
                .filter(|(_, d)| {
                    d.status == "pending"
                        && !d.in_flight
                        && d.next_ms <= now
                        && (!d.held || any_sendable)
                })
                .map(|(i, d)| {
                    d.in_flight = true;
                    d.held = false;
                    (i, d.clone())
                })
                .collect()
        };
        let mut due = due;
        due.sort_by_key(|(i, d)| (d.held, *i));
        for (index, d) in due {
            let m = m.clone();
            m.shared.tasks.clone().spawn(async move {
                // The next try is an interval after this one was sent, as monday's minute is,
                // whatever the clock did while the answer was awaited.
                let sent_at = m.shared.clock.now_ms();
                let mut body = d.body.clone();
                if d.attempts > 0 {
                    body["event"]["isRetry"] = json!(true);
                }
                let mut req = m.shared.http.post(&d.url).json(&body);
                if let Some(who) = d.jwt
                    && let Some(token) = jwt(&m, &d.url, who)
                {
                    req = req.header("Authorization", token);
                }
                let status = req.send().await.ok().map(|r| r.status().as_u16());
                let now = m.shared.clock.now_ms();
                let mut deliveries = m.deliveries.lock().expect("deliveries");
                let Some(entry) = deliveries.get_mut(index) else {
                    return;
                };
                entry.in_flight = false;
                entry.attempts += 1;
                entry.last_status = status;
                if status == Some(200) {
                    entry.status = "delivered";
                } else if now - entry.first_ms >= RETRY_WINDOW_MS {
                    entry.status = "failed";
                } else {
                    entry.next_ms = sent_at + interval_ms;
                }
            });
        }
    }
}
