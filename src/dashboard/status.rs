//! `GET /api/status`: the daemon's state per pair as JSON, for people (the dashboard builds on
//! it) and for monitors. Documented in `docs/api.md`; a field, once there, keeps its meaning.

use crate::app::AppState;
use crate::domain::Side;
use crate::store::{HistoryEntry, LinkState, Store, StoreError};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// Quarantined links listed per pair.
const QUARANTINE_LIST: i64 = 50;

pub async fn api_status(
    State(state): State<AppState>,
) -> Result<Json<Value>, (StatusCode, String)> {
    status(&state).await.map(Json).map_err(|e| {
        tracing::warn!(error = %e, "cannot read the status");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the store is not answering\n".to_owned(),
        )
    })
}

async fn status(state: &AppState) -> Result<Value, StoreError> {
    let store = &state.store;
    let mut pairs = Vec::new();
    for pair in &state.config.pairs {
        let slug = &pair.slug;
        let (backlog, dead) = store.outbox_counts(slug).await?;
        let mut last = serde_json::Map::new();
        for side in [Side::Miro, Side::Monday] {
            last.insert(
                side.as_str().into(),
                store
                    .last_change(slug, side.as_str())
                    .await?
                    .map_or(Value::Null, history_json),
            );
        }
        let quarantined: Vec<Value> = store
            .links_in_state(slug, LinkState::Quarantined, QUARANTINE_LIST)
            .await?
            .into_iter()
            .map(|l| json!({ "miro_item_id": l.miro_item_id, "monday_item_id": l.monday_item_id, "since": l.updated_at }))
            .collect();
        pairs.push(json!({
            "name": pair.name,
            "slug": slug,
            "miro_board": pair.miro_board.as_str(),
            "monday_board": pair.monday_board.as_str(),
            "links": {
                "active": store.count_links(slug, LinkState::Active).await?,
                "quarantined": store.count_links(slug, LinkState::Quarantined).await?,
                "orphaned": store.count_links(slug, LinkState::Orphaned).await?,
            },
            "last_change": last,
            "outbox_backlog": backlog,
            "dead_letters": dead,
            "conflicts": store.count_conflicts(slug).await?,
            "quarantined": quarantined,
            "poller": poller_json(store, pair, &state.config).await?,
        }));
    }
    let problems = state
        .startup_problems
        .lock()
        .expect("problems lock")
        .clone();
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "inbox_backlog": store.inbox_backlog().await?,
        "problems": problems,
        "pairs": pairs,
    }))
}

/// How the pair's Miro board is polled: the pace the last round set (by whichever replica polls
/// it) and when that round ended.
async fn poller_json(
    store: &Store,
    pair: &crate::config::PairConfig,
    config: &crate::config::Config,
) -> Result<Value, StoreError> {
    let last_scan = store
        .cursor(&crate::sync::scan::scan_cursor(pair))
        .await?
        .and_then(|v| v.parse::<i64>().ok());
    let state: Option<crate::sync::poller::PollState> = store
        .cursor(&crate::sync::poller::state_key(pair))
        .await?
        .and_then(|v| serde_json::from_str(&v).ok());
    let state = state.unwrap_or_default();
    let interval_ms = if state.last_round == 0 {
        config.poller.interval.0.as_millis() as u64
    } else {
        state.interval_ms
    };
    Ok(json!({
        "interval_ms": interval_ms,
        "last_scan": last_scan,
        "last_round_changes": state.changes,
        "last_round_credits": state.credits,
        "limited_by_credits": state.limited_by_credits,
        "in_turns": state.in_turns,
        "credit_share": config.poller.credit_share.0,
        "content_log": config.miro.org_id.is_some(),
    }))
}

fn history_json(h: HistoryEntry) -> Value {
    json!({ "at": h.at, "item": h.item, "title": h.title, "outcome": h.outcome, "detail": h.detail })
}
