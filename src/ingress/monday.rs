//! monday webhooks: authenticity (a JWT signed with the app's signing secret whose `aud` is the
//! exact URL the webhook was registered at, or the secret path segment for webhooks made with a
//! personal token), and every board event type turned into a change. Parsing only.

use super::event::{Event, Rejection};
use crate::domain::change::{
    Change, ChangeKind, ItemRef, Via, decimal_seconds_micros, id_text, micros, millis,
};
use axum::http::HeaderMap;
use serde_json::Value;
use std::collections::BTreeMap;
use subtle::ConstantTimeEq;

/// Verifies the `Authorization` JWT (HS256 only; `exp`; `aud` == `url`).
pub(crate) fn verify_jwt(
    headers: &HeaderMap,
    secret: Option<&str>,
    url: Option<&str>,
) -> Result<(), Rejection> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.trim().trim_start_matches("Bearer ").trim())
        .filter(|t| !t.is_empty())
        .ok_or(Rejection::Unauthorized("no JWT in Authorization"))?;
    let secret = secret.ok_or(Rejection::Unauthorized(
        "no [monday] signing_secret is configured",
    ))?;
    let url = url.ok_or(Rejection::Unauthorized(
        "no [daemon] public_url to check the JWT audience against",
    ))?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&[url]);
    validation.set_required_spec_claims(&["exp", "aud"]);
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map(|_| ())
    .map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
            Rejection::Unauthorized("the JWT has expired")
        }
        jsonwebtoken::errors::ErrorKind::InvalidAudience => {
            Rejection::Unauthorized("the JWT is for another URL")
        }
        _ => Rejection::Unauthorized("the JWT does not verify"),
    })
}

/// The secret path segment, compared in constant time.
pub(crate) fn verify_path_secret(given: &str, configured: Option<&str>) -> Result<(), Rejection> {
    match configured {
        Some(c) if bool::from(given.as_bytes().ct_eq(c.as_bytes())) => Ok(()),
        _ => Err(Rejection::Unauthorized("wrong webhook path secret")),
    }
}

/// One delivery: its dedupe key (`triggerUuid`, the same on every redelivery) and its change.
pub(crate) fn parse(body: &[u8]) -> Result<Vec<Event>, Rejection> {
    let v: Value = serde_json::from_slice(body).map_err(|_| Rejection::Malformed("not JSON"))?;
    let e = v
        .get("event")
        .filter(|e| e.is_object())
        .ok_or(Rejection::Malformed("no `event` object"))?;
    let trigger = e["triggerUuid"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or(Rejection::Malformed("no triggerUuid"))?;
    let key = format!("monday:{trigger}");
    let at = millis(&e["triggerTime"]);
    let kind = e["type"].as_str().unwrap_or_default();
    // Subitems live on a board of their own; boardsync syncs items.
    let subitem = e.get("parentItemId").is_some()
        || e.get("parentItemBoardId").is_some()
        || e.get("parentBoardId").is_some();
    let change_kind = match kind {
        _ if subitem => None,
        "create_pulse" => Some(ChangeKind::Created),
        "update_column_value" | "update_name" => Some(ChangeKind::Updated),
        "delete_pulse" => Some(ChangeKind::Deleted),
        "archive_pulse" => Some(ChangeKind::Archived),
        "restore_pulse" => Some(ChangeKind::Restored),
        "move_pulse_into_group" => Some(ChangeKind::Moved),
        "create_update" => Some(ChangeKind::Commented),
        _ => None,
    };
    let Some(change_kind) = change_kind else {
        let reason = if subitem {
            "a subitem event".to_owned()
        } else {
            format!("event type `{kind}`")
        };
        return Ok(vec![Event::Ignored {
            key,
            at,
            board: board(e),
            reason,
        }]);
    };
    let item_id = id_text(&e["pulseId"])
        .or_else(|| id_text(&e["itemId"]))
        .ok_or(Rejection::Malformed("no pulseId or itemId"))?;
    let mut fields = BTreeMap::new();
    let mut column_types = BTreeMap::new();
    let mut incomplete = false;
    match kind {
        "create_pulse" => {
            fields.insert("name".into(), item_name(&e["pulseName"]));
            fields.insert("group".into(), e["groupId"].clone());
            for (col, val) in e["columnValues"].as_object().into_iter().flatten() {
                // A tags value names its tags by id only: the processor reads the item.
                incomplete |= val.get("tag_ids").is_some();
                fields.insert(col.clone(), val.clone());
            }
        }
        "update_column_value" => {
            let col = e["columnId"]
                .as_str()
                .ok_or(Rejection::Malformed("no columnId"))?;
            fields.insert(col.to_owned(), e["value"].clone());
            let ty = e["columnType"].as_str().unwrap_or_default();
            column_types.insert(col.to_owned(), ty.to_owned());
            // The formats of these are known; for other column types the processor reads the
            // item. A tags value carries tag ids without their names, so it is read too; a
            // dependency or board_relation value carries its items' ids, all the field needs.
            let linked = e["value"].is_null() || e["value"]["linkedPulseIds"].is_array();
            incomplete = !(matches!(
                ty,
                "color" | "status" | "text" | "long_text" | "date" | "numbers" | "multiple-person"
            ) || matches!(ty, "dependency" | "board_relation") && linked);
        }
        "update_name" => {
            fields.insert("name".into(), item_name(&e["value"]["name"]));
        }
        "move_pulse_into_group" => {
            fields.insert("group".into(), e["destGroupId"].clone());
        }
        "create_update" => {
            fields.insert("update.body".into(), e["body"].clone());
            fields.insert("update.id".into(), e["updateId"].clone());
        }
        _ => {}
    }
    let change = Change {
        item_type: Some("item".into()),
        fields,
        column_types,
        author: id_text(&e["userId"]),
        // The body's text is read again only when it has a `changedAt` to read.
        source_us: e
            .get("changedAt")
            .and_then(|_| changed_at(body))
            .or_else(|| micros(&e["triggerTime"])),
        incomplete,
        ..Change::new(
            ItemRef::monday(board(e), item_id),
            Via::Webhook,
            change_kind,
        )
    };
    Ok(vec![Event::Change { key, at, change }])
}

/// monday's longest item name (`ItemNameTooLongException` past it).
const MAX_ITEM_NAME: usize = 255;

/// An item name as monday can hold it: a longer one (only a forged or broken event has one) is
/// cut to monday's limit, so it never becomes a sticky note of a megabyte.
fn item_name(v: &Value) -> Value {
    match v.as_str() {
        Some(name) if name.chars().count() > MAX_ITEM_NAME => {
            Value::String(name.chars().take(MAX_ITEM_NAME).collect())
        }
        _ => v.clone(),
    }
}

fn board(e: &Value) -> String {
    id_text(&e["boardId"]).unwrap_or_default()
}

/// `changedAt`, when the event has it, in Unix microseconds: finer than `triggerTime`, which two
/// changes made by one request share to the millisecond. Read from the number's text.
fn changed_at(body: &[u8]) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Delivery<'a> {
        #[serde(borrow)]
        event: Times<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Times<'a> {
        #[serde(rename = "changedAt", borrow)]
        changed_at: Option<&'a serde_json::value::RawValue>,
    }
    let delivery: Delivery = serde_json::from_slice(body).ok()?;
    decimal_seconds_micros(delivery.event.changed_at?.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(extra: &str) -> Vec<u8> {
        format!(
            r#"{{"event": {{"type": "update_column_value", "triggerUuid": "t1", "triggerTime": "2025-02-05T17:52:52.390Z",
                "boardId": 1, "pulseId": 2, "columnId": "status", "columnType": "color",
                "value": {{"label": {{"text": "Done"}}}}{extra}}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn changed_at_orders_the_change_to_the_microsecond_and_trigger_time_dates_the_delivery() {
        let events = parse(&delivery(r#", "changedAt": 1738777972.386279"#)).unwrap();
        let change = events[0].change().unwrap();
        assert_eq!(change.source_us, Some(1_738_777_972_386_279));
        assert_eq!(events[0].at(), Some(1_738_777_972_390));

        // Without changedAt (a rename, say), the trigger time orders it too.
        let events = parse(&delivery("")).unwrap();
        let change = events[0].change().unwrap();
        assert_eq!(change.source_us, Some(1_738_777_972_390_000));
    }

    #[test]
    fn an_item_name_longer_than_monday_allows_is_cut_to_its_limit() {
        let long = "é".repeat(900_000);
        let body = format!(
            r#"{{"event": {{"type": "create_pulse", "triggerUuid": "t2", "triggerTime": "2025-02-05T17:52:52.390Z",
                "boardId": 1, "pulseId": 2, "pulseName": "{long}", "groupId": "topics"}}}}"#
        );
        let events = parse(body.as_bytes()).unwrap();
        let name = events[0].change().unwrap().fields["name"].as_str().unwrap();
        assert_eq!(name.chars().count(), 255);
        assert!(name.chars().all(|c| c == 'é'));
        let fine = item_name(&Value::from("Order laptops"));
        assert_eq!(fine, "Order laptops");
    }
}
