//! The retired `/v2-experimental/webhooks` board subscriptions, still served so deployments and
//! tests can receive Miro webhooks: a challenge on create, then one signed POST per item create,
//! update and delete. Shape A (the official one: the whole item, base64 `X-Miro-Hmac-SHA256`) is
//! the default; a subscription created with `"sandboxPayloadShape": "changes"` gets shape B (a
//! change list, hex `X-Miro-Signature`). There are no retries: Miro documented none.
//!
//! Every item change also goes to the content log here, so the two feeds never disagree.

use super::model::{Item, LogEntry, Subscription};
use super::{Body, Ctx, invalid, not_found};
use crate::clock::Clock;
use crate::sandbox::faults::WebhookFault;
use crate::sandbox::users::User;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The sandbox's Miro app id: an int64 above 2^53, as real ones are.
const APP_ID: u64 = 3_458_764_540_087_247_854;

/// A delivery about to be sent.
#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

/// What changed between two versions of an item, as shape B lists it.
pub(crate) fn diff(old: &Item, new: &Item) -> Vec<(String, Value, Value)> {
    let mut out = Vec::new();
    for (part, a, b) in [
        ("data", &old.data, &new.data),
        ("style", &old.style, &new.style),
        ("position", &old.position, &new.position),
        ("geometry", &old.geometry, &new.geometry),
    ] {
        if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
            for (k, v) in b {
                if a.get(k) != Some(v) {
                    out.push((
                        format!("{part}.{k}"),
                        a.get(k).cloned().unwrap_or(Value::Null),
                        v.clone(),
                    ));
                }
            }
        }
    }
    out
}

/// Seconds precision: Miro's webhook times had no milliseconds.
fn seconds(iso: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(iso) {
        Ok(t) => t.to_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => iso.to_owned(),
    }
}

/// Records an item change in the content log and tells the board's subscribers.
pub(crate) fn changed(
    ctx: &Ctx,
    board: &str,
    action: &'static str,
    item: &Value,
    user: &User,
    changes: &[(String, Value, Value)],
) {
    let now = ctx.shared.clock.now();
    let outgoing: Vec<Outgoing> = {
        let mut state = ctx.state.lock().expect("miro state");
        state.log.push(LogEntry {
            id: uuid::Uuid::new_v4().to_string(),
            board: board.to_owned(),
            action,
            at_ms: now.timestamp_millis(),
            at: Clock::iso_millis(now),
            actor: (user.miro_id.clone(), user.name.clone()),
            item_type: "widget",
            item_id: item["id"].as_str().unwrap_or_default().to_owned(),
            state: if action == "delete" {
                json!({})
            } else {
                item.clone()
            },
        });
        state
            .subscriptions
            .values()
            .filter(|s| s.board == board && s.status == "enabled")
            .map(|s| body_for(ctx, s, action, item, user, changes))
            .collect()
    };
    for o in outgoing {
        send(ctx, o);
    }
}

fn body_for(
    ctx: &Ctx,
    s: &Subscription,
    action: &str,
    item: &Value,
    user: &User,
    changes: &[(String, Value, Value)],
) -> Outgoing {
    let user_number: u64 = user.miro_id.parse().unwrap_or(0);
    let (body, headers) = if s.shape_b {
        let body = json!({
            "event": "board_subscription_changed",
            "type": action,
            "boardId": s.board,
            "item": { "id": item["id"], "type": item["type"] },
            "changes": changes.iter().map(|(p, a, b)| json!({"property": p, "previousValue": a, "newValue": b})).collect::<Vec<_>>(),
            "createdAt": seconds(item["modifiedAt"].as_str().unwrap_or_default()),
            "createdBy": { "id": user.miro_id, "type": "user" },
        });
        let bytes = serde_json::to_vec(&body).expect("json");
        let sig = hex::encode(sign(&ctx.shared.secret, &bytes));
        (bytes, vec![("X-Miro-Signature", sig)])
    } else {
        let mut whole = item.clone();
        if let Some(o) = whole.as_object_mut() {
            o.remove("links");
            for key in ["createdAt", "modifiedAt"] {
                if let Some(t) = o.get(key).and_then(Value::as_str).map(seconds) {
                    o.insert(key.to_owned(), json!(t));
                }
            }
        }
        let body = json!({
            "eventType": "board_subscription",
            "event": { "boardId": s.board, "item": whole, "type": action },
            "eventTime": seconds(&Clock::iso_millis(ctx.shared.clock.now())),
            "appId": APP_ID,
            "users": [user_number],
            "subscription": s.render_for_webhook(),
        });
        let bytes = serde_json::to_vec(&body).expect("json");
        let sig =
            base64::engine::general_purpose::STANDARD.encode(sign(&ctx.shared.secret, &bytes));
        (bytes, vec![("X-Miro-Hmac-SHA256", sig)])
    };
    Outgoing {
        url: s.callback_url.clone(),
        headers,
        body,
    }
}

fn sign(secret: &str, body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Sends in the background, applying webhook faults.
fn send(ctx: &Ctx, o: Outgoing) {
    let copies = match ctx.instruments.faults.for_webhook(&o.url) {
        Some(WebhookFault::Drop) => vec![],
        Some(WebhookFault::Duplicate) => vec![o.clone(), o],
        Some(WebhookFault::Reorder) => {
            let earlier = ctx.held.lock().expect("held").replace(o);
            earlier.into_iter().collect()
        }
        None => {
            let held = ctx.held.lock().expect("held").take();
            std::iter::once(o).chain(held).collect()
        }
    };
    let http = ctx.shared.http.clone();
    let stop = ctx.shared.shutdown.clone();
    ctx.shared.tasks.spawn(async move {
        for o in copies {
            let mut req = http.post(&o.url).header("content-type", "application/json").body(o.body);
            for (k, v) in o.headers {
                req = req.header(k, v);
            }
            tokio::select! {
                r = req.send() => if let Err(e) = r { tracing::debug!(error = %e, "miro webhook delivery failed") },
                _ = stop.cancelled() => return,
            }
        }
    });
}

impl Subscription {
    fn render_for_webhook(&self) -> Value {
        json!({
            "id": self.id, "data": { "boardId": self.board }, "callbackUrl": self.callback_url,
            "createdAt": seconds(&self.created_at), "modifiedAt": seconds(&self.modified_at), "type": "board_subscription",
        })
    }
}

/// Callback URLs must be https, as Miro demands, except on loopback where tests run.
fn callback_ok(url: &str) -> bool {
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "https" => true,
        Ok(u) if u.scheme() == "http" => {
            matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
        }
        _ => false,
    }
}

pub(crate) async fn create(State(ctx): State<Ctx>, Body(body): Body) -> Response {
    let (Some(board), Some(url)) = (body["boardId"].as_str(), body["callbackUrl"].as_str()) else {
        return invalid("`boardId` and `callbackUrl` are required");
    };
    if !callback_ok(url) {
        return invalid("`callbackUrl` must be an https URL");
    }
    let status = body["status"].as_str().unwrap_or("enabled");
    if !["enabled", "disabled"].contains(&status) {
        return invalid("`status` must be enabled or disabled");
    }
    if !ctx
        .state
        .lock()
        .expect("miro state")
        .boards
        .contains_key(board)
    {
        return not_found("Board");
    }
    let challenge = uuid::Uuid::new_v4().to_string();
    let ok = ctx.shared.challenge_echoed(url, &challenge).await;
    if !ok {
        return invalid(
            "the callback URL did not answer the challenge with 200 and the same challenge",
        );
    }
    let now = Clock::iso_millis(ctx.shared.clock.now());
    let sub = Subscription {
        id: uuid::Uuid::new_v4().to_string(),
        board: board.to_owned(),
        callback_url: url.to_owned(),
        status: status.to_owned(),
        shape_b: body["sandboxPayloadShape"] == json!("changes"),
        created_at: now.clone(),
        modified_at: now,
    };
    let rendered = sub.render();
    ctx.state
        .lock()
        .expect("miro state")
        .subscriptions
        .insert(sub.id.clone(), sub);
    (StatusCode::CREATED, axum::Json(rendered)).into_response()
}

pub(crate) async fn update(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    Body(body): Body,
) -> Response {
    if let Some(url) = body.get("callbackUrl")
        && !url.as_str().is_some_and(callback_ok)
    {
        return invalid("`callbackUrl` must be an https URL");
    }
    let now = Clock::iso_millis(ctx.shared.clock.now());
    let mut state = ctx.state.lock().expect("miro state");
    let Some(sub) = state.subscriptions.get_mut(&id) else {
        return not_found("Subscription");
    };
    if let Some(s) = body.get("status") {
        match s.as_str() {
            Some(s @ ("enabled" | "disabled")) => sub.status = s.to_owned(),
            _ => return invalid("`status` must be enabled or disabled"),
        }
    }
    if let Some(url) = body["callbackUrl"].as_str() {
        sub.callback_url = url.to_owned();
    }
    sub.modified_at = now;
    axum::Json(sub.render()).into_response()
}

pub(crate) async fn list(State(ctx): State<Ctx>) -> Response {
    let state = ctx.state.lock().expect("miro state");
    let data: Vec<Value> = state
        .subscriptions
        .values()
        .map(Subscription::render)
        .collect();
    axum::Json(json!({ "data": data, "size": data.len(), "limit": 100, "type": "cursor-list" }))
        .into_response()
}

pub(crate) async fn get(State(ctx): State<Ctx>, Path(id): Path<String>) -> Response {
    match ctx.state.lock().expect("miro state").subscriptions.get(&id) {
        Some(s) => axum::Json(s.render()).into_response(),
        None => not_found("Subscription"),
    }
}

pub(crate) async fn delete(State(ctx): State<Ctx>, Path(id): Path<String>) -> Response {
    match ctx
        .state
        .lock()
        .expect("miro state")
        .subscriptions
        .remove(&id)
    {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => not_found("Subscription"),
    }
}
