//! Writes to monday: a folded write becomes `create_item` (with an Idempotency-Key derived from
//! the row), `change_multiple_column_values` in each column's own format, an update for a Miro
//! comment, an archive or a delete.

use super::created::{already_gone, resolve};
use super::fold::{Folded, IDEMPOTENCY_WINDOW_MS, idempotency_key};
use crate::clients::ApiError;
use crate::clients::monday::{
    ArchiveItem, Board, ChangeValues, CreateItem, DeleteItem, archive_item, board, change_values,
    create_item, delete_item, enum_name,
};
use crate::config::PairConfig;
use crate::domain::{MondayBoardId, MondayItemId, Side};
use crate::mapping::plan::Write;
use crate::runtime::Engine;
use crate::runtime::WriteError;
use crate::store::{ItemLink, OutboxEntry};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// monday column types per board, read once.
pub(super) type ColumnTypes = Arc<Mutex<HashMap<String, HashMap<String, String>>>>;

async fn column_types(
    engine: &Engine,
    columns: &ColumnTypes,
    board_id: &str,
) -> Result<HashMap<String, String>, WriteError> {
    if let Some(known) = columns.lock().expect("column cache").get(board_id) {
        return Ok(known.clone());
    }
    let data = engine
        .monday
        .run::<Board>(
            board::Variables {
                ids: Some(vec![board_id.to_owned()]),
                limit: Some(1),
            },
            None,
        )
        .await?;
    let types: HashMap<String, String> = data
        .boards
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|b| b.columns.into_iter().flatten().flatten())
        .map(|c| (c.id, enum_name(&c.type_)))
        .collect();
    columns
        .lock()
        .expect("column cache")
        .insert(board_id.to_owned(), types.clone());
    Ok(types)
}

/// monday's `column_values` JSON for logical values, `name` included as monday accepts it;
/// `looked_up` holds the values that needed a lookup ([`looked_up_values`]).
fn monday_values(
    types: &HashMap<String, String>,
    values: &BTreeMap<String, String>,
    mut looked_up: Map<String, Value>,
) -> Value {
    let mut out = Map::new();
    for (column, logical) in values {
        if let Some(v) = looked_up.remove(column) {
            out.insert(column.clone(), v);
            continue;
        }
        let ty = if column == "name" {
            "name"
        } else {
            types.get(column).map_or("text", String::as_str)
        };
        out.insert(
            column.clone(),
            crate::mapping::values::to_monday(ty, logical),
        );
    }
    Value::Object(out)
}

/// The values of columns that take more than a logical value: tags take tag ids (looked up by
/// name), a dependency keeps the items monday links that have no twin on Miro (read from the
/// item, `None` while it is being created).
async fn looked_up_values(
    engine: &Engine,
    pair: &PairConfig,
    types: &HashMap<String, String>,
    item: Option<&MondayItemId>,
    values: &BTreeMap<String, String>,
) -> Result<Map<String, Value>, WriteError> {
    let board = &pair.monday_board;
    let mut out = Map::new();
    for (column, logical) in values {
        let value = match types.get(column).map(String::as_str) {
            Some("tags") => super::tags::monday_value(engine, board, logical).await?,
            Some("dependency" | "board_relation") => {
                super::connectors::monday_value(engine, pair, item, column, logical).await?
            }
            _ => continue,
        };
        out.insert(column.clone(), value);
    }
    Ok(out)
}

pub(super) async fn to_monday(
    engine: &Engine,
    columns: &ColumnTypes,
    pair: &PairConfig,
    rows: &[OutboxEntry],
    link: Option<&ItemLink>,
    known_id: Option<MondayItemId>,
    folded: Folded,
) -> Result<(), WriteError> {
    let board = &pair.monday_board;
    let board_id = board.to_string();
    let types = column_types(engine, columns, &board_id).await?;
    let mut item_id = known_id;
    let values = folded.monday_values;
    if let Some(Write::CreateMonday {
        name,
        group,
        values: mut created,
    }) = folded.create
        && item_id.is_none()
    {
        let row = rows
            .iter()
            .find(|r| r.operation == "create_monday")
            .unwrap_or(&rows[0]);
        // The create carries its own row's values only, so every attempt under its
        // Idempotency-Key is the same request: monday answers a repeat with the first attempt's
        // item, made with the first attempt's values. Edits folded in after it follow as one
        // change. After monday's 30 minutes, the item a lost answer made is looked up instead.
        let name = created.remove("name").unwrap_or(name);
        let existing =
            if row.attempts > 1 && engine.clock.now_ms() - row.created_at > IDEMPOTENCY_WINDOW_MS {
                find_created_monday(engine, &pair.slug, board, &name, row.created_at).await?
            } else {
                None
            };
        let id = match existing {
            Some(id) => id,
            None => engine
                .monday
                .run::<CreateItem>(
                    create_item::Variables {
                        board: board_id.clone(),
                        group,
                        name,
                        values: Some(monday_values(
                            &types,
                            &created,
                            looked_up_values(engine, pair, &types, None, &created).await?,
                        )),
                    },
                    Some(&idempotency_key(row)),
                )
                .await?
                .create_item
                .map(|i| MondayItemId(i.id))
                .ok_or_else(|| ApiError::Rejected("monday created no item".into()))?,
        };
        resolve(engine, link.map(|l| l.id).or(row.link_id), &id).await?;
        item_id = Some(id);
    }
    let item = item_id.ok_or_else(|| ApiError::Rejected("no monday item to write to".into()))?;
    if !values.is_empty() {
        engine
            .monday
            .run::<ChangeValues>(
                change_values::Variables {
                    board: board_id.clone(),
                    item: Some(item.to_string()),
                    values: monday_values(
                        &types,
                        &values,
                        looked_up_values(engine, pair, &types, Some(&item), &values).await?,
                    ),
                },
                None,
            )
            .await?;
    }
    for (i, comment) in &folded.comments {
        if let Write::CommentMonday { body } = comment {
            super::comments::post_update(engine, &rows[*i], &item, body).await?;
        }
    }
    let item = Some(item.to_string());
    let finished = match folded.finish {
        Some(Write::ArchiveMonday) => engine
            .monday
            .run::<ArchiveItem>(archive_item::Variables { item }, None)
            .await
            .map(|_| ()),
        Some(Write::DeleteMonday) => engine
            .monday
            .run::<DeleteItem>(delete_item::Variables { item }, None)
            .await
            .map(|_| ()),
        _ => Ok(()),
    };
    finished.or_else(already_gone)
}

/// An item named `name` that boardsync created on the board since `since` (a minute of clock
/// skew allowed) and that no link holds: the work of a create whose answer was lost, looked up
/// once monday no longer replays it by its Idempotency-Key.
async fn find_created_monday(
    engine: &Engine,
    pair: &str,
    board: &MondayBoardId,
    name: &str,
    since: i64,
) -> Result<Option<MondayItemId>, WriteError> {
    let Some(own) = engine.own_user(Side::Monday).await else {
        return Ok(None);
    };
    for item in engine.monday.board_items(board).await? {
        let created = item
            .created_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or(0, |t| t.timestamp_millis());
        if item.creator_id == own
            && item.name == name
            && created + 60_000 >= since
            && matches!(engine.store.link_by_monday(pair, &item.id).await, Ok(None))
        {
            return Ok(Some(item.id));
        }
    }
    Ok(None)
}
