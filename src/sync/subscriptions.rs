//! The webhooks the mapping needs: on monday, one per board and event, pointing at this daemon's
//! receiver; on Miro, when `[miro] webhooks = true`, one board subscription per board (Miro
//! retired them on 2025-12-05; the scan finds Miro's changes either way). boardsync records the
//! id of each webhook it makes (monday's `webhooks` query does not say where a webhook points),
//! so `sync` is idempotent and `prune` deletes only its own.

use crate::clients::ApiError;
use crate::clients::monday::{
    CreateWebhook, DeleteWebhook, Webhooks, create_webhook, delete_webhook, enum_name, webhooks,
};
use crate::domain::MiroBoardId;
use crate::runtime::{Engine, WriteError};
use crate::store::keys;
use std::collections::{BTreeMap, HashSet};

/// The events whose webhooks carry what the processor needs.
pub(crate) const MONDAY_EVENTS: [create_webhook::WebhookEventType; 5] = [
    create_webhook::WebhookEventType::create_item,
    create_webhook::WebhookEventType::change_column_value,
    create_webhook::WebhookEventType::change_name,
    create_webhook::WebhookEventType::item_deleted,
    create_webhook::WebhookEventType::item_archived,
];

/// The events a pair's monday board needs: [`MONDAY_EVENTS`], and `create_update` when monday
/// updates flow to Miro (the pair maps comments toward Miro).
pub fn monday_events(pair: &crate::config::PairConfig) -> Vec<create_webhook::WebhookEventType> {
    let mut events = MONDAY_EVENTS.to_vec();
    if pair
        .fields
        .iter()
        .any(|f| f.is_comments() && f.direction.to_miro())
    {
        events.push(create_webhook::WebhookEventType::create_update);
    }
    events
}

/// Every mapped monday board with the events its pairs need, once each.
fn monday_boards(engine: &Engine) -> BTreeMap<String, Vec<create_webhook::WebhookEventType>> {
    let mut boards: BTreeMap<String, Vec<create_webhook::WebhookEventType>> = BTreeMap::new();
    for pair in &engine.config.pairs {
        let events = boards
            .entry(pair.monday_board.as_str().to_owned())
            .or_default();
        for event in monday_events(pair) {
            if !events.iter().any(|e| enum_name(e) == enum_name(&event)) {
                events.push(event);
            }
        }
    }
    boards
}

/// What `list` calls a Miro board subscription's event.
const MIRO_EVENT: &str = "board_subscription";

fn key(board: &str, event: &str) -> String {
    format!("{}{board}:{event}", keys::MONDAY_WEBHOOK_PREFIX)
}

/// One line of `subscriptions list` / the result of `sync` and `prune`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// `miro` or `monday`.
    pub api: &'static str,
    pub board: String,
    pub event: String,
    pub id: String,
    /// `kept`, `created`, `deleted`, `missing` (recorded but gone on monday), `foreign` (on the
    /// board, not made by boardsync).
    pub status: &'static str,
}

/// The URL monday delivers to.
pub(crate) fn receiver_url(engine: &Engine) -> Result<String, WriteError> {
    let base = engine.config.daemon.public_url.as_ref().ok_or_else(|| {
        ApiError::Rejected(
            "[daemon] public_url is not set, so monday cannot reach boardsync's receiver".into(),
        )
    })?;
    let base = base.as_str().trim_end_matches('/');
    Ok(match &engine.config.monday.webhook_secret {
        Some(secret) => format!("{base}/webhooks/monday/{}", secret.expose()),
        None => format!("{base}/webhooks/monday"),
    })
}

/// Makes every webhook the mapping needs that is not there yet.
pub async fn sync(engine: &Engine) -> Result<Vec<Subscription>, WriteError> {
    let url = receiver_url(engine)?;
    let mut out = Vec::new();
    for (board, events) in monday_boards(engine) {
        let live = live_ids(engine, &board).await?;
        for event in &events {
            let name = enum_name(event);
            let recorded = engine.store.cursor(&key(&board, &name)).await?;
            if let Some(id) = recorded.filter(|id| live.contains(id)) {
                out.push(Subscription {
                    api: "monday",
                    board: board.clone(),
                    event: name,
                    id,
                    status: "kept",
                });
                continue;
            }
            let made = engine
                .monday
                .run::<CreateWebhook>(
                    create_webhook::Variables {
                        board: board.clone(),
                        url: url.clone(),
                        event: event.clone(),
                    },
                    None,
                )
                .await?;
            let id = made
                .create_webhook
                .map(|w| w.id)
                .ok_or_else(|| ApiError::Rejected("monday made no webhook".into()))?;
            engine
                .store
                .record_cursor(&key(&board, &name), &id, engine.clock.now_ms())
                .await?;
            out.push(Subscription {
                api: "monday",
                board: board.clone(),
                event: name,
                id,
                status: "created",
            });
        }
    }
    if engine.config.miro.webhooks {
        out.extend(sync_miro(engine).await?);
    }
    Ok(out)
}

/// The mapped Miro boards, once each.
fn miro_boards(engine: &Engine) -> Vec<MiroBoardId> {
    let boards: std::collections::BTreeSet<MiroBoardId> = engine
        .config
        .pairs
        .iter()
        .map(|p| p.miro_board.clone())
        .collect();
    boards.into_iter().collect()
}

/// One board subscription per mapped Miro board, pointing at `/webhooks/miro`.
async fn sync_miro(engine: &Engine) -> Result<Vec<Subscription>, WriteError> {
    let base = engine.config.daemon.public_url.as_ref().ok_or_else(|| {
        ApiError::Rejected(
            "[daemon] public_url is not set, so Miro cannot reach boardsync's receiver".into(),
        )
    })?;
    let url = format!("{}/webhooks/miro", base.as_str().trim_end_matches('/'));
    let live: HashSet<String> = engine
        .miro
        .subscriptions()
        .await?
        .into_iter()
        .filter(|s| s.status == "enabled")
        .map(|s| s.id)
        .collect();
    let mut out = Vec::new();
    for board in miro_boards(engine) {
        let name = format!("{}{board}", keys::MIRO_WEBHOOK_PREFIX);
        let recorded = engine.store.cursor(&name).await?;
        let (id, status) = match recorded.filter(|id| live.contains(id)) {
            Some(id) => (id, "kept"),
            None => {
                let id = engine.miro.subscribe(&board, &url).await?;
                engine
                    .store
                    .record_cursor(&name, &id, engine.clock.now_ms())
                    .await?;
                (id, "created")
            }
        };
        out.push(Subscription {
            api: "miro",
            board: board.to_string(),
            event: MIRO_EVENT.into(),
            id,
            status,
        });
    }
    Ok(out)
}

/// Deletes the webhooks boardsync made that the mapping no longer needs.
pub(crate) async fn prune(engine: &Engine) -> Result<Vec<Subscription>, WriteError> {
    let needed: HashSet<String> = monday_boards(engine)
        .into_iter()
        .flat_map(|(board, events)| {
            events
                .iter()
                .map(|e| key(&board, &enum_name(e)))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut out = Vec::new();
    for (name, id) in engine
        .store
        .cursors_with_prefix(keys::MONDAY_WEBHOOK_PREFIX)
        .await?
    {
        if needed.contains(&name) {
            continue;
        }
        match engine
            .monday
            .run::<DeleteWebhook>(delete_webhook::Variables { id: id.clone() }, None)
            .await
        {
            Ok(_) | Err(ApiError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        engine.store.forget_cursor(&name).await?;
        let (board, event) = split_key(&name);
        out.push(Subscription {
            api: "monday",
            board,
            event,
            id,
            status: "deleted",
        });
    }
    let wanted: HashSet<String> = if engine.config.miro.webhooks {
        miro_boards(engine)
            .iter()
            .map(ToString::to_string)
            .collect()
    } else {
        HashSet::new()
    };
    for (name, id) in engine
        .store
        .cursors_with_prefix(keys::MIRO_WEBHOOK_PREFIX)
        .await?
    {
        let board = name
            .trim_start_matches(keys::MIRO_WEBHOOK_PREFIX)
            .to_owned();
        if wanted.contains(&board) {
            continue;
        }
        engine.miro.unsubscribe(&id).await?;
        engine.store.forget_cursor(&name).await?;
        out.push(Subscription {
            api: "miro",
            board,
            event: MIRO_EVENT.into(),
            id,
            status: "deleted",
        });
    }
    Ok(out)
}

/// Every webhook on the mapped boards, and whether boardsync made it.
pub(crate) async fn list(engine: &Engine) -> Result<Vec<Subscription>, WriteError> {
    let ours: BTreeMap<String, String> = engine
        .store
        .cursors_with_prefix(keys::MONDAY_WEBHOOK_PREFIX)
        .await?
        .into_iter()
        .map(|(name, id)| (id, name))
        .collect();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for pair in &engine.config.pairs {
        for hook in board_webhooks(engine, pair.monday_board.as_str()).await? {
            seen.insert(hook.id.clone());
            out.push(Subscription {
                api: "monday",
                board: hook.board_id,
                event: enum_name(&hook.event),
                status: if ours.contains_key(&hook.id) {
                    "kept"
                } else {
                    "foreign"
                },
                id: hook.id,
            });
        }
    }
    for (id, name) in ours {
        if !seen.contains(&id) {
            let (board, event) = split_key(&name);
            out.push(Subscription {
                api: "monday",
                board,
                event,
                id,
                status: "missing",
            });
        }
    }
    out.extend(list_miro(engine).await?);
    Ok(out)
}

/// The Miro board subscriptions on mapped boards or made by boardsync. Only asked when
/// `[miro] webhooks = true` or boardsync made some: the endpoints are retired on the real Miro.
async fn list_miro(engine: &Engine) -> Result<Vec<Subscription>, WriteError> {
    let ours: BTreeMap<String, String> = engine
        .store
        .cursors_with_prefix(keys::MIRO_WEBHOOK_PREFIX)
        .await?
        .into_iter()
        .map(|(name, id)| {
            (
                id,
                name.trim_start_matches(keys::MIRO_WEBHOOK_PREFIX)
                    .to_owned(),
            )
        })
        .collect();
    if !engine.config.miro.webhooks && ours.is_empty() {
        return Ok(Vec::new());
    }
    let boards: HashSet<String> = miro_boards(engine)
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for sub in engine.miro.subscriptions().await? {
        if !boards.contains(sub.board()) && !ours.contains_key(&sub.id) {
            continue;
        }
        seen.insert(sub.id.clone());
        out.push(Subscription {
            api: "miro",
            board: sub.board().to_owned(),
            event: MIRO_EVENT.into(),
            status: if ours.contains_key(&sub.id) {
                "kept"
            } else {
                "foreign"
            },
            id: sub.id,
        });
    }
    for (id, board) in ours {
        if !seen.contains(&id) {
            out.push(Subscription {
                api: "miro",
                board,
                event: MIRO_EVENT.into(),
                id,
                status: "missing",
            });
        }
    }
    Ok(out)
}

async fn board_webhooks(
    engine: &Engine,
    board: &str,
) -> Result<Vec<webhooks::WebhooksWebhooks>, WriteError> {
    let data = engine
        .monday
        .run::<Webhooks>(
            webhooks::Variables {
                board: board.to_owned(),
            },
            None,
        )
        .await?;
    Ok(data.webhooks.into_iter().flatten().flatten().collect())
}

async fn live_ids(engine: &Engine, board: &str) -> Result<HashSet<String>, WriteError> {
    Ok(board_webhooks(engine, board)
        .await?
        .into_iter()
        .map(|w| w.id)
        .collect())
}

fn split_key(name: &str) -> (String, String) {
    let rest = name.trim_start_matches(keys::MONDAY_WEBHOOK_PREFIX);
    match rest.split_once(':') {
        Some((b, e)) => (b.to_owned(), e.to_owned()),
        None => (rest.to_owned(), String::new()),
    }
}
