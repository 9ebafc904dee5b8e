//! Comments across the two sides, as the dispatcher posts them: a Miro comment becomes an update
//! on the linked monday item, and a monday update becomes, on Miro (which has no API to write
//! comments), a text item beside the linked item or a field of the linked app card.
//!
//! Each is posted once. A monday update carries its outbox row's Idempotency-Key, and a retry past
//! monday's window first looks for the update an earlier attempt posted. A text item is recorded
//! as boardsync's own note (so the scan and the content log never sync it as an item), and a retry
//! first looks for the note an earlier attempt made.

use super::fold::{IDEMPOTENCY_WINDOW_MS, idempotency_key};
use super::own_writes::note_own_write;
use crate::clients::ApiError;
use crate::clients::miro::MiroItem;
use crate::clients::monday::{
    CreateUpdate, ItemUpdates, Users, create_update, item_updates, users,
};
use crate::config::{MiroAs, PairConfig};
use crate::domain::miro::ItemType;
use crate::domain::{MiroBoardId, MiroItemId, MondayItemId, Side};
use crate::mapping::values::{html_to_text, text_to_html};
use crate::runtime::Engine;
use crate::runtime::WriteError;
use crate::store::OutboxEntry;
use crate::store::keys;
use serde_json::{Value, json};
use std::collections::HashSet;

/// The width of a note on Miro.
const NOTE_WIDTH: f64 = 300.0;
/// The space between the item and its notes.
const NOTE_GAP: f64 = 40.0;
/// How far each further note of an item sits below the one before.
const NOTE_STEP: f64 = 60.0;
/// The app-card field that shows the latest monday update (its `tooltip`, the field's label).
pub(crate) const APP_CARD_FIELD: &str = "monday update";
/// Updates of an item read when looking for one an earlier attempt posted.
const RECENT_UPDATES: i64 = 100;
/// How far apart boardsync's and an API's clocks may be when a post's time is compared.
const CLOCK_SKEW_MS: i64 = 60_000;

/// Posts a Miro comment (`body`, HTML) as an update on monday item `item`, once.
pub(crate) async fn post_update(
    engine: &Engine,
    row: &OutboxEntry,
    item: &MondayItemId,
    body: &str,
) -> Result<(), WriteError> {
    // monday replays a repeat under the same key for 30 minutes; after that, the update a lost
    // answer posted is looked up instead.
    if row.attempts > 1
        && engine.clock.now_ms() - row.created_at > IDEMPOTENCY_WINDOW_MS
        && update_posted(engine, item, body, row.created_at).await?
    {
        return Ok(());
    }
    engine
        .monday
        .run::<CreateUpdate>(
            create_update::Variables {
                item: Some(item.to_string()),
                body: body.to_owned(),
            },
            Some(&idempotency_key(row)),
        )
        .await?;
    Ok(())
}

/// Whether boardsync already posted `body` on `item` since `since`.
async fn update_posted(
    engine: &Engine,
    item: &MondayItemId,
    body: &str,
    since: i64,
) -> Result<bool, WriteError> {
    let Some(own) = engine.own_user(Side::Monday).await else {
        return Ok(false);
    };
    let data = engine
        .monday
        .run::<ItemUpdates>(
            item_updates::Variables {
                ids: Some(vec![item.to_string()]),
                limit: Some(RECENT_UPDATES),
            },
            None,
        )
        .await?;
    let text = html_to_text(body);
    Ok(data
        .items
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|i| i.updates.into_iter().flatten())
        .any(|u| {
            u.creator_id.as_deref() == Some(own.as_str())
                && html_to_text(&u.body) == text
                && u.created_at
                    .as_deref()
                    .and_then(millis)
                    .is_none_or(|t| t + CLOCK_SKEW_MS >= since)
        }))
}

/// A monday update to show on Miro.
pub(crate) struct Note<'a> {
    /// The monday user who posted it.
    pub author_id: Option<&'a str>,
    pub text: &'a str,
    pub miro_as: MiroAs,
}

/// Shows a monday update on Miro beside (or, for an app card, inside) the linked item `item`.
pub(crate) async fn post_note(
    engine: &Engine,
    pair: &PairConfig,
    row: &OutboxEntry,
    item_type: ItemType,
    item: &MiroItemId,
    note: &Note<'_>,
) -> Result<(), WriteError> {
    let author = author_name(engine, note.author_id).await?;
    let line = format!("{author}: {}", note.text);
    match note.miro_as {
        MiroAs::AppCardField if item_type == ItemType::AppCard => {
            set_app_card_field(engine, pair, row, item, &line).await
        }
        _ => place_note(engine, pair, row, item_type, item, &line).await,
    }
}

/// The name of monday user `id`, or words that say who it was when monday does not tell.
async fn author_name(engine: &Engine, id: Option<&str>) -> Result<String, ApiError> {
    let Some(id) = id else {
        return Ok("someone on monday".to_owned());
    };
    let fallback = || format!("monday user {id}");
    match engine
        .monday
        .run::<Users>(
            users::Variables {
                ids: Some(vec![id.to_owned()]),
            },
            None,
        )
        .await
    {
        Ok(data) => Ok(data
            .users
            .into_iter()
            .flatten()
            .find(|u| u.id == id)
            .map_or_else(fallback, |u| u.name)),
        Err(e) if e.is_retryable() => Err(e),
        Err(e) => {
            // The note is worth more than the name: it goes out with the user's id.
            tracing::debug!(error = %e, "cannot read a monday user's name");
            Ok(fallback())
        }
    }
}

/// A text item holding `line`, to the right of the item (below its earlier notes), recorded as
/// boardsync's own.
async fn place_note(
    engine: &Engine,
    pair: &PairConfig,
    row: &OutboxEntry,
    item_type: ItemType,
    item: &MiroItemId,
    line: &str,
) -> Result<(), WriteError> {
    let board = &pair.miro_board;
    let content = text_to_html(line);
    let prefix = keys::comment_note_prefix(&pair.slug);
    let notes = engine.store.cursors_with_prefix(&prefix).await?;
    let known: HashSet<&str> = notes.iter().map(|(n, _)| &n[prefix.len()..]).collect();
    let earlier = if row.attempts > 1 {
        find_note(engine, board, &content, &known, row.created_at).await?
    } else {
        None
    };
    let id = match earlier {
        Some(id) => id,
        None => {
            let beside = engine.miro.get_item(board, item_type, item).await?;
            let below = notes.iter().filter(|(_, of)| of == item.as_str()).count();
            let made = engine
                .miro
                .create_item(board, ItemType::Text, &note_body(&beside, &content, below))
                .await?;
            if let Some(me) = made.created_by() {
                engine.learn_own_user(Side::Miro, &me).await;
            }
            made.id
        }
    };
    engine
        .store
        .record_cursor(
            &format!("{prefix}{id}"),
            item.as_str(),
            engine.clock.now_ms(),
        )
        .await?;
    Ok(())
}

/// A text item's create body: `content`, to the right of `beside`, the `below`-th note down.
fn note_body(beside: &MiroItem, content: &str, below: usize) -> Value {
    let number = |v: &Value, key: &str| v[key].as_f64().unwrap_or(0.0);
    let (x, y) = (number(&beside.position, "x"), number(&beside.position, "y"));
    let (w, h) = (
        number(&beside.geometry, "width"),
        number(&beside.geometry, "height"),
    );
    let mut body = json!({
        "data": { "content": content },
        "position": {
            "x": x + w / 2.0 + NOTE_GAP + NOTE_WIDTH / 2.0,
            "y": y - h / 2.0 + NOTE_STEP * (below as f64 + 0.5),
        },
        "geometry": { "width": NOTE_WIDTH },
    });
    // Positions inside a frame are relative to it: the note goes in the same frame.
    if let Some(frame) = beside
        .parent
        .as_ref()
        .and_then(|p| crate::domain::change::id_text(&p["id"]))
    {
        body["parent"] = json!({ "id": frame });
    }
    body
}

/// A note boardsync made with `content` since `since` that is not recorded yet: the work of an
/// attempt whose answer (or whose record) was lost.
async fn find_note(
    engine: &Engine,
    board: &MiroBoardId,
    content: &str,
    known: &HashSet<&str>,
    since: i64,
) -> Result<Option<MiroItemId>, WriteError> {
    let Some(own) = engine.own_user(Side::Miro).await else {
        return Ok(None);
    };
    let text = html_to_text(content);
    Ok(engine
        .miro
        .all_items(board)
        .await?
        .into_iter()
        .find(|i| {
            i.item_type == ItemType::Text.as_str()
                && i.created_by().as_deref() == Some(own.as_str())
                && !known.contains(i.id.as_str())
                && i.data["content"].as_str().map(html_to_text).as_deref() == Some(text.as_str())
                && i.created_at
                    .as_deref()
                    .and_then(millis)
                    .is_none_or(|t| t + CLOCK_SKEW_MS >= since)
        })
        .map(|i| i.id))
}

/// Sets the app card's "monday update" field to `line`, keeping its other fields.
async fn set_app_card_field(
    engine: &Engine,
    pair: &PairConfig,
    row: &OutboxEntry,
    item: &MiroItemId,
    line: &str,
) -> Result<(), WriteError> {
    let board = &pair.miro_board;
    let card = engine.miro.get_item(board, ItemType::AppCard, item).await?;
    let mut fields: Vec<Value> = card.data["fields"].as_array().cloned().unwrap_or_default();
    fields.retain(|f| f["tooltip"] != APP_CARD_FIELD);
    fields.push(json!({ "value": line, "tooltip": APP_CARD_FIELD }));
    let updated = engine
        .miro
        .update_item(
            board,
            ItemType::AppCard,
            item,
            &json!({ "data": { "fields": fields } }),
        )
        .await?;
    if let Some(me) = updated.modified_by() {
        engine.learn_own_user(Side::Miro, &me).await;
    }
    note_own_write(
        engine,
        pair,
        row.link_id,
        ItemType::AppCard,
        &updated,
        &Default::default(),
    )
    .await;
    Ok(())
}

fn millis(t: &str) -> Option<i64> {
    crate::domain::change::millis(&Value::String(t.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(v: Value) -> MiroItem {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_note_stands_to_the_right_of_its_item_and_later_ones_below() {
        let beside = item(json!({
            "id": "1", "type": "sticky_note",
            "position": {"x": 100.0, "y": 50.0}, "geometry": {"width": 200.0, "height": 220.0}
        }));
        let first = note_body(&beside, "<p>a</p>", 0);
        assert_eq!(
            first["position"]["x"],
            100.0 + 100.0 + NOTE_GAP + NOTE_WIDTH / 2.0
        );
        assert_eq!(first["position"]["y"], 50.0 - 110.0 + NOTE_STEP / 2.0);
        assert!(first.get("parent").is_none());
        let second = note_body(&beside, "<p>b</p>", 1);
        assert_eq!(
            second["position"]["y"].as_f64().unwrap() - first["position"]["y"].as_f64().unwrap(),
            NOTE_STEP
        );
    }

    #[test]
    fn a_note_of_an_item_in_a_frame_goes_in_the_frame() {
        let beside = item(json!({
            "id": "1", "type": "card", "parent": {"id": "3458764500000000009"},
            "position": {"x": 10.0, "y": 10.0}, "geometry": {"width": 320.0, "height": 94.0}
        }));
        assert_eq!(
            note_body(&beside, "<p>a</p>", 0)["parent"]["id"],
            "3458764500000000009"
        );
    }
}
