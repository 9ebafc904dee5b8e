//! The dashboard over real HTTP, as a browser without JavaScript uses it, against a daemon syncing
//! the sandbox: the pages show what was synced, Pause holds a pair's changes until Resume (also
//! from the command line), dead letters are retried and discarded, conflicts are listed with both
//! values, and `/api/stream` sends the status and every change.

use crate::common::world::{DEADLINE, MONDAY_BOARD, World, world, world_with};
use crate::common::{Visitor, wait_for};
use serde_json::{Value, json};

const SLUG: &str = "sync-test";

async fn on_miro(w: &World, content: &str) -> Option<Value> {
    w.miro_items()
        .await
        .into_iter()
        .find(|i| i["data"]["content"] == format!("<p>{content}</p>"))
}

async fn wait_on_miro(w: &World, content: &str) -> Value {
    wait_for(&format!("`{content}` on Miro"), DEADLINE, || {
        on_miro(w, content)
    })
    .await
}

/// `boardsync ARGS --config FILE`, which must succeed; its standard output.
async fn cli(w: &World, args: &[&str]) -> String {
    let started = std::time::Instant::now();
    let out = crate::common::run_cli(args, &w.config_path).await;
    assert!(
        out.status.success(),
        "boardsync {args:?} after {:?}: {}",
        started.elapsed(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn pair_status(w: &World) -> Value {
    w.status().await["pairs"][0].clone()
}

async fn pages_show_what_was_synced(postgres: bool) {
    let w = world(postgres, "").await;
    let monday_id = w.create_on_monday("Ship the dashboard").await;
    let sticky = wait_on_miro(&w, "Ship the dashboard").await;
    let sticky_id = sticky["id"].as_str().unwrap();
    wait_for("the link counted and nothing waiting", DEADLINE, || async {
        let pair = pair_status(&w).await;
        (pair["links"]["active"] == 1 && pair["lag_ms"].is_null()).then_some(())
    })
    .await;
    let visitor = Visitor::new(&w.base);

    let overview = visitor.page("/").await;
    assert!(
        overview.contains(&format!("data-pair=\"{SLUG}\"")),
        "{overview}"
    );
    assert!(overview.contains("data-state=\"in_sync\""), "{overview}");
    assert!(
        overview.contains("<dd data-k=\"links.active\">1</dd>"),
        "{overview}"
    );
    assert!(overview.contains("Ship the dashboard"), "{overview}");

    let page = visitor.page(&format!("/pairs/{SLUG}")).await;
    let monday_url = format!("https://monday.com/boards/{MONDAY_BOARD}/pulses/{monday_id}");
    let miro_url = format!("?moveToWidget={sticky_id}");
    assert!(page.contains(&monday_url), "{page}");
    assert!(page.contains(&miro_url), "{page}");
    assert!(page.contains(">applied<"), "{page}");
    assert!(page.contains("action=\"/pairs/sync-test/pause\""), "{page}");

    // Searchable by title (any case) and by either side's id.
    for q in ["ship THE", monday_id.as_str(), sticky_id] {
        let found = visitor
            .page(&format!("/pairs/{SLUG}?q={}", crate::common::urlencode(q)))
            .await;
        assert!(found.contains("Ship the dashboard"), "search {q}: {found}");
    }
    let none = visitor
        .page(&format!("/pairs/{SLUG}?q=nothing-like-it"))
        .await;
    let table = &none[none.find("<table class=\"changes\">").unwrap()..];
    assert!(
        !table.contains("Ship the dashboard") && table.contains("No changes yet."),
        "{none}"
    );

    let (status, body) = visitor.get("/pairs/no-such-pair").await;
    assert_eq!(status, 404, "{body}");
    w.stop().await;
}

#[tokio::test]
async fn sqlite_pages_show_what_was_synced() {
    pages_show_what_was_synced(false).await;
}

#[tokio::test]
async fn postgres_pages_show_what_was_synced() {
    pages_show_what_was_synced(true).await;
}

async fn pause_holds_a_pair_until_resumed(postgres: bool) {
    let w = world(postgres, "").await;
    let visitor = Visitor::new(&w.base);
    let pair_page = format!("/pairs/{SLUG}");

    let (status, location) = visitor
        .submit(&pair_page, &format!("/pairs/{SLUG}/pause"))
        .await;
    assert_eq!(
        (status.as_u16(), location.as_deref()),
        (303, Some(pair_page.as_str()))
    );
    let paused = pair_status(&w).await;
    assert!(paused["paused_since"].is_i64(), "{paused}");
    assert_eq!(paused["state"]["level"], "paused", "{paused}");
    assert!(visitor.page(&pair_page).await.contains("/resume\""));

    // Received and kept, not applied: the monday webhook's entry waits in the inbox while the
    // daemon goes on scanning.
    w.create_on_monday("Made while paused").await;
    wait_for("the change in the inbox", DEADLINE, || async {
        (w.status().await["inbox_backlog"].as_i64() >= Some(1)).then_some(())
    })
    .await;
    w.scans_after(3).await;
    assert!(on_miro(&w, "Made while paused").await.is_none());
    assert!(w.status().await["inbox_backlog"].as_i64() >= Some(1));

    // Resumed from the command line: what waited is applied.
    assert!(
        cli(&w, &["resume", "--pair", "Sync test"])
            .await
            .contains("resumed")
    );
    wait_on_miro(&w, "Made while paused").await;
    assert!(pair_status(&w).await["paused_since"].is_null());

    // Paused from the command line, resumed with the button.
    assert!(cli(&w, &["pause", "--pair", SLUG]).await.contains("paused"));
    assert_eq!(pair_status(&w).await["state"]["level"], "paused");
    let (status, _) = visitor
        .submit(&pair_page, &format!("/pairs/{SLUG}/resume"))
        .await;
    assert_eq!(status, 303);
    assert!(pair_status(&w).await["paused_since"].is_null());
    w.stop().await;
}

#[tokio::test]
async fn sqlite_pause_holds_a_pair_until_resumed() {
    pause_holds_a_pair_until_resumed(false).await;
}

#[tokio::test]
async fn postgres_pause_holds_a_pair_until_resumed() {
    pause_holds_a_pair_until_resumed(true).await;
}

/// The id of the dead letter whose payload names `title`, from the `/dead` page.
fn dead_id(page: &str, title: &str) -> i64 {
    let at = page
        .find(title)
        .unwrap_or_else(|| panic!("{title} not on /dead:\n{page}"));
    let row = page[..at].rfind("id=\"dead-").unwrap() + "id=\"dead-".len();
    page[row..row + page[row..].find('"').unwrap()]
        .parse()
        .unwrap()
}

#[tokio::test]
async fn dead_letters_are_shown_retried_and_discarded() {
    let w = world_with(false, "[sync]\nmax_attempts = 1\n", "").await;
    // Every sticky note boardsync makes on Miro fails, for good (one attempt).
    w.set_faults(
        1,
        json!([{"kind": "http_500", "probability": 1.0, "route": "POST /v2/boards"}]),
        json!([]),
    )
    .await;
    w.create_on_monday("Doomed one").await;
    w.create_on_monday("Doomed two").await;
    wait_for("two dead letters", DEADLINE, || async {
        (pair_status(&w).await["dead_letters"] == 2).then_some(())
    })
    .await;
    let state = pair_status(&w).await["state"].clone();
    assert_eq!(state["level"], "failing", "{state}");
    assert!(
        state["reason"]
            .as_str()
            .unwrap()
            .contains("2 writes failed for good"),
        "{state}"
    );

    let visitor = Visitor::new(&w.base);
    let first_page = visitor.page("/dead").await;
    let page = &first_page;
    assert!(page.contains("data-total=\"dead_letters\">2<"), "{page}");
    assert!(page.contains("500"), "the error is shown: {page}");
    let (one, two) = (dead_id(page, "Doomed one"), dead_id(page, "Doomed two"));
    assert_ne!(one, two);

    w.set_faults(1, json!([]), json!([])).await;
    let (status, location) = visitor.submit("/dead", &format!("/dead/{one}/retry")).await;
    assert_eq!((status.as_u16(), location.as_deref()), (303, Some("/dead")));
    wait_on_miro(&w, "Doomed one").await;

    let (status, _) = visitor
        .submit("/dead", &format!("/dead/{two}/discard"))
        .await;
    assert_eq!(status, 303);
    let page = visitor.page("/dead").await;
    assert!(page.contains("No dead letters."), "{page}");
    assert_eq!(pair_status(&w).await["dead_letters"], 0);
    // The retried write is on Miro; its row is marked done once the answer is in.
    wait_for("the outbox empty", DEADLINE, || async {
        (pair_status(&w).await["outbox_backlog"] == 0).then_some(())
    })
    .await;
    assert!(on_miro(&w, "Doomed two").await.is_none());

    // A second click on the first page, now stale, changes nothing, and says why.
    let retry = format!("/dead/{one}/retry");
    let (status, _) = visitor
        .post(
            &retry,
            &crate::common::form_fields(&first_page, &retry).unwrap(),
        )
        .await;
    assert_eq!(status, 409);
    w.stop().await;
}

#[tokio::test]
async fn conflicts_are_listed_with_both_values_and_the_winner() {
    let w = world(false, "").await;
    let monday_id = w.create_on_monday("Agreed name").await;
    let sticky = wait_on_miro(&w, "Agreed name").await;
    let sticky_id = sticky["id"].as_str().unwrap().to_owned();
    wait_for("the link", DEADLINE, || async {
        (pair_status(&w).await["links"]["active"] == 1).then_some(())
    })
    .await;

    // Both sides rename the item, Miro first. Miro's listings fail meanwhile, so the monday edit
    // (a webhook) is the first in the inbox: processed first, it is the one synced, and the older
    // Miro edit, found once the listings work again, meets a newer value.
    cli(&w, &["pause", "--pair", SLUG]).await;
    w.set_faults(
        1,
        json!([{"kind": "http_500", "probability": 1.0, "route": "GET /v2/boards"}]),
        json!([]),
    )
    .await;
    w.miro(
        reqwest::Method::PATCH,
        &format!("sticky_notes/{sticky_id}"),
        Some(json!({"data": {"content": "<p>Name from Miro</p>"}})),
    )
    .await;
    w.monday(&format!(
        r#"mutation {{ change_multiple_column_values(board_id: {MONDAY_BOARD}, item_id: {monday_id}, column_values: "{{\"name\": \"Name from monday\"}}") {{ id }} }}"#
    ))
    .await;
    wait_for("the monday change in the inbox", DEADLINE, || async {
        (w.status().await["inbox_backlog"].as_i64() >= Some(1)).then_some(())
    })
    .await;
    w.set_faults(1, json!([]), json!([])).await;
    wait_for("the Miro change in the inbox too", DEADLINE, || async {
        (w.status().await["inbox_backlog"].as_i64() >= Some(2)).then_some(())
    })
    .await;
    cli(&w, &["resume", "--pair", SLUG]).await;
    wait_for("a conflict", DEADLINE, || async {
        (pair_status(&w).await["conflicts"].as_i64() >= Some(1)).then_some(())
    })
    .await;

    let page = Visitor::new(&w.base).page("/conflicts").await;
    assert!(
        page.contains("<td class=\"won\"><span class=\"side\">monday</span> Name from monday</td>"),
        "the newest edit wins: {page}"
    );
    assert!(
        page.contains("<td class=\"lost\"><span class=\"side\">Miro</span> Name from Miro</td>"),
        "{page}"
    );
    w.stop().await;
}

/// One server-sent event: its name, data and id.
#[derive(Debug)]
struct Sse {
    event: String,
    data: Value,
    id: Option<String>,
}

/// Reads `/api/stream` event by event.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    async fn open(w: &World, last_event_id: Option<&str>) -> Stream {
        let mut request = w.http.get(format!("{}/api/stream", w.base));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Stream {
            response,
            buffer: String::new(),
        }
    }

    async fn next(&mut self) -> Sse {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut event, mut data, mut id) = (String::new(), String::new(), None);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.to_owned());
                    }
                }
                if event.is_empty() {
                    continue; // a keep-alive comment
                }
                return Sse {
                    event,
                    data: serde_json::from_str(&data).unwrap(),
                    id,
                };
            }
            let chunk = self
                .response
                .chunk()
                .await
                .unwrap()
                .expect("the stream ended");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next `change` event of the item titled `title`.
    async fn change_of(&mut self, title: &str) -> Sse {
        tokio::time::timeout(DEADLINE, async {
            loop {
                let e = self.next().await;
                if e.event == "change" && e.data["title"] == title {
                    return e;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no change event for {title}"))
    }
}

#[tokio::test]
async fn the_stream_sends_the_status_then_every_change() {
    let w = world(false, "").await;
    let mut stream = Stream::open(&w, None).await;
    let first = stream.next().await;
    assert_eq!(first.event, "status");
    assert_eq!(first.data["pairs"][0]["slug"], SLUG);
    assert!(first.data["at"].is_i64());

    let monday_id = w.create_on_monday("Streamed item").await;
    let change = stream.change_of("Streamed item").await;
    assert_eq!(change.data["pair"], SLUG);
    assert_eq!(change.data["origin"], "monday");
    assert_eq!(change.data["item"], monday_id.as_str());
    assert_eq!(change.data["outcome"], "applied");
    let id: i64 = change.id.as_deref().unwrap().parse().unwrap();
    assert_eq!(change.data["id"], id);

    // The status that follows counts the new link.
    tokio::time::timeout(DEADLINE, async {
        loop {
            let e = stream.next().await;
            if e.event == "status" && e.data["pairs"][0]["links"]["active"] == 1 {
                return;
            }
        }
    })
    .await
    .expect("a status event counting the link");

    // A client that reconnects with the last id it saw gets what came after it again.
    let mut again = Stream::open(&w, Some(&(id - 1).to_string())).await;
    let replayed = again.change_of("Streamed item").await;
    assert_eq!(replayed.id, change.id);
    w.stop().await;
}

#[tokio::test]
async fn a_quarantined_link_is_shown_and_released() {
    // The loop breaker stops a link whose field comes back to values boardsync wrote more than
    // twice within a minute: the name goes back and forth.
    let w = world_with(false, "[sync]\nmax_loop_returns = 2\n", "").await;
    let monday_id = w.create_on_monday("Busy item").await;
    let sticky = wait_on_miro(&w, "Busy item").await;
    let sticky_id = sticky["id"].as_str().unwrap().to_owned();
    for name in ["Busy item 2", "Busy item", "Busy item 2", "Busy item"] {
        w.rename_on_monday(&monday_id, name).await;
    }
    wait_for("the link quarantined", DEADLINE, || async {
        (pair_status(&w).await["links"]["quarantined"] == 1).then_some(())
    })
    .await;
    let state = pair_status(&w).await["state"].clone();
    assert_eq!(state["level"], "degraded", "{state}");

    let visitor = Visitor::new(&w.base);
    let pair_page = format!("/pairs/{SLUG}");
    let release = format!("/pairs/{SLUG}/links/{sticky_id}/release");
    let page = visitor.page(&pair_page).await;
    assert!(page.contains("Quarantined links"), "{page}");
    let (status, location) = visitor.submit(&pair_page, &release).await;
    assert_eq!(
        (status.as_u16(), location.as_deref()),
        (303, Some(pair_page.as_str()))
    );
    assert_eq!(pair_status(&w).await["links"]["quarantined"], 0);
    assert!(!visitor.page(&pair_page).await.contains("Quarantined links"));

    // Released, it syncs again; releasing it twice is a 404 that says why.
    w.rename_on_monday(&monday_id, "Calm again").await;
    wait_on_miro(&w, "Calm again").await;
    let (status, _) = visitor
        .post(
            &release,
            &crate::common::form_fields(&page, &release).unwrap(),
        )
        .await;
    assert_eq!(status, 404);
    w.stop().await;
}
