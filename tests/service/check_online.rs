//! `boardsync check --online` against the sandbox: each kind of mismatch between the mapping and
//! the live boards is reported plainly with exit 2, a mapping that fits exits 0, and `run` shows
//! the same problems on `/api/status` while it keeps serving.

use crate::common::wait_for;
use boardsync::app::{App, Role};
use boardsync::config::Config;
use boardsync::sandbox::{Sandbox, Seed};
use serde_json::{Value, json};
use std::time::Duration;

const MIRO_BOARD: &str = "uXjVCheck01=";
const MONDAY_BOARD: u64 = 1_000_000_311;

fn seed() -> Seed {
    serde_json::from_value(json!({
        "miro": { "boards": [{ "id": MIRO_BOARD, "name": "Check", "owner": "alice", "items": [] }] },
        "monday": { "boards": [{
            "id": MONDAY_BOARD, "name": "Check", "owner": "bob",
            "groups": [{"id": "topics", "title": "This sprint"}],
            "columns": [
                {"id": "status", "title": "Status", "type": "status"},
                {"id": "notes", "title": "Notes", "type": "long_text"},
                {"id": "owner", "title": "Owner", "type": "people"}
            ],
            "items": []
        }]}
    }))
    .unwrap()
}

/// Creates an item of `collection` on the Miro board and returns its id.
async fn miro_item(sandbox: &Sandbox, collection: &str, body: Value) -> String {
    let v: Value = reqwest::Client::new()
        .post(format!(
            "{}/v2/boards/{}/{collection}",
            sandbox.miro_api_url(),
            urlencoding(MIRO_BOARD)
        ))
        .bearer_auth("sandbox-alice")
        .json(&body)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    v["id"].as_str().unwrap().to_owned()
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn pair(frame: &str, group: &str, fields: &str) -> String {
    format!(
        r#"[[pair]]
name = "Check"
miro_board = "{MIRO_BOARD}"
monday_board = {MONDAY_BOARD}
monday_group = "{group}"
miro_frame = "{frame}"
miro_items = ["sticky_note", "card"]

  [pair.fields]
  title = {{ miro = {{ sticky_note = "data.content", card = "data.title" }}, monday = "name" }}
{fields}
"#
    )
}

const GOOD_FIELDS: &str = r#"  status = { miro = { sticky_note = "style.fillColor" }, monday = "status", values = { light_green = "Done", red = "Stuck" } }
  notes = { miro = { card = "data.description" }, monday = "notes", direction = "miro_to_monday" }"#;

const BAD_FIELDS: &str = r#"  status = { miro = { sticky_note = "style.fillColor" }, monday = "status", values = { light_green = "Done", red = "Blocked" } }
  notes = { miro = { card = "data.description" }, monday = "missing", direction = "miro_to_monday" }
  owner = { miro = { card = "data.assigneeId" }, monday = "owner", direction = "miro_to_monday" }"#;

/// Runs `boardsync check --online FILE` off the runtime, so the in-process sandbox answers it.
async fn check(path: &std::path::Path) -> std::process::Output {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(crate::common::bin())
            .args(["check", "--online"])
            .arg(path)
            .env_clear()
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn check_online_reports_each_mismatch_with_the_live_boards() {
    let (sandbox, dir, db) = crate::common::seeded_sandbox(seed()).await;
    let frame = miro_item(&sandbox, "frames", json!({"data": {"title": "Sprint"}})).await;
    let sticky = miro_item(
        &sandbox,
        "sticky_notes",
        json!({"data": {"content": "<p>x</p>"}}),
    )
    .await;
    let addr: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();

    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        sandbox.mappings(addr, &db, "5s", &pair(&frame, "topics", GOOD_FIELDS)),
    )
    .unwrap();
    let out = check(&good).await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("online: the boards fit the mapping (1 pair checked)"),
        "{stdout}"
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        sandbox.mappings(addr, &db, "5s", &pair(&sticky, "nope", BAD_FIELDS)),
    )
    .unwrap();
    let out = check(&bad).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for expected in [
        format!(
            "pair `Check`: item {sticky} on Miro board {MIRO_BOARD} is a sticky_note, not a frame"
        ),
        format!(
            "pair `Check`: group `nope` is not on monday board {MONDAY_BOARD} (its groups: topics)"
        ),
        "pair `Check`: field `status`: label `Blocked` is not a label of status column `status`"
            .into(),
        format!(
            "pair `Check`: field `notes`: column `missing` is not on monday board {MONDAY_BOARD}"
        ),
        "pair `Check`: field `owner`: column `owner` is a people column".into(),
        "bad.toml: 5 problems on the live boards".into(),
    ] {
        assert!(
            stderr.contains(&expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }

    // A board that is not there, on each side.
    let gone = dir.path().join("gone.toml");
    let text = sandbox
        .mappings(addr, &db, "5s", &pair(&frame, "topics", GOOD_FIELDS))
        .replace(MIRO_BOARD, "uXjVNoSuch0=")
        .replace(&MONDAY_BOARD.to_string(), "1000000999");
    std::fs::write(&gone, text).unwrap();
    let out = check(&gone).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("Miro board uXjVNoSuch0= does not exist, or the token cannot see it"),
        "{stderr}"
    );
    assert!(
        stderr.contains("monday board 1000000999 does not exist, or the token cannot see it"),
        "{stderr}"
    );

    // `run` reports the same problems on /api/status and goes on serving.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    std::fs::write(
        &bad,
        sandbox.mappings(addr, &db, "5s", &pair(&sticky, "nope", BAD_FIELDS)),
    )
    .unwrap();
    let config = Config::load(&bad).unwrap();
    let app = App::build_on(listener, config, Role::All).await.unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let daemon = tokio::spawn(app.run(shutdown.clone()));
    let problems = wait_for(
        "the mapping problems on /api/status",
        Duration::from_secs(20),
        || async {
            let s: Value = crate::common::get_json(&format!("http://{addr}/api/status")).await;
            let problems = s["problems"].as_array()?.clone();
            (problems.len() >= 5).then_some(problems)
        },
    )
    .await;
    let text = serde_json::to_string(&problems).unwrap();
    assert!(text.contains("label `Blocked`"), "{text}");
    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert!(health.status().is_success());
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
    sandbox.stop().await;
}
