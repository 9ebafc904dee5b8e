//! A sandbox and boardsync syncing one pair on it (Miro board [`MIRO_BOARD`], monday board
//! [`MONDAY_BOARD`]), on SQLite or a Postgres database of its own: the world the end-to-end tests
//! start from. People edit the boards through the sandbox's APIs with tokens of their own (alice
//! on Miro, bob on monday).
//!
//! [`world`] is the usual one: the whole daemon, scanning every 100 ms, syncing titles and a
//! status column. [`Setup`] says what a test needs otherwise: the pair's name, monday columns and
//! seed items, its keys and fields, other settings of the mappings file, the poll interval, and
//! whether the whole daemon runs or an ingest-only daemon with the engine's parts in-process.

use super::{TestDb, board_items, urlencode, wait_for};
use boardsync::app::{App, Role};
use boardsync::config::{Config, PairConfig};
use boardsync::metrics::Metrics;
use boardsync::pollers::{connectors, tags};
use boardsync::runtime::Engine;
use boardsync::sandbox::{Sandbox, SandboxOptions, Seed};
use boardsync::store::{Store, keys};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const MIRO_BOARD: &str = "uXjVSyncTst=";
pub const MONDAY_BOARD: &str = "1000000077";
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The fields most tests sync: the title both ways, and the status as the sticky note's colour.
pub const TITLE_AND_STATUS: &str = r#"title  = { miro = "data.content", monday = "name" }
  status = { miro = "style.fillColor", monday = "status", values = { light_green = "Done", red = "Stuck", light_yellow = "Working on it" } }"#;

/// What runs against the sandbox.
#[derive(Clone, Copy, Debug)]
pub enum Run {
    /// The whole daemon (`--role all`): receivers, processor, dispatcher and poll loop.
    Daemon,
    /// An ingest-only daemon (its receivers fill the store's inbox) and an engine of the test's
    /// own on that store, whose dispatcher runs, and its processor when `processor`: the test
    /// calls the pollers, or processes changes, itself and can say when each happens.
    Parts { processor: bool },
}

/// What a world is made of: `Setup { name: "Tags test", interval: "1h", ..Setup::default() }`.
/// The default is the usual world ([`world`]).
#[derive(Clone, Debug)]
pub struct Setup<'a> {
    /// The store on a Postgres database of its own, or an SQLite file.
    pub postgres: bool,
    /// The pair's name (and so its slug and its `pair` label), and both boards' names.
    pub name: &'a str,
    /// The monday board's columns and the items on it before boardsync starts, as the sandbox's
    /// seed gives them.
    pub columns: Value,
    pub items: Vec<Value>,
    /// More keys of the `[[pair]]` table (`conflict = "monday"`, `miro_items = [...]`...).
    pub pair: &'a str,
    /// The body of `[pair.fields]`.
    pub fields: &'a str,
    /// More settings of the mappings file: a table it has already (`[miro]`, `[poller]`...) takes
    /// the keys; another (`[sync]`...) goes in whole.
    pub settings: &'a str,
    /// How often the daemon polls (`[poller] interval`); an hour holds the loop back after its
    /// first round, for tests that run the polls themselves.
    pub interval: &'a str,
    pub run: Run,
    /// Where boardsync calls monday (a proxy in front of the sandbox's), when not the sandbox.
    pub monday_api: Option<&'a str>,
}

impl Default for Setup<'_> {
    fn default() -> Self {
        Setup {
            postgres: false,
            name: "Sync test",
            columns: json!([{"id": "status", "title": "Status", "type": "status"}]),
            items: Vec::new(),
            pair: "",
            fields: TITLE_AND_STATUS,
            settings: "",
            interval: "100ms",
            run: Run::Daemon,
            monday_api: None,
        }
    }
}

impl Setup<'_> {
    /// The sandbox's boards: the Miro board empty, the monday board with its columns and items.
    fn seed(&self) -> Seed {
        serde_json::from_value(json!({
            "miro": { "boards": [{ "id": MIRO_BOARD, "name": self.name, "owner": "alice", "items": [] }] },
            "monday": { "boards": [{
                "id": MONDAY_BOARD.parse::<u64>().unwrap(), "name": self.name, "owner": "bob",
                "groups": [{"id": "topics", "title": "This sprint"}, {"id": "later", "title": "Later"}],
                "columns": self.columns,
                "items": self.items
            }]}
        }))
        .unwrap()
    }

    /// The sandbox on free loopback ports, seeded.
    pub async fn sandbox(&self) -> Sandbox {
        // Silent unless asked for: RUST_LOG=boardsync=debug shows the daemon's logs.
        if std::env::var_os("RUST_LOG").is_some() {
            boardsync::telemetry::init();
        }
        // Credits enough that a 100 ms scan of a busy board never waits for Miro's next minute.
        Sandbox::start(SandboxOptions {
            seed: Some(self.seed()),
            miro_credits: 100_000_000,
            // A delivery that found the daemon down (a restart) comes again within a second, not
            // monday's minute.
            webhook_retry_interval: Duration::from_secs(1),
            ..SandboxOptions::ephemeral()
        })
        .await
        .unwrap()
    }

    /// The mappings file for a daemon at `addr` on `database_url`, syncing the pair on `sandbox`.
    pub fn mappings(
        &self,
        sandbox: &Sandbox,
        addr: std::net::SocketAddr,
        database_url: &str,
    ) -> String {
        let mut text = sandbox.mappings(addr, database_url, self.interval, "");
        let mut tables = String::new();
        for table in split_tables(self.settings) {
            let (header, keys) = table.split_once('\n').unwrap_or((&table, ""));
            let header = format!("\n{}\n", header.trim());
            match text.find(&header).filter(|_| header.starts_with("\n[")) {
                Some(at) => text.insert_str(at + header.len(), keys),
                None => tables.push_str(&table),
            }
        }
        let (name, extra, fields) = (self.name, self.pair, self.fields);
        let monday = sandbox.monday_api_url();
        let text = format!(
            r#"{text}{tables}
[[pair]]
name = "{name}"
miro_board = "{MIRO_BOARD}"
monday_board = {MONDAY_BOARD}
monday_group = "topics"
{extra}

  [pair.fields]
  {fields}
"#
        );
        match self.monday_api {
            Some(url) => text.replace(&monday, url),
            None => text,
        }
    }

    /// Starts the sandbox, then boardsync on it.
    pub async fn start(self) -> World {
        let sandbox = self.sandbox().await;
        self.start_on(sandbox).await
    }

    /// Starts boardsync on `sandbox` (made by [`Setup::sandbox`]); returns once its monday webhooks
    /// are in place and, with the whole daemon, its first poll round is done.
    pub async fn start_on(self, sandbox: Sandbox) -> World {
        let dir = tempfile::tempdir().unwrap();
        let db = if self.postgres {
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
        let config_path = dir.path().join("sync-test.toml");
        std::fs::write(&config_path, self.mappings(&sandbox, addr, &database_url)).unwrap();
        let config = Config::load(&config_path).unwrap_or_else(|e| panic!("{e}"));
        let pair = config.pairs[0].clone();
        let tasks_shutdown = CancellationToken::new();
        let mut tasks = Vec::new();
        let (role, daemon, engine) = match self.run {
            Run::Daemon => {
                let daemon = launch(listener, &config_path, Role::All, Duration::ZERO).await;
                let engine = daemon
                    .engine
                    .clone()
                    .expect("the whole daemon has an engine");
                (Role::All, daemon, engine)
            }
            Run::Parts { processor } => {
                let daemon = launch(listener, &config_path, Role::Ingest, Duration::ZERO).await;
                let store = Store::open(&database_url).await.unwrap();
                let engine = Engine::new(store, Arc::new(config), Metrics::default());
                engine.learn_own_users().await.unwrap();
                boardsync::sync::subscriptions::sync(&engine).await.unwrap();
                tasks.push(tokio::spawn(boardsync::sync::dispatcher::run(
                    engine.clone(),
                    tasks_shutdown.clone(),
                )));
                if processor {
                    tasks.push(tokio::spawn(boardsync::sync::processor::run(
                        engine.clone(),
                        tasks_shutdown.clone(),
                    )));
                }
                (Role::Ingest, daemon, engine)
            }
        };
        let world = World {
            sandbox,
            shutdown: daemon.shutdown,
            daemon: daemon.handle,
            http: reqwest::Client::new(),
            base: format!("http://{addr}"),
            database_url,
            config_path,
            addr,
            db,
            dir,
            supervisor: daemon.supervisor,
            engine,
            pair,
            role,
            tasks,
            tasks_shutdown,
            moved: Duration::ZERO,
            stopped: false,
        };
        if role == Role::All {
            world.wait_until_ready().await;
        }
        world
    }
}

/// `settings` cut into its tables, each with its header line first.
fn split_tables(settings: &str) -> Vec<String> {
    let mut tables: Vec<String> = Vec::new();
    for line in settings.lines() {
        if tables.is_empty() || line.trim_start().starts_with('[') {
            tables.push(String::new());
        }
        let table = tables.last_mut().unwrap();
        table.push_str(line);
        table.push('\n');
    }
    tables
}

/// A sandbox, boardsync syncing one pair on it, and the database behind it.
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
    /// The running daemon's engine, or with [`Run::Parts`] the test's own.
    pub engine: Engine,
    /// The pair, as the daemon read it.
    pub pair: PairConfig,
    /// What the daemon runs: all, or (with [`Run::Parts`]) ingest only.
    role: Role,
    /// The engine's parts running in-process ([`Run::Parts`]), and what stops them.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    tasks_shutdown: CancellationToken,
    /// How far the test has moved time: a new daemon's clock is moved as far.
    moved: Duration,
    stopped: bool,
}

/// A daemon running on a listener of its own.
struct Daemon {
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    supervisor: boardsync::supervisor::Supervisor,
    engine: Option<Engine>,
}

/// Starts a daemon in `role` with the mappings at `config_path`, its clock moved on by `moved`
/// before anything runs.
async fn launch(
    listener: tokio::net::TcpListener,
    config_path: &Path,
    role: Role,
    moved: Duration,
) -> Daemon {
    let config = Config::load(config_path).unwrap_or_else(|e| panic!("{e}"));
    let app = App::build_on(listener, config, role).await.unwrap();
    let engine = app.engine().cloned();
    if let Some(engine) = &engine {
        engine.clock.advance(moved);
    }
    let supervisor = app.supervisor().clone();
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(app.run(shutdown.clone()));
    Daemon {
        shutdown,
        handle,
        supervisor,
        engine,
    }
}

/// The usual world: the whole daemon syncing titles and statuses, with `extra` pair keys.
pub async fn world(postgres: bool, extra: &str) -> World {
    world_with(postgres, "", extra).await
}

/// A world whose mappings file also has `settings` (top-level tables such as `[sync]`).
pub async fn world_with(postgres: bool, settings: &str, extra: &str) -> World {
    Setup {
        postgres,
        settings,
        pair: extra,
        ..Setup::default()
    }
    .start()
    .await
}

/// A second daemon (`--role all`) with the mappings at `config_path`, on `listener`.
pub async fn start_daemon(
    listener: tokio::net::TcpListener,
    config_path: &Path,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
    boardsync::supervisor::Supervisor,
) {
    let daemon = launch(listener, config_path, Role::All, Duration::ZERO).await;
    (daemon.shutdown, daemon.handle, daemon.supervisor)
}

impl World {
    /// The daemon is ready once its monday webhooks are in place and its first poll round is
    /// done: the Miro board has been scanned once, and tags and connectors polled when the pair
    /// maps them. Items already on the board at the first scan are left alone (no
    /// `sync_existing`), so a test's first sticky note must come after it.
    async fn wait_until_ready(&self) {
        let events = boardsync::sync::subscriptions::monday_events(&self.pair).len();
        wait_for("the monday webhooks", DEADLINE, || async {
            let s = self.monday_state().await;
            (s["webhooks"].as_array().unwrap().len() >= events).then_some(())
        })
        .await;
        wait_for("the first Miro scan", DEADLINE, || async {
            self.status().await["pairs"][0]["poller"]["last_scan"]
                .as_i64()
                .map(|_| ())
        })
        .await;
        let (tags, connectors) = (tags::wanted(&self.pair), connectors::wanted(&self.pair));
        if tags || connectors {
            wait_for("the first tag and connector polls", DEADLINE, || async {
                let store = &self.engine.store;
                let done = |key: String| async move { store.cursor(&key).await.unwrap().is_some() };
                let all = (!tags || done(keys::tags_cursor(&self.pair.slug)).await)
                    && (!connectors || done(keys::connectors_cursor(&self.pair.slug)).await);
                all.then_some(())
            })
            .await;
        }
    }

    /// Stops the daemon (as Ctrl-C does) and starts a new one on the same store and address.
    pub async fn restart(&mut self) {
        self.stop_daemon().await;
        self.start_again().await;
    }

    /// Stops the daemon, as Ctrl-C does.
    pub async fn stop_daemon(&mut self) {
        if !self.stopped {
            self.shutdown.cancel();
            (&mut self.daemon).await.unwrap().unwrap();
            self.stopped = true;
        }
    }

    /// Starts another daemon on the stopped one's store and address, its clock moved as far as
    /// the test has moved time.
    pub async fn start_again(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        let daemon = launch(listener, &self.config_path, self.role, self.moved).await;
        self.shutdown = daemon.shutdown;
        self.daemon = daemon.handle;
        self.supervisor = daemon.supervisor;
        if let Some(engine) = daemon.engine {
            self.engine = engine;
        }
        self.stopped = false;
    }

    /// Stops everything and drops the test's database.
    pub async fn stop(mut self) {
        self.stop_daemon().await;
        self.tasks_shutdown.cancel();
        for task in std::mem::take(&mut self.tasks) {
            task.await.unwrap();
        }
        if self.role != Role::All {
            // The test's own engine: its store is the test's to close.
            self.engine.store.close().await;
        }
        self.sandbox.stop().await;
        if let Some(db) = self.db.take() {
            db.drop_now().await;
        }
    }

    /// Moves time on by `by` for the sandbox and the engine together.
    pub fn advance(&mut self, by: Duration) {
        self.sandbox.clock().advance(by);
        self.engine.clock.advance(by);
        self.moved += by;
    }

    /// A call to the Miro API as alice: `path` under the board.
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

    /// A GraphQL call to monday as bob; its `data`.
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

    /// Sets monday item `item`'s column `column` to `value` (JSON), as bob.
    pub async fn set_monday_column(&self, item: &str, column: &str, value: Value) {
        let values = json!({ column: value }).to_string();
        self.monday(&format!(
            "mutation {{ change_multiple_column_values(board_id: {MONDAY_BOARD}, item_id: {item}, column_values: {}) {{ id }} }}",
            serde_json::to_string(&values).unwrap()
        ))
        .await;
    }

    /// Every webhook delivery the monday sandbox queued, with its `status` (`pending`,
    /// `delivered`, `failed`, `dropped`).
    pub async fn monday_deliveries(&self) -> Vec<Value> {
        let url = self
            .sandbox
            .monday_api_url()
            .replace("/v2", "/_sandbox/webhooks");
        super::get_json(&url).await
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

    /// The Miro board as the sandbox holds it: items (with their tag titles), tags, connectors.
    pub async fn miro_board(&self) -> Value {
        let state = self.miro_state().await;
        state["boards"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["id"] == MIRO_BOARD)
            .cloned()
            .unwrap()
    }

    pub async fn monday_items(&self) -> Vec<Value> {
        board_items(&self.monday_state().await, MONDAY_BOARD)
    }

    pub async fn miro_items(&self) -> Vec<Value> {
        board_items(&self.miro_state().await, MIRO_BOARD)
    }

    /// The monday item named `name`, if there is one.
    pub async fn monday_item(&self, name: &str) -> Option<Value> {
        self.monday_items()
            .await
            .into_iter()
            .find(|i| i["name"] == name)
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

    /// Waits until every change is processed and every write made.
    pub async fn settled(&self) {
        wait_for("the inbox and the outbox to drain", DEADLINE, || async {
            let s = self.status().await;
            (s["inbox_backlog"] == 0 && s["pairs"][0]["outbox_backlog"] == 0).then_some(())
        })
        .await;
    }

    pub async fn status(&self) -> Value {
        super::get_json(&format!("{}/api/status", self.base)).await
    }

    /// The daemon's `/metrics` scrape.
    pub async fn metrics(&self) -> String {
        super::get_text(&format!("{}/metrics", self.base)).await
    }

    /// The Miro API calls the sandbox has logged after sequence number `after` (0: all).
    pub async fn miro_requests(&self, after: u64) -> Vec<Value> {
        super::get_json(&format!(
            "{}/_sandbox/requests?after={after}",
            self.sandbox.miro_api_url()
        ))
        .await
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
