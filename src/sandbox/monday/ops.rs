//! Mutations: each changes the state under one lock, then hands what happened to the webhook
//! queue. Errors are monday's application errors (HTTP 200 with `errors[].extensions.code`).

use super::model::{self, Column as ColumnModel, Group as GroupModel, Item as ItemModel};
use super::schema::{
    self, Board, BoardKind, Column, ColumnType, Group, Item, Tag, Update, Webhook,
    WebhookEventType, not_found,
};
use super::webhooks::{self, Happened};
use super::{Call, MondayCtx, app_error};
use crate::clock::Clock;
use async_graphql::{Context, ID, Json, Object, Result};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub(crate) fn webhook(w: &model::Webhook) -> Webhook {
    let event = match w.event.as_str() {
        "change_name" => WebhookEventType::ChangeName,
        "change_specific_column_value" => WebhookEventType::ChangeSpecificColumnValue,
        "change_status_column_value" => WebhookEventType::ChangeStatusColumnValue,
        "create_item" => WebhookEventType::CreateItem,
        "create_update" => WebhookEventType::CreateUpdate,
        "item_archived" => WebhookEventType::ItemArchived,
        "item_deleted" => WebhookEventType::ItemDeleted,
        _ => WebhookEventType::ChangeColumnValue,
    };
    Webhook {
        id: ID(w.id.to_string()),
        board_id: ID(w.board.to_string()),
        event,
        config: w.config.clone(),
    }
}

fn parse_id(id: &str, what: &str) -> Result<u64> {
    id.parse().map_err(|_| {
        app_error(
            "InvalidArgumentException",
            &format!("{what} `{id}` is not an id"),
        )
    })
}

/// `column_values` arrive as a JSON object, or (most clients) as a string of JSON.
fn object(v: &Value) -> Result<Map<String, Value>> {
    let parsed = match v {
        Value::String(s) => serde_json::from_str(s).map_err(|e| {
            app_error(
                "JsonParseException",
                &format!("column_values is not JSON: {e}"),
            )
        })?,
        other => other.clone(),
    };
    match parsed {
        Value::Object(m) => Ok(m),
        _ => Err(app_error(
            "InvalidArgumentException",
            "column_values must be a JSON object",
        )),
    }
}

fn now(m: &MondayCtx) -> String {
    Clock::iso_millis(m.shared.clock.now())
}

/// Writes column values (and `name`) to an item; returns what changed, for webhooks.
fn write_values(
    board: &mut model::Board,
    item_id: u64,
    values: &Map<String, Value>,
    create_labels: bool,
    now: &str,
) -> Result<Vec<Happened>> {
    let mut happened = Vec::new();
    for (column_id, input) in values {
        if column_id == "name" {
            let name = input
                .as_str()
                .ok_or_else(|| app_error("ColumnValueException", "name must be a string"))?;
            let item = board.items.get_mut(&item_id).expect("checked by caller");
            if item.name != name {
                happened.push(Happened::Renamed {
                    item: item_id,
                    previous: std::mem::replace(&mut item.name, name.to_owned()),
                });
            }
            continue;
        }
        let Some(col) = board.columns.iter_mut().find(|c| &c.id == column_id) else {
            return Err(app_error(
                "InvalidColumnIdException",
                &format!("This column ID doesn't exist for the board: {column_id}"),
            ));
        };
        let stored = col
            .write(input, create_labels, now)
            .map_err(|e| app_error("ColumnValueException", &e))?;
        let item = board.items.get_mut(&item_id).expect("checked by caller");
        let previous = match &stored {
            Some(v) => item.values.insert(column_id.clone(), v.clone()),
            None => item.values.remove(column_id),
        };
        if previous != stored {
            happened.push(Happened::ColumnChanged {
                item: item_id,
                column: column_id.clone(),
                previous,
            });
        }
    }
    if !happened.is_empty() {
        let item = board.items.get_mut(&item_id).expect("checked by caller");
        item.updated_at = now.to_owned();
    }
    Ok(happened)
}

pub(crate) struct Mutation;

impl Mutation {
    /// Runs `change` on the board holding `item_id` (or `board_id`), then reports what happened.
    fn change_item(
        ctx: &Context<'_>,
        board_id: Option<&ID>,
        item_id: Option<&ID>,
        change: impl FnOnce(&mut model::Board, u64, &str) -> Result<Vec<Happened>>,
    ) -> Result<Option<Item>> {
        let m = ctx.data_unchecked::<MondayCtx>();
        let item_id = parse_id(
            item_id
                .ok_or_else(|| app_error("InvalidArgumentException", "item_id is required"))?
                .as_str(),
            "item_id",
        )?;
        let (board_key, rendered, happened, at) = {
            let mut state = m.state.lock().expect("monday state");
            // Taken under the lock, so times follow the order the changes were applied in.
            let at = m.shared.clock.now();
            let now = Clock::iso_millis(at);
            let board_key = state
                .board_of_item(item_id)
                .ok_or_else(|| not_found("Item"))?;
            if let Some(b) = board_id
                && b.as_str() != board_key.to_string()
            {
                return Err(not_found("Item on that board"));
            }
            let board = state.boards.get_mut(&board_key).expect("found above");
            let happened = change(board, item_id, &now)?;
            let rendered = board.items.get(&item_id).map(schema::item);
            (board_key, rendered, happened, at)
        };
        webhooks::report(m, ctx.data_unchecked::<Call>(), board_key, happened, at);
        Ok(rendered)
    }
}

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl Mutation {
    async fn create_board(
        &self,
        ctx: &Context<'_>,
        board_kind: BoardKind,
        board_name: String,
        description: Option<String>,
        #[graphql(default_with = "Some(false)")] empty: Option<bool>,
        workspace_id: Option<ID>,
    ) -> Result<Option<Board>> {
        let _ = (description, workspace_id);
        let m = ctx.data_unchecked::<MondayCtx>();
        let user = &ctx.data_unchecked::<Call>().user;
        let now = now(m);
        let mut state = m.state.lock().expect("monday state");
        let id = state.next_id();
        let kind = match board_kind {
            BoardKind::Private => "private",
            BoardKind::Share => "share",
            BoardKind::Public => "public",
        };
        let mut board = model::Board {
            id,
            name: board_name,
            kind: kind.into(),
            groups: vec![],
            columns: vec![],
            items: BTreeMap::new(),
        };
        board.columns.push(ColumnModel {
            id: "name".into(),
            title: "Name".into(),
            kind: "name".into(),
            labels: BTreeMap::new(),
        });
        board.groups.push(GroupModel {
            id: "topics".into(),
            title: "Group Title".into(),
            color: "#579bfc".into(),
        });
        if !empty.unwrap_or(false) {
            // What a new monday board comes with: two groups, people, status and date columns, items.
            board.groups.push(GroupModel {
                id: "group_title".into(),
                title: "Group Title".into(),
                color: "#a25ddc".into(),
            });
            board.columns.push(ColumnModel {
                id: "person".into(),
                title: "Person".into(),
                kind: "people".into(),
                labels: BTreeMap::new(),
            });
            board.columns.push(ColumnModel {
                id: "status".into(),
                title: "Status".into(),
                kind: "status".into(),
                labels: model::default_labels(),
            });
            board.columns.push(ColumnModel {
                id: "date4".into(),
                title: "Date".into(),
                kind: "date".into(),
                labels: BTreeMap::new(),
            });
            for (n, group) in [
                (1, "topics"),
                (2, "topics"),
                (3, "topics"),
                (4, "group_title"),
                (5, "group_title"),
            ] {
                let item_id = state.next_id();
                board.items.insert(
                    item_id,
                    ItemModel {
                        id: item_id,
                        name: format!("Item {n}"),
                        group: group.into(),
                        values: BTreeMap::new(),
                        state: "active",
                        creator_id: user.monday_id,
                        created_at: now.clone(),
                        updated_at: now.clone(),
                        updates: vec![],
                    },
                );
            }
        }
        let rendered = schema::board(&board);
        state.boards.insert(id, board);
        Ok(Some(rendered))
    }

    async fn create_group(
        &self,
        ctx: &Context<'_>,
        board_id: ID,
        group_name: String,
        group_color: Option<String>,
    ) -> Result<Option<Group>> {
        let m = ctx.data_unchecked::<MondayCtx>();
        let key = parse_id(&board_id, "board_id")?;
        let mut state = m.state.lock().expect("monday state");
        let suffix = state.next_id();
        let board = state
            .boards
            .get_mut(&key)
            .ok_or_else(|| not_found("Board"))?;
        let id = format!("group_mk{}", suffix % 100_000_000);
        board.groups.push(GroupModel {
            id: id.clone(),
            title: group_name.clone(),
            color: group_color.unwrap_or_else(|| "#037f4c".into()),
        });
        let position = board.groups.len();
        Ok(Some(Group {
            id: ID(id),
            title: group_name,
            color: board.groups[position - 1].color.clone(),
            position: format!("{}.0", 65536 * position),
            archived: Some(false),
            deleted: Some(false),
        }))
    }

    async fn create_column(
        &self,
        ctx: &Context<'_>,
        board_id: ID,
        title: String,
        column_type: ColumnType,
        id: Option<String>,
        description: Option<String>,
    ) -> Result<Option<Column>> {
        let _ = description;
        let m = ctx.data_unchecked::<MondayCtx>();
        let key = parse_id(&board_id, "board_id")?;
        let mut state = m.state.lock().expect("monday state");
        let suffix = state.next_id();
        let board = state
            .boards
            .get_mut(&key)
            .ok_or_else(|| not_found("Board"))?;
        let id =
            id.unwrap_or_else(|| format!("{}_mk{}", column_type.as_str(), suffix % 100_000_000));
        if board.columns.iter().any(|c| c.id == id) {
            return Err(app_error(
                "ColumnValueException",
                &format!("a column with id {id} already exists"),
            ));
        }
        let labels = if column_type == ColumnType::Status {
            model::default_labels()
        } else {
            BTreeMap::new()
        };
        let column = ColumnModel {
            id,
            title,
            kind: column_type.as_str().into(),
            labels,
        };
        let rendered = schema::column(&column);
        board.columns.push(column);
        Ok(Some(rendered))
    }

    async fn create_item(
        &self,
        ctx: &Context<'_>,
        board_id: ID,
        item_name: String,
        group_id: Option<String>,
        column_values: Option<Json<Value>>,
        create_labels_if_missing: Option<bool>,
    ) -> Result<Option<Item>> {
        let m = ctx.data_unchecked::<MondayCtx>();
        let call = ctx.data_unchecked::<Call>();
        let key = parse_id(&board_id, "board_id")?;
        if item_name.chars().count() > 255 {
            return Err(app_error(
                "ItemNameTooLongException",
                "Item name must be at most 255 characters",
            ));
        }
        let values = match &column_values {
            Some(v) => object(&v.0)?,
            None => Map::new(),
        };
        let (rendered, happened, at) = {
            let mut state = m.state.lock().expect("monday state");
            let at = m.shared.clock.now();
            let now = Clock::iso_millis(at);
            let id = state.next_id();
            let board = state
                .boards
                .get_mut(&key)
                .ok_or_else(|| not_found("Board"))?;
            let group = match group_id {
                Some(g) if board.groups.iter().any(|x| x.id == g) => g,
                Some(g) => {
                    return Err(app_error(
                        "InvalidArgumentException",
                        &format!("group {g} is not on this board"),
                    ));
                }
                None => board
                    .groups
                    .first()
                    .map(|g| g.id.clone())
                    .unwrap_or_default(),
            };
            board.items.insert(
                id,
                ItemModel {
                    id,
                    name: item_name,
                    group,
                    values: BTreeMap::new(),
                    state: "active",
                    creator_id: call.user.monday_id,
                    created_at: now.clone(),
                    updated_at: now.clone(),
                    updates: vec![],
                },
            );
            if let Err(e) = write_values(
                board,
                id,
                &values,
                create_labels_if_missing.unwrap_or(false),
                &now,
            ) {
                board.items.remove(&id);
                return Err(e);
            }
            (
                schema::item(&board.items[&id]),
                vec![Happened::Created { item: id }],
                at,
            )
        };
        webhooks::report(m, call, key, happened, at);
        Ok(Some(rendered))
    }

    async fn change_multiple_column_values(
        &self,
        ctx: &Context<'_>,
        board_id: ID,
        item_id: Option<ID>,
        column_values: Json<Value>,
        create_labels_if_missing: Option<bool>,
    ) -> Result<Option<Item>> {
        let values = object(&column_values.0)?;
        Mutation::change_item(ctx, Some(&board_id), item_id.as_ref(), |b, id, now| {
            write_values(
                b,
                id,
                &values,
                create_labels_if_missing.unwrap_or(false),
                now,
            )
        })
    }

    async fn change_simple_column_value(
        &self,
        ctx: &Context<'_>,
        board_id: ID,
        item_id: Option<ID>,
        column_id: String,
        value: Option<String>,
        create_labels_if_missing: Option<bool>,
    ) -> Result<Option<Item>> {
        let values: Map<String, Value> = [(column_id, value.map_or(Value::Null, Value::String))]
            .into_iter()
            .collect();
        Mutation::change_item(ctx, Some(&board_id), item_id.as_ref(), |b, id, now| {
            write_values(
                b,
                id,
                &values,
                create_labels_if_missing.unwrap_or(false),
                now,
            )
        })
    }

    async fn change_column_value(
        &self,
        ctx: &Context<'_>,
        board_id: ID,
        item_id: Option<ID>,
        column_id: String,
        value: Json<Value>,
        create_labels_if_missing: Option<bool>,
    ) -> Result<Option<Item>> {
        // Here the value is JSON itself; a string is a JSON document to parse, as monday reads it.
        let parsed = match &value.0 {
            Value::String(s) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
            other => other.clone(),
        };
        let values: Map<String, Value> = [(column_id, parsed)].into_iter().collect();
        Mutation::change_item(ctx, Some(&board_id), item_id.as_ref(), |b, id, now| {
            write_values(
                b,
                id,
                &values,
                create_labels_if_missing.unwrap_or(false),
                now,
            )
        })
    }

    async fn archive_item(&self, ctx: &Context<'_>, item_id: Option<ID>) -> Result<Option<Item>> {
        Mutation::change_item(ctx, None, item_id.as_ref(), |b, id, now| {
            let item = b.items.get_mut(&id).expect("found");
            if item.state == "archived" {
                return Ok(vec![]);
            }
            item.state = "archived";
            item.updated_at = now.to_owned();
            Ok(vec![Happened::Archived { item: id }])
        })
    }

    async fn delete_item(&self, ctx: &Context<'_>, item_id: Option<ID>) -> Result<Option<Item>> {
        Mutation::change_item(ctx, None, item_id.as_ref(), |b, id, now| {
            let item = b.items.get_mut(&id).expect("found");
            if item.state == "deleted" {
                return Err(not_found("Item"));
            }
            item.state = "deleted";
            item.updated_at = now.to_owned();
            Ok(vec![Happened::Deleted { item: id }])
        })
    }

    async fn create_update(
        &self,
        ctx: &Context<'_>,
        item_id: Option<ID>,
        body: String,
        parent_id: Option<ID>,
    ) -> Result<Option<Update>> {
        let _ = parent_id;
        let m = ctx.data_unchecked::<MondayCtx>();
        let call = ctx.data_unchecked::<Call>();
        let item_id = parse_id(
            item_id
                .ok_or_else(|| app_error("InvalidArgumentException", "item_id is required"))?
                .as_str(),
            "item_id",
        )?;
        let (board, rendered, update_id, at) = {
            let mut state = m.state.lock().expect("monday state");
            let at = m.shared.clock.now();
            let update_id = state.next_id();
            let board = state
                .board_of_item(item_id)
                .ok_or_else(|| not_found("Item"))?;
            let item = state
                .boards
                .get_mut(&board)
                .and_then(|b| b.items.get_mut(&item_id))
                .expect("found");
            let u = model::Update {
                id: update_id,
                body,
                creator_id: call.user.monday_id,
                created_at: Clock::iso_millis(at),
            };
            let rendered = schema::update(&u, item_id);
            item.updates.push(u);
            (board, rendered, update_id, at)
        };
        webhooks::report(
            m,
            call,
            board,
            vec![Happened::Commented {
                item: item_id,
                update: update_id,
            }],
            at,
        );
        Ok(Some(rendered))
    }

    async fn create_or_get_tag(
        &self,
        ctx: &Context<'_>,
        board_id: Option<ID>,
        tag_name: Option<String>,
    ) -> Result<Option<Tag>> {
        let _ = board_id;
        let name = tag_name
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| app_error("InvalidArgumentException", "tag_name is required"))?;
        let m = ctx.data_unchecked::<MondayCtx>();
        let mut state = m.state.lock().expect("monday state");
        if let Some(t) = state.tags.iter().find(|t| t.name == name) {
            return Ok(Some(Tag {
                id: ID(t.id.to_string()),
                name: t.name.clone(),
                color: t.color.clone(),
            }));
        }
        let id = state.next_id();
        state.tags.push(model::Tag {
            id,
            name: name.clone(),
            color: "#579bfc".into(),
        });
        Ok(Some(Tag {
            id: ID(id.to_string()),
            name,
            color: "#579bfc".into(),
        }))
    }

    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        board_id: ID,
        url: String,
        event: WebhookEventType,
        config: Option<Json<Value>>,
    ) -> Result<Option<Webhook>> {
        let m = ctx.data_unchecked::<MondayCtx>();
        let call = ctx.data_unchecked::<Call>();
        let board = parse_id(&board_id, "board_id")?;
        if !m
            .state
            .lock()
            .expect("monday state")
            .boards
            .contains_key(&board)
        {
            return Err(not_found("Board"));
        }
        webhooks::challenge(m, &url).await?;
        let config = config.map(|c| match c.0 {
            Value::String(s) => s,
            other => other.to_string(),
        });
        let mut state = m.state.lock().expect("monday state");
        let id = state.next_id() % 1_000_000_000;
        let w = model::Webhook {
            id,
            board,
            url,
            event: event.as_str().into(),
            config,
            app: call.user.app,
        };
        let rendered = webhook(&w);
        state.webhooks.insert(id, w);
        Ok(Some(rendered))
    }

    async fn delete_webhook(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Webhook>> {
        let m = ctx.data_unchecked::<MondayCtx>();
        let key = parse_id(&id, "id")?;
        let removed = m.state.lock().expect("monday state").webhooks.remove(&key);
        removed
            .map(|w| Some(webhook(&w)))
            .ok_or_else(|| not_found("Webhook"))
    }
}

/// The webhook `columnValues` of a new item, keyed by column id.
pub(crate) fn column_values_of(board: &model::Board, item: &ItemModel) -> Value {
    let mut out = Map::new();
    for c in board.columns.iter().filter(|c| c.kind != "name") {
        if let Some(v) = item.values.get(&c.id) {
            out.insert(c.id.clone(), c.webhook_value(Some(v)).1);
        }
    }
    json!(out)
}
