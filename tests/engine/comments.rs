//! Comments end to end: the daemon against the sandbox. Miro has no comments API, so comments are
//! added through the sandbox's control API and reach boardsync through the content-logs feed
//! (`[miro] org_id`); monday updates arrive by webhook. The feed is read every 10 s of the
//! engine's clock here: the tests move the clocks (the sandbox's and the daemon's together) instead of
//! waiting, and wait on what the boards show, with deadlines.

use crate::common::wait_for;
use crate::common::world::{DEADLINE, MIRO_BOARD, Setup, World};
use serde_json::{Value, json};
use std::time::Duration;

const ORG: &str = "3074457345821141000";
/// More than the tests' `content_log_interval` (10 s, its least) plus the feed's settling time
/// (5 s).
const ROUND: Duration = Duration::from_secs(16);

/// Sticky notes and texts, their comments synced: the pair's keys, and its fields.
const STICKY_NOTES: (&str, &str) = (
    r#"miro_items = ["sticky_note", "text"]"#,
    r#"title    = { miro = { sticky_note = "data.content" }, monday = "name" }
  comments = { miro = "comments", monday = "updates" }"#,
);

/// App cards, monday updates shown in a field of theirs: the pair's keys, and its fields.
const APP_CARDS: (&str, &str) = (
    r#"miro_items = ["app_card"]"#,
    r#"title    = { miro = "data.title", monday = "name" }
  comments = { miro = "comments", monday = "updates", miro_as = "app_card_field" }"#,
);

/// A daemon scanning every `interval`, with the content logs on when `org` is; returns once the
/// first scan has taken the board as it is and, with the feed on, its first round has started it.
async fn world(org: bool, interval: &str, (keys, fields): (&str, &str)) -> World {
    let mut settings = "[poller]\ncontent_log_interval = \"10s\"\n".to_owned();
    if org {
        settings += &format!("[miro]\norg_id = \"{ORG}\"\n");
    }
    let w = Setup {
        name: "Comments",
        columns: json!([]),
        interval,
        settings: &settings,
        pair: keys,
        fields,
        ..Setup::default()
    }
    .start()
    .await;
    if org {
        wait_for("the first content-log round", DEADLINE, || async {
            (w.content_log_rounds().await >= 1).then_some(())
        })
        .await;
    }
    w
}

impl World {
    /// Moves both clocks on past the next content-log round and waits for that round to end.
    async fn content_log_round(&mut self) {
        let before = self.content_log_rounds().await;
        self.advance(ROUND);
        wait_for("a content-log round", DEADLINE, || async {
            (self.content_log_rounds().await > before).then_some(())
        })
        .await;
    }

    /// Content-log rounds this daemon has finished without an error.
    async fn content_log_rounds(&self) -> u64 {
        self.metrics()
            .await
            .lines()
            .find(|l| {
                l.starts_with("boardsync_polls_total")
                    && l.contains("poller=\"miro_content_log\"")
                    && l.contains("outcome=\"ok\"")
            })
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    }

    /// Adds a comment on a Miro item as `user`, as the sandbox's control API does.
    async fn miro_comment(&self, item: &str, user: &str, text: &str) {
        let r = self
            .http
            .post(format!("{}/_sandbox/comments", self.sandbox.miro_api_url()))
            .json(&json!({ "board": MIRO_BOARD, "item": item, "user": user, "text": text }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "comment: {}", r.status());
    }

    /// Posts an update on a monday item as bob.
    async fn monday_update(&self, item: &str, body: &str) {
        self.monday(&format!(
            "mutation {{ create_update(item_id: {item}, body: {}) {{ id }} }}",
            serde_json::to_string(body).unwrap()
        ))
        .await;
    }

    /// The monday item named `name`, once it exists.
    async fn monday_item_named(&self, name: &str) -> Value {
        wait_for(&format!("monday item {name}"), DEADLINE, || {
            self.monday_item(name)
        })
        .await
    }

    /// The updates on monday item `id`.
    async fn updates_of(&self, id: &str) -> Vec<Value> {
        self.monday_items()
            .await
            .into_iter()
            .find(|i| i["id"] == id)
            .map(|i| i["updates"].as_array().unwrap().clone())
            .unwrap_or_default()
    }

    /// The Miro API calls the sandbox has seen whose path contains `part`.
    async fn miro_calls(&self, part: &str) -> Vec<Value> {
        self.miro_requests(0)
            .await
            .into_iter()
            .filter(|r| r["path"].as_str().unwrap_or_default().contains(part))
            .collect()
    }

    /// The cursor of the content logs, as the daemon stored it.
    async fn content_log_cursor(&self) -> Option<i64> {
        let store = boardsync::store::Store::open(&self.database_url)
            .await
            .unwrap();
        let value = store.cursor(&format!("contentlog:{ORG}")).await.unwrap();
        store.close().await;
        value.and_then(|v| v.parse().ok())
    }

    /// A sticky note born on Miro, once its monday item exists: (note id, monday item id).
    async fn linked_sticky_note(&mut self, title: &str, via_feed: bool) -> (String, String) {
        let note = self.sticky(title).await;
        if via_feed {
            // The scan runs only at start here: the feed is what reports the new note.
            self.content_log_round().await;
        }
        let item = self.monday_item_named(title).await;
        (note, item["id"].as_str().unwrap().to_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_miro_comment_becomes_one_monday_update_with_its_text_and_author() {
    // The scan runs once, at start: the new note and its comment both come through the feed.
    let mut w = world(true, "10m", STICKY_NOTES).await;
    let (note, item) = w.linked_sticky_note("Plan the launch", true).await;

    w.miro_comment(&note, "carol", "Looks <good> & ready").await;
    w.content_log_round().await;
    let updates = wait_for("the comment on monday", DEADLINE, || async {
        let u = w.updates_of(&item).await;
        (!u.is_empty()).then_some(u)
    })
    .await;
    assert_eq!(updates.len(), 1, "{updates:?}");
    let body = updates[0]["body"].as_str().unwrap();
    assert!(
        body.starts_with("<p>Looks &lt;good&gt; &amp; ready</p><p>— carol on <a href="),
        "{body}"
    );
    assert!(
        // The board id, a path segment, is percent-encoded (`=` is `%3D`).
        body.contains(&format!(
            "https://miro.com/app/board/{}/?moveToWidget={note}",
            MIRO_BOARD.replace('=', "%3D")
        )),
        "{body}"
    );
    // One call a round names the pair's board, at Level 4.
    let reads = w.miro_calls("/content-logs/items").await;
    assert!(!reads.is_empty());
    assert!(
        reads
            .iter()
            .all(|r| r["query"].as_str().unwrap().contains("board_ids=")),
        "{reads:?}"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_comment_is_posted_once_though_the_feed_is_read_again_after_a_restart() {
    let mut w = world(true, "10m", STICKY_NOTES).await;
    let (note, item) = w.linked_sticky_note("Review the budget", true).await;
    let before_comment = w.content_log_cursor().await.unwrap();

    w.miro_comment(&note, "carol", "First pass done").await;
    w.content_log_round().await;
    wait_for("the comment on monday", DEADLINE, || async {
        (w.updates_of(&item).await.len() == 1).then_some(())
    })
    .await;

    // The daemon stops right after, and the next one reads the window again, as a poller cut
    // off before its cursor advanced would.
    w.stop_daemon().await;
    let store = boardsync::store::Store::open(&w.database_url)
        .await
        .unwrap();
    store
        .record_cursor(&format!("contentlog:{ORG}"), &before_comment.to_string(), 0)
        .await
        .unwrap();
    store.close().await;
    w.start_again().await;
    w.content_log_round().await;
    assert!(w.content_log_cursor().await.unwrap() > before_comment);

    // A second comment, processed after anything the re-read could have queued.
    w.miro_comment(&note, "dave", "Second pass done").await;
    w.content_log_round().await;
    let updates = wait_for("the second comment on monday", DEADLINE, || async {
        let u = w.updates_of(&item).await;
        (u.len() >= 2).then_some(u)
    })
    .await;
    let bodies: Vec<&str> = updates
        .iter()
        .map(|u| u["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_eq!(
        bodies.iter().filter(|b| b.contains("First pass")).count(),
        1,
        "{bodies:?}"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_monday_update_becomes_a_note_beside_the_miro_item_and_nothing_comes_back() {
    // Scans every 100 ms and the feed on: the note boardsync makes must be passed over by both.
    let mut w = world(true, "100ms", STICKY_NOTES).await;
    let (note_id, item) = w.linked_sticky_note("Ship the release", false).await;

    w.monday_update(&item, "<p>Ship it &amp; celebrate</p>")
        .await;
    let text = wait_for("the update on Miro", DEADLINE, || async {
        w.miro_items()
            .await
            .into_iter()
            .find(|i| i["type"] == "text")
    })
    .await;
    let content = text["data"]["content"].as_str().unwrap();
    assert!(content.starts_with("<p>"), "{content}");
    assert!(
        content.ends_with(": Ship it &amp; celebrate</p>"),
        "{content}"
    );
    let sticky = w
        .miro_items()
        .await
        .into_iter()
        .find(|i| i["id"] == note_id.as_str())
        .unwrap();
    let right_edge = sticky["position"]["x"].as_f64().unwrap()
        + sticky["geometry"]["width"].as_f64().unwrap() / 2.0;
    assert!(
        text["position"]["x"].as_f64().unwrap() > right_edge,
        "{text} beside {sticky}"
    );

    // The note is boardsync's own, even once a person edits it: scans and a feed round later it
    // is still the only note, no monday item was made of it, and the update was not posted back.
    w.miro(
        reqwest::Method::PATCH,
        &format!("texts/{}", text["id"].as_str().unwrap()),
        Some(json!({"data": {"content": "<p>Noted</p>"}})),
    )
    .await;
    w.scans_after(3).await;
    w.content_log_round().await;
    w.scans_after(3).await;
    let texts = w
        .miro_items()
        .await
        .into_iter()
        .filter(|i| i["type"] == "text")
        .count();
    assert_eq!(texts, 1);
    let items = w.monday_items().await;
    assert_eq!(items.len(), 1, "{items:?}");
    let updates = w.updates_of(&item).await;
    assert_eq!(updates.len(), 1, "{updates:?}");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_monday_update_shows_in_the_app_cards_field_and_the_latest_replaces_it() {
    let w = world(false, "100ms", APP_CARDS).await;
    let card = w
        .miro(
            reqwest::Method::POST,
            "app_cards",
            Some(json!({"data": {"title": "Launch card"}})),
        )
        .await;
    let card_id = card["id"].as_str().unwrap().to_owned();
    let item = w.monday_item_named("Launch card").await;
    let item = item["id"].as_str().unwrap().to_owned();

    let field_of = |value: &'static str| {
        let w = &w;
        let card_id = card_id.clone();
        async move {
            wait_for(&format!("`{value}` on the app card"), DEADLINE, || async {
                let card = w
                    .miro_items()
                    .await
                    .into_iter()
                    .find(|i| i["id"] == card_id.as_str())?;
                let fields = card["data"]["fields"].as_array()?.clone();
                fields
                    .iter()
                    .any(|f| f["value"].as_str().is_some_and(|v| v.ends_with(value)))
                    .then_some(fields)
            })
            .await
        }
    };
    w.monday_update(&item, "<p>Blocked on review</p>").await;
    field_of(": Blocked on review").await;
    w.monday_update(&item, "<p>Review done</p>").await;
    let fields = field_of(": Review done").await;
    let ours: Vec<&Value> = fields
        .iter()
        .filter(|f| f["tooltip"] == "monday update")
        .collect();
    assert_eq!(ours.len(), 1, "{fields:?}");
    // No note was made, and nothing went back to monday.
    w.scans_after(3).await;
    assert!(w.miro_items().await.iter().all(|i| i["type"] != "text"));
    assert_eq!(w.updates_of(&item).await.len(), 2);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_an_org_id_the_content_logs_are_never_read() {
    let mut w = world(false, "100ms", STICKY_NOTES).await;
    w.linked_sticky_note("Quiet board", false).await;
    // Past the feed's interval: a reader would have read by now.
    w.advance(ROUND);
    w.scans_after(10).await;
    assert!(!w.miro_calls("/v2/boards").await.is_empty());
    assert_eq!(w.miro_calls("content-logs").await, Vec::<Value>::new());
    assert_eq!(w.content_log_rounds().await, 0);
    w.stop().await;
}
