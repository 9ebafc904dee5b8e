//! The dispatcher on its own against the sandbox, on the engine's clock moved forward: a monday
//! create retried after monday's 30-minute idempotency window, whose first attempt made the item
//! but lost its answer, adopts that item instead of making a second.

use crate::common::wait_for;
use boardsync::config::Config;
use boardsync::domain::{Linked, Target};
use boardsync::mapping::plan::Write;
use boardsync::metrics::Metrics;
use boardsync::runtime::Engine;
use boardsync::sandbox::{Sandbox, Seed};
use boardsync::store::{ItemLink, LinkState, NewOutboxEntry, Store};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const MIRO_BOARD: &str = "uXjVLostCr1=";
const MONDAY_BOARD: &str = "1000000733";

fn seed() -> Seed {
    serde_json::from_value(json!({
        "miro": { "boards": [{ "id": MIRO_BOARD, "name": "Lost", "owner": "alice", "items": [] }] },
        "monday": { "boards": [{
            "id": MONDAY_BOARD.parse::<u64>().unwrap(), "name": "Lost", "owner": "bob",
            "groups": [{"id": "topics", "title": "This sprint"}],
            "columns": [{"id": "status", "title": "Status", "type": "status"}],
            "items": []
        }]}
    }))
    .unwrap()
}

async fn monday_items(sandbox: &Sandbox) -> Vec<Value> {
    let state: Value =
        crate::common::get_json(&sandbox.monday_api_url().replace("/v2", "/_sandbox/state")).await;
    state["boards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == MONDAY_BOARD)
        .unwrap()["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_retried_after_the_idempotency_window_adopts_the_item_it_made() {
    let (sandbox, dir, db) = crate::common::seeded_sandbox(seed()).await;
    let pair = format!(
        r#"[[pair]]
name = "Lost"
miro_board = "{MIRO_BOARD}"
monday_board = {MONDAY_BOARD}
monday_group = "topics"

  [pair.fields]
  title = {{ miro = "data.content", monday = "name" }}
"#
    );
    let path = dir.path().join("lost.toml");
    let addr = "127.0.0.1:9".parse().unwrap();
    std::fs::write(&path, sandbox.mappings(addr, &db, "1s", &pair)).unwrap();
    let store = Store::open(&db).await.unwrap();
    let engine = Engine::new(
        store.clone(),
        Arc::new(Config::load(&path).unwrap()),
        Metrics::default(),
    );
    engine.learn_own_users().await.unwrap();

    // The first attempt made the item as boardsync, and its answer was lost.
    let made = crate::common::monday_query(
        &sandbox.monday_api_url(),
        "sandbox-app-boardsync",
        &format!(
            r#"mutation {{ create_item(board_id: {MONDAY_BOARD}, group_id: "topics", item_name: "Lost answer") {{ id }} }}"#
        ),
    )
    .await;
    let made_id = made["data"]["create_item"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The link waits for that create, whose row has been tried once already.
    let now = engine.clock.now_ms();
    let link = store
        .upsert_link(&ItemLink {
            id: 0,
            pair: "lost".into(),
            miro_item_id: Linked::Known("3458764600000000001".into()),
            monday_item_id: Linked::Pending(1),
            miro_type: "sticky_note".into(),
            state: LinkState::Active,
            fields: json!({}),
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    let write = Write::CreateMonday {
        name: "Lost answer".into(),
        group: Some("topics".into()),
        values: Default::default(),
    };
    let row = store
        .enqueue(&NewOutboxEntry {
            pair: "lost".into(),
            target: Target::Monday(None),
            link_id: Some(link),
            operation: write.name().into(),
            payload: serde_json::to_string(&write).unwrap(),
            idempotency_key: "lost-create-1".into(),
            due_at: now,
            created_at: now,
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_due("test", now, 60_000, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    store
        .schedule_retry(row, now, "the answer was lost")
        .await
        .unwrap();

    // 26 minutes on: monday no longer replays the first attempt by its key.
    engine.clock.advance(Duration::from_secs(26 * 60));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let dispatcher = tokio::spawn(boardsync::sync::dispatcher::run(
        engine.clone(),
        shutdown.clone(),
    ));
    let resolved = wait_for("the link resolved", Duration::from_secs(10), || async {
        let l = store.link_by_id(link).await.unwrap()?;
        l.monday_item_id.into_known()
    })
    .await;
    shutdown.cancel();
    dispatcher.await.unwrap();

    assert_eq!(
        resolved.as_str(),
        made_id,
        "the link adopted the item already made"
    );
    let items = monday_items(&sandbox).await;
    assert_eq!(items.len(), 1, "no second item: {items:#?}");
    store.close().await;
    sandbox.stop().await;
}
