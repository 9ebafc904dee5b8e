//! A sandbox and a daemon syncing one pair on it (Miro board [`MIRO_BOARD`], monday board
//! [`MONDAY_BOARD`] with a status column), on SQLite or a Postgres database of its own: the world
//! most end-to-end tests start from. People edit the boards through the sandbox's APIs with
//! tokens of their own (alice on Miro, bob on monday).

use super::{TestDb, board_items, urlencode, wait_for};
use boardsync::app::{App, Role};
use boardsync::config::Config;
use boardsync::sandbox::{Sandbox, SandboxOptions, Seed};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const MIRO_BOARD: &str = "uXjVSyncTst=";
pub const MONDAY_BOARD: &str = "1000000077";
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A sandbox, a daemon syncing one pair on it, and the database behind the daemon.
pub struct World {
    pub sandbox: Sandbox,
    pub shutdown: CancellationToken,
    pub daemon: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub http: reqwest::Client,
    pub base: String,
    pub database_url: String,
    /// The mappings file the daemon runs with, on disk for the command-line tools.
    pub config_path: std::path::PathBuf,
    pub addr: std::net::SocketAddr,
    pub db: Option<TestDb>,
    pub dir: tempfile::TempDir,
    /// The running daemon's workers, with their test-only fault hooks.
    pub supervisor: boardsync::supervisor::Supervisor,
}

pub fn seed() -> Seed {
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

pub async fn world(postgres: bool, extra: &str) -> World {
    world_with(postgres, "", extra).await
}

/// A world whose mappings file also has `settings` (top-level tables such as `[sync]`).
pub async fn world_with(postgres: bool, settings: &str, extra: &str) -> World {
    // Silent unless asked for: RUST_LOG=boardsync=debug shows the daemon's logs.
    if std::env::var_os("RUST_LOG").is_some() {
        boardsync::telemetry::init();
    }
    // Credits enough that a 100 ms scan of a busy board never waits for Miro's next minute.
    let sandbox = Sandbox::start(SandboxOptions {
        seed: Some(seed()),
        miro_credits: 100_000_000,
        // A delivery that found the daemon down (a restart) comes again within a second, not
        // monday's minute.
        webhook_retry_interval: Duration::from_secs(1),
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
    let pair = format!(
        r#"[[pair]]
name = "Sync test"
miro_board = "{MIRO_BOARD}"
monday_board = {MONDAY_BOARD}
monday_group = "topics"
{extra}

  [pair.fields]
  title  = {{ miro = "data.content", monday = "name" }}
  status = {{ miro = "style.fillColor", monday = "status", values = {{ light_green = "Done", red = "Stuck", light_yellow = "Working on it" }} }}
"#
    );
    let text = sandbox.mappings(addr, &database_url, "100ms", &format!("{settings}\n{pair}"));
    let config_path = dir.path().join("sync-test.toml");
    std::fs::write(&config_path, &text).unwrap();
    let (shutdown, daemon, supervisor) = start_daemon(listener, &config_path).await;
    let world = World {
        sandbox,
        shutdown,
        daemon,
        http: reqwest::Client::new(),
        base: format!("http://{addr}"),
        database_url: database_url.clone(),
        config_path,
        addr,
        db,
        dir,
        supervisor,
    };
    // The daemon is ready once its monday webhooks are in place and the Miro board has been
    // scanned once: items already on the board at the first scan are left alone (no
    // `sync_existing`), so a test's first sticky note must come after it.
    wait_for("the monday webhooks", DEADLINE, || async {
        let s = world.monday_state().await;
        (s["webhooks"].as_array().unwrap().len() >= 5).then_some(())
    })
    .await;
    wait_for("the first Miro scan", DEADLINE, || async {
        world.status().await["pairs"][0]["poller"]["last_scan"]
            .as_i64()
            .map(|_| ())
    })
    .await;
    world
}

pub async fn start_daemon(
    listener: tokio::net::TcpListener,
    config_path: &Path,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
    boardsync::supervisor::Supervisor,
) {
    let config = Config::load(config_path).unwrap_or_else(|e| panic!("{e}"));
    let app = App::build_on(listener, config, Role::All).await.unwrap();
    let supervisor = app.supervisor().clone();
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(app.run(shutdown.clone()));
    (shutdown, daemon, supervisor)
}

impl World {
    /// Stops the daemon (as Ctrl-C does) and starts a new one on the same store and address.
    pub async fn restart(&mut self) {
        self.shutdown.cancel();
        (&mut self.daemon).await.unwrap().unwrap();
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        let (shutdown, daemon, supervisor) = start_daemon(listener, &self.config_path).await;
        self.shutdown = shutdown;
        self.daemon = daemon;
        self.supervisor = supervisor;
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.daemon.await.unwrap().unwrap();
        self.sandbox.stop().await;
    }

    pub async fn miro(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
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

    pub async fn monday(&self, query: &str) -> Value {
        let v = super::monday_query(&self.sandbox.monday_api_url(), "sandbox-bob", query).await;
        assert!(v.get("errors").is_none(), "{query}: {v}");
        v["data"].clone()
    }

    /// Creates an item in the `topics` group of the monday board, as bob; returns its id.
    pub async fn create_on_monday(&self, name: &str) -> String {
        let data = self
            .monday(&format!(
                r#"mutation {{ create_item(board_id: {MONDAY_BOARD}, group_id: "topics", item_name: "{name}") {{ id }} }}"#
            ))
            .await;
        data["create_item"]["id"].as_str().unwrap().to_owned()
    }

    /// Renames the monday item `item`, as bob.
    pub async fn rename_on_monday(&self, item: &str, name: &str) {
        self.monday(&format!(
            r#"mutation {{ change_multiple_column_values(board_id: {MONDAY_BOARD}, item_id: {item}, column_values: "{{\"name\": \"{name}\"}}") {{ id }} }}"#
        ))
        .await;
    }

    pub async fn monday_state(&self) -> Value {
        super::get_json(
            &self
                .sandbox
                .monday_api_url()
                .replace("/v2", "/_sandbox/state"),
        )
        .await
    }

    pub async fn miro_state(&self) -> Value {
        super::get_json(&format!("{}/_sandbox/state", self.sandbox.miro_api_url())).await
    }

    pub async fn monday_items(&self) -> Vec<Value> {
        board_items(&self.monday_state().await, MONDAY_BOARD)
    }

    pub async fn miro_items(&self) -> Vec<Value> {
        board_items(&self.miro_state().await, MIRO_BOARD)
    }

    /// Three more scans pass (boardsync's own writes come back in them) and boardsync makes no
    /// call beyond the `calls` it had made: its echoes stop there, no loop.
    pub async fn assert_no_more_calls(&self, calls: usize, context: &str) {
        self.scans_after(3).await;
        assert_eq!(
            self.boardsync_posts().await,
            calls,
            "{context}: boardsync kept calling after the boards settled: a loop"
        );
    }

    /// Waits until `n` more Miro scans have completed.
    pub async fn scans_after(&self, n: i64) {
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

    pub async fn status(&self) -> Value {
        super::get_json(&format!("{}/api/status", self.base)).await
    }

    /// The API calls the sandbox has seen from boardsync other than GETs: every write, and on
    /// monday (one POST endpoint) its reads too.
    pub async fn boardsync_posts(&self) -> usize {
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

    /// Replaces the sandbox's fault rules on both APIs (docs/sandbox.md).
    pub async fn set_faults(&self, seed: u64, miro: Value, monday: Value) {
        for (url, rules) in [
            (
                format!("{}/_sandbox/faults", self.sandbox.miro_api_url()),
                miro,
            ),
            (
                self.sandbox
                    .monday_api_url()
                    .replace("/v2", "/_sandbox/faults"),
                monday,
            ),
        ] {
            let r = self
                .http
                .post(url)
                .json(&json!({ "seed": seed, "rules": rules }))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
        }
    }
}
