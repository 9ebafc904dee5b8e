//! Board items: create, read, update and delete by type (`/sticky_notes/{id}`, ...) and through
//! the generic item endpoints, and the cursor listing with its query-string dispatch. Bodies are
//! checked as the spec describes them; every change stamps `modifiedAt/By`, goes to the content
//! log and to webhook subscribers.

use super::model::{Item, type_of_collection};
use super::{Body, Ctx, invalid, not_found, webhooks};
use crate::clock::Clock;
use crate::sandbox::users::User;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;

/// The base URL links in bodies point at: this sandbox, as the client reached it.
pub(crate) fn base(headers: &HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// Which keys each type's `data` and `style` take, and the values the spec enumerates.
fn allowed(kind: &str, part: &str) -> &'static [&'static str] {
    match (kind, part) {
        ("sticky_note", "data") => &["content", "shape"],
        ("sticky_note", "style") => &["fillColor", "textAlign", "textAlignVertical"],
        ("card", "data") => &["title", "description", "dueDate", "assigneeId"],
        ("card", "style") => &["cardTheme"],
        ("app_card", "data") => &["title", "description", "status", "fields"],
        ("app_card", "style") => &["fillColor"],
        ("shape", "data") => &["content", "shape"],
        ("shape", "style") => &[
            "fillColor",
            "fillOpacity",
            "fontFamily",
            "fontSize",
            "borderColor",
            "borderWidth",
            "borderOpacity",
            "borderStyle",
            "color",
            "textAlign",
            "textAlignVertical",
        ],
        ("text", "data") => &["content"],
        ("text", "style") => &[
            "color",
            "fillColor",
            "fillOpacity",
            "fontFamily",
            "fontSize",
            "textAlign",
        ],
        ("frame", "data") => &["title", "format", "type", "showContent"],
        ("frame", "style") => &["fillColor"],
        _ => &[],
    }
}

fn enumerated(kind: &str, key: &str) -> Option<&'static [&'static str]> {
    Some(match (kind, key) {
        ("sticky_note", "fillColor") => &crate::domain::miro::STICKY_NOTE_COLORS,
        ("sticky_note", "shape") => &["square", "rectangle"],
        ("sticky_note" | "shape" | "text", "textAlign") => &["left", "right", "center"],
        ("sticky_note" | "shape", "textAlignVertical") => &["top", "middle", "bottom"],
        ("app_card", "status") => &["disconnected", "connected", "disabled"],
        ("frame", "format") => &["custom"],
        ("frame", "type") => &["freeform"],
        _ => return None,
    })
}

/// Checks one `data` or `style` object of a request body.
fn check_part(kind: &str, part: &str, value: &Value) -> Result<(), String> {
    let Some(obj) = value.as_object() else {
        return Err(format!("`{part}` must be an object"));
    };
    for (key, v) in obj {
        if !allowed(kind, part).contains(&key.as_str()) {
            return Err(format!("`{part}.{key}` is not a property of a {kind}"));
        }
        let ok = match key.as_str() {
            "showContent" => v.is_boolean(),
            "fields" => v.is_array(),
            "dueDate" | "assigneeId" | "description" => v.is_string() || v.is_null(),
            _ => v.is_string(),
        };
        if !ok {
            return Err(format!("`{part}.{key}` has the wrong type"));
        }
        if let (Some(values), Some(s)) = (enumerated(kind, key), v.as_str())
            && !values.contains(&s)
        {
            return Err(format!(
                "`{part}.{key}` must be one of {}",
                values.join(", ")
            ));
        }
    }
    Ok(())
}

fn merge(target: &mut Value, patch: &Value) {
    if let (Some(t), Some(p)) = (target.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            t.insert(k.clone(), v.clone());
        }
    }
}

fn defaults(kind: &str) -> (Value, Value, Value) {
    match kind {
        "sticky_note" => (
            json!({"content": "", "shape": "square"}),
            json!({"fillColor": "light_yellow", "textAlign": "center", "textAlignVertical": "top"}),
            json!({"width": 199.0, "height": 228.0}),
        ),
        "card" => (
            json!({"title": ""}),
            json!({"cardTheme": "#2d9bf0"}),
            json!({"width": 320.0, "height": 94.0, "rotation": 0.0}),
        ),
        "app_card" => (
            json!({"title": "", "status": "disconnected", "owned": true}),
            json!({"fillColor": "#2d9bf0"}),
            json!({"width": 320.0, "height": 94.0, "rotation": 0.0}),
        ),
        "shape" => (
            json!({"content": "", "shape": "rectangle"}),
            json!({"fillColor": "#ffffff", "fillOpacity": "1.0", "borderColor": "#1a1a1a", "borderWidth": "2.0", "borderOpacity": "1.0", "borderStyle": "normal", "color": "#1a1a1a", "fontSize": "14", "textAlign": "center", "textAlignVertical": "middle"}),
            json!({"width": 200.0, "height": 200.0, "rotation": 0.0}),
        ),
        "text" => (
            json!({"content": ""}),
            json!({"color": "#1a1a1a", "fontSize": "14", "textAlign": "left"}),
            json!({"width": 300.0, "rotation": 0.0}),
        ),
        _ => (
            json!({"title": "", "format": "custom", "type": "freeform", "showContent": true}),
            json!({"fillColor": "#ffffffff"}),
            json!({"width": 1000.0, "height": 600.0}),
        ),
    }
}

/// Applies a create or update body to `item`; `Err` is the message of a 400.
pub(crate) fn apply_body(
    item: &mut Item,
    body: &Value,
    creating: bool,
    frames: &[String],
) -> Result<(), String> {
    let Some(obj) = body.as_object() else {
        return Err("the body must be a JSON object".to_owned());
    };
    for key in obj.keys() {
        if !["data", "style", "position", "geometry", "parent"].contains(&key.as_str()) {
            return Err(format!("`{key}` is not a property of a {}", item.kind));
        }
    }
    if creating && matches!(item.kind, "text" | "frame") && obj.get("data").is_none() {
        return Err(format!("`data` is required to create a {}", item.kind));
    }
    for part in ["data", "style"] {
        if let Some(v) = obj.get(part) {
            check_part(item.kind, part, v)?;
        }
    }
    if item.kind == "text" && creating && obj["data"].get("content").is_none() {
        return Err("`data.content` is required to create a text".to_owned());
    }
    if let Some(g) = obj.get("geometry") {
        let g = g.as_object().ok_or("`geometry` must be an object")?;
        if g.values().any(|v| !v.is_number()) {
            return Err("`geometry` values must be numbers".to_owned());
        }
        if item.kind == "sticky_note" && g.contains_key("width") && g.contains_key("height") {
            return Err(
                "a sticky note takes `geometry.width` or `geometry.height`, not both".to_owned(),
            );
        }
    }
    if let Some(p) = obj.get("position") {
        let p = p.as_object().ok_or("`position` must be an object")?;
        if ["x", "y"]
            .iter()
            .any(|k| p.get(*k).is_some_and(|v| !v.is_number()))
        {
            return Err("`position.x` and `position.y` must be numbers".to_owned());
        }
    }
    let parent = match obj.get("parent") {
        None => item.parent.clone(),
        Some(p) => {
            let id = p["id"].as_str().ok_or("`parent.id` must be a string")?;
            if !frames.iter().any(|f| f == id) {
                return Err(format!("parent {id} is not a frame on this board"));
            }
            Some(id.to_owned())
        }
    };
    if let Some(d) = obj.get("data") {
        merge(&mut item.data, d);
    }
    if let Some(s) = obj.get("style") {
        merge(&mut item.style, s);
    }
    if let Some(g) = obj.get("geometry") {
        if item.kind == "sticky_note" {
            // Sticky notes keep their aspect ratio: one side sets the other.
            let ratio = 228.0 / 199.0;
            if let Some(w) = g["width"].as_f64() {
                item.geometry = json!({"width": w, "height": w * ratio});
            } else if let Some(h) = g["height"].as_f64() {
                item.geometry = json!({"width": h / ratio, "height": h});
            }
        } else {
            merge(&mut item.geometry, g);
        }
    }
    if let Some(p) = obj.get("position") {
        merge(&mut item.position, p);
    }
    item.parent = parent;
    item.position["origin"] = json!("center");
    item.position["relativeTo"] = json!(if item.parent.is_some() {
        "parent_top_left"
    } else {
        "canvas_center"
    });
    Ok(())
}

/// Creates an item of `kind` on `board` as `user`; returns its id and rendering.
pub(crate) fn create_item(
    ctx: &Ctx,
    base: &str,
    board_id: &str,
    kind: &'static str,
    body: &Value,
    user: &User,
) -> Result<Value, Response> {
    let (data, style, geometry) = defaults(kind);
    let rendered = {
        let mut state = ctx.state.lock().expect("miro state");
        // Taken under the lock, so times follow the order the changes were applied in.
        let now = Clock::iso_millis(ctx.shared.clock.now());
        let id = state.next_id();
        let board = state
            .boards
            .get_mut(board_id)
            .ok_or_else(|| not_found("Board"))?;
        let frames = frame_ids(board);
        let mut item = Item {
            id: id.to_string(),
            kind,
            data,
            style,
            position: json!({"x": 0.0, "y": 0.0}),
            geometry,
            parent: None,
            created_at: now.clone(),
            created_by: user.miro_id.clone(),
            modified_at: now,
            modified_by: user.miro_id.clone(),
            tags: Vec::new(),
        };
        apply_body(&mut item, body, true, &frames).map_err(|m| invalid(&m))?;
        let rendered = item.render(base, board_id, false);
        board.items.insert(id, item);
        rendered
    };
    webhooks::changed(ctx, board_id, "create", &rendered, user, &[]);
    Ok(rendered)
}

fn frame_ids(board: &super::model::Board) -> Vec<String> {
    board
        .items
        .values()
        .filter(|i| i.kind == "frame")
        .map(|i| i.id.clone())
        .collect()
}

pub(crate) async fn create(
    State(ctx): State<Ctx>,
    Extension(user): Extension<User>,
    Path((board, collection)): Path<(String, String)>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let Some(kind) = type_of_collection(&collection) else {
        return not_found("Route");
    };
    match create_item(&ctx, &base(&headers), &board, kind, &body, &user) {
        Ok(item) => (StatusCode::CREATED, axum::Json(item)).into_response(),
        Err(r) => r,
    }
}

/// Reads one item; `kind` None for the generic endpoint (any type, no style).
fn read(ctx: &Ctx, base: &str, board: &str, id: &str, kind: Option<&str>) -> Response {
    let state = ctx.state.lock().expect("miro state");
    let Some(b) = state.boards.get(board) else {
        return not_found("Board");
    };
    match b.item_by_str(id) {
        Some(item) if kind.is_none_or(|k| k == item.kind) => {
            axum::Json(item.render(base, board, kind.is_none())).into_response()
        }
        _ => not_found("Item"),
    }
}

pub(crate) async fn get_typed(
    State(ctx): State<Ctx>,
    Path((board, collection, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    match type_of_collection(&collection) {
        Some(kind) => read(&ctx, &base(&headers), &board, &id, Some(kind)),
        None => not_found("Route"),
    }
}

pub(crate) async fn get_generic(
    State(ctx): State<Ctx>,
    Path((board, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    read(&ctx, &base(&headers), &board, &id, None)
}

/// Updates one item; the generic endpoint takes only `position` and `parent`.
fn update(
    ctx: &Ctx,
    base: &str,
    board_id: &str,
    id: &str,
    kind: Option<&str>,
    body: &Value,
    user: &User,
) -> Response {
    if kind.is_none()
        && let Some(key) = body.as_object().and_then(|o| {
            o.keys()
                .find(|k| !["position", "parent"].contains(&k.as_str()))
        })
    {
        return invalid(&format!(
            "`{key}` cannot be changed through the generic item endpoint"
        ));
    }
    let rendered = {
        let mut state = ctx.state.lock().expect("miro state");
        let Some(board) = state.boards.get_mut(board_id) else {
            return not_found("Board");
        };
        let frames = frame_ids(board);
        let Some(item) = board
            .item_by_str_mut(id)
            .filter(|i| kind.is_none_or(|k| k == i.kind))
        else {
            return not_found("Item");
        };
        let mut changed = item.clone();
        if let Err(m) = apply_body(&mut changed, body, false, &frames) {
            return invalid(&m);
        }
        changed.modified_at = Clock::iso_millis(ctx.shared.clock.now());
        changed.modified_by = user.miro_id.clone();
        let diff = webhooks::diff(item, &changed);
        *item = changed;
        (
            item.render(base, board_id, kind.is_none()),
            item.render(base, board_id, false),
            diff,
        )
    };
    webhooks::changed(ctx, board_id, "update", &rendered.1, user, &rendered.2);
    axum::Json(rendered.0).into_response()
}

pub(crate) async fn patch_typed(
    State(ctx): State<Ctx>,
    Extension(user): Extension<User>,
    Path((board, collection, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    match type_of_collection(&collection) {
        Some(kind) => update(&ctx, &base(&headers), &board, &id, Some(kind), &body, &user),
        None => not_found("Route"),
    }
}

pub(crate) async fn patch_generic(
    State(ctx): State<Ctx>,
    Extension(user): Extension<User>,
    Path((board, id)): Path<(String, String)>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    update(&ctx, &base(&headers), &board, &id, None, &body, &user)
}

/// Deletes an item (and the connectors attached to it).
pub(crate) fn remove(
    ctx: &Ctx,
    base: &str,
    board_id: &str,
    id: &str,
    kind: Option<&str>,
    user: &User,
) -> Response {
    let rendered = {
        let mut state = ctx.state.lock().expect("miro state");
        let Some(board) = state.boards.get_mut(board_id) else {
            return not_found("Board");
        };
        let Some(key) = id.parse::<u64>().ok().filter(|k| {
            board
                .items
                .get(k)
                .is_some_and(|i| kind.is_none_or(|t| t == i.kind))
        }) else {
            return not_found("Item");
        };
        let item = board.items.remove(&key).expect("checked above");
        board
            .connectors
            .retain(|_, c| c.start["id"] != json!(id) && c.end["id"] != json!(id));
        item.render(base, board_id, false)
    };
    webhooks::changed(ctx, board_id, "delete", &rendered, user, &[]);
    StatusCode::NO_CONTENT.into_response()
}

pub(crate) async fn delete_typed(
    State(ctx): State<Ctx>,
    Extension(user): Extension<User>,
    Path((board, collection, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    match type_of_collection(&collection) {
        Some(kind) => remove(&ctx, &base(&headers), &board, &id, Some(kind), &user),
        None => not_found("Route"),
    }
}

pub(crate) async fn delete_generic(
    State(ctx): State<Ctx>,
    Extension(user): Extension<User>,
    Path((board, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    match q.get("tag_id") {
        Some(tag) => super::other::detach(&ctx, &board, &id, tag),
        None => remove(&ctx, &base(&headers), &board, &id, None, &user),
    }
}

/// `limit` as the spec gives it: a string of a number within `min..=max`.
pub(crate) fn limit(
    q: &HashMap<String, String>,
    min: usize,
    max: usize,
    default: usize,
) -> Result<usize, Response> {
    match q.get("limit") {
        None => Ok(default),
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| invalid(&format!("`limit` must be a number from {min} to {max}"))),
    }
}

/// `GET /v2/boards/{board}/items`: by tag (offset paging), by parent frame, or all (cursor).
pub(crate) async fn list(
    State(ctx): State<Ctx>,
    Path(board_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if q.contains_key("tag_id") {
        return super::other::items_by_tag(&ctx, &base(&headers), &board_id, &q);
    }
    let base = base(&headers);
    let limit = match limit(&q, 10, 50, 10) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let state = ctx.state.lock().expect("miro state");
    let Some(board) = state.boards.get(&board_id) else {
        return not_found("Board");
    };
    let after: u64 = match q.get("cursor").filter(|c| !c.is_empty()) {
        None => 0,
        Some(c) => match c.parse() {
            Ok(n) => n,
            Err(_) => return invalid("`cursor` is not a cursor this API gave"),
        },
    };
    let parent = q.get("parent_item_id");
    let kind = q.get("type");
    let matching: Vec<&Item> = board
        .items
        .values()
        .filter(|i| parent.is_none_or(|p| i.parent.as_ref() == Some(p)))
        .filter(|i| kind.is_none_or(|k| i.kind == k))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .filter(|i| i.id.parse::<u64>().is_ok_and(|n| n > after))
        .take(limit)
        .map(|i| i.render(&base, &board_id, true))
        .collect();
    let last = page
        .last()
        .and_then(|i| i["id"].as_str())
        .map(str::to_owned);
    let more = last.as_ref().is_some_and(|l| {
        let l: u64 = l.parse().unwrap_or(u64::MAX);
        matching
            .iter()
            .any(|i| i.id.parse::<u64>().is_ok_and(|n| n > l))
    });
    let mut body = json!({
        "data": page,
        "total": matching.len(),
        "size": page.len(),
        "limit": limit,
        "links": { "self": format!("{base}/v2/boards/{board_id}/items?limit={limit}") },
        "type": "cursor-list",
    });
    if more && let Some(l) = last {
        body["cursor"] = json!(l);
        body["links"]["next"] = json!(format!(
            "{base}/v2/boards/{board_id}/items?limit={limit}&cursor={l}"
        ));
    }
    axum::Json(body).into_response()
}
