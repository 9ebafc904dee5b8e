//! The dashboard's pages, rendered on the server with maud. Each is complete without JavaScript;
//! `live.js` subscribes to `/api/stream` and updates the numbers (elements with `data-k`, a path
//! into the pair's status) and prepends new changes (tables with `data-changes`) in place.

use super::access::Csrf;
use super::format::{ago, duration};
use super::state::AppState;
use super::status::{self, PairStatus, Status, failed};
use crate::domain::{Linked, Side, miro_item_url, monday_item_url, path_segment};
use crate::store::{ConflictRecord, HistoryRow, OutboxEntry, stored_id};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

/// Changes shown on the overview, across pairs.
const OVERVIEW_CHANGES: i64 = 15;
/// Changes shown per page of a pair.
const PAIR_CHANGES: i64 = 50;
/// Conflicts shown.
const CONFLICTS: i64 = 200;

pub(crate) async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/style.css"),
    )
}

pub(crate) async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/live.js"),
    )
}

/// `GET /`: one card per pair, the latest changes of every pair, webhook health and this
/// process's workers.
pub(crate) async fn overview(State(state): State<AppState>) -> Result<Markup, Response> {
    let status = read(&state).await?;
    let mut changes = Vec::new();
    for pair in &state.config.pairs {
        changes.extend(
            state
                .store
                .history_page(&pair.slug, None, None, OVERVIEW_CHANGES)
                .await
                .map_err(failed)?,
        );
    }
    changes.sort_by_key(|c| std::cmp::Reverse(c.id));
    changes.truncate(OVERVIEW_CHANGES as usize);
    let body = html! {
        @for problem in &status.problems {
            p.problem { "⚠ " (problem) }
        }
        section.cards {
            @for pair in &status.pairs { (card(pair, status.at, true)) }
        }
        h2 { "Latest changes" }
        (changes_table(&status, &changes, Some("*"), true))
        (webhooks(&status))
        (workers(&status))
    };
    Ok(layout(&state, "Overview", &status, body))
}

#[derive(serde::Deserialize)]
pub(crate) struct PairQuery {
    /// Only changes of this item (either side's id) or whose title contains it.
    q: Option<String>,
    /// Changes older than this history id: the next page.
    before: Option<i64>,
}

/// `GET /pairs/{slug}`: the pair's card, its recent changes (searchable), its quarantined links,
/// and the pause button.
pub(crate) async fn pair(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<PairQuery>,
    Csrf(csrf): Csrf,
) -> Result<Markup, Response> {
    let status = read(&state).await?;
    let Some(pair) = status.pairs.iter().find(|p| p.slug == slug) else {
        return Err((
            StatusCode::NOT_FOUND,
            format!("no pair `{slug}`: see / for the pairs\n"),
        )
            .into_response());
    };
    let search = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let changes = state
        .store
        .history_page(&slug, search, query.before, PAIR_CHANGES)
        .await
        .map_err(failed)?;
    let next = (changes.len() as i64 == PAIR_CHANGES)
        .then(|| changes.last().map(|c| c.id))
        .flatten();
    // Live rows would not honour the search or the page, so they are only added to the first,
    // unfiltered page.
    let live = (search.is_none() && query.before.is_none()).then_some(slug.as_str());
    let body = html! {
        (card(pair, status.at, false))
        section.controls {
            @if pair.paused_since.is_some() {
                (button(&format!("/pairs/{}/resume", pair.slug), "Resume", &csrf, "primary"))
            } @else {
                (button(&format!("/pairs/{}/pause", pair.slug), "Pause", &csrf, ""))
            }
            span.note {
                "Receivers: " span data-k="receivers.duplicate" { (pair.receivers.duplicate) }
                " duplicate, " span data-k="receivers.stale" { (pair.receivers.stale) } " stale events"
            }
        }
        @if !pair.quarantined.is_empty() {
            h2 { "Quarantined links" }
            p.note { "The loop breaker stopped these links after too many writes in a minute. Release one to let it sync again." }
            table {
                thead { tr { th { "Miro item" } th { "monday item" } th { "since" } th {} } }
                tbody {
                    @for link in &pair.quarantined {
                        tr {
                            td { (linked_item(&link.miro_item_id, |id| miro_url(&pair.miro_board, id))) }
                            td { (linked_item(&link.monday_item_id, |id| monday_url(&pair.monday_board, id))) }
                            td { (ago(Some(link.since), status.at)) }
                            td { (button(&format!("/pairs/{}/links/{}/release", pair.slug, path_segment(&stored_id(&link.miro_item_id))), "Release", &csrf, "")) }
                        }
                    }
                }
            }
        }
        h2 { "Changes" }
        form.search method="get" action={ "/pairs/" (pair.slug) } {
            input type="search" name="q" value=[search] placeholder="item id or title" aria-label="Search changes by item";
            button type="submit" { "Search" }
            @if search.is_some() { a href={ "/pairs/" (pair.slug) } { "clear" } }
        }
        (changes_table(&status, &changes, live, false))
        @if let Some(before) = next {
            p { a href={ "/pairs/" (pair.slug) "?before=" (before) (search.map(|q| format!("&q={}", query_value(q))).unwrap_or_default()) } { "Older changes →" } }
        }
    };
    Ok(layout(&state, &pair.name, &status, body))
}

/// `GET /dead`: writes that failed for good, with Retry and Discard.
pub(crate) async fn dead(
    State(state): State<AppState>,
    Csrf(csrf): Csrf,
) -> Result<Markup, Response> {
    let status = read(&state).await?;
    let rows = state.store.dead_entries(None).await.map_err(failed)?;
    let body = html! {
        (changed_notice("dead_letters", status.pairs.iter().map(|p| p.dead_letters).sum(), "The dead letters changed."))
        p.note {
            "Writes that ran out of attempts or failed for good. " b { "Retry" } " queues one again as new; "
            b { "Discard" } " gives up on it (it is kept, discarded, until the retention prunes it). "
            "Also: " code { "boardsync replay" } "."
        }
        @if rows.is_empty() {
            p.empty { "No dead letters." }
        } @else {
            table.dead {
                thead { tr { th { "failed" } th { "pair" } th { "write" } th { "attempts" } th { "error" } th { "payload" } th {} } }
                tbody {
                    @for row in &rows { (dead_row(&status, row, &csrf)) }
                }
            }
        }
    };
    Ok(layout(&state, "Dead letters", &status, body))
}

fn dead_row(status: &Status, row: &OutboxEntry, csrf: &str) -> Markup {
    let pair = status.pairs.iter().find(|p| p.slug == row.pair);
    let target = row.target.item().map(|item| {
        let url = pair.map(|p| match row.target.side() {
            Side::Miro => miro_url(&p.miro_board, item),
            Side::Monday => monday_url(&p.monday_board, item),
        });
        item_link(url, item)
    });
    let payload = serde_json::from_str::<serde_json::Value>(&row.payload)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| row.payload.clone());
    html! {
        tr id={ "dead-" (row.id) } {
            td { (ago(row.finished_at, status.at)) }
            td { a href={ "/pairs/" (row.pair) } { (pair.map_or(row.pair.as_str(), |p| p.name.as_str())) } }
            td { (row.operation) " on " (side_name(row.target.side())) @if let Some(t) = target { " " (t) } }
            td.num { (row.attempts) }
            td.error { (row.last_error.as_deref().unwrap_or("")) }
            td { details { summary { "payload" } pre { (payload) } } }
            td.actions {
                (button(&format!("/dead/{}/retry", row.id), "Retry", csrf, "primary"))
                (button(&format!("/dead/{}/discard", row.id), "Discard", csrf, "danger"))
            }
        }
    }
}

/// `GET /conflicts`: fields both sides changed since the last sync, both values, and which won.
pub(crate) async fn conflicts(State(state): State<AppState>) -> Result<Markup, Response> {
    let status = read(&state).await?;
    let rows = state.store.all_conflicts(CONFLICTS).await.map_err(failed)?;
    let total: i64 = status.pairs.iter().map(|p| p.conflicts).sum();
    let body = html! {
        (changed_notice("conflicts", total, "New conflicts."))
        p.note { "A field both sides changed since the last sync. The pair's " code { "conflict" } " policy chose the winner; both sides now hold its value." }
        @if rows.is_empty() {
            p.empty { "No conflicts." }
        } @else {
            table {
                thead { tr { th { "when" } th { "pair" } th { "item" } th { "field" } th { "won" } th { "lost" } } }
                tbody { @for c in &rows { (conflict_row(&status, c)) } }
            }
        }
    };
    Ok(layout(&state, "Conflicts", &status, body))
}

fn conflict_row(status: &Status, c: &ConflictRecord) -> Markup {
    let pair = status.pairs.iter().find(|p| p.slug == c.pair);
    let winner = c.winner.parse().unwrap_or(Side::Monday);
    html! {
        tr {
            td { (ago(Some(c.at), status.at)) }
            td { a href={ "/pairs/" (c.pair) } { (pair.map_or(c.pair.as_str(), |p| p.name.as_str())) } }
            td { a href={ "/pairs/" (c.pair) "?q=" (query_value(&c.item)) } { (c.item) } }
            td { (c.field) }
            td.won { span.side { (side_name(winner)) } " " (c.won) }
            td.lost { span.side { (side_name(winner.other())) } " " (c.lost) }
        }
    }
}

async fn read(state: &AppState) -> Result<Status, Response> {
    status::read(state).await.map_err(failed)
}

/// Every page's frame: the header with the counts that matter everywhere, and the live script.
fn layout(state: &AppState, title: &str, status: &Status, body: Markup) -> Markup {
    let dead: i64 = status.pairs.iter().map(|p| p.dead_letters).sum();
    let conflicts: i64 = status.pairs.iter().map(|p| p.conflicts).sum();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · boardsync" }
                link rel="stylesheet" href="/assets/style.css";
                script src="/assets/live.js" defer {}
            }
            body data-stream="/api/stream" {
                header {
                    a.brand href="/" { "boardsync" }
                    nav {
                        a href="/" { "Overview" }
                        a href="/dead" { "Dead letters " span.count data-total="dead_letters" { (dead) } }
                        a href="/conflicts" { "Conflicts " span.count data-total="conflicts" { (conflicts) } }
                    }
                    span.live title="Live updates" { "live" }
                    @if state.access.requires_login() {
                        form.inline method="post" action="/logout" { button type="submit" { "Log out" } }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
                footer { "boardsync " (status.version) " · " a href="/api/status" { "status JSON" } " · " a href="/metrics" { "metrics" } }
            }
        }
    }
}

/// A pair's card; `link` makes its title a link to the pair's page.
fn card(pair: &PairStatus, now: i64, link: bool) -> Markup {
    let poller = &pair.poller;
    html! {
        article.card data-pair=(pair.slug) data-state=(pair.state.level.as_str()) {
            h2 {
                @if link { a href={ "/pairs/" (pair.slug) } { (pair.name) } } @else { (pair.name) }
            }
            p.state {
                span.badge data-k="state.level" data-f="level" { (pair.state.level.label()) }
                " " span.reason data-k="state.reason" { (pair.state.reason) }
            }
            dl {
                dt { "linked items" } dd data-k="links.active" { (pair.links.active) }
                dt { "last from Miro" } dd { (last_seen(pair.last_change.miro.as_ref(), "last_change.miro", now)) }
                dt { "last from monday" } dd { (last_seen(pair.last_change.monday.as_ref(), "last_change.monday", now)) }
                dt { "sync lag" } dd data-k="lag_ms" data-f="dur" { (pair.lag_ms.map_or("—".into(), duration)) }
                dt { "outbox backlog" } dd data-k="outbox_backlog" { (pair.outbox_backlog) }
                dt { "dead letters" } dd { a href="/dead" data-k="dead_letters" { (pair.dead_letters) } }
                dt { "conflicts" } dd { a href="/conflicts" data-k="conflicts" { (pair.conflicts) } }
                dt { "quarantined" } dd data-k="links.quarantined" { (pair.links.quarantined) }
                dt { "Miro poller" } dd {
                    "every " span data-k="poller.interval_ms" data-f="dur" { (duration(poller.interval_ms as i64)) }
                    ", last scan " span data-k="poller.last_scan" data-f="ago" data-at=[poller.last_scan] { (ago(poller.last_scan, now)) }
                    ", " span data-k="poller.last_round_credits" { (poller.last_round_credits) } " credits"
                    @if poller.limited_by_credits { " (limited by credits)" }
                }
                dt { "monday reconciler" } dd {
                    "every " (duration(pair.reconciler.interval_ms as i64))
                    ", last read " span data-k="reconciler.last_round" data-f="ago" data-at=[pair.reconciler.last_round] { (ago(pair.reconciler.last_round, now)) }
                }
            }
        }
    }
}

fn last_seen(seen: Option<&status::ChangeSeen>, key: &str, now: i64) -> Markup {
    html! {
        span data-k={ (key) ".at" } data-f="ago" data-at=[seen.map(|s| s.at)] { (ago(seen.map(|s| s.at), now)) }
        span.title data-k={ (key) ".title" } { (seen.map_or("", |s| s.title.as_deref().unwrap_or(&s.item))) }
    }
}

fn webhooks(status: &Status) -> Markup {
    let w = &status.webhooks;
    html! {
        section.webhooks {
            h2 { "Webhooks" }
            @if !w.receiving {
                p.note { "This process runs no receivers (--role worker)." }
            } @else {
                ul {
                    @for (name, key, h) in [("Miro", "miro", &w.miro), ("monday", "monday", &w.monday)] {
                        li data-source=(key) {
                            b { (name) } ": last delivery "
                            span data-g={ "webhooks." (key) ".last_delivery" } data-f="ago" data-at=[h.last_delivery] { (ago(h.last_delivery, status.at)) }
                            ", " span data-g={ "webhooks." (key) ".failures" } { (h.failures) } " refused"
                            @if let Some(why) = &h.last_failure_reason {
                                " (last: " (why) ", " (ago(h.last_failure, status.at)) ")"
                            }
                        }
                    }
                }
                p.note { "Miro retired its webhooks; Miro changes arrive through the poller." }
            }
        }
    }
}

/// This process's background workers: their state, restarts and why the last run ended. Workers
/// are listed in a fixed order (by name), so the script updates each row by its index.
fn workers(status: &Status) -> Markup {
    html! {
        section.workers {
            h2 { "Workers" }
            @if status.workers.is_empty() {
                p.empty { "No background workers." }
            } @else {
                table.workers {
                    thead { tr { th { "worker" } th { "state" } th { "since" } th { "restarts" } th { "last error" } } }
                    tbody {
                        @for (i, w) in status.workers.iter().enumerate() {
                            tr data-worker=(w.name) {
                                td { code { (w.name) } }
                                td { span.badge data-g={ "workers." (i) ".state" } data-f="state" data-state=(w.state.as_str()) { (w.state.as_str()) } }
                                td { span data-g={ "workers." (i) ".since" } data-f="ago" data-at=(w.since) { (ago(Some(w.since), status.at)) } }
                                td.num data-g={ "workers." (i) ".restarts" } { (w.restarts) }
                                td.error data-g={ "workers." (i) ".last_error" } { (w.last_error.as_deref().unwrap_or("—")) }
                            }
                        }
                    }
                }
                p.note { "A worker that fails is restarted after a backoff; while one is restarting, " code { "/healthz" } " answers 503. " b { "standby" } ": another replica holds the lease for that work." }
            }
        }
    }
}

/// The table of changes; `live` names the pair whose new changes the script adds (`*`: every
/// pair), `with_pair` adds a column for the pair.
fn changes_table(
    status: &Status,
    rows: &[HistoryRow],
    live: Option<&str>,
    with_pair: bool,
) -> Markup {
    html! {
        table.changes {
            thead { tr {
                th { "when" }
                @if with_pair { th { "pair" } }
                th { "way" } th { "item" } th { "outcome" } th { "detail" }
            } }
            tbody data-changes=[live] data-with-pair=[with_pair.then_some("1")] {
                @for row in rows { (change_row(status, row, with_pair)) }
            }
        }
        @if rows.is_empty() { p.empty { "No changes yet." } }
    }
}

/// One change. `live.js` builds the same row for changes that arrive on the stream.
fn change_row(status: &Status, row: &HistoryRow, with_pair: bool) -> Markup {
    let pair = status.pairs.iter().find(|p| p.slug == row.pair);
    let (miro, monday) = match row.origin.as_str() {
        "miro" => (Some(row.item.as_str()), row.monday_item.as_deref()),
        _ => (row.miro_item.as_deref(), Some(row.item.as_str())),
    };
    html! {
        tr {
            td data-f="ago" data-at=(row.at) { (ago(Some(row.at), status.at)) }
            @if with_pair {
                td { a href={ "/pairs/" (row.pair) } { (pair.map_or(row.pair.as_str(), |p| p.name.as_str())) } }
            }
            td { (direction(&row.origin)) }
            td.item {
                span.title { (row.title.as_deref().unwrap_or(&row.item)) }
                @if let Some(p) = pair {
                    @if let Some(id) = miro { " " (item_link(Some(miro_url(&p.miro_board, id)), "Miro")) }
                    @if let Some(id) = monday { " " (item_link(Some(monday_url(&p.monday_board, id)), "monday")) }
                }
            }
            td { span.outcome data-outcome=(row.outcome) { (row.outcome) } }
            td.detail { (row.detail.as_deref().unwrap_or("")) }
        }
    }
}

/// A notice, hidden until the live stream reports that the pairs' `total` (a status field summed
/// over pairs) is no longer `count`: lists are not updated in place, so it offers a reload.
fn changed_notice(total: &str, count: i64, message: &str) -> Markup {
    html! {
        p.notice hidden data-changed=(total) data-count=(count) {
            (message) " " a href="" { "Reload" }
        }
    }
}

/// A form with one button that POSTs to `action` with the page's CSRF token.
fn button(action: &str, label: &str, csrf: &str, class: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" class=(class) { (label) }
        }
    }
}

fn item_link(url: Option<String>, label: &str) -> Markup {
    match url {
        Some(url) => html! { a.ext href=(url) target="_blank" rel="noopener" { (label) } },
        None => html! { span.pending title="not created yet" { (label) } },
    }
}

/// The page of the Miro item `item` (an id, never a pending one).
fn miro_url(board: &str, item: &str) -> String {
    miro_item_url(&board.into(), &item.into())
}

/// The item's page on monday.
fn monday_url(board: &str, item: &str) -> String {
    monday_item_url(&board.into(), &item.into())
}

/// A query parameter's value, form-encoded as the search form sends it.
fn query_value(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A link's item on one side: a link to its page, or plain text while it is still being created.
fn linked_item<T: AsRef<str>>(id: &Linked<T>, url: impl Fn(&str) -> String) -> Markup {
    item_link(id.known().map(|id| url(id.as_ref())), &stored_id(id))
}

/// Which way a change went, from the side it came from.
fn direction(origin: &str) -> &'static str {
    match origin {
        "miro" => "Miro → monday",
        _ => "monday → Miro",
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Miro => "Miro",
        Side::Monday => "monday",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_still_being_created_have_no_link() {
        let pending: Linked<crate::domain::MiroItemId> = Linked::Pending(7);
        let cell = linked_item(&pending, |id| miro_url("uXjV=", id)).into_string();
        assert!(!cell.contains("href"), "{cell}");
        assert!(cell.contains("not created yet"), "{cell}");
        let known: Linked<crate::domain::MiroItemId> = Linked::Known("42".into());
        let cell = linked_item(&known, |id| miro_url("uXjV=", id)).into_string();
        assert!(
            cell.contains(r#"href="https://miro.com/app/board/uXjV%3D/?moveToWidget=42""#),
            "{cell}"
        );
    }
}
