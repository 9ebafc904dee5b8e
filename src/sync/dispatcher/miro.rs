//! Writes to Miro: a folded write becomes a create, an update of the item's `data` and `style`,
//! its tags and connectors, notes for monday updates, or a delete. A retried create first looks
//! for the item an earlier attempt may have made.

use super::created::resolve;
use super::fold::Folded;
use super::own_writes::note_own_write;
use crate::clients::ApiError;
use crate::config::PairConfig;
use crate::domain::miro::ItemType;
use crate::domain::{MiroBoardId, MiroItemId, Side};
use crate::mapping::plan::Write;
use crate::runtime::Engine;
use crate::runtime::WriteError;
use crate::store::{ItemLink, OutboxEntry};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// A Miro request body from field paths: `data.content` → `{"data": {"content": ...}}`,
/// `parent` → `{"parent": {"id": ...}}`.
fn miro_body(fields: &BTreeMap<String, Value>) -> Value {
    let mut body = Map::new();
    for (path, value) in fields {
        match path.split_once('.') {
            Some((part, key)) => {
                body.entry(part.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut()
                    .expect("parts are objects")
                    .insert(key.to_owned(), value.clone());
            }
            None if path == "parent" => {
                body.insert("parent".into(), json!({ "id": value }));
            }
            None => {}
        }
    }
    Value::Object(body)
}

pub(super) async fn to_miro(
    engine: &Engine,
    pair: &PairConfig,
    rows: &[OutboxEntry],
    link: Option<&ItemLink>,
    known_id: Option<MiroItemId>,
    folded: Folded,
) -> Result<(), WriteError> {
    let board = &pair.miro_board;
    let item_type = link
        .and_then(|l| ItemType::parse(&l.miro_type))
        .unwrap_or(pair.miro_new_item);
    let mut item_id = known_id;
    let mut fields = folded.miro_fields;
    let mut relations = Relations::take(&mut fields);
    let mut create = folded.create;
    if let Some(Write::CreateMiro {
        fields: created, ..
    }) = create.as_mut()
    {
        // The create's tags and connectors are written after it (also when a retry finds the
        // item made), unless newer ones follow.
        relations = Relations::take(created).then(relations);
        relations.created = true;
    }
    if let Some(Write::CreateMiro {
        item_type: t,
        frame,
        fields: created,
    }) = create
        && item_id.is_none()
    {
        let row = rows
            .iter()
            .find(|r| r.operation == "create_miro")
            .unwrap_or(&rows[0]);
        // A retry may follow a create whose answer was lost: find that item before making another.
        let mut all = created;
        all.extend(std::mem::take(&mut fields));
        let existing = if row.attempts > 1 {
            find_created(engine, &pair.slug, board, t, &all, row.created_at).await?
        } else {
            None
        };
        let link_id = link.map(|l| l.id).or(row.link_id);
        let id = match existing {
            Some(id) => {
                // The found item has the create's values; the edits since still need writing.
                fields = all;
                resolve(engine, link_id, &id).await?;
                id
            }
            None => {
                let mut body = miro_body(&all);
                if let Some(frame) = frame {
                    body["parent"] = json!({ "id": frame });
                }
                let item = engine.miro.create_item(board, t, &body).await?;
                if let Some(me) = item.created_by() {
                    engine.learn_own_user(Side::Miro, &me).await;
                }
                resolve(engine, link_id, &item.id).await?;
                note_own_write(engine, pair, link_id, t, &item, &all).await;
                item.id
            }
        };
        item_id = Some(id);
    }
    let item = item_id.ok_or_else(|| ApiError::Rejected("no Miro item to write to".into()))?;
    if !fields.is_empty() && !matches!(folded.finish, Some(Write::DeleteMiro)) {
        let updated = engine
            .miro
            .update_item(board, item_type, &item, &miro_body(&fields))
            .await?;
        if let Some(me) = updated.modified_by() {
            engine.learn_own_user(Side::Miro, &me).await;
        }
        let link_id = link.map(|l| l.id).or(rows[0].link_id);
        note_own_write(engine, pair, link_id, item_type, &updated, &fields).await;
    }
    if !matches!(folded.finish, Some(Write::DeleteMiro)) {
        relations.write(engine, pair, &item).await?;
        for (i, comment) in &folded.comments {
            if let Write::CommentMiro {
                author_id,
                text,
                miro_as,
            } = comment
            {
                let note = super::comments::Note {
                    author_id: author_id.as_deref(),
                    text,
                    miro_as: *miro_as,
                };
                super::comments::post_note(engine, pair, &rows[*i], item_type, &item, &note)
                    .await?;
            }
        }
    }
    match folded.finish {
        Some(Write::DeleteMiro) => engine.miro.delete_item(board, item_type, &item).await?,
        Some(Write::TagMiro { title }) => {
            super::tags::attach_miro(&engine.miro, board, &item, &title).await?
        }
        _ => {}
    }
    Ok(())
}

/// What a Miro write says of the item's tags and connectors, which Miro keeps apart from the
/// item's body: they are written through their own endpoints, after the item.
#[derive(Debug, Default)]
struct Relations {
    tags: Option<String>,
    connectors: Option<String>,
    /// The item is new: it gets the pair's filter tag even without a tags field.
    created: bool,
}

impl Relations {
    /// Takes the tags and connectors out of `fields`.
    fn take(fields: &mut BTreeMap<String, Value>) -> Relations {
        let mut take = |path: &str| {
            fields
                .remove(path)
                .map(|v| v.as_str().unwrap_or_default().to_owned())
        };
        Relations {
            tags: take(crate::mapping::values::TAGS),
            connectors: take(crate::mapping::values::CONNECTORS),
            created: false,
        }
    }

    /// These, with `newer` written over them.
    fn then(self, newer: Relations) -> Relations {
        Relations {
            tags: newer.tags.or(self.tags),
            connectors: newer.connectors.or(self.connectors),
            created: self.created || newer.created,
        }
    }

    async fn write(
        &self,
        engine: &Engine,
        pair: &PairConfig,
        item: &MiroItemId,
    ) -> Result<(), WriteError> {
        match (&self.tags, &pair.miro_filter.tag) {
            (Some(tags), _) => super::tags::write_miro(engine, pair, item, tags).await?,
            (None, Some(tag)) if self.created => {
                super::tags::attach_miro(&engine.miro, &pair.miro_board, item, tag).await?
            }
            _ => {}
        }
        if let Some(connectors) = &self.connectors {
            super::connectors::write_miro(engine, pair, item, connectors).await?;
        }
        Ok(())
    }
}

/// An item of `item_type` that boardsync created on the board since `since` and that no link holds:
/// the work of an attempt whose answer was lost. That attempt may have carried edits folded in
/// after this one's, so any such item will do; one whose text matches `fields` is preferred. The
/// caller writes every field to the item it adopts, so even another link's lost item ends up
/// right, and no item is made twice.
async fn find_created(
    engine: &Engine,
    pair: &str,
    board: &MiroBoardId,
    item_type: ItemType,
    fields: &BTreeMap<String, Value>,
    since: i64,
) -> Result<Option<MiroItemId>, WriteError> {
    let Some(own) = engine.own_user(Side::Miro).await else {
        return Ok(None);
    };
    let mut fallback = None;
    for item in engine.miro.all_items(board).await? {
        if item.item_type != item_type.as_str()
            || item.created_by().as_deref() != Some(own.as_str())
        {
            continue;
        }
        let created = item
            .created_at
            .as_ref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis())
            .unwrap_or(0);
        if created + 60_000 < since
            || !matches!(engine.store.link_by_miro(pair, &item.id).await, Ok(None))
        {
            continue;
        }
        let have = item.fields();
        let same = fields
            .iter()
            .filter(|(path, _)| path.starts_with("data."))
            .all(|(path, v)| have.get(path) == Some(v));
        if same {
            return Ok(Some(item.id.clone()));
        }
        fallback.get_or_insert_with(|| item.id.clone());
    }
    Ok(fallback)
}
