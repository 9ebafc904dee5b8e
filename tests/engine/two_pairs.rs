//! One monday board in two pairs, told apart by their groups: each item goes to its own pair's
//! Miro board, at creation (the group is in the webhook) and after (the link says which pair).

use crate::common::wait_for;
use boardsync::app::{App, Role};
use boardsync::config::Config;
use boardsync::sandbox::Seed;
use serde_json::{Value, json};
use std::time::Duration;

const MIRO_NOW: &str = "uXjVTwoNow1=";
const MIRO_LATER: &str = "uXjVTwoLtr1=";
const MONDAY_BOARD: &str = "1000000919";

fn seed() -> Seed {
    serde_json::from_value(json!({
        "miro": { "boards": [
            { "id": MIRO_NOW, "name": "Now", "owner": "alice", "items": [] },
            { "id": MIRO_LATER, "name": "Later", "owner": "alice", "items": [] }
        ]},
        "monday": { "boards": [{
            "id": MONDAY_BOARD.parse::<u64>().unwrap(), "name": "Roadmap", "owner": "bob",
            "groups": [{"id": "topics", "title": "This sprint"}, {"id": "later", "title": "Later"}],
            "columns": [{"id": "status", "title": "Status", "type": "status"}],
            "items": []
        }]}
    }))
    .unwrap()
}

fn pair(name: &str, miro: &str, group: &str) -> String {
    format!(
        r#"[[pair]]
name = "{name}"
miro_board = "{miro}"
monday_board = {MONDAY_BOARD}
monday_group = "{group}"
monday_filter = {{ groups = ["{group}"] }}

  [pair.fields]
  title  = {{ miro = "data.content", monday = "name" }}
  status = {{ miro = "style.fillColor", monday = "status", values = {{ light_green = "Done", red = "Stuck", light_yellow = "Working on it" }} }}
"#
    )
}

/// `(content, colour)` of each sticky note on Miro board `board`.
async fn stickies(sandbox: &boardsync::sandbox::Sandbox, board: &str) -> Vec<(String, String)> {
    let state: Value =
        crate::common::get_json(&format!("{}/_sandbox/state", sandbox.miro_api_url())).await;
    state["boards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == board)
        .unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["data"]["content"].as_str().unwrap_or_default().to_owned(),
                i["style"]["fillColor"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_group_syncs_with_its_own_pairs_board() {
    let (sandbox, dir, db) = crate::common::seeded_sandbox(seed()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let pairs = format!(
        "{}\n{}",
        pair("Now", MIRO_NOW, "topics"),
        pair("Later", MIRO_LATER, "later")
    );
    let path = dir.path().join("two.toml");
    std::fs::write(&path, sandbox.mappings(addr, &db, "100ms", &pairs)).unwrap();
    let app = App::build_on(listener, Config::load(&path).unwrap(), Role::All)
        .await
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let daemon = tokio::spawn(app.run(shutdown.clone()));
    wait_for("the monday webhooks", Duration::from_secs(20), || async {
        let s: Value =
            crate::common::get_json(&sandbox.monday_api_url().replace("/v2", "/_sandbox/state"))
                .await;
        (s["webhooks"].as_array()?.len() >= 5).then_some(())
    })
    .await;

    let monday = |query: String| {
        let url = sandbox.monday_api_url();
        async move {
            let v = crate::common::monday_query(&url, "sandbox-bob", &query).await;
            assert!(v.get("errors").is_none(), "{v}");
            v
        }
    };
    // Created with a status, so each sticky note is made with its colour: without one it would get
    // Miro's default colour, whose trip back to monday could cross the status change below (both
    // sides would still agree, on whichever landed last).
    let made = monday(format!(
        r#"mutation {{ create_item(board_id: {MONDAY_BOARD}, group_id: "later", item_name: "Someday", column_values: "{{\"status\": {{\"label\": \"Working on it\"}}}}") {{ id }} }}"#
    ))
    .await;
    let later_id = made["data"]["create_item"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    monday(format!(
        r#"mutation {{ create_item(board_id: {MONDAY_BOARD}, group_id: "topics", item_name: "Today", column_values: "{{\"status\": {{\"label\": \"Working on it\"}}}}") {{ id }} }}"#
    ))
    .await;
    wait_for(
        "each item on its pair's board",
        Duration::from_secs(20),
        || async {
            let (now, later) = (
                stickies(&sandbox, MIRO_NOW).await,
                stickies(&sandbox, MIRO_LATER).await,
            );
            (now.iter().any(|(c, _)| c == "<p>Today</p>")
                && later.iter().any(|(c, _)| c == "<p>Someday</p>"))
            .then_some(())
        },
    )
    .await;

    // A column change carries no group: the link tells the pair.
    monday(format!(
        r#"mutation {{ change_multiple_column_values(board_id: {MONDAY_BOARD}, item_id: {later_id}, column_values: "{{\"status\": {{\"label\": \"Done\"}}}}") {{ id }} }}"#
    ))
    .await;
    wait_for(
        "the status on the Later board",
        Duration::from_secs(20),
        || async {
            stickies(&sandbox, MIRO_LATER)
                .await
                .iter()
                .any(|(c, colour)| c == "<p>Someday</p>" && colour == "light_green")
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        stickies(&sandbox, MIRO_NOW).await.len(),
        1,
        "nothing else on Now"
    );
    assert_eq!(
        stickies(&sandbox, MIRO_LATER).await.len(),
        1,
        "nothing else on Later"
    );

    shutdown.cancel();
    daemon.await.unwrap().unwrap();
    sandbox.stop().await;
}
