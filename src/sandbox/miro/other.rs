//! Boards, tags, connectors and the content-logs feed. Tags and connectors have no webhook events
//! in Miro (so none here), but every change reaches the content log.

use super::items::{base, limit};
use super::model::{Board, Connector, Tag};
use super::{Body, Ctx, invalid, not_found};
use crate::clock::Clock;
use crate::sandbox::users::User;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

const TAG_COLORS: [&str; 12] = [
    "red",
    "light_green",
    "cyan",
    "yellow",
    "magenta",
    "green",
    "blue",
    "gray",
    "violet",
    "dark_green",
    "dark_blue",
    "black",
];
/// A card or sticky note carries at most this many tags.
const MAX_TAGS_PER_ITEM: usize = 8;

pub(crate) fn new_board(
    ctx: &Ctx,
    id: Option<String>,
    name: &str,
    description: &str,
    owner: &User,
) -> String {
    let now = Clock::iso_millis(ctx.shared.clock.now());
    let mut state = ctx.state.lock().expect("miro state");
    let id = id.unwrap_or_else(|| state.next_board_id());
    state.boards.insert(
        id.clone(),
        Board {
            id: id.clone(),
            name: name.to_owned(),
            description: description.to_owned(),
            created_at: now.clone(),
            owner: owner.miro_id.clone(),
            modified_at: now,
            modified_by: owner.miro_id.clone(),
            items: BTreeMap::new(),
            tags: BTreeMap::new(),
            connectors: BTreeMap::new(),
        },
    );
    id
}

/// `GET /v1/oauth-token`: who the token belongs to.
pub(crate) async fn token_info(Extension(user): Extension<User>) -> Response {
    let me = json!({ "type": "user", "name": user.name, "id": user.miro_id });
    axum::Json(json!({
        "type": "oauth",
        "organization": { "type": "organization", "name": "Sandbox", "id": "3074457350000000001" },
        "team": { "type": "team", "name": "Sandbox team", "id": "3074457350000000002" },
        "createdBy": me,
        "user": me,
        "scopes": ["boards:read", "boards:write"],
    }))
    .into_response()
}

pub(crate) async fn create_board(
    State(ctx): State<Ctx>,
    Extension(user): Extension<User>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let name = match &body["name"] {
        Value::Null => "Untitled",
        Value::String(s) if s.chars().count() <= 60 => s,
        _ => return invalid("`name` must be a string of at most 60 characters"),
    };
    let description = body["description"].as_str().unwrap_or("");
    let id = new_board(&ctx, None, name, description, &user);
    let state = ctx.state.lock().expect("miro state");
    (
        StatusCode::CREATED,
        axum::Json(state.boards[&id].render(&base(&headers))),
    )
        .into_response()
}

pub(crate) async fn list_boards(
    State(ctx): State<Ctx>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let limit = match limit(&q, 1, 50, 20) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let offset: usize = q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let state = ctx.state.lock().expect("miro state");
    let all: Vec<&Board> = state.boards.values().collect();
    let base = base(&headers);
    let data: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|b| b.render(&base))
        .collect();
    axum::Json(json!({
        "data": data, "total": all.len(), "size": data.len(), "offset": offset, "limit": limit,
        "links": { "self": format!("{base}/v2/boards?limit={limit}&offset={offset}") }, "type": "list",
    }))
    .into_response()
}

pub(crate) async fn get_board(
    State(ctx): State<Ctx>,
    Path(board): Path<String>,
    headers: HeaderMap,
) -> Response {
    let state = ctx.state.lock().expect("miro state");
    match state.boards.get(&board) {
        Some(b) => axum::Json(b.render(&base(&headers))).into_response(),
        None => not_found("Board"),
    }
}

fn tag_key(board: &Board, id: &str) -> Option<u64> {
    id.parse().ok().filter(|k| board.tags.contains_key(k))
}

pub(crate) async fn create_tag(
    State(ctx): State<Ctx>,
    Path(board_id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let Some(title) = body["title"]
        .as_str()
        .filter(|t| !t.is_empty() && t.chars().count() <= 120)
    else {
        return invalid("`title` is required: at most 120 characters");
    };
    let color = body["fillColor"].as_str().unwrap_or("red");
    if !TAG_COLORS.contains(&color) {
        return invalid(&format!(
            "`fillColor` must be one of {}",
            TAG_COLORS.join(", ")
        ));
    }
    let mut state = ctx.state.lock().expect("miro state");
    let id = state.next_id();
    let Some(board) = state.boards.get_mut(&board_id) else {
        return not_found("Board");
    };
    if board.tags.values().any(|t| t.title == title) {
        return invalid(&format!(
            "a tag titled `{title}` already exists on this board"
        ));
    }
    let tag = Tag {
        id: id.to_string(),
        title: title.to_owned(),
        fill_color: color.to_owned(),
    };
    let rendered = tag.render(&base(&headers), &board_id, true);
    board.tags.insert(id, tag);
    (StatusCode::CREATED, axum::Json(rendered)).into_response()
}

pub(crate) async fn list_tags(
    State(ctx): State<Ctx>,
    Path(board_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let limit = match limit(&q, 1, 50, 20) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let offset: usize = q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let state = ctx.state.lock().expect("miro state");
    let Some(board) = state.boards.get(&board_id) else {
        return not_found("Board");
    };
    let base = base(&headers);
    let data: Vec<Value> = board
        .tags
        .values()
        .skip(offset)
        .take(limit)
        .map(|t| t.render(&base, &board_id, true))
        .collect();
    axum::Json(json!({
        "data": data, "total": board.tags.len(), "size": data.len(), "offset": offset, "limit": limit,
        "links": { "self": format!("{base}/v2/boards/{board_id}/tags?limit={limit}&offset={offset}") }, "type": "list",
    }))
    .into_response()
}

pub(crate) async fn get_tag(
    State(ctx): State<Ctx>,
    Path((board_id, tag)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let state = ctx.state.lock().expect("miro state");
    let Some(board) = state.boards.get(&board_id) else {
        return not_found("Board");
    };
    match tag_key(board, &tag) {
        Some(k) => {
            axum::Json(board.tags[&k].render(&base(&headers), &board_id, true)).into_response()
        }
        None => not_found("Tag"),
    }
}

pub(crate) async fn update_tag(
    State(ctx): State<Ctx>,
    Path((board_id, tag)): Path<(String, String)>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let mut state = ctx.state.lock().expect("miro state");
    let Some(board) = state.boards.get_mut(&board_id) else {
        return not_found("Board");
    };
    let Some(k) = tag_key(board, &tag) else {
        return not_found("Tag");
    };
    if let Some(color) = body.get("fillColor") {
        match color.as_str() {
            Some(c) if TAG_COLORS.contains(&c) => {
                board.tags.get_mut(&k).expect("tag").fill_color = c.to_owned()
            }
            _ => {
                return invalid(&format!(
                    "`fillColor` must be one of {}",
                    TAG_COLORS.join(", ")
                ));
            }
        }
    }
    if let Some(title) = body.get("title") {
        match title
            .as_str()
            .filter(|t| !t.is_empty() && t.chars().count() <= 120)
        {
            Some(t) => board.tags.get_mut(&k).expect("tag").title = t.to_owned(),
            None => return invalid("`title` must be at most 120 characters"),
        }
    }
    axum::Json(board.tags[&k].render(&base(&headers), &board_id, true)).into_response()
}

pub(crate) async fn delete_tag(
    State(ctx): State<Ctx>,
    Path((board_id, tag)): Path<(String, String)>,
) -> Response {
    let mut state = ctx.state.lock().expect("miro state");
    let Some(board) = state.boards.get_mut(&board_id) else {
        return not_found("Board");
    };
    let Some(k) = tag_key(board, &tag) else {
        return not_found("Tag");
    };
    board.tags.remove(&k);
    for item in board.items.values_mut() {
        item.tags.retain(|t| *t != tag);
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /items/{id}?tag_id=`: attach a tag.
pub(crate) async fn attach_tag(
    State(ctx): State<Ctx>,
    Path((board_id, item)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(tag) = q.get("tag_id") else {
        return invalid("`tag_id` is required");
    };
    let mut state = ctx.state.lock().expect("miro state");
    let Some(board) = state.boards.get_mut(&board_id) else {
        return not_found("Board");
    };
    if tag_key(board, tag).is_none() {
        return not_found("Tag");
    }
    let Some(item) = board.item_by_str_mut(&item) else {
        return not_found("Item");
    };
    if !item.tags.contains(tag) {
        if item.tags.len() >= MAX_TAGS_PER_ITEM {
            return invalid("an item can have at most 8 tags");
        }
        item.tags.push(tag.clone());
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `DELETE /items/{id}?tag_id=`: detach a tag.
pub(crate) fn detach(ctx: &Ctx, board_id: &str, item: &str, tag: &str) -> Response {
    let mut state = ctx.state.lock().expect("miro state");
    let Some(board) = state.boards.get_mut(board_id) else {
        return not_found("Board");
    };
    if tag_key(board, tag).is_none() {
        return not_found("Tag");
    }
    let Some(item) = board.item_by_str_mut(item) else {
        return not_found("Item");
    };
    item.tags.retain(|t| t != tag);
    StatusCode::NO_CONTENT.into_response()
}

pub(crate) async fn item_tags(
    State(ctx): State<Ctx>,
    Path((board_id, item)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let state = ctx.state.lock().expect("miro state");
    let Some(board) = state.boards.get(&board_id) else {
        return not_found("Board");
    };
    let Some(item) = board.item_by_str(&item) else {
        return not_found("Item");
    };
    let base = base(&headers);
    let tags: Vec<Value> = item
        .tags
        .iter()
        .filter_map(|t| tag_key(board, t).map(|k| board.tags[&k].render(&base, &board_id, false)))
        .collect();
    axum::Json(json!({ "tags": tags })).into_response()
}

/// `GET /items?tag_id=`: the items carrying a tag, offset paging.
pub(crate) fn items_by_tag(
    ctx: &Ctx,
    base: &str,
    board_id: &str,
    q: &HashMap<String, String>,
) -> Response {
    let limit = match limit(q, 1, 50, 20) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let offset: usize = q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let tag = &q["tag_id"];
    let state = ctx.state.lock().expect("miro state");
    let Some(board) = state.boards.get(board_id) else {
        return not_found("Board");
    };
    if tag_key(board, tag).is_none() {
        return not_found("Tag");
    }
    let tagged: Vec<_> = board
        .items
        .values()
        .filter(|i| i.tags.contains(tag))
        .collect();
    let data: Vec<Value> = tagged
        .iter()
        .skip(offset)
        .take(limit)
        .map(|i| i.render(base, board_id, true))
        .collect();
    axum::Json(json!({
        "data": data, "total": tagged.len(), "size": data.len(), "offset": offset, "limit": limit,
        "links": { "self": format!("{base}/v2/boards/{board_id}/items?tag_id={tag}&limit={limit}&offset={offset}") },
        "type": "list",
    }))
    .into_response()
}

fn connector_end(board: &Board, v: &Value, which: &str) -> Result<Value, Response> {
    let id = v["id"]
        .as_str()
        .ok_or_else(|| invalid(&format!("`{which}.id` is required")))?;
    if board.item_by_str(id).is_none() {
        return Err(invalid(&format!(
            "`{which}.id` {id} is not an item on this board"
        )));
    }
    let mut end = json!({ "id": id });
    for key in ["position", "snapTo"] {
        if let Some(x) = v.get(key) {
            end[key] = x.clone();
        }
    }
    Ok(end)
}

pub(crate) async fn create_connector(
    State(ctx): State<Ctx>,
    Extension(user): Extension<User>,
    Path(board_id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let now = Clock::iso_millis(ctx.shared.clock.now());
    let mut state = ctx.state.lock().expect("miro state");
    let id = state.next_id();
    let Some(board) = state.boards.get_mut(&board_id) else {
        return not_found("Board");
    };
    let (start, end) = match (
        connector_end(board, &body["startItem"], "startItem"),
        connector_end(board, &body["endItem"], "endItem"),
    ) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let shape = body["shape"].as_str().unwrap_or("curved");
    if !["straight", "elbowed", "curved"].contains(&shape) {
        return invalid("`shape` must be straight, elbowed or curved");
    }
    let connector = Connector {
        id: id.to_string(),
        start,
        end,
        shape: shape.to_owned(),
        style: body.get("style").cloned().unwrap_or_else(|| json!({})),
        captions: body.get("captions").cloned().unwrap_or_else(|| json!([])),
        created_at: now.clone(),
        created_by: user.miro_id.clone(),
        modified_at: now,
        modified_by: user.miro_id.clone(),
    };
    let rendered = connector.render(&base(&headers), &board_id);
    board.connectors.insert(id, connector);
    // The spec documents 200 for this create, unlike the others.
    axum::Json(rendered).into_response()
}

pub(crate) async fn list_connectors(
    State(ctx): State<Ctx>,
    Path(board_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let limit = match limit(&q, 10, 50, 10) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let after: u64 = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let state = ctx.state.lock().expect("miro state");
    let Some(board) = state.boards.get(&board_id) else {
        return not_found("Board");
    };
    let base = base(&headers);
    let page: Vec<&Connector> = board
        .connectors
        .range(after + 1..)
        .map(|(_, c)| c)
        .take(limit)
        .collect();
    let mut body = json!({
        "data": page.iter().map(|c| c.render(&base, &board_id)).collect::<Vec<_>>(),
        "total": board.connectors.len(), "size": page.len(), "limit": limit,
        "links": { "self": format!("{base}/v2/boards/{board_id}/connectors?limit={limit}") }, "type": "cursor-list",
    });
    if let Some(last) = page.last().filter(|l| {
        board
            .connectors
            .range(l.id.parse::<u64>().unwrap_or(0) + 1..)
            .next()
            .is_some()
    }) {
        body["cursor"] = json!(last.id);
    }
    axum::Json(body).into_response()
}

fn connector_key(board: &Board, id: &str) -> Option<u64> {
    id.parse().ok().filter(|k| board.connectors.contains_key(k))
}

pub(crate) async fn get_connector(
    State(ctx): State<Ctx>,
    Path((board_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let state = ctx.state.lock().expect("miro state");
    let Some(board) = state.boards.get(&board_id) else {
        return not_found("Board");
    };
    match connector_key(board, &id) {
        Some(k) => {
            axum::Json(board.connectors[&k].render(&base(&headers), &board_id)).into_response()
        }
        None => not_found("Connector"),
    }
}

pub(crate) async fn update_connector(
    State(ctx): State<Ctx>,
    Extension(user): Extension<User>,
    Path((board_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let now = Clock::iso_millis(ctx.shared.clock.now());
    let mut state = ctx.state.lock().expect("miro state");
    let Some(board) = state.boards.get_mut(&board_id) else {
        return not_found("Board");
    };
    let Some(k) = connector_key(board, &id) else {
        return not_found("Connector");
    };
    let mut c = board.connectors[&k].clone();
    for (key, which) in [("startItem", 0), ("endItem", 1)] {
        if let Some(v) = body.get(key) {
            match connector_end(board, v, key) {
                Ok(end) if which == 0 => c.start = end,
                Ok(end) => c.end = end,
                Err(r) => return r,
            }
        }
    }
    if let Some(shape) = body.get("shape") {
        match shape.as_str() {
            Some(s) if ["straight", "elbowed", "curved"].contains(&s) => c.shape = s.to_owned(),
            _ => return invalid("`shape` must be straight, elbowed or curved"),
        }
    }
    if let Some(style) = body.get("style") {
        c.style = style.clone();
    }
    c.modified_at = now;
    c.modified_by = user.miro_id.clone();
    let rendered = c.render(&base(&headers), &board_id);
    board.connectors.insert(k, c);
    axum::Json(rendered).into_response()
}

pub(crate) async fn delete_connector(
    State(ctx): State<Ctx>,
    Path((board_id, id)): Path<(String, String)>,
) -> Response {
    let mut state = ctx.state.lock().expect("miro state");
    let Some(board) = state.boards.get_mut(&board_id) else {
        return not_found("Board");
    };
    match connector_key(board, &id) {
        Some(k) => {
            board.connectors.remove(&k);
            StatusCode::NO_CONTENT.into_response()
        }
        None => not_found("Connector"),
    }
}

/// `GET /v2/orgs/{org}/content-logs/items`: every logged change between `from` and `to`.
pub(crate) async fn content_logs(
    State(ctx): State<Ctx>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let parse = |key: &str| {
        q.get(key)
            .and_then(|v| chrono::DateTime::parse_from_rfc3339(v).ok())
            .map(|t| t.timestamp_millis())
    };
    let (Some(from), Some(to)) = (parse("from"), parse("to")) else {
        return invalid("`from` and `to` are required, as ISO 8601 date-times");
    };
    let limit = match limit(&q, 1, 1000, 1000) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let boards: Option<Vec<&str>> = q.get("board_ids").map(|b| b.split(',').collect());
    let start: usize = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let state = ctx.state.lock().expect("miro state");
    let matching: Vec<(usize, &super::model::LogEntry)> = state
        .log
        .iter()
        .enumerate()
        .skip(start)
        .filter(|(_, e)| e.at_ms >= from && e.at_ms <= to)
        .filter(|(_, e)| {
            boards
                .as_ref()
                .is_none_or(|b| b.contains(&e.board.as_str()))
        })
        .take(limit + 1)
        .collect();
    let more = matching.len() > limit;
    let page = &matching[..matching.len().min(limit)];
    let data: Vec<Value> = page
        .iter()
        .map(|(_, e)| {
            json!({
                "id": e.id, "contentId": e.board, "actionType": e.action, "actionTime": e.at,
                "actor": { "id": e.actor.0, "name": e.actor.1, "email": format!("{}@sandbox.invalid", e.actor.1) },
                "itemType": e.item_type, "itemId": e.item_id, "state": e.state,
            })
        })
        .collect();
    let cursor = if more {
        page.last()
            .map(|(i, _)| (i + 1).to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    axum::Json(json!({ "data": data, "size": data.len(), "limit": limit, "cursor": cursor, "type": "cursor-list" })).into_response()
}
