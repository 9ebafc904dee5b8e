//! The Miro pollers as a whole: one replica polls each board (counted in the sandbox's request
//! log), another takes over when it dies, and the credit governor keeps the pollers inside their
//! share of Miro's credits while writes still go through.

use crate::common::wait_for;
use boardsync::app::{App, Role};
use boardsync::config::Config;
use boardsync::sandbox::{Sandbox, SandboxOptions, Seed};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const BOARD_A: &str = "uXjVPollA01=";
const BOARD_B: &str = "uXjVPollB01=";
const MONDAY_A: u64 = 1000000931;
const MONDAY_B: u64 = 1000000932;

fn seed(stickies: usize) -> Seed {
    serde_json::from_value(seed_json(stickies)).unwrap()
}

fn seed_json(stickies: usize) -> Value {
    let items: Vec<Value> = (0..stickies)
        .map(|i| json!({"type": "sticky_note", "data": {"content": format!("<p>Note {i}</p>")}}))
        .collect();
    let monday = |id: u64| {
        json!({"id": id, "name": "Plan", "owner": "bob",
               "groups": [{"id": "topics", "title": "Topics"}],
               "columns": [{"id": "status", "title": "Status", "type": "status"}],
               "items": []})
    };
    json!({
        "miro": {"boards": [
            {"id": BOARD_A, "name": "A", "owner": "alice", "items": items},
            {"id": BOARD_B, "name": "B", "owner": "alice", "items": []}
        ]},
        "monday": {"boards": [monday(MONDAY_A), monday(MONDAY_B)]}
    })
}

fn pair(name: &str, miro: &str, monday: u64) -> String {
    format!(
        r#"[[pair]]
name = "{name}"
miro_board = "{miro}"
monday_board = {monday}
monday_group = "topics"

  [pair.fields]
  title = {{ miro = "data.content", monday = "name" }}
"#
    )
}

/// The sandbox's log of Miro calls after `after`.
async fn miro_calls(sandbox: &Sandbox, after: u64) -> Vec<Value> {
    crate::common::get_json(&format!(
        "{}/_sandbox/requests?after={after}",
        sandbox.miro_api_url()
    ))
    .await
}

/// A board id as it appears in a request path.
fn path_id(board: &str) -> &'static str {
    match board {
        BOARD_A => "uXjVPollA01%3D",
        BOARD_B => "uXjVPollB01%3D",
        _ => unreachable!("only two boards"),
    }
}

/// Who listed each board's items (the scan's call), among `calls`.
fn scanners(calls: &[Value]) -> BTreeMap<String, BTreeSet<String>> {
    let mut by_board: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in calls {
        let path = c["path"].as_str().unwrap_or_default();
        if c["method"] == "GET"
            && let Some(board) = path
                .strip_prefix("/v2/boards/")
                .and_then(|p| p.strip_suffix("/items"))
        {
            by_board
                .entry(board.to_owned())
                .or_default()
                .insert(c["user"].as_str().unwrap_or_default().to_owned());
        }
    }
    by_board
}

/// A daemon process (`boardsync run`) on `db`, acting as the sandbox user `user`, with a
/// one-second poller lease; killed when dropped.
fn replica(sandbox: &Sandbox, dir: &std::path::Path, db: &str, user: &str) -> Replica {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let pairs = format!(
        "{}\n{}",
        pair("A", BOARD_A, MONDAY_A),
        pair("B", BOARD_B, MONDAY_B)
    );
    let text = sandbox
        .mappings(addr, db, "100ms", &pairs)
        .replace("sandbox-app-boardsync", &format!("sandbox-app-{user}"))
        .replace("[poller]\n", "[poller]\nlease = \"1s\"\n");
    let path = dir.join(format!("{user}.toml"));
    std::fs::write(&path, text).unwrap();
    Replica(
        std::process::Command::new(crate::common::bin())
            .arg("run")
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// A daemon process, killed (SIGKILL: no chance to give its leases up) when dropped.
struct Replica(std::process::Child);

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_board_is_polled_by_one_replica_and_another_takes_over_when_it_dies() {
    let (sandbox, dir, _) = crate::common::seeded_sandbox(seed(3)).await;
    let db = crate::common::TestDb::create().await;
    let one = replica(&sandbox, dir.path(), &db.url, "replica-one");
    let two = replica(&sandbox, dir.path(), &db.url, "replica-two");

    // Both replicas run; each board is listed, again and again, by exactly one of them.
    let seen = wait_for(
        "both boards scanned several times",
        Duration::from_secs(20),
        || async {
            let calls = miro_calls(&sandbox, 0).await;
            let count = |board: &str| {
                calls
                    .iter()
                    .filter(|c| c["path"] == format!("/v2/boards/{}/items", path_id(board)))
                    .count()
            };
            (count(BOARD_A) >= 5 && count(BOARD_B) >= 5).then_some(calls)
        },
    )
    .await;
    for (board, users) in scanners(&seen) {
        assert_eq!(users.len(), 1, "board {board} was scanned by {users:?}");
    }
    let last = seen.last().unwrap()["seq"].as_u64().unwrap();

    // The first replica dies (SIGKILL) without giving its leases up: the second takes every
    // board over once they lapse (a second).
    drop(one);
    let after_death = wait_for(
        "the surviving replica scanning both boards",
        Duration::from_secs(20),
        || async {
            let calls = miro_calls(&sandbox, last).await;
            let by = scanners(&calls);
            let by_two = |b: &str| {
                by.get(path_id(b))
                    .is_some_and(|u| u.contains("replica-two"))
            };
            (by_two(BOARD_A) && by_two(BOARD_B)).then_some(calls)
        },
    )
    .await;
    // From the takeover on, nobody else scans: the dead replica's tasks are gone.
    let newest = after_death.last().unwrap()["seq"].as_u64().unwrap();
    let more = wait_for("more scans", Duration::from_secs(10), || async {
        let calls = miro_calls(&sandbox, newest).await;
        let by = scanners(&calls);
        (by.len() == 2).then_some(by)
    })
    .await;
    for (board, users) in more {
        assert_eq!(
            users,
            BTreeSet::from(["replica-two".to_owned()]),
            "board {board}"
        );
    }

    drop(two);
    db.drop_now().await;
    sandbox.stop().await;
}

/// The sandbox seeded with `seed` and Miro at `credits` a minute, and a daemon (SQLite, scan every
/// 100 ms) running `pair` on it: the sandbox, the dir holding the store, the status URL, and the
/// daemon's stop token and task.
async fn governed(
    seed: Value,
    credits: u64,
    pair: &str,
) -> (
    Sandbox,
    tempfile::TempDir,
    String,
    CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let sandbox = Sandbox::start(SandboxOptions {
        seed: Some(serde_json::from_value(seed).unwrap()),
        miro_credits: credits,
        ..SandboxOptions::ephemeral()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("boardsync.db").display());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let path = dir.path().join("pollers.toml");
    std::fs::write(&path, sandbox.mappings(addr, &db, "100ms", pair)).unwrap();
    let app = App::build_on(listener, Config::load(&path).unwrap(), Role::All)
        .await
        .unwrap();
    let status_url = format!("http://{}/api/status", app.local_addr());
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(app.run(shutdown.clone()));
    (sandbox, dir, status_url, shutdown, running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credit_governor_keeps_scans_to_their_share_and_writes_go_through() {
    // 3,000 credits a minute, half for the pollers: a scan of 120 notes is 3 pages of 100
    // credits, so the pollers may scan the board five times a minute, not every 100 ms.
    let (sandbox, _dir, status_url, shutdown, running) =
        governed(seed_json(120), 3_000, &pair("A", BOARD_A, MONDAY_A)).await;

    // The pollers have found their pace: the credits, not the 100 ms interval, set it.
    let poller = wait_for("a scan round recorded", Duration::from_secs(20), || async {
        let s: Value = crate::common::get_json(&status_url).await;
        let p = s["pairs"][0]["poller"].clone();
        (p["last_round_credits"].as_u64()? > 0).then_some(p)
    })
    .await;
    assert_eq!(poller["limited_by_credits"], true, "{poller}");
    assert!(
        poller["interval_ms"].as_u64().unwrap() >= 10_000,
        "{poller}"
    );

    // Writes still go through: items made on monday become sticky notes.
    let url = sandbox.monday_api_url();
    for i in 0..4 {
        let v = crate::common::monday_query(
            &url,
            "sandbox-bob",
            &format!(
                r#"mutation {{ create_item(board_id: {MONDAY_A}, group_id: "topics", item_name: "Written {i}") {{ id }} }}"#
            ),
        )
        .await;
        assert!(v.get("errors").is_none(), "{v}");
    }
    wait_for(
        "the four items on Miro",
        Duration::from_secs(30),
        || async {
            let state: Value =
                crate::common::get_json(&format!("{}/_sandbox/state", sandbox.miro_api_url()))
                    .await;
            let board = state["boards"]
                .as_array()?
                .iter()
                .find(|b| b["id"] == BOARD_A)?
                .clone();
            let written = board["items"]
                .as_array()?
                .iter()
                .filter(|i| {
                    i["data"]["content"]
                        .as_str()
                        .is_some_and(|c| c.contains("Written"))
                })
                .count();
            (written == 4).then_some(())
        },
    )
    .await;

    // Nothing was refused, and in every credit window (as the sandbox counts them: a minute from
    // the first call after the last window) the scans stayed within half the budget.
    let calls = miro_calls(&sandbox, 0).await;
    assert!(calls.iter().all(|c| c["status"] != 429), "a 429 was drawn");
    let mut windows: Vec<(u64, u64)> = Vec::new(); // (polled, written) per window
    let mut window_start: Option<chrono::DateTime<chrono::FixedOffset>> = None;
    for c in calls.iter().filter(|c| c["user"] == "boardsync") {
        let at = chrono::DateTime::parse_from_rfc3339(c["at"].as_str().unwrap()).unwrap();
        if window_start.is_none_or(|s| (at - s).num_milliseconds() >= 60_000) {
            window_start = Some(at);
            windows.push((0, 0));
        }
        let w = windows.last_mut().unwrap();
        let cost = c["cost"].as_u64().unwrap();
        if c["method"] == "GET" && c["path"].as_str().unwrap().contains("/items") {
            w.0 += cost;
        } else if c["method"] != "GET" {
            w.1 += cost;
        }
    }
    assert!(
        windows.iter().all(|(polled, _)| *polled <= 1_500),
        "{windows:?}"
    );
    assert!(
        windows.iter().any(|(_, written)| *written > 0),
        "{windows:?}"
    );

    shutdown.cancel();
    running.await.unwrap().unwrap();
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_too_big_for_the_credits_is_scanned_type_by_type_in_turns() {
    // 60 notes and 3 cards: a whole scan is 2 pages (200 credits). With 8,000 credits a minute
    // for the pollers that is a scan every 1.5 s, slower than the 100 ms asked for.
    let mut seed = seed_json(60);
    for i in 0..3 {
        seed["miro"]["boards"][0]["items"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "card", "data": {"title": format!("Card {i}")}}));
    }
    let pair = pair("A", BOARD_A, MONDAY_A)
        .replace(
            "monday_group = \"topics\"",
            "monday_group = \"topics\"\nmiro_items = [\"sticky_note\", \"card\"]",
        )
        .replace(
            "title = { miro = \"data.content\", monday = \"name\" }",
            "title = { miro = { sticky_note = \"data.content\", card = \"data.title\" }, monday = \"name\" }",
        );
    let (sandbox, _dir, status_url, shutdown, running) = governed(seed, 16_000, &pair).await;

    // Both types get their turn, each listed on its own...
    wait_for(
        "a scan of each type on its own",
        Duration::from_secs(30),
        || async {
            let calls = miro_calls(&sandbox, 0).await;
            let typed = |t: &str| {
                calls.iter().any(|c| {
                    c["path"] == format!("/v2/boards/{}/items", path_id(BOARD_A))
                        && c["query"]
                            .as_str()
                            .is_some_and(|q| q.contains(&format!("type={t}")))
                })
            };
            (typed("sticky_note") && typed("card")).then_some(())
        },
    )
    .await;
    // ... and the status says so.
    let poller = wait_for("the status in turns", Duration::from_secs(30), || async {
        let s: Value = crate::common::get_json(&status_url).await;
        let p = s["pairs"][0]["poller"].clone();
        p["in_turns"].is_string().then_some(p)
    })
    .await;
    assert_eq!(poller["limited_by_credits"], true, "{poller}");
    // Nothing seen as deleted: a scan of one type does not take the other type's items for gone.
    let s: Value = crate::common::get_json(&status_url).await;
    assert_eq!(s["pairs"][0]["links"]["orphaned"], 0, "{s}");
    let calls = miro_calls(&sandbox, 0).await;
    assert!(
        !calls.iter().any(|c| c["method"] == "GET"
            && c["path"]
                .as_str()
                .unwrap()
                .starts_with(&format!("/v2/boards/{}/items/", path_id(BOARD_A)))),
        "no item was read one by one to see whether it still exists"
    );

    shutdown.cancel();
    running.await.unwrap().unwrap();
    sandbox.stop().await;
}
