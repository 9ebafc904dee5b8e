//! A daemon on the sandbox for the tag and connector tests. Its poll loop is held back (an
//! interval of an hour: it polls once, at start), so each test runs the pollers' rounds itself
//! (`tags::poll_pair` and `connectors::poll_pair` after the scan, as the loop does) and can say
//! in how many rounds a change reached the other side. Everything else (webhooks, the processor,
//! the dispatcher) runs in the daemon as usual.

#![allow(dead_code)]

use crate::common::{self, TestDb, wait_for};
use boardsync::app::{App, Role};
use boardsync::config::{Config, PairConfig};
use boardsync::pollers::relation::PollReport;
use boardsync::pollers::{connectors, scan, tags};
use boardsync::runtime::Engine;
use boardsync::sandbox::{Sandbox, SandboxOptions, Seed};
use boardsync::store::keys;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const MIRO_BOARD: &str = "uXjVTagsTst=";
pub const MONDAY_BOARD: &str = "1000000088";
pub const DEADLINE: Duration = Duration::from_secs(20);

pub struct World {
    pub sandbox: Sandbox,
    pub engine: Engine,
    pub pair: PairConfig,
    pub base: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
    daemon: tokio::task::JoinHandle<anyhow::Result<()>>,
    _db: Option<TestDb>,
    _dir: tempfile::TempDir,
}

fn seed() -> Seed {
    serde_json::from_value(json!({
        "miro": { "boards": [{ "id": MIRO_BOARD, "name": "Tags test", "owner": "alice", "items": [] }] },
        "monday": { "boards": [{
            "id": MONDAY_BOARD.parse::<u64>().unwrap(), "name": "Tags test", "owner": "bob",
            "groups": [{"id": "topics", "title": "This sprint"}],
            "columns": [
                {"id": "tags", "title": "Tags", "type": "tags"},
                {"id": "deps", "title": "Depends on", "type": "dependency"}
            ],
            "items": []
        }]}
    }))
    .unwrap()
}

/// A sandbox and a daemon syncing one pair with `fields` (the body of `[pair.fields]`) and
/// `extra` pair keys, on Postgres or SQLite; returns once the daemon's first round is done.
pub async fn world(postgres: bool, extra: &str, fields: &str) -> World {
    if std::env::var_os("RUST_LOG").is_some() {
        boardsync::telemetry::init();
    }
    let sandbox = Sandbox::start(SandboxOptions {
        seed: Some(seed()),
        miro_credits: 100_000_000,
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
        None => format!("sqlite://{}", dir.path().join("tags.db").display()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let pair = format!(
        r#"[[pair]]
name = "Tags test"
miro_board = "{MIRO_BOARD}"
monday_board = {MONDAY_BOARD}
monday_group = "topics"
{extra}

  [pair.fields]
  {fields}
"#
    );
    let text = sandbox.mappings(addr, &database_url, "1h", &pair);
    let path = dir.path().join("tags-test.toml");
    std::fs::write(&path, &text).unwrap();
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let pair = config.pairs[0].clone();
    let app = App::build_on(listener, config, Role::All).await.unwrap();
    let engine = app.engine().expect("the worker role has an engine").clone();
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(app.run(shutdown.clone()));
    let world = World {
        sandbox,
        engine,
        pair,
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        shutdown,
        daemon,
        _db: db,
        _dir: dir,
    };
    wait_for("the monday webhooks", DEADLINE, || async {
        let s = world.monday_state().await;
        (s["webhooks"].as_array().unwrap().len() >= 5).then_some(())
    })
    .await;
    // The first round takes both boards as they are; the tests start after it.
    wait_for("the daemon's first poll round", DEADLINE, || async {
        let store = &world.engine.store;
        let done = |key: String| async move { store.cursor(&key).await.unwrap().is_some() };
        let all = done(keys::scan_cursor(&world.pair.slug)).await
            && (!tags::wanted(&world.pair) || done(keys::tags_cursor(&world.pair.slug)).await)
            && (!connectors::wanted(&world.pair)
                || done(keys::connectors_cursor(&world.pair.slug)).await);
        all.then_some(())
    })
    .await;
    world
}

impl World {
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.daemon.await.unwrap().unwrap();
        self.sandbox.stop().await;
    }

    /// One poll round, as the daemon's loop makes it: the scan, then tags and connectors.
    pub async fn round(&self) -> (PollReport, PollReport) {
        scan::scan_pair(&self.engine, &self.pair).await.unwrap();
        let tags = tags::poll_pair(&self.engine, &self.pair).await.unwrap();
        let connectors = connectors::poll_pair(&self.engine, &self.pair)
            .await
            .unwrap();
        (tags, connectors)
    }

    /// Waits until every change is processed and every write made.
    pub async fn settled(&self) {
        wait_for("the inbox and the outbox to drain", DEADLINE, || async {
            let s: Value = common::get_json(&format!("{}/api/status", self.base)).await;
            (s["inbox_backlog"] == 0 && s["pairs"][0]["outbox_backlog"] == 0).then_some(())
        })
        .await;
    }

    /// Runs rounds (letting the daemon settle after each) until `check` holds, at most two;
    /// returns the rounds it took and the last round's reports.
    pub async fn within_two_rounds<T, F, Fut>(
        &self,
        what: &str,
        mut check: F,
    ) -> (T, usize, (PollReport, PollReport))
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        for rounds in 1..=2 {
            let reports = self.round().await;
            self.settled().await;
            if let Some(found) = check().await {
                return (found, rounds, reports);
            }
        }
        panic!("{what} did not happen within two poll rounds");
    }

    /// A call to the Miro API as alice: `path` under the board.
    pub async fn miro(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let board: String = url::form_urlencoded::byte_serialize(MIRO_BOARD.as_bytes()).collect();
        let mut req = self
            .http
            .request(
                method,
                format!("{}/v2/boards/{board}/{path}", self.sandbox.miro_api_url()),
            )
            .bearer_auth("sandbox-alice");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    /// A sticky note made on Miro by alice; its id.
    pub async fn sticky(&self, text: &str) -> String {
        let made = self
            .miro(
                reqwest::Method::POST,
                "sticky_notes",
                Some(json!({ "data": { "content": format!("<p>{text}</p>") } })),
            )
            .await;
        made["id"].as_str().unwrap().to_owned()
    }

    /// A tag made on the Miro board by alice; its id.
    pub async fn miro_tag(&self, title: &str) -> String {
        let made = self
            .miro(
                reqwest::Method::POST,
                "tags",
                Some(json!({ "title": title, "fillColor": "red" })),
            )
            .await;
        made["id"].as_str().unwrap().to_owned()
    }

    /// A GraphQL call to monday as bob; its `data`.
    pub async fn monday(&self, query: &str) -> Value {
        let v = common::monday_query(&self.sandbox.monday_api_url(), "sandbox-bob", query).await;
        assert!(v.get("errors").is_none(), "{query}: {v}");
        v["data"].clone()
    }

    /// Sets monday item `item`'s column `column` to `value` (JSON) as bob.
    pub async fn set_monday_column(&self, item: &str, column: &str, value: Value) {
        let values = json!({ column: value }).to_string();
        self.monday(&format!(
            "mutation {{ change_multiple_column_values(board_id: {MONDAY_BOARD}, item_id: {item}, column_values: {}) {{ id }} }}",
            serde_json::to_string(&values).unwrap()
        ))
        .await;
    }

    pub async fn monday_state(&self) -> Value {
        common::get_json(
            &self
                .sandbox
                .monday_api_url()
                .replace("/v2", "/_sandbox/state"),
        )
        .await
    }

    /// The Miro board as the sandbox holds it: items (with their tag titles), tags, connectors.
    pub async fn miro_board(&self) -> Value {
        let state: Value =
            common::get_json(&format!("{}/_sandbox/state", self.sandbox.miro_api_url())).await;
        state["boards"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["id"] == MIRO_BOARD)
            .cloned()
            .unwrap()
    }

    /// The Miro item's tag titles, sorted.
    pub async fn miro_tags_of(&self, id: &str) -> Vec<String> {
        let board = self.miro_board().await;
        let item = board["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .cloned()
            .unwrap_or(Value::Null);
        let mut titles: Vec<String> = item["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect();
        titles.sort();
        titles
    }

    /// The monday item named `name`, if there is one.
    pub async fn monday_item(&self, name: &str) -> Option<Value> {
        let state = self.monday_state().await;
        state["boards"]
            .as_array()?
            .iter()
            .find(|b| b["id"] == MONDAY_BOARD)?["items"]
            .as_array()?
            .iter()
            .find(|i| i["name"] == name)
            .cloned()
    }

    /// The writes boardsync made to either API (`boardsync_api_calls_total`, one per folded
    /// group of writes).
    pub async fn writes(&self) -> u64 {
        let metrics = common::get_text(&format!("{}/metrics", self.base)).await;
        metrics
            .lines()
            .filter(|l| l.starts_with("boardsync_api_calls_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// Two more rounds make no write at all: boardsync's own writes came back as echoes.
    pub async fn assert_quiet(&self) {
        self.settled().await;
        let before = self.writes().await;
        for _ in 0..2 {
            self.round().await;
            self.settled().await;
        }
        assert_eq!(
            self.writes().await,
            before,
            "boardsync kept writing after the boards settled"
        );
    }
}
