//! The dispatcher: claims due outbox rows, folds the rows for one item into as few API calls as
//! the APIs allow (a burst of edits to one sticky note becomes one update), makes the calls, and
//! settles each row: done, retried at the time the failure calls for, or dead (kept and shown).
//!
//! Creates are idempotent: monday gets an `Idempotency-Key` derived from the row, and a retried
//! Miro create first looks for the item an earlier attempt may have made before making another.
//! Comments are posted the same way, once each (`comments.rs`).

use super::Engine;
use super::plan::{LinkFields, Write};
use super::processor::PENDING_ID;
use crate::clients::ApiError;
use crate::clients::miro::MiroItem;
use crate::clients::monday::{
    ArchiveItem, Board, ChangeValues, CreateItem, DeleteItem, archive_item, board, change_values,
    create_item, delete_item, enum_name,
};
use crate::config::PairConfig;
use crate::domain::Side;
use crate::domain::miro::ItemType;
use crate::store::{ItemLink, LinkState, OutboxEntry, StoreError};
use rand::Rng;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Rows claimed at a time.
const CLAIM: i64 = 100;
/// Items written at once.
const IN_FLIGHT: usize = 8;
/// How long a claim holds before another dispatcher may take the row (a crashed one's rows).
const LEASE_MS: i64 = 60_000;
/// How long the dispatcher sleeps when nothing is due and nobody wakes it.
const IDLE: Duration = Duration::from_millis(200);
/// The first retry waits about this long; each further attempt doubles it, up to [`MAX_BACKOFF_MS`].
const BASE_BACKOFF_MS: i64 = 1_000;
const MAX_BACKOFF_MS: i64 = 300_000;
/// How long a write waits for the create of its item, which another row is making.
const WAIT_FOR_CREATE_MS: i64 = 1_000;
/// How long monday replays a mutation's answer for its Idempotency-Key (30 minutes), less a
/// margin: a create retried later than this is looked up before it is made again.
pub(super) const IDEMPOTENCY_WINDOW_MS: i64 = 25 * 60_000;

/// monday column types per board, read once.
type ColumnTypes = Arc<Mutex<HashMap<String, HashMap<String, String>>>>;

pub async fn run(engine: Engine, shutdown: CancellationToken) {
    let columns = ColumnTypes::default();
    loop {
        let now = engine.clock.now_ms();
        let claimed = match engine.store.claim_due(now, LEASE_MS, CLAIM).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim outbox rows");
                Vec::new()
            }
        };
        let n = claimed.len();
        // Calls to different items overlap; the rows of one item are one group, in order.
        let mut running = tokio::task::JoinSet::new();
        for group in group_by_item(claimed) {
            while running.len() >= IN_FLIGHT {
                running.join_next().await;
            }
            let (engine, columns) = (engine.clone(), columns.clone());
            running.spawn(async move {
                if let Err(e) = dispatch(&engine, &columns, group).await {
                    tracing::warn!(error = %e, "cannot settle outbox rows; their lease will expire and they run again");
                }
            });
        }
        while running.join_next().await.is_some() {}
        if n == 0 {
            update_depth(&engine).await;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = engine.wake_dispatcher.notified() => {}
                _ = tokio::time::sleep(IDLE) => {}
            }
        } else if shutdown.is_cancelled() {
            return;
        }
    }
}

async fn update_depth(engine: &Engine) {
    for pair in &engine.config.pairs {
        if let Ok((backlog, _)) = engine.store.outbox_counts(&pair.slug).await {
            engine
                .metrics
                .outbox_depth
                .with_label_values(&[&pair.name])
                .set(backlog);
        }
    }
}

/// Rows for the same target item (by link, or by item id), each group in row order.
fn group_by_item(rows: Vec<OutboxEntry>) -> Vec<Vec<OutboxEntry>> {
    let mut groups: BTreeMap<(String, String), Vec<OutboxEntry>> = BTreeMap::new();
    for row in rows {
        let key = match (row.link_id, &row.target_item) {
            (Some(link), _) => format!("link:{link}"),
            (None, Some(item)) => format!("item:{item}"),
            (None, None) => format!("row:{}", row.id),
        };
        groups
            .entry((row.target.clone(), key))
            .or_default()
            .push(row);
    }
    let mut out: Vec<Vec<OutboxEntry>> = groups.into_values().collect();
    for g in &mut out {
        g.sort_by_key(|r| r.id);
    }
    out.sort_by_key(|g| g[0].id);
    out
}

/// The calls one group of rows folds into.
#[derive(Debug, Default)]
struct Folded {
    create: Option<Write>,
    /// monday: column id → logical value; Miro: path → value.
    monday_values: BTreeMap<String, String>,
    miro_fields: BTreeMap<String, Value>,
    /// Delete, archive or tag: the last of them, after the updates.
    finish: Option<Write>,
    /// Comments to post, each once, with the index of its row (whose key makes it idempotent).
    comments: Vec<(usize, Write)>,
}

impl Folded {
    fn is_empty(&self) -> bool {
        self.create.is_none()
            && self.monday_values.is_empty()
            && self.miro_fields.is_empty()
            && self.finish.is_none()
            && self.comments.is_empty()
    }

    /// Drops the updates of fields whose value the link has moved past since they were queued:
    /// a newer edit from either side, or a conflict settled the other way, changed what both
    /// sides should hold, and a row carrying that newer value is queued too where one is needed.
    /// Sending the older value anyway could land it after the newer one, and both boards would
    /// end on it. Returns how many were dropped.
    fn drop_superseded(&mut self, pair: &PairConfig, link: &ItemLink) -> usize {
        let Ok(state) = serde_json::from_value::<LinkFields>(link.fields.clone()) else {
            return 0;
        };
        let miro_type = ItemType::parse(&link.miro_type).unwrap_or(pair.miro_new_item);
        let before = self.monday_values.len() + self.miro_fields.len();
        for field in &pair.fields {
            let Some(now) = state
                .fields
                .get(&field.name)
                .and_then(|s| s.value.as_deref())
            else {
                continue;
            };
            if self
                .monday_values
                .get(&field.monday)
                .is_some_and(|queued| queued != now)
            {
                self.monday_values.remove(&field.monday);
            }
            if let Some(path) = field.miro.path_for(miro_type)
                && let Some(queued) = self.miro_fields.get(path)
                && super::values::to_miro(field, path, now).as_ref() != Some(queued)
            {
                self.miro_fields.remove(path);
            }
        }
        before - self.monday_values.len() - self.miro_fields.len()
    }
}

fn fold(rows: &[OutboxEntry]) -> Result<Folded, String> {
    let mut f = Folded::default();
    for (i, row) in rows.iter().enumerate() {
        let write: Write = serde_json::from_str(&row.payload)
            .map_err(|e| format!("outbox row {} does not parse: {e}", row.id))?;
        match write {
            Write::CreateMonday { .. } | Write::CreateMiro { .. } if f.create.is_none() => {
                f.create = Some(write)
            }
            Write::CreateMonday { .. } | Write::CreateMiro { .. } => {}
            Write::UpdateMonday { values } => f.monday_values.extend(values),
            Write::UpdateMiro { fields } => f.miro_fields.extend(fields),
            Write::ArchiveMonday
            | Write::DeleteMonday
            | Write::DeleteMiro
            | Write::TagMiro { .. } => f.finish = Some(write),
            Write::CommentMonday { .. } | Write::CommentMiro { .. } => f.comments.push((i, write)),
        }
    }
    Ok(f)
}

async fn dispatch(
    engine: &Engine,
    columns: &ColumnTypes,
    mut rows: Vec<OutboxEntry>,
) -> Result<(), StoreError> {
    let now = engine.clock.now_ms();
    if let Some(link_id) = rows[0].link_id {
        // Writes to this item still waiting for a retry go out now, folded in order, so a retried
        // old value can never land after a newer one.
        let waiting = engine
            .store
            .claim_link_rows(link_id, &rows[0].target, now, LEASE_MS)
            .await?;
        rows.extend(waiting);
        rows.sort_by_key(|r| r.id);
    }
    let first = &rows[0];
    let Some(pair) = engine.config.pair(&first.pair) else {
        return settle_all(
            engine,
            &rows,
            Err(ApiError::Rejected(format!(
                "no pair `{}` in the mappings file",
                first.pair
            ))),
        )
        .await;
    };
    let target = if first.target == "miro" {
        Side::Miro
    } else {
        Side::Monday
    };
    let link = match first.link_id {
        Some(id) => engine.store.link_by_id(id).await?,
        None => None,
    };
    let mut folded = match fold(&rows) {
        Ok(f) => f,
        Err(e) => return settle_all(engine, &rows, Err(ApiError::Rejected(e))).await,
    };
    if let Some(l) = &link {
        // Read after the claim: the processor records a newer value before it queues its row.
        let dropped = folded.drop_superseded(pair, l);
        if dropped > 0 {
            tracing::debug!(
                link = l.id,
                dropped,
                "queued values superseded by newer ones"
            );
        }
        if folded.is_empty() {
            for row in &rows {
                engine.store.complete(row.id, now).await?;
            }
            return Ok(());
        }
    }
    let known_id = link
        .as_ref()
        .map(|l| match target {
            Side::Miro => l.miro_item_id.clone(),
            Side::Monday => l.monday_item_id.clone(),
        })
        .filter(|id| !id.starts_with(PENDING_ID))
        .or_else(|| first.target_item.clone());
    if link.is_none() && first.link_id.is_some() && folded.finish.is_none() {
        // The link ended (its item was deleted) before these updates went out: nothing to write.
        for row in &rows {
            engine.store.complete(row.id, now).await?;
        }
        return Ok(());
    }
    if known_id.is_none() && folded.create.is_none() {
        // Another row is creating the item; write once it exists (or give up with it).
        let max_attempts = i64::from(engine.config.sync.max_attempts);
        for row in &rows {
            if row.attempts >= max_attempts * 10 {
                engine
                    .store
                    .mark_dead(row.id, "the item this write is for was never created", now)
                    .await?;
            } else {
                engine
                    .store
                    .schedule_retry(
                        row.id,
                        now + WAIT_FOR_CREATE_MS,
                        "waiting for the item to be created",
                    )
                    .await?;
            }
        }
        return Ok(());
    }
    let result = match target {
        Side::Monday => {
            to_monday(
                engine,
                columns,
                pair,
                &rows,
                link.as_ref(),
                known_id,
                folded,
            )
            .await
        }
        Side::Miro => to_miro(engine, pair, &rows, link.as_ref(), known_id, folded).await,
    };
    engine.metrics.api_call(
        target.as_str(),
        match &result {
            Ok(()) => "ok",
            Err(e) => e.kind(),
        },
    );
    if let Err(ApiError::NotFound(why)) = &result
        && let Some(l) = &link
    {
        // The other side is gone: the link is marked, the rows are done, nothing crashes.
        tracing::info!(link = l.id, %why, "the linked item is gone; marking the link orphaned");
        engine
            .store
            .set_link_state(l.id, LinkState::Orphaned, now)
            .await?;
        for row in &rows {
            engine.store.complete(row.id, now).await?;
        }
        return Ok(());
    }
    if result.is_ok() {
        for row in &rows {
            let lag = (engine.clock.now_ms() - row.created_at).max(0) as f64 / 1000.0;
            engine
                .metrics
                .sync_lag_seconds
                .with_label_values(&[&pair.name, target.other().as_str()])
                .observe(lag);
        }
    }
    settle_all(engine, &rows, result).await
}

/// Settles every row of a group the same way.
async fn settle_all(
    engine: &Engine,
    rows: &[OutboxEntry],
    result: Result<(), ApiError>,
) -> Result<(), StoreError> {
    let now = engine.clock.now_ms();
    let max_attempts = i64::from(engine.config.sync.max_attempts);
    for row in rows {
        match &result {
            Ok(()) => engine.store.complete(row.id, now).await?,
            Err(e) if e.is_retryable() && row.attempts < max_attempts => {
                let due = match e {
                    ApiError::RateLimited { retry_at, .. } => (*retry_at).max(now),
                    _ => now + backoff(row.attempts),
                };
                tracing::info!(row = row.id, attempt = row.attempts, error = %e, retry_in_ms = due - now, "write failed; will retry");
                engine
                    .store
                    .schedule_retry(row.id, due, &e.to_string())
                    .await?;
            }
            Err(e) => {
                tracing::warn!(row = row.id, attempts = row.attempts, error = %e, "write failed for good; kept as a dead letter");
                engine.store.mark_dead(row.id, &e.to_string(), now).await?;
            }
        }
    }
    Ok(())
}

/// Exponential backoff with jitter: attempt 1 waits 0.5–1 s, attempt 2 1–2 s, ... up to 5 min.
pub fn backoff(attempts: i64) -> i64 {
    let exp = BASE_BACKOFF_MS.saturating_mul(1 << attempts.clamp(1, 20).saturating_sub(1));
    let ceiling = exp.min(MAX_BACKOFF_MS);
    rand::thread_rng().gen_range(ceiling / 2..=ceiling)
}

/// The key monday replays a create's answer for: the same for every attempt of the same row.
pub(super) fn idempotency_key(row: &OutboxEntry) -> String {
    let digest = Sha256::digest(format!("{}\n{}", row.idempotency_key, row.payload).as_bytes());
    hex::encode(&digest[..16])
}

async fn column_types(
    engine: &Engine,
    columns: &ColumnTypes,
    board_id: &str,
) -> Result<HashMap<String, String>, ApiError> {
    if let Some(known) = columns.lock().expect("column cache").get(board_id) {
        return Ok(known.clone());
    }
    let data = engine
        .monday
        .run::<Board>(
            board::Variables {
                ids: Some(vec![board_id.to_owned()]),
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
        out.insert(column.clone(), super::values::to_monday(ty, logical));
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
    item: Option<&str>,
    values: &BTreeMap<String, String>,
) -> Result<Map<String, Value>, ApiError> {
    let board = pair.monday_board.as_str();
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

async fn to_monday(
    engine: &Engine,
    columns: &ColumnTypes,
    pair: &PairConfig,
    rows: &[OutboxEntry],
    link: Option<&ItemLink>,
    known_id: Option<String>,
    folded: Folded,
) -> Result<(), ApiError> {
    let board_id = pair.monday_board.as_str().to_owned();
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
                find_created_monday(engine, &pair.slug, &board_id, &name, row.created_at).await?
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
                .map(|i| i.id)
                .ok_or_else(|| ApiError::Rejected("monday created no item".into()))?,
        };
        resolve(
            engine,
            link.map(|l| l.id).or(row.link_id),
            Side::Monday,
            &id,
        )
        .await?;
        item_id = Some(id);
    }
    let item = item_id.ok_or_else(|| ApiError::Rejected("no monday item to write to".into()))?;
    if !values.is_empty() {
        engine
            .monday
            .run::<ChangeValues>(
                change_values::Variables {
                    board: board_id.clone(),
                    item: Some(item.clone()),
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
    let item = Some(item);
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
    board: &str,
    name: &str,
    since: i64,
) -> Result<Option<String>, ApiError> {
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

/// Deleting or archiving what is already gone has done its job.
fn already_gone(e: ApiError) -> Result<(), ApiError> {
    match e {
        ApiError::NotFound(_) => Ok(()),
        other => Err(other),
    }
}

/// Records the id a create returned on the link that waited for it.
async fn resolve(
    engine: &Engine,
    link_id: Option<i64>,
    side: Side,
    id: &str,
) -> Result<(), ApiError> {
    match link_id {
        Some(link_id) => engine
            .store
            .resolve_link(link_id, side, id, engine.clock.now_ms())
            .await
            .map_err(store_error),
        None => Ok(()),
    }
}

pub(super) fn store_error(e: StoreError) -> ApiError {
    ApiError::Transient(format!("the store: {e}"))
}

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

async fn to_miro(
    engine: &Engine,
    pair: &PairConfig,
    rows: &[OutboxEntry],
    link: Option<&ItemLink>,
    known_id: Option<String>,
    folded: Folded,
) -> Result<(), ApiError> {
    let board = pair.miro_board.as_str();
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
                resolve(engine, link_id, Side::Miro, &id).await?;
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
                resolve(engine, link_id, Side::Miro, &item.id).await?;
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
            tags: take(super::values::TAGS),
            connectors: take(super::values::CONNECTORS),
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

    async fn write(&self, engine: &Engine, pair: &PairConfig, item: &str) -> Result<(), ApiError> {
        match (&self.tags, &pair.miro_filter.tag) {
            (Some(tags), _) => super::tags::write_miro(engine, pair, item, tags).await?,
            (None, Some(tag)) if self.created => {
                super::tags::attach_miro(&engine.miro, pair.miro_board.as_str(), item, tag).await?
            }
            _ => {}
        }
        if let Some(connectors) = &self.connectors {
            super::connectors::write_miro(engine, pair, item, connectors).await?;
        }
        Ok(())
    }
}

/// After boardsync's own write, the item as Miro answered it. When every mapped field shows what
/// the link holds as synced, and no change of the item is waiting to be processed, nobody else's
/// edit can be hiding in it: its `modifiedAt` becomes the scan's snapshot, and the scan passes
/// over boardsync's own write instead of reading it back (one call per item, for its style) and
/// queueing an echo ahead of the next real change. A field this very write set counts as
/// boardsync's too when the link has moved on since (the write of an older edit, landing just
/// before the write of the newer one): read back, that older value would look like a person's
/// edit made after the newer one. In every other case the scan sees the write as before, which
/// is what brings the two sides back together after edits that crossed. Best effort: a failure
/// leaves it to the scan.
pub(super) async fn note_own_write(
    engine: &Engine,
    pair: &PairConfig,
    link_id: Option<i64>,
    item_type: ItemType,
    item: &MiroItem,
    written: &BTreeMap<String, Value>,
) {
    let (Some(link_id), Some(version)) = (link_id, item.modified_at.as_deref()) else {
        return;
    };
    if !written.is_empty() {
        // Whatever else holds, the fields this write set are boardsync's in this version: the
        // processor tells the planner so, should a scan read the version back.
        let key = super::values::own_write_key(&pair.slug, &item.id);
        let noted = async {
            let mut writes = engine
                .store
                .cursor(&key)
                .await?
                .map(|text| super::values::OwnWrites::parse(&text))
                .unwrap_or_default();
            writes.push(version, written.keys().cloned().collect());
            let text = serde_json::to_string(&writes).expect("own writes serialise");
            engine
                .store
                .record_cursor(&key, &text, engine.clock.now_ms())
                .await
        }
        .await;
        if let Err(e) = noted {
            tracing::debug!(error = %e, "cannot note the fields of boardsync's own write");
        }
    }
    let Ok(Some(link)) = engine.store.link_by_id(link_id).await else {
        return;
    };
    let Ok(state) = serde_json::from_value::<LinkFields>(link.fields.clone()) else {
        return;
    };
    let have = item.fields();
    let as_synced = pair.fields.iter().all(|field| {
        let Some(path) = field.miro.path_for(item_type) else {
            return true;
        };
        if super::values::polled_apart(path) {
            // Not in the item's body; the scan does not read it either.
            return true;
        }
        let shown = have
            .get(path)
            .and_then(|v| super::values::from_miro(field, path, v));
        let own = written
            .get(path)
            .and_then(|v| super::values::from_miro(field, path, v));
        shown.is_some() && shown == own
            || shown == state.fields.get(&field.name).and_then(|s| s.value.clone())
    });
    if !as_synced {
        return;
    }
    let now = engine.clock.now_ms();
    let stored = engine
        .store
        .note_own_write(
            &pair.slug,
            &item.id,
            version,
            link_id,
            &link.fields.to_string(),
            now,
        )
        .await;
    if let Err(e) = stored {
        tracing::debug!(error = %e, "cannot note boardsync's own write; the scan will read it");
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
    board: &str,
    item_type: ItemType,
    fields: &BTreeMap<String, Value>,
    since: i64,
) -> Result<Option<String>, ApiError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::plan::tests::pair_with;

    fn link_holding(title: &str) -> ItemLink {
        ItemLink {
            id: 1,
            pair: "p".into(),
            miro_item_id: "3458764500000000001".into(),
            monday_item_id: "200".into(),
            miro_type: "sticky_note".into(),
            state: LinkState::Active,
            fields: json!({"fields": {"title": {"value": title}}}),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_queued_value_the_link_has_moved_past_is_not_sent() {
        let pair = pair_with(
            "",
            r#"title = { miro = "data.content", monday = "name" }
  status = { miro = "style.fillColor", monday = "status", values = { red = "Stuck" } }"#,
        );
        let mut folded = Folded::default();
        folded.monday_values.insert("name".into(), "Older".into());
        folded.monday_values.insert("status".into(), "Stuck".into());
        folded
            .miro_fields
            .insert("data.content".into(), json!("<p>Older</p>"));
        assert_eq!(folded.drop_superseded(&pair, &link_holding("Newer")), 2);
        // The status has no value recorded on the link: it goes as queued.
        assert_eq!(
            folded.monday_values,
            [("status".to_owned(), "Stuck".to_owned())].into()
        );
        assert!(folded.miro_fields.is_empty());
        assert!(!folded.is_empty());

        // The value the link holds goes out, in its Miro form too.
        let mut current = Folded::default();
        current.monday_values.insert("name".into(), "Newer".into());
        current.miro_fields.insert(
            "data.content".into(),
            json!(super::super::values::text_to_html("Newer")),
        );
        assert_eq!(current.drop_superseded(&pair, &link_holding("Newer")), 0);
        assert_eq!(current.monday_values.len() + current.miro_fields.len(), 2);
    }
}
