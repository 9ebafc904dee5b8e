//! The dashboard's buttons. Each is a POST carrying the page's CSRF token, changes the store
//! (so every replica sees it), and answers with a redirect back to the page it came from.
//! `boardsync pause|resume` and `boardsync links release` do the same from the command line.

use super::access::CsrfChecked;
use super::state::AppState;
use super::status::failed;
use crate::config::PairConfig;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

/// `POST /pairs/{slug}/pause`: the pair's changes wait in the inbox until it is resumed.
pub(crate) async fn pause(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    _: CsrfChecked,
) -> Response {
    let pair = match find(&state, &slug) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let now = state.clock.now_ms();
    match state.store.pause_pair(&pair.slug, now).await {
        Ok(()) => {
            tracing::info!(pair = %pair.name, "paused from the dashboard");
            back_to_pair(pair)
        }
        Err(e) => failed(e),
    }
}

/// `POST /pairs/{slug}/resume`.
pub(crate) async fn resume(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    _: CsrfChecked,
) -> Response {
    let pair = match find(&state, &slug) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    match state.store.resume_pair(&pair.slug).await {
        Ok(_) => {
            tracing::info!(pair = %pair.name, "resumed from the dashboard");
            back_to_pair(pair)
        }
        Err(e) => failed(e),
    }
}

/// `POST /pairs/{slug}/links/{item}/release`: a quarantined link syncs again.
pub(crate) async fn release(
    State(state): State<AppState>,
    Path((slug, item)): Path<(String, String)>,
    _: CsrfChecked,
) -> Response {
    let pair = match find(&state, &slug) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let now = state.clock.now_ms();
    match state.store.release_link(&pair.slug, &item, now).await {
        Ok(true) => {
            tracing::info!(pair = %pair.name, item, "link released from the dashboard");
            back_to_pair(pair)
        }
        Ok(false) => (
            StatusCode::NOT_FOUND,
            format!(
                "no quarantined link of item {item} in pair `{}`\n",
                pair.name
            ),
        )
            .into_response(),
        Err(e) => failed(e),
    }
}

/// `POST /dead/{id}/retry`: the dead write is queued again, its attempts reset.
pub(crate) async fn retry(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    _: CsrfChecked,
) -> Response {
    let now = state.clock.now_ms();
    match state.store.retry_dead(id, now).await {
        Ok(true) => {
            tracing::info!(row = id, "dead letter retried from the dashboard");
            Redirect::to("/dead").into_response()
        }
        Ok(false) => not_dead(id),
        Err(e) => failed(e),
    }
}

/// `POST /dead/{id}/discard`: the dead write is given up on.
pub(crate) async fn discard(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    _: CsrfChecked,
) -> Response {
    let now = state.clock.now_ms();
    match state.store.discard_dead(id, now).await {
        Ok(true) => {
            tracing::info!(row = id, "dead letter discarded from the dashboard");
            Redirect::to("/dead").into_response()
        }
        Ok(false) => not_dead(id),
        Err(e) => failed(e),
    }
}

fn find<'a>(state: &'a AppState, slug: &str) -> Result<&'a PairConfig, (StatusCode, String)> {
    state
        .config
        .pairs
        .iter()
        .find(|p| p.slug == slug)
        .ok_or_else(|| (StatusCode::NOT_FOUND, format!("no pair `{slug}`\n")))
}

fn back_to_pair(pair: &PairConfig) -> Response {
    Redirect::to(&format!("/pairs/{}", pair.slug)).into_response()
}

fn not_dead(id: i64) -> Response {
    (
        StatusCode::CONFLICT,
        format!(
            "write {id} is not a dead letter (retried or discarded already, or no such write)\n"
        ),
    )
        .into_response()
}
