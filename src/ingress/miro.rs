//! Miro webhooks: the signature (base64 `X-Miro-Hmac-SHA256`, or the hex `X-Miro-Signature` of
//! the third-party shape), both payload shapes, and the dedupe key. Parsing only; nothing here
//! decides what a change means for the other side.

use super::event::{Event, Rejection};
use crate::domain::change::{Change, ChangeKind, ItemRef, Via, id_text, micros};
use crate::domain::miro::item_fields;
use axum::http::HeaderMap;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Checks the body's HMAC-SHA256 with the app's client secret, in constant time.
pub(crate) fn verify(
    headers: &HeaderMap,
    body: &[u8],
    secret: Option<&str>,
) -> Result<(), Rejection> {
    let secret = secret.ok_or(Rejection::Unauthorized(
        "no [miro] client_secret is configured",
    ))?;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let signature = if let Some(b64) = header("x-miro-hmac-sha256") {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| Rejection::Unauthorized("X-Miro-Hmac-SHA256 is not base64"))?
    } else if let Some(hex) = header("x-miro-signature") {
        hex::decode(hex).map_err(|_| Rejection::Unauthorized("X-Miro-Signature is not hex"))?
    } else {
        return Err(Rejection::Unauthorized("no Miro signature header"));
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    mac.verify_slice(&signature)
        .map_err(|_| Rejection::Unauthorized("the Miro signature does not match"))
}

/// Turns a verified body into events: one per affected item.
pub(crate) fn parse(body: &[u8]) -> Result<Vec<Event>, Rejection> {
    let v: Value = serde_json::from_slice(body).map_err(|_| Rejection::Malformed("not JSON"))?;
    let hash = hex::encode(&Sha256::digest(body)[..8]);
    let change = if v["event"].is_object() && v["event"]["item"].is_object() {
        whole_item(&v)?
    } else if v["changes"].is_array() {
        change_list(&v)?
    } else {
        return Err(Rejection::Malformed(
            "neither an `event.item` nor a `changes` payload",
        ));
    };
    let kind = v["event"]["type"]
        .as_str()
        .or(v["type"].as_str())
        .unwrap_or("?");
    let at = v["event"]["item"]["modifiedAt"]
        .as_str()
        .or(v["eventTime"].as_str())
        .or(v["createdAt"].as_str())
        .unwrap_or("");
    // Miro's body has no event id, and its times have no milliseconds: two edits within one
    // second differ only in their bodies, hence the hash.
    let key = format!(
        "miro:{}:{}:{kind}:{at}:{hash}",
        change.item.board(),
        change.item.item()
    );
    Ok(vec![Event::Change {
        key,
        at: change.source_us.map(|us| us.div_euclid(1000)),
        change,
    }])
}

fn kind(t: &str) -> Result<ChangeKind, Rejection> {
    match t {
        "create" => Ok(ChangeKind::Created),
        "update" => Ok(ChangeKind::Updated),
        "delete" => Ok(ChangeKind::Deleted),
        _ => Err(Rejection::Malformed("unknown Miro event type")),
    }
}

/// Shape A: `{eventType, event: {boardId, item: {...whole item...}, type}, eventTime, appId, users}`.
fn whole_item(v: &Value) -> Result<Change, Rejection> {
    let e = &v["event"];
    let item = &e["item"];
    let fields = item_fields(item);
    let author = item["modifiedBy"]["id"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| v["users"].get(0).and_then(id_text));
    let board = e["boardId"]
        .as_str()
        .ok_or(Rejection::Malformed("no event.boardId"))?;
    let id = id_text(&item["id"]).ok_or(Rejection::Malformed("no event.item.id"))?;
    Ok(Change {
        item_type: item["type"].as_str().map(str::to_owned),
        fields,
        author,
        source_us: micros(&item["modifiedAt"]).or_else(|| micros(&v["eventTime"])),
        ..Change::new(
            ItemRef::miro(board, id),
            Via::Webhook,
            kind(e["type"].as_str().unwrap_or_default())?,
        )
    })
}

/// Shape B: `{type, boardId, item: {id, type}, changes: [{property, previousValue, newValue}]}`.
fn change_list(v: &Value) -> Result<Change, Rejection> {
    let changes = v["changes"].as_array().expect("checked by the caller");
    let fields: BTreeMap<String, Value> = changes
        .iter()
        .filter_map(|c| Some((c["property"].as_str()?.to_owned(), c["newValue"].clone())))
        .collect();
    let board = v["boardId"]
        .as_str()
        .ok_or(Rejection::Malformed("no boardId"))?;
    let id = id_text(&v["item"]["id"]).ok_or(Rejection::Malformed("no item.id"))?;
    Ok(Change {
        item_type: v["item"]["type"].as_str().map(str::to_owned),
        incomplete: fields.is_empty(),
        fields,
        author: v["createdBy"]["id"].as_str().map(str::to_owned),
        source_us: micros(&v["createdAt"]),
        ..Change::new(
            ItemRef::miro(board, id),
            Via::Webhook,
            kind(v["type"].as_str().unwrap_or_default())?,
        )
    })
}
