//! The monday side of the control API: `GET /_sandbox/state`, `POST /_sandbox/reset`,
//! `GET /_sandbox/webhooks` (every delivery with its attempts and status), and the seed.

use super::MondayCtx;
use super::model::{self, Column, Group, Item};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(crate) fn routes(ctx: MondayCtx) -> Router {
    Router::new()
        .route("/_sandbox/state", get(state))
        .route("/_sandbox/reset", post(reset))
        .route("/_sandbox/webhooks", get(deliveries))
        .with_state(ctx)
}

async fn state(State(ctx): State<MondayCtx>) -> Response {
    let state = ctx.state.lock().expect("monday state");
    let boards: Vec<Value> = state
        .boards
        .values()
        .map(|b| {
            json!({
                "id": b.id.to_string(), "name": b.name,
                "groups": b.groups.iter().map(|g| json!({"id": g.id, "title": g.title})).collect::<Vec<_>>(),
                "columns": b.columns.iter().map(|c| json!({"id": c.id, "title": c.title, "type": c.kind, "labels": c.labels})).collect::<Vec<_>>(),
                "items": b.items.values().map(|i| json!({
                    "id": i.id.to_string(), "name": i.name, "group": i.group, "state": i.state,
                    "creator_id": i.creator_id.to_string(), "updated_at": i.updated_at,
                    "values": b.columns.iter().filter(|c| c.kind != "name").map(|c| (c.id.clone(), json!({
                        "value": i.values.get(&c.id), "text": c.text(i.values.get(&c.id), &state.tags),
                    }))).collect::<serde_json::Map<_, _>>(),
                    "updates": i.updates.iter().map(|u| json!({"id": u.id.to_string(), "body": u.body, "creator_id": u.creator_id.to_string()})).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let webhooks: Vec<Value> = state.webhooks.values().map(|w| json!({"id": w.id.to_string(), "board_id": w.board.to_string(), "url": w.url, "event": w.event, "app": w.app})).collect();
    axum::Json(json!({ "boards": boards, "tags": state.tags.iter().map(|t| json!({"id": t.id.to_string(), "name": t.name})).collect::<Vec<_>>(), "webhooks": webhooks })).into_response()
}

/// Forgets every board, tag, webhook, cursor and delivery. Faults and the request log stay.
async fn reset(State(ctx): State<MondayCtx>) -> StatusCode {
    *ctx.state.lock().expect("monday state") = Default::default();
    ctx.cursors.lock().expect("cursors").clear();
    ctx.deliveries.lock().expect("deliveries").clear();
    StatusCode::NO_CONTENT
}

async fn deliveries(State(ctx): State<MondayCtx>) -> Response {
    axum::Json(ctx.deliveries.lock().expect("deliveries").clone()).into_response()
}

/// Loads the `monday` part of the seed file (shape in the module docs of `monday`).
pub(crate) fn apply_seed(ctx: &MondayCtx, seed: &Value) -> Result<(), String> {
    let now = crate::clock::Clock::iso_millis(ctx.shared.clock.now());
    let mut state = ctx.state.lock().expect("monday state");
    for b in seed["boards"].as_array().ok_or("`boards` must be a list")? {
        let id = match b["id"].as_u64() {
            Some(id) => id,
            None => state.next_id(),
        };
        let mut board = model::Board {
            id,
            name: b["name"].as_str().unwrap_or("Board").into(),
            kind: "public".into(),
            groups: vec![],
            columns: vec![],
            items: BTreeMap::new(),
        };
        board.columns.push(Column {
            id: "name".into(),
            title: "Name".into(),
            kind: "name".into(),
            labels: BTreeMap::new(),
        });
        for g in b["groups"].as_array().into_iter().flatten() {
            board.groups.push(Group {
                id: g["id"].as_str().ok_or("a group needs an id")?.into(),
                title: g["title"].as_str().unwrap_or("Group").into(),
                color: g["color"].as_str().unwrap_or("#579bfc").into(),
            });
        }
        if board.groups.is_empty() {
            board.groups.push(Group {
                id: "topics".into(),
                title: "Group Title".into(),
                color: "#579bfc".into(),
            });
        }
        for c in b["columns"].as_array().into_iter().flatten() {
            let kind = c["type"].as_str().ok_or("a column needs a type")?;
            board.columns.push(Column {
                id: c["id"].as_str().ok_or("a column needs an id")?.into(),
                title: c["title"].as_str().unwrap_or(kind).into(),
                kind: kind.into(),
                labels: if kind == "status" {
                    model::default_labels()
                } else {
                    BTreeMap::new()
                },
            });
        }
        let creator =
            crate::sandbox::users::User::named(b["owner"].as_str().unwrap_or("sandbox"), false)
                .monday_id;
        for i in b["items"].as_array().into_iter().flatten() {
            let item_id = state.next_id();
            let group = i["group"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| board.groups[0].id.clone());
            let mut item = Item {
                id: item_id,
                name: i["name"].as_str().ok_or("an item needs a name")?.into(),
                group,
                values: BTreeMap::new(),
                state: "active",
                creator_id: creator,
                created_at: now.clone(),
                updated_at: now.clone(),
                updates: vec![],
            };
            for (col, input) in i["values"].as_object().into_iter().flatten() {
                let column = board
                    .columns
                    .iter_mut()
                    .find(|c| &c.id == col)
                    .ok_or(format!("no column {col}"))?;
                if let Some(v) = column.write(input, true, &now)? {
                    item.values.insert(col.clone(), v);
                }
            }
            board.items.insert(item_id, item);
        }
        state.boards.insert(id, board);
    }
    Ok(())
}
