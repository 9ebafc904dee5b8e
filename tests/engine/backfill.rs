//! Initial sync against the sandbox: items already on both boards are matched by title (case
//! and spacing aside) and linked one-to-one, the rest created on the other side, ambiguous
//! titles reported and left alone; `backfill --dry-run` changes nothing, and a second backfill
//! does nothing.

use crate::common::wait_for;
use boardsync::app::{App, Role};
use boardsync::config::Config;
use boardsync::sandbox::{Sandbox, Seed};
use boardsync::store::{LinkState, Store};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const MIRO_BOARD: &str = "uXjVBackfl1=";
const MONDAY_BOARD: &str = "1000000421";
const DEADLINE: Duration = Duration::from_secs(30);

fn seed() -> Seed {
    let sticky = |text: &str, colour: &str| json!({"type": "sticky_note", "data": {"content": format!("<p>{text}</p>")}, "style": {"fillColor": colour}});
    let item = |name: &str, label: &str| json!({"name": name, "group": "topics", "values": {"status": {"label": label}}});
    serde_json::from_value(json!({
        "miro": { "boards": [{ "id": MIRO_BOARD, "name": "Backfill", "owner": "alice", "items": [
            sticky("Plan the offsite", "light_green"),
            sticky("Fix the login bug", "red"),
            sticky("Only on Miro", "light_yellow"),
            sticky("Twice", "red"),
            sticky("Twice", "light_green"),
        ]}]},
        "monday": { "boards": [{
            "id": MONDAY_BOARD.parse::<u64>().unwrap(), "name": "Backfill", "owner": "bob",
            "groups": [{"id": "topics", "title": "This sprint"}],
            "columns": [{"id": "status", "title": "Status", "type": "status"}],
            "items": [
                item("plan the  OFFSITE", "Done"),
                item("Fix the login bug", "Working on it"),
                item("Only on monday", "Stuck"),
                item("Twice", "Done"),
            ]
        }]}
    }))
    .unwrap()
}

/// Runs the binary with `args`, off the runtime, so the in-process sandbox answers it.
async fn boardsync(args: &[&str], config: &Path) -> String {
    let out = crate::common::run_cli(args, config).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The number on the summary line that starts with `label`.
fn count(summary: &str, label: &str) -> usize {
    let line = summary
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{summary}"));
    line[label.len() + 2..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count on `{line}`"))
}

async fn items(sandbox: &Sandbox, miro: bool) -> Vec<(String, String)> {
    let (url, board) = if miro {
        (
            format!("{}/_sandbox/state", sandbox.miro_api_url()),
            MIRO_BOARD,
        )
    } else {
        (
            sandbox.monday_api_url().replace("/v2", "/_sandbox/state"),
            MONDAY_BOARD,
        )
    };
    let state: Value = crate::common::get_json(&url).await;
    let board = state["boards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == board)
        .unwrap()
        .clone();
    let mut out: Vec<(String, String)> = board["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            if miro {
                (
                    i["data"]["content"].as_str().unwrap().to_owned(),
                    i["style"]["fillColor"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            } else {
                (
                    i["name"].as_str().unwrap().to_owned(),
                    i["values"]["status"]["text"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            }
        })
        .collect();
    out.sort();
    out
}

fn has(items: &[(String, String)], title: &str, value: &str) -> bool {
    items.iter().any(|(t, v)| t == title && v == value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_items_are_linked_by_title_and_the_rest_created_once() {
    let (sandbox, dir, db) = crate::common::seeded_sandbox(seed()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let pair = format!(
        r#"[[pair]]
name = "Backfill"
miro_board = "{MIRO_BOARD}"
monday_board = {MONDAY_BOARD}
monday_group = "topics"
sync_existing = true
conflict = "miro"

  [pair.fields]
  title  = {{ miro = "data.content", monday = "name" }}
  status = {{ miro = "style.fillColor", monday = "status", values = {{ light_green = "Done", red = "Stuck", light_yellow = "Working on it" }} }}
"#
    );
    let config = dir.path().join("backfill.toml");
    std::fs::write(&config, sandbox.mappings(addr, &db, "100ms", &pair)).unwrap();
    let (miro_before, monday_before) = (items(&sandbox, true).await, items(&sandbox, false).await);

    // A dry run says what would happen and changes nothing.
    let dry = boardsync(&["backfill", "--pair", "Backfill", "--dry-run"], &config).await;
    assert!(dry.contains("dry run: nothing changed"), "{dry}");
    assert_eq!(count(&dry, "would link"), 2, "{dry}");
    assert!(
        dry.contains("2 with a field brought over from the winning side"),
        "{dry}"
    );
    assert_eq!(count(&dry, "would create on monday"), 1, "{dry}");
    assert_eq!(count(&dry, "would create on Miro"), 1, "{dry}");
    assert_eq!(count(&dry, "ambiguous"), 1, "{dry}");
    assert!(dry.contains("twice (2 on Miro, 1 on monday)"), "{dry}");
    assert_eq!(items(&sandbox, true).await, miro_before);
    assert_eq!(items(&sandbox, false).await, monday_before);
    let store = Store::open(&db).await.unwrap();
    assert_eq!(
        store
            .count_links("backfill", LinkState::Active)
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.count_inbox(None).await.unwrap(), 0);

    // The daemon's first scan does it for real (`sync_existing = true`).
    let app = App::build_on(listener, Config::load(&config).unwrap(), Role::All)
        .await
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let daemon = tokio::spawn(app.run(shutdown.clone()));
    let (miro, monday) = wait_for("both boards complete", DEADLINE, || async {
        let (miro, monday) = (items(&sandbox, true).await, items(&sandbox, false).await);
        (has(&miro, "<p>Only on monday</p>", "red")
            && has(&monday, "Only on Miro", "Working on it")
            && has(&monday, "Fix the login bug", "Stuck")
            && has(&monday, "Plan the offsite", "Done"))
        .then_some((miro, monday))
    })
    .await;
    // Matched items were linked, not created again; the ambiguous ones were left alone.
    assert_eq!(miro.len(), 6, "{miro:?}");
    assert_eq!(monday.len(), 5, "{monday:?}");
    assert!(has(&miro, "<p>Fix the login bug</p>", "red"), "Miro won");
    // Matched whatever the case and spacing; the titles differed, and Miro's won.
    assert!(has(&monday, "Plan the offsite", "Done"), "{monday:?}");
    assert_eq!(
        monday.iter().filter(|(t, _)| t == "Twice").count(),
        1,
        "{monday:?}"
    );
    let links = wait_for("the created items linked", DEADLINE, || async {
        let n = store
            .count_links("backfill", LinkState::Active)
            .await
            .unwrap();
        (n == 4).then_some(n)
    })
    .await;
    assert_eq!(links, 4);

    // Again, on demand: everything is linked already; nothing to do.
    let again = boardsync(&["backfill", "--pair", "Backfill"], &config).await;
    assert_eq!(count(&again, "link"), 0, "{again}");
    assert_eq!(count(&again, "create on monday"), 0, "{again}");
    assert_eq!(count(&again, "create on Miro"), 0, "{again}");
    assert_eq!(count(&again, "already linked"), 8, "{again}");
    assert_eq!(count(&again, "ambiguous"), 1, "{again}");

    shutdown.cancel();
    daemon.await.unwrap().unwrap();
    assert_eq!(items(&sandbox, true).await.len(), 6);
    assert_eq!(items(&sandbox, false).await.len(), 5);
    store.close().await;
    sandbox.stop().await;
}
