//! The monday reconciler against the sandbox: a monday edit or create whose webhook was dropped
//! reaches Miro after one round; a change a webhook delivered is never applied twice, whichever
//! of the two is processed first; an item that was there before the first round stays alone; a
//! listing whose cursor expires midway starts over; the daemon reconciles at start under a lease
//! it gives up when it stops; and `boardsync reconcile` runs a round.
//!
//! Most tests run the engine's parts in-process beside an ingest-only daemon (its receivers fill
//! the store's inbox), so that they can say when changes are processed.

use crate::common::wait_for;
use crate::common::world::{DEADLINE, MONDAY_BOARD, Run, Setup, World};
use boardsync::pollers::reconcile::{ReconcileReport, reconcile_pair};
use boardsync::sandbox::Sandbox;
use boardsync::store::keys::reconcile_cursor;
use boardsync::store::{InboxEntry, ItemLink, OutboxStatus, Store};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// The pair "Reconcile" on a monday board with the item "Already here", and `more` items besides;
/// polled hourly, so a whole daemon reconciles once, at start, and the tests make the other rounds.
fn setup(more: usize) -> Setup<'static> {
    let mut items = vec![
        json!({"name": "Already here", "group": "topics", "values": {"status": {"label": "Stuck"}}}),
    ];
    items.extend((0..more).map(|i| json!({"name": format!("Item {i}"), "group": "topics"})));
    Setup {
        name: "Reconcile",
        interval: "1h",
        items,
        ..Setup::default()
    }
}

/// The engine's dispatcher (and, when asked, processor) in-process beside an ingest-only daemon,
/// on Postgres or SQLite; returns after the first round.
async fn world(postgres: bool, processor: bool) -> World {
    let world = Setup {
        postgres,
        run: Run::Parts { processor },
        ..setup(0)
    }
    .start()
    .await;
    let first = world.reconcile().await;
    assert!(first.first, "{first:?}");
    world
}

impl World {
    /// One reconciler round.
    async fn reconcile(&self) -> ReconcileReport {
        reconcile_pair(&self.engine, &self.pair).await.unwrap()
    }

    async fn create_item(&self, name: &str, label: &str) -> String {
        let made = self
            .monday(&format!(
                r#"mutation {{ create_item(board_id: {MONDAY_BOARD}, group_id: "topics", item_name: "{name}", column_values: "{{\"status\": {{\"label\": \"{label}\"}}}}") {{ id }} }}"#
            ))
            .await;
        made["create_item"]["id"].as_str().unwrap().to_owned()
    }

    async fn set_status(&self, item: &str, label: &str) {
        self.set_monday_column(item, "status", json!({ "label": label }))
            .await;
    }

    /// Drops every monday webhook delivery to the daemon (`on`), or none.
    async fn drop_webhooks(&self, on: bool) {
        let rules = if on {
            json!([{"kind": "webhook_drop", "probability": 1.0, "route": "/webhooks/monday"}])
        } else {
            json!([])
        };
        self.set_faults(0, json!([]), rules).await;
    }

    /// How many monday deliveries the sandbox dropped.
    async fn dropped(&self) -> usize {
        self.monday_deliveries()
            .await
            .iter()
            .filter(|d| d["status"] == "dropped")
            .count()
    }

    /// `(id, content, colour)` of each sticky note on the Miro board.
    async fn stickies(&self) -> Vec<(String, String, String)> {
        self.miro_items()
            .await
            .iter()
            .map(|i| {
                let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                (
                    text(&i["id"]),
                    text(&i["data"]["content"]),
                    text(&i["style"]["fillColor"]),
                )
            })
            .collect()
    }

    async fn wait_for_sticky(&self, content: &str, colour: &str) {
        wait_for(
            &format!("a sticky note `{content}` in {colour}"),
            DEADLINE,
            || async {
                self.stickies()
                    .await
                    .iter()
                    .any(|(_, c, f)| c == content && f == colour)
                    .then_some(())
            },
        )
        .await;
    }

    /// The item's link once its Miro twin exists and every write for it is done.
    async fn settled_link(&self, monday_item: &str) -> ItemLink {
        let store = &self.engine.store;
        wait_for("the link settled", DEADLINE, || async {
            let link = store
                .link_by_monday(&self.pair.slug, &monday_item.into())
                .await
                .unwrap()?;
            link.miro_item_id.known()?;
            let writes = store.outbox_for_link(link.id).await.unwrap();
            writes
                .iter()
                .all(|w| w.status == OutboxStatus::Done)
                .then_some(link)
        })
        .await
    }

    /// Waits until the inbox holds an unprocessed `kind` change of the monday item.
    async fn stored(&self, monday_item: &str, kind: &str) -> InboxEntry {
        wait_for(
            &format!("the {kind} webhook of {monday_item} stored"),
            DEADLINE,
            || async {
                self.engine
                    .store
                    .pending_inbox(100)
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|e| e.item_id.as_deref() == Some(monday_item) && e.kind == kind)
            },
        )
        .await
    }

    /// Processes `entry` as the processor would; returns its outcome.
    async fn process(&self, entry: &InboxEntry) -> String {
        assert!(
            boardsync::sync::processor::process(&self.engine, entry)
                .await
                .unwrap(),
            "processed at once"
        );
        let done = self.engine.store.inbox_entry(entry.id).await.unwrap();
        done.and_then(|e| e.outcome).unwrap_or_default()
    }

    /// The unprocessed change the last round queued.
    async fn reconcile_entry(&self) -> InboxEntry {
        let pending = self.engine.store.pending_inbox(100).await.unwrap();
        let mut ours = pending
            .into_iter()
            .filter(|e| e.dedupe_key.starts_with("reconcile:"));
        let entry = ours.next().expect("a change from the round");
        assert!(ours.next().is_none(), "one change");
        entry
    }

    /// The sequence number of the Miro API's latest request.
    async fn miro_seq(&self) -> u64 {
        self.miro_requests(0)
            .await
            .last()
            .map_or(0, |r| r["seq"].as_u64().unwrap())
    }

    /// Writes to the Miro item `id` since request `after`.
    async fn miro_writes(&self, id: &str, after: u64) -> usize {
        self.miro_requests(after)
            .await
            .iter()
            .filter(|r| r["method"] != "GET" && r["path"].as_str().unwrap().contains(id))
            .count()
    }
}

async fn a_monday_edit_whose_webhook_was_dropped_reaches_miro_after_one_round(postgres: bool) {
    let w = world(postgres, true).await;
    let item = w.create_item("Ship it", "Working on it").await;
    w.wait_for_sticky("<p>Ship it</p>", "light_yellow").await;
    w.settled_link(&item).await;

    w.drop_webhooks(true).await;
    let dropped = w.dropped().await;
    w.set_status(&item, "Done").await;
    w.rename_on_monday(&item, "Ship it today").await;
    // Dropped, not late: monday will never send them.
    assert_eq!(w.dropped().await, dropped + 2);
    assert!(
        w.stickies()
            .await
            .iter()
            .all(|(_, c, f)| c == "<p>Ship it</p>" && f == "light_yellow"),
        "nothing reached Miro"
    );

    let report = w.reconcile().await;
    assert_eq!(report.items, 2, "{report:?}");
    assert_eq!(report.changes, 1, "{report:?}");
    assert_eq!(report.created, 0, "{report:?}");
    w.wait_for_sticky("<p>Ship it today</p>", "light_green")
        .await;
    assert_eq!(w.stickies().await.len(), 1);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monday_edit_whose_webhook_was_dropped_reaches_miro_after_one_round_on_sqlite() {
    a_monday_edit_whose_webhook_was_dropped_reaches_miro_after_one_round(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monday_edit_whose_webhook_was_dropped_reaches_miro_after_one_round_on_postgres() {
    a_monday_edit_whose_webhook_was_dropped_reaches_miro_after_one_round(true).await;
}

/// A person sets the item's status to `label`, and a round reads the board while the webhook's
/// change waits in the inbox, so both report the new status. Processes the two (the round's first
/// when `round_first`), checks that the sticky note took the colour with one write, and returns
/// the outcomes of the webhook's change and the round's.
async fn status_seen_twice(
    w: &World,
    item: &str,
    sticky: &str,
    label: &str,
    round_first: bool,
) -> (String, String) {
    let seq = w.miro_seq().await;
    w.set_status(item, label).await;
    let webhook = w.stored(item, "updated").await;
    assert_eq!(
        w.reconcile().await.changes,
        1,
        "the link has not seen it yet"
    );
    let round = w.reconcile_entry().await;
    let outcomes = if round_first {
        let r = w.process(&round).await;
        (w.process(&webhook).await, r)
    } else {
        let h = w.process(&webhook).await;
        (h, w.process(&round).await)
    };
    let colour = match label {
        "Done" => "light_green",
        "Stuck" => "red",
        _ => "light_yellow",
    };
    w.wait_for_sticky("<p>Ship it</p>", colour).await;
    w.settled_link(item).await;
    assert_eq!(w.miro_writes(sticky, seq).await, 1, "one write to Miro");
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_a_webhook_delivered_is_applied_once_whichever_is_processed_first() {
    let w = world(false, false).await;
    let item = w.create_item("Ship it", "Working on it").await;
    let created = w.stored(&item, "created").await;
    assert_eq!(w.process(&created).await, "applied");
    let link = w.settled_link(&item).await;
    let sticky = link.miro_item_id.known().expect("settled").to_string();
    let writes_before = w.engine.store.outbox_for_link(link.id).await.unwrap().len();

    // The webhook's change first (it is first in the inbox), then the round's: the round's is
    // stale. And the round's first: then the webhook's repeats the value applied. Its time is
    // finer (monday's changedAt has microseconds, the round's updated_at milliseconds), so it is
    // not older: it changes nothing.
    let (webhook, round) = status_seen_twice(&w, &item, &sticky, "Done", false).await;
    assert_eq!((webhook.as_str(), round.as_str()), ("applied", "stale"));
    let (webhook, round) = status_seen_twice(&w, &item, &sticky, "Stuck", true).await;
    assert_eq!((webhook.as_str(), round.as_str()), ("ignored", "applied"));
    let writes = w.engine.store.outbox_for_link(link.id).await.unwrap();
    assert_eq!(
        writes.len(),
        writes_before + 2,
        "one write per edit: {writes:#?}"
    );

    // Once the webhooks' changes are applied, a round finds nothing to do.
    let report = w.reconcile().await;
    assert_eq!(report.changes, 0, "{report:?}");
    assert_eq!(report.deferred, 0, "{report:?}");
    assert!(w.engine.store.pending_inbox(100).await.unwrap().is_empty());
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_created_while_webhooks_were_dropped_is_created_on_miro_and_older_ones_are_not() {
    let w = world(false, true).await;
    w.drop_webhooks(true).await;
    let item = w.create_item("Made while down", "Done").await;
    assert_eq!(w.dropped().await, 1);

    let report = w.reconcile().await;
    assert_eq!(report.items, 2, "{report:?}");
    assert_eq!(report.created, 1, "{report:?}");
    assert_eq!(report.changes, 1, "{report:?}");
    w.wait_for_sticky("<p>Made while down</p>", "light_green")
        .await;
    w.settled_link(&item).await;

    // Linked now, and "Already here", there before the first round, stays alone.
    let again = w.reconcile().await;
    assert_eq!(again.changes, 0, "{again:?}");
    let stickies = w.stickies().await;
    assert_eq!(stickies.len(), 1, "{stickies:?}");
    w.stop().await;
}

/// A monday API in front of the sandbox that moves the sandbox's clock past a cursor's life
/// right after it answers the first `items_page` of a listing.
struct Proxy {
    url: String,
    first_pages: Arc<AtomicUsize>,
    expired: Arc<AtomicUsize>,
}

async fn proxy(sandbox: &Sandbox) -> Proxy {
    let target = sandbox.monday_api_url();
    let clock = sandbox.clock().clone();
    let first_pages = Arc::new(AtomicUsize::new(0));
    let expired = Arc::new(AtomicUsize::new(0));
    let moved = Arc::new(AtomicBool::new(false));
    let (pages, dead) = (first_pages.clone(), expired.clone());
    let app = axum::Router::new().fallback(
        move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let (target, clock, pages, dead, moved) = (
                target.clone(),
                clock.clone(),
                pages.clone(),
                dead.clone(),
                moved.clone(),
            );
            async move {
                let mut request = reqwest::Client::new().post(&target).body(body.clone());
                for name in ["authorization", "api-version", "content-type"] {
                    if let Some(v) = headers.get(name) {
                        request = request.header(name, v.as_bytes());
                    }
                }
                let answer = request.send().await.unwrap();
                let status = answer.status().as_u16();
                let text = answer.text().await.unwrap();
                let query: Value = serde_json::from_slice(&body).unwrap_or_default();
                if query["operationName"] == "ItemsPage" {
                    pages.fetch_add(1, Ordering::SeqCst);
                    if !moved.swap(true, Ordering::SeqCst) {
                        clock.advance(Duration::from_secs(61 * 60));
                    }
                }
                if text.contains("CursorExpiredError") {
                    dead.fetch_add(1, Ordering::SeqCst);
                }
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [("content-type", "application/json")],
                    text,
                )
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v2", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Proxy {
        url,
        first_pages,
        expired,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_whose_cursor_expires_midway_starts_over_and_completes() {
    // 601 items: two pages of at most 500.
    let setup = setup(600);
    let sandbox = setup.sandbox().await;
    let proxy = proxy(&sandbox).await;
    let w = Setup {
        monday_api: Some(&proxy.url),
        run: Run::Parts { processor: false },
        ..setup
    }
    .start_on(sandbox)
    .await;
    assert!(w.reconcile().await.first);

    let report = w.reconcile().await;
    assert_eq!(report.items, 601, "{report:?}");
    assert_eq!(
        report.changes, 0,
        "items older than the first round: {report:?}"
    );
    assert_eq!(
        proxy.expired.load(Ordering::SeqCst),
        1,
        "the cursor expired"
    );
    assert_eq!(
        proxy.first_pages.load(Ordering::SeqCst),
        2,
        "the listing started over"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_reconciles_at_start_under_a_lease_it_gives_up_when_it_stops() {
    let mut w = setup(0).start().await;
    let pair = w.pair.clone();
    let store = Store::open(&w.database_url).await.unwrap();

    wait_for("the first round recorded", DEADLINE, || async {
        store.cursor(&reconcile_cursor(&pair.slug)).await.unwrap()
    })
    .await;
    let metrics = wait_for("the round counted", DEADLINE, || async {
        let text = w.metrics().await;
        text.lines()
            .any(|l| {
                l.starts_with("boardsync_polls_total")
                    && l.contains(r#"poller="monday_reconcile""#)
                    && l.contains(r#"outcome="ok""#)
                    // The round at start, and the one its new webhooks wake (what the board
                    // had before they were there).
                    && l.rsplit(' ').next().and_then(|n| n.parse::<u64>().ok()) >= Some(1)
            })
            .then_some(text)
    })
    .await;
    assert!(metrics.contains(r#"pair="Reconcile""#), "{metrics}");
    let now = chrono::Utc::now().timestamp_millis();
    assert!(
        !store
            .lease(
                &reconcile_cursor(&pair.slug),
                "another replica",
                now,
                60_000
            )
            .await
            .unwrap(),
        "the daemon holds the pair's lease"
    );

    w.stop_daemon().await;
    assert!(
        store
            .lease(
                &reconcile_cursor(&pair.slug),
                "another replica",
                now,
                60_000
            )
            .await
            .unwrap(),
        "given up at shutdown"
    );

    // One round on demand, from the command line.
    let path = w.config_path.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(crate::common::bin())
            .args(["reconcile", "--pair", "Reconcile", "--config"])
            .arg(path)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("pair `Reconcile`: 1 item read, 0 changes queued"),
        "{stdout}"
    );
    store.close().await;
    w.stop().await;
}
