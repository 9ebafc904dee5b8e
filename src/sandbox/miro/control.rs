//! The Miro side of the control API: `GET /_sandbox/state`, `POST /_sandbox/reset`,
//! `POST /_sandbox/comments`, and loading the seed.
//!
//! `POST /_sandbox/comments` adds a comment to the content log, since Miro has no public comment
//! API: `{"board": "uXjV...=", "item": "3458...", "user": "alice", "text": "Looks good",
//! "action": "create"}` (`action`: create, update or delete; default create). It answers
//! `{"id": "<comment id>"}`.

use super::Ctx;
use super::items::create_item;
use super::model::{LogEntry, TYPES};
use crate::clock::Clock;
use crate::sandbox::control::control_error;
use crate::sandbox::users::User;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

pub(crate) fn routes(ctx: Ctx) -> Router {
    Router::new()
        .route("/_sandbox/state", get(state))
        .route("/_sandbox/reset", post(reset))
        .route("/_sandbox/comments", post(comment))
        .with_state(ctx)
}

/// Every board with its items (typed, with style and tag titles), tags and connectors.
async fn state(State(ctx): State<Ctx>) -> Response {
    let base = "http://sandbox";
    let state = ctx.state.lock().expect("miro state");
    let boards: Vec<Value> = state
        .boards
        .values()
        .map(|b| {
            let mut v = b.render(base);
            v["items"] = b
                .items
                .values()
                .map(|i| {
                    let mut item = i.render(base, &b.id, false);
                    item["tags"] = i
                        .tags
                        .iter()
                        .filter_map(|t| t.parse::<u64>().ok().and_then(|k| b.tags.get(&k)))
                        .map(|t| json!(t.title))
                        .collect();
                    item
                })
                .collect();
            v["tags"] = b
                .tags
                .values()
                .map(|t| t.render(base, &b.id, false))
                .collect();
            v["connectors"] = b
                .connectors
                .values()
                .map(|c| c.render(base, &b.id))
                .collect();
            v
        })
        .collect();
    let subscriptions: Vec<Value> = state.subscriptions.values().map(|s| s.render()).collect();
    axum::Json(json!({ "boards": boards, "subscriptions": subscriptions })).into_response()
}

/// Forgets every board, item, log entry and subscription. Faults and the request log stay.
async fn reset(State(ctx): State<Ctx>) -> StatusCode {
    *ctx.state.lock().expect("miro state") = Default::default();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewComment {
    board: String,
    item: String,
    user: String,
    text: String,
    #[serde(default)]
    action: Option<String>,
}

async fn comment(State(ctx): State<Ctx>, axum::Json(c): axum::Json<NewComment>) -> Response {
    let action = match c.action.as_deref().unwrap_or("create") {
        "create" => "create",
        "update" => "update",
        "delete" => "delete",
        other => {
            return control_error(
                StatusCode::BAD_REQUEST,
                &format!("unknown action `{other}`"),
            );
        }
    };
    let user = User::named(&c.user, false);
    let now = ctx.shared.clock.now();
    let mut state = ctx.state.lock().expect("miro state");
    let id = state.next_id().to_string();
    let Some(board) = state.boards.get(&c.board) else {
        return control_error(StatusCode::NOT_FOUND, "no such board");
    };
    if board.item_by_str(&c.item).is_none() {
        return control_error(StatusCode::NOT_FOUND, "no such item");
    }
    state.log.push(LogEntry {
        id: uuid::Uuid::new_v4().to_string(),
        board: c.board.clone(),
        action,
        at_ms: now.timestamp_millis(),
        at: Clock::iso_millis(now),
        actor: (user.miro_id.clone(), user.name.clone()),
        item_type: "comment_message",
        item_id: id.clone(),
        state: json!({ "content": c.text, "widgetId": c.item }),
    });
    axum::Json(json!({ "id": id })).into_response()
}

/// Loads the `miro` part of the seed file (shape in the module docs of `miro`).
pub(crate) fn apply_seed(ctx: &Ctx, seed: &Value) -> Result<(), String> {
    for board in seed["boards"].as_array().ok_or("`boards` must be a list")? {
        let owner = User::named(board["owner"].as_str().unwrap_or("sandbox"), false);
        let name = board["name"].as_str().unwrap_or("Untitled");
        let id = super::other::new_board(
            ctx,
            board["id"].as_str().map(str::to_owned),
            name,
            "",
            &owner,
        );
        for tag in board["tags"].as_array().into_iter().flatten() {
            let mut state = ctx.state.lock().expect("miro state");
            let tag_id = state.next_id();
            let b = state.boards.get_mut(&id).expect("just made");
            b.tags.insert(
                tag_id,
                super::model::Tag {
                    id: tag_id.to_string(),
                    title: tag["title"]
                        .as_str()
                        .ok_or("a tag needs a title")?
                        .to_owned(),
                    fill_color: tag["fillColor"].as_str().unwrap_or("red").to_owned(),
                },
            );
        }
        for item in board["items"].as_array().into_iter().flatten() {
            let kind = item["type"].as_str().ok_or("an item needs a type")?;
            let kind = TYPES
                .iter()
                .find(|(t, _)| *t == kind)
                .ok_or(format!("unknown item type {kind}"))?
                .0;
            let mut body = item.clone();
            let obj = body.as_object_mut().ok_or("an item must be an object")?;
            obj.remove("type");
            let tags = obj.remove("tags");
            let created = create_item(ctx, "http://sandbox", &id, kind, &body, &owner)
                .map_err(|_| format!("seed item {item} is not a valid {kind}"))?;
            let mut state = ctx.state.lock().expect("miro state");
            let b = state.boards.get_mut(&id).expect("just made");
            let titles: Vec<String> = tags
                .iter()
                .flat_map(|t| t.as_array().cloned().unwrap_or_default())
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect();
            let tag_ids: Vec<String> = b
                .tags
                .values()
                .filter(|t| titles.contains(&t.title))
                .map(|t| t.id.clone())
                .collect();
            if let Some(i) = b.item_by_str_mut(created["id"].as_str().unwrap_or_default()) {
                i.tags = tag_ids;
            }
        }
    }
    Ok(())
}
