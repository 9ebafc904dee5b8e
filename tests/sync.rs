//! The sync engine end to end: the daemon against the sandbox on loopback, on SQLite and on
//! Postgres. People edit the boards through the sandbox's APIs with tokens of their own; the tests
//! wait (with deadlines) until the other board shows the change, then check that nothing was
//! doubled and nothing loops.

mod common;

use boardsync::app::{App, Role};
use boardsync::config::Config;
use boardsync::sandbox::{Sandbox, SandboxOptions, Seed};
use common::{TestDb, wait_for};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const MIRO_BOARD: &str = "uXjVSyncTst=";
const MONDAY_BOARD: &str = "1000000077";
const DEADLINE: Duration = Duration::from_secs(20);

/// A sandbox, a daemon syncing one pair on it, and the database behind the daemon.
struct World {
    sandbox: Sandbox,
    shutdown: CancellationToken,
    daemon: tokio::task::JoinHandle<anyhow::Result<()>>,
    http: reqwest::Client,
    base: String,
    _db: Option<TestDb>,
    _dir: tempfile::TempDir,
}

fn seed() -> Seed {
    serde_json::from_value(json!({
        "miro": { "boards": [{ "id": MIRO_BOARD, "name": "Sync test", "owner": "alice", "items": [] }] },
        "monday": { "boards": [{
            "id": MONDAY_BOARD.parse::<u64>().unwrap(), "name": "Sync test", "owner": "bob",
            "groups": [{"id": "topics", "title": "This sprint"}, {"id": "later", "title": "Later"}],
            "columns": [{"id": "status", "title": "Status", "type": "status"}],
            "items": []
        }]}
    }))
    .unwrap()
}

async fn world(postgres: bool, extra: &str) -> World {
    let sandbox = Sandbox::start(SandboxOptions {
        seed: Some(seed()),
        ..SandboxOptions::ephemeral()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = if postgres {
        Some(TestDb::create().await)
    } else {
        None
    };
    let database_url = match &db {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}", dir.path().join("sync.db").display()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let text = format!(
        r#"
[daemon]
listen = "{addr}"
public_url = "http://{addr}"
database_url = "{database_url}"

[miro]
token = "sandbox-app-boardsync"
client_secret = "sandbox-secret"
api_url = "{miro}"

[monday]
token = "sandbox-app-boardsync"
signing_secret = "sandbox-secret"
api_url = "{monday}"

[poller]
interval = "100ms"

[[pair]]
name = "Sync test"
miro_board = "{MIRO_BOARD}"
monday_board = {MONDAY_BOARD}
monday_group = "topics"
{extra}

  [pair.fields]
  title  = {{ miro = "data.content", monday = "name" }}
  status = {{ miro = "style.fillColor", monday = "status", values = {{ light_green = "Done", red = "Stuck", light_yellow = "Working on it" }} }}
"#,
        miro = sandbox.miro_api_url(),
        monday = sandbox.monday_api_url(),
    );
    let config = Config::parse(Path::new("sync-test.toml"), &text, &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    let app = App::build_on(listener, config, Role::All).await.unwrap();
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(app.run(shutdown.clone()));
    let world = World {
        sandbox,
        shutdown,
        daemon,
        http: reqwest::Client::new(),
        base: format!("http://{addr}"),
        _db: db,
        _dir: dir,
    };
    // The daemon is ready once its monday webhooks are in place.
    wait_for("the monday webhooks", DEADLINE, || async {
        let s = world.monday_state().await;
        (s["webhooks"].as_array().unwrap().len() >= 5).then_some(())
    })
    .await;
    world
}

impl World {
    async fn stop(self) {
        self.shutdown.cancel();
        self.daemon.await.unwrap().unwrap();
        self.sandbox.stop().await;
    }

    async fn miro(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(
                method,
                format!(
                    "{}/v2/boards/{}/{path}",
                    self.sandbox.miro_api_url(),
                    urlencode(MIRO_BOARD)
                ),
            )
            .bearer_auth("sandbox-alice");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    async fn monday(&self, query: &str) -> Value {
        let v = common::monday_query(&self.sandbox.monday_api_url(), "sandbox-bob", query).await;
        assert!(v.get("errors").is_none(), "{query}: {v}");
        v["data"].clone()
    }

    async fn monday_state(&self) -> Value {
        common::get_json(
            &self
                .sandbox
                .monday_api_url()
                .replace("/v2", "/_sandbox/state"),
        )
        .await
    }

    async fn miro_state(&self) -> Value {
        common::get_json(&format!("{}/_sandbox/state", self.sandbox.miro_api_url())).await
    }

    async fn monday_items(&self) -> Vec<Value> {
        board_items(self.monday_state().await, MONDAY_BOARD)
    }

    async fn miro_items(&self) -> Vec<Value> {
        board_items(self.miro_state().await, MIRO_BOARD)
    }

    /// Waits until `n` more Miro scans have completed.
    async fn scans_after(&self, n: i64) {
        let last_scan = |s: Value| s["pairs"][0]["poller"]["last_scan"].as_i64().unwrap_or(0);
        let mut seen = last_scan(self.status().await);
        for _ in 0..n {
            seen = wait_for("the next scan", DEADLINE, || async {
                let now = last_scan(self.status().await);
                (now > seen).then_some(now)
            })
            .await;
        }
    }

    async fn status(&self) -> Value {
        common::get_json(&format!("{}/api/status", self.base)).await
    }

    /// The API calls the sandbox has seen from boardsync other than GETs: every write, and on
    /// monday (one POST endpoint) its reads too.
    async fn boardsync_posts(&self) -> usize {
        let mut n = 0;
        for url in [
            format!("{}/_sandbox/requests", self.sandbox.miro_api_url()),
            self.sandbox
                .monday_api_url()
                .replace("/v2", "/_sandbox/requests"),
        ] {
            let log: Value = self
                .http
                .get(url)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            n += log
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["user"] == "boardsync" && r["method"] != "GET")
                .count();
        }
        n
    }
}

/// The items of board `id` in a sandbox `state` answer.
fn board_items(state: Value, id: &str) -> Vec<Value> {
    state["boards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == id)
        .map(|b| b["items"].as_array().unwrap().clone())
        .unwrap_or_default()
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn monday_item<'a>(items: &'a [Value], name: &str) -> Option<&'a Value> {
    items.iter().find(|i| i["name"] == name)
}

async fn a_sticky_note_and_a_monday_item_stay_in_step_both_ways(postgres: bool) {
    let w = world(postgres, "").await;

    // Born on Miro: appears on monday, in the pair's group, with its status mapped.
    let sticky = w
        .miro(
            reqwest::Method::POST,
            "sticky_notes",
            Some(json!({"data": {"content": "<p>Ship &amp; tell</p>"}, "style": {"fillColor": "light_yellow"}})),
        )
        .await;
    let sticky_id = sticky["id"].as_str().unwrap().to_owned();
    let item = wait_for("the sticky note on monday", DEADLINE, || async {
        monday_item(&w.monday_items().await, "Ship & tell").cloned()
    })
    .await;
    assert_eq!(item["group"], "topics");
    assert_eq!(item["values"]["status"]["text"], "Working on it");
    let item_id = item["id"].as_str().unwrap().to_owned();

    // Edited on monday: the sticky note's colour follows.
    w.monday(&format!(
        r#"mutation {{ change_multiple_column_values(board_id: {MONDAY_BOARD}, item_id: {item_id}, column_values: "{{\"status\": {{\"label\": \"Done\"}}}}") {{ id }} }}"#
    ))
    .await;
    wait_for("the colour on Miro", DEADLINE, || async {
        w.miro_items()
            .await
            .iter()
            .find(|i| i["id"] == sticky_id.as_str())
            .filter(|i| i["style"]["fillColor"] == "light_green")
            .map(|_| ())
    })
    .await;

    // Edited on Miro: the item name follows.
    w.miro(
        reqwest::Method::PATCH,
        &format!("sticky_notes/{sticky_id}"),
        Some(json!({"data": {"content": "<p>Ship it now</p>"}})),
    )
    .await;
    wait_for("the new name on monday", DEADLINE, || async {
        monday_item(&w.monday_items().await, "Ship it now").map(|_| ())
    })
    .await;

    // Born on monday: appears on Miro as a sticky note.
    w.monday(&format!(
        r#"mutation {{ create_item(board_id: {MONDAY_BOARD}, group_id: "topics", item_name: "From monday", column_values: "{{\"status\": {{\"label\": \"Stuck\"}}}}") {{ id }} }}"#
    ))
    .await;
    wait_for("the monday item on Miro", DEADLINE, || async {
        w.miro_items()
            .await
            .iter()
            .find(|i| i["data"]["content"] == "<p>From monday</p>")
            .filter(|i| i["style"]["fillColor"] == "red")
            .map(|_| ())
    })
    .await;

    // Quiet now: one twin each, and boardsync's own writes did not echo into more writes.
    let settled = wait_for("the outbox to drain", DEADLINE, || async {
        let s = w.status().await;
        (s["pairs"][0]["outbox_backlog"] == 0 && s["inbox_backlog"] == 0).then_some(s)
    })
    .await;
    assert_eq!(settled["pairs"][0]["links"]["active"], 2, "{settled}");
    assert_eq!(settled["pairs"][0]["dead_letters"], 0, "{settled}");
    assert_eq!(w.monday_items().await.len(), 2);
    assert_eq!(w.miro_items().await.len(), 2);
    let posts = w.boardsync_posts().await;
    // 2 creates and 2 updates at least, and the reads of monday's `me`, columns and webhooks.
    assert!(
        posts >= 4,
        "only {posts} calls from boardsync in the sandbox's log"
    );
    // Let three more scans pass: boardsync's own writes come back in them, and must stop there.
    w.scans_after(3).await;
    assert_eq!(
        w.boardsync_posts().await,
        posts,
        "boardsync kept writing: a loop"
    );
    w.stop().await;
}

#[tokio::test]
async fn sqlite_a_sticky_note_and_a_monday_item_stay_in_step_both_ways() {
    a_sticky_note_and_a_monday_item_stay_in_step_both_ways(false).await;
}

#[tokio::test]
async fn postgres_a_sticky_note_and_a_monday_item_stay_in_step_both_ways() {
    a_sticky_note_and_a_monday_item_stay_in_step_both_ways(true).await;
}
