//! The sync benchmark: from a change on one side to boardsync's write on the other, both ways,
//! against the sandbox in-process (no latency) and the daemon on an SQLite file.
//!
//! `cargo run --release --example bench_sync -- [fast|limits]`
//!
//! - `fast` (default): rate limits raised. monday → Miro (webhooks) and Miro → monday (the scan,
//!   every `BENCH_INTERVAL`, default 1s) at `BENCH_RATE` changes/s (200) for `BENCH_SECONDS` (10),
//!   each change to its own item; latency is the sandbox's own times (the source item's update
//!   time to the target item's), p50/p99/max; then a burst of 50 edits to one item each way and
//!   the writes it took.
//! - `limits`: Miro at its real budget (100,000 credits a minute per token): monday → Miro
//!   changes at `BENCH_RATE` (default 30/s) for `BENCH_SECONDS` (default 30), and the write rate
//!   boardsync sustains with the 429s it drew.
//!
//! - `poll`: the Miro → monday poll path as the daemon runs by default (the scan adapting between
//!   1 s and 1 min, pollers held to half of Miro's real 100,000 credits a minute), on a board of
//!   `BENCH_ITEMS` (500) items: an *active* board (one edit every 2 s for `BENCH_SECONDS`, 60),
//!   then an *idle* one (`BENCH_IDLE_SAMPLES`, 3, single edits, each made once the scan interval
//!   has grown to its minute; 0 skips them); latency from the edit to the monday write, and the
//!   credits the pollers used per minute.
//!
//! The items are seeded on both boards with the same titles and linked by the first scan's
//! backfill, so no setup write counts.

use boardsync::app::{App, Role};
use boardsync::config::Config;
use boardsync::sandbox::{Sandbox, SandboxOptions, Seed};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const MIRO_BOARD: &str = "uXjVBench01=";
const MONDAY_BOARD: &str = "1000000555";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(iso: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(iso)
        .map(|t| t.timestamp_millis())
        .unwrap_or_else(|e| panic!("time {iso}: {e}"))
}

struct Bench {
    sandbox: Sandbox,
    http: reqwest::Client,
    base: String,
    /// Holds the daemon's store for the run.
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn monday(&self, query: String) {
        let v: Value = self
            .http
            .post(self.sandbox.monday_api_url())
            .header("Authorization", "sandbox-bob")
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(v.get("errors").is_none(), "{v}");
    }

    async fn miro_patch(&self, id: &str, text: &str) {
        let r = self
            .http
            .patch(format!(
                "{}/v2/boards/{}/sticky_notes/{id}",
                self.sandbox.miro_api_url(),
                MIRO_BOARD.replace('=', "%3D")
            ))
            .bearer_auth("sandbox-alice")
            .json(&json!({"data": {"content": format!("<p>{text}</p>")}}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }

    async fn rename_monday(&self, id: &str, name: &str) {
        self.monday(format!(
            r#"mutation {{ change_multiple_column_values(board_id: {MONDAY_BOARD}, item_id: {id}, column_values: "{{\"name\": \"{name}\"}}") {{ id }} }}"#
        ))
        .await;
    }

    async fn get(&self, url: String) -> Value {
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Title → (item id, update time in ms) on each board.
    async fn boards(
        &self,
    ) -> (
        HashMap<String, (String, i64)>,
        HashMap<String, (String, i64)>,
    ) {
        let miro = self
            .get(format!("{}/_sandbox/state", self.sandbox.miro_api_url()))
            .await;
        let monday = self
            .get(
                self.sandbox
                    .monday_api_url()
                    .replace("/v2", "/_sandbox/state"),
            )
            .await;
        let items = |state: &Value, board: &str| -> Vec<Value> {
            state["boards"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["id"] == board)
                .map(|b| b["items"].as_array().unwrap().clone())
                .unwrap_or_default()
        };
        let on_miro = items(&miro, MIRO_BOARD)
            .iter()
            .map(|i| {
                let text = i["data"]["content"].as_str().unwrap_or_default();
                let text = text.trim_start_matches("<p>").trim_end_matches("</p>");
                (
                    text.to_owned(),
                    (
                        i["id"].as_str().unwrap().to_owned(),
                        ms(i["modifiedAt"].as_str().unwrap()),
                    ),
                )
            })
            .collect();
        let on_monday = items(&monday, MONDAY_BOARD)
            .iter()
            .map(|i| {
                (
                    i["name"].as_str().unwrap().to_owned(),
                    (
                        i["id"].as_str().unwrap().to_owned(),
                        ms(i["updated_at"].as_str().unwrap()),
                    ),
                )
            })
            .collect();
        (on_miro, on_monday)
    }

    /// boardsync's calls so far: Miro writes (non-GET), monday calls (all POST), 429s anywhere.
    async fn calls(&self) -> (Vec<i64>, usize, usize) {
        let miro = self
            .get(format!("{}/_sandbox/requests", self.sandbox.miro_api_url()))
            .await;
        let monday = self
            .get(
                self.sandbox
                    .monday_api_url()
                    .replace("/v2", "/_sandbox/requests"),
            )
            .await;
        let ours = |log: &Value| -> Vec<Value> {
            log.as_array()
                .unwrap()
                .iter()
                .filter(|r| r["user"] == "boardsync")
                .cloned()
                .collect()
        };
        let (miro, monday) = (ours(&miro), ours(&monday));
        let miro_writes = miro
            .iter()
            .filter(|r| r["method"] != "GET")
            .map(|r| ms(r["at"].as_str().unwrap()))
            .collect();
        let limited = miro
            .iter()
            .chain(&monday)
            .filter(|r| r["status"] == 429)
            .count();
        (miro_writes, monday.len(), limited)
    }

    async fn status(&self) -> Value {
        self.get(format!("{}/api/status", self.base)).await
    }

    /// Waits (up to `limit`) until `done` holds for the boards.
    async fn until(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&HashMap<String, (String, i64)>, &HashMap<String, (String, i64)>) -> bool,
    ) {
        let start = Instant::now();
        loop {
            let (miro, monday) = self.boards().await;
            if done(&miro, &monday) {
                return;
            }
            assert!(start.elapsed() < limit, "{what}: not done in {limit:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn seed(items: usize) -> Seed {
    let titles: Vec<String> = (0..items).map(|i| format!("item-{i}")).collect();
    serde_json::from_value(json!({
        "miro": { "boards": [{ "id": MIRO_BOARD, "name": "Bench", "owner": "alice",
            "items": titles.iter().map(|t| json!({"type": "sticky_note", "data": {"content": format!("<p>{t}</p>")}, "style": {"fillColor": "light_yellow"}})).collect::<Vec<_>>() }] },
        "monday": { "boards": [{
            "id": MONDAY_BOARD.parse::<u64>().unwrap(), "name": "Bench", "owner": "bob",
            "groups": [{"id": "topics", "title": "This sprint"}],
            "columns": [{"id": "status", "title": "Status", "type": "status"}],
            "items": titles.iter().map(|t| json!({"name": t, "group": "topics", "values": {"status": {"label": "Working on it"}}})).collect::<Vec<_>>()
        }]}
    }))
    .unwrap()
}

fn percentiles(mut v: Vec<i64>) -> String {
    v.sort_unstable();
    let at = |p: f64| v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1];
    format!(
        "p50 {} ms, p99 {} ms, max {} ms ({} changes)",
        at(0.50),
        at(0.99),
        v[v.len() - 1],
        v.len()
    )
}

/// Makes `n` changes at `rate` a second, change `i` by `change(i)`, each in its own task.
async fn paced<F, Fut>(n: usize, rate: u64, change: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        tick.tick().await;
        tasks.spawn(change(i));
    }
    while tasks.join_next().await.is_some() {}
}

#[tokio::main]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "fast".into());
    let limits = match mode.as_str() {
        "fast" => false,
        "limits" => true,
        "poll" => return poll_path().await,
        other => panic!("unknown mode {other}: fast, limits or poll"),
    };
    let rate = env("BENCH_RATE", if limits { 30 } else { 200 });
    let seconds = env("BENCH_SECONDS", if limits { 30 } else { 10 });
    let interval = env("BENCH_INTERVAL_MS", 1000);
    let n = (rate * seconds) as usize;
    let items = if limits { n } else { 2 * n + 2 };

    let (bench, shutdown, daemon) = start(
        items,
        if limits { 100_000 } else { 1_000_000_000 },
        &format!("interval = \"{interval}ms\"\n"),
    )
    .await;
    println!("Miro scan every {interval} ms");
    let (miro, monday) = bench.boards().await;
    let id =
        |board: &HashMap<String, (String, i64)>, i: usize| board[&format!("item-{i}")].0.clone();
    let (miro_before, _, _) = bench.calls().await;

    // monday → Miro: webhooks.
    let b = std::sync::Arc::new(bench);
    let ids: Vec<String> = (0..n).map(|i| id(&monday, i)).collect();
    let t = Instant::now();
    paced(n, rate, |i| {
        let (b, id) = (b.clone(), ids[i].clone());
        async move { b.rename_monday(&id, &format!("a-{i}")).await }
    })
    .await;
    let sent = t.elapsed();
    b.until("monday → Miro", Duration::from_secs(600), |miro, _| {
        (0..n).all(|i| miro.contains_key(&format!("a-{i}")))
    })
    .await;
    let done = t.elapsed();
    let (miro_now, monday_now) = b.boards().await;
    let lags: Vec<i64> = (0..n)
        .map(|i| {
            let k = format!("a-{i}");
            miro_now[&k].1 - monday_now[&k].1
        })
        .collect();
    let (miro_writes, _, limited) = b.calls().await;
    let writes = miro_writes.len() - miro_before.len();
    println!(
        "monday → Miro (webhook), {n} changes sent in {:.1} s ({:.0}/s), all applied after {:.1} s: {}; {writes} Miro writes ({:.2} per change); {limited} answers 429",
        sent.as_secs_f64(),
        n as f64 / sent.as_secs_f64(),
        done.as_secs_f64(),
        percentiles(lags),
        writes as f64 / n as f64
    );
    if limits {
        // The steady write rate: writes per second between the first and the last.
        let ours = &miro_writes[miro_before.len()..];
        if let (Some(first), Some(last)) = (ours.iter().min(), ours.iter().max()) {
            let span = (last - first).max(1) as f64 / 1000.0;
            println!(
                "steady Miro write rate: {:.1} writes/s over {span:.1} s",
                ours.len() as f64 / span
            );
        }
    } else {
        // Miro → monday: the scan.
        let ids: Vec<String> = (n..2 * n).map(|i| id(&miro, i)).collect();
        let (_, monday_calls, _) = b.calls().await;
        let t = Instant::now();
        paced(n, rate, |i| {
            let (b, id) = (b.clone(), ids[i].clone());
            async move { b.miro_patch(&id, &format!("b-{i}")).await }
        })
        .await;
        let sent = t.elapsed();
        b.until("Miro → monday", Duration::from_secs(600), |_, monday| {
            (0..n).all(|i| monday.contains_key(&format!("b-{i}")))
        })
        .await;
        let done = t.elapsed();
        let (miro_now, monday_now) = b.boards().await;
        let lags: Vec<i64> = (0..n)
            .map(|i| {
                let k = format!("b-{i}");
                monday_now[&k].1 - miro_now[&k].1
            })
            .collect();
        let (_, monday_after, limited) = b.calls().await;
        let calls = monday_after - monday_calls;
        println!(
            "Miro → monday (scan), {n} changes sent in {:.1} s ({:.0}/s), all applied after {:.1} s: {}; {calls} monday calls ({:.2} per change); {limited} answers 429",
            sent.as_secs_f64(),
            n as f64 / sent.as_secs_f64(),
            done.as_secs_f64(),
            percentiles(lags),
            calls as f64 / n as f64
        );

        // Bursts: 50 edits to one item, each way, and the writes they took.
        let (miro_w, monday_c, _) = b.calls().await;
        let target = id(&monday, 2 * n);
        for k in 1..=50 {
            b.rename_monday(&target, &format!("burst-monday-{k}")).await;
        }
        b.until("the monday burst", Duration::from_secs(60), |miro, _| {
            miro.contains_key("burst-monday-50")
        })
        .await;
        let (miro_w2, _, _) = b.calls().await;
        let target = id(&miro, 2 * n + 1);
        for k in 1..=50 {
            b.miro_patch(&target, &format!("burst-miro-{k}")).await;
        }
        b.until("the Miro burst", Duration::from_secs(60), |_, monday| {
            monday.contains_key("burst-miro-50")
        })
        .await;
        let (_, monday_c2, _) = b.calls().await;
        println!(
            "burst of 50 edits to one item: monday → Miro took {} Miro writes; Miro → monday took {} monday calls",
            miro_w2.len() - miro_w.len(),
            monday_c2 - monday_c
        );
    }
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
}

/// The sandbox seeded with `items` on both boards, and the daemon on it, with the Miro budget at
/// `credits` a minute and `[poller]` `poller` (an interval, or a whole table body); returns once
/// the first scan's backfill has linked every item.
async fn start(
    items: usize,
    credits: u64,
    poller: &str,
) -> (
    Bench,
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let sandbox = Sandbox::start(SandboxOptions {
        seed: Some(seed(items)),
        miro_credits: credits,
        monday_complexity: 1_000_000_000,
        ..SandboxOptions::ephemeral()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("bench.db").display());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let pair = format!(
        r#"[[pair]]
name = "Bench"
miro_board = "{MIRO_BOARD}"
monday_board = {MONDAY_BOARD}
monday_group = "topics"
sync_existing = true

  [pair.fields]
  title  = {{ miro = "data.content", monday = "name" }}
  status = {{ miro = "style.fillColor", monday = "status", values = {{ light_green = "Done", red = "Stuck", light_yellow = "Working on it" }} }}
"#
    );
    let path = dir.path().join("bench.toml");
    // The burst below is 50 edits in well under a minute: more than the loop breaker's default
    // 30 writes a minute to one item, which would quarantine it (as it should in production).
    let settings = "[sync]\nmax_loop_returns = 1000\n\n";
    let mut text = sandbox.mappings(addr, &db, "5s", &format!("{settings}{pair}"));
    text = text.replace("interval = \"5s\"\n", poller);
    std::fs::write(&path, text).unwrap();
    let app = App::build_on(listener, Config::load(&path).unwrap(), Role::All)
        .await
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let daemon = tokio::spawn(app.run(shutdown.clone()));
    let bench = Bench {
        sandbox,
        http: reqwest::Client::new(),
        base: format!("http://{addr}"),
        _dir: dir,
    };
    let started = Instant::now();
    loop {
        let s = bench.status().await;
        if s["pairs"][0]["links"]["active"].as_u64() == Some(items as u64) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "linking: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "{items} items seeded on both boards, linked by the first scan in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    (bench, shutdown, daemon)
}

impl Bench {
    /// `boardsync_miro_credits_used_total{purpose="poll"}` now.
    async fn poll_credits(&self) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("boardsync_miro_credits_used_total{purpose=\"poll\"} "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    /// Edits item `i` on Miro to `text` and waits for monday to have it: the latency, from
    /// Miro's `modifiedAt` to monday's `updated_at`.
    async fn miro_to_monday(&self, miro_id: &str, text: &str) -> i64 {
        self.miro_patch(miro_id, text).await;
        self.until(text, Duration::from_secs(300), |_, monday| {
            monday.contains_key(text)
        })
        .await;
        let (miro, monday) = self.boards().await;
        monday[text].1 - miro[text].1
    }
}

/// `poll` mode: see the module docs.
async fn poll_path() {
    let items = env("BENCH_ITEMS", 500) as usize;
    let seconds = env("BENCH_SECONDS", 60);
    let samples = env("BENCH_IDLE_SAMPLES", 3);
    let (bench, shutdown, daemon) = start(items, 100_000, "").await;
    let (miro, _) = bench.boards().await;
    let id = |i: usize| miro[&format!("item-{i}")].0.clone();
    let per_minute = |credits: f64, took: Duration| credits / took.as_secs_f64() * 60.0;

    // Active: an edit every 2 s, each to its own item. The board has been idle since the
    // backfill, so its interval has grown; one edit first, not counted, brings it back to 1 s.
    bench.miro_to_monday(&id(items / 2), "warm-up").await;
    let credits = bench.poll_credits().await;
    let t = Instant::now();
    let mut lags = Vec::new();
    for i in 0..(seconds / 2) as usize {
        let next = t + Duration::from_secs(2 * i as u64);
        tokio::time::sleep_until(next.into()).await;
        lags.push(bench.miro_to_monday(&id(i), &format!("active-{i}")).await);
    }
    let used = per_minute(bench.poll_credits().await - credits, t.elapsed());
    println!(
        "active board ({items} items, an edit every 2 s for {seconds} s): {}; pollers used {used:.0} credits/min ({:.1}% of 100,000)",
        percentiles(lags),
        used / 1000.0
    );

    // Idle: one edit once the interval has grown to its minute.
    let mut lags = Vec::new();
    let mut idle_credits = 0.0;
    let mut idle_time = Duration::ZERO;
    for k in 0..samples as usize {
        let t = Instant::now();
        loop {
            let s = bench.status().await;
            if s["pairs"][0]["poller"]["interval_ms"].as_u64() >= Some(60_000) {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(600), "never idle: {s}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let (c, at) = (bench.poll_credits().await, Instant::now());
        // The edit lands at a random point of the minute between two scans.
        let offset = rand_offset(k);
        tokio::time::sleep(offset).await;
        lags.push(
            bench
                .miro_to_monday(&id(items - 1 - k), &format!("idle-{k}"))
                .await,
        );
        idle_credits += bench.poll_credits().await - c;
        idle_time += at.elapsed();
    }
    if samples == 0 {
        shutdown.cancel();
        daemon.await.unwrap().unwrap();
        return;
    }
    println!(
        "idle board (edits after the interval reached 1 min): {}; pollers used {:.0} credits/min while idle ({:.2}% of 100,000)",
        percentiles(lags),
        per_minute(idle_credits, idle_time),
        per_minute(idle_credits, idle_time) / 1000.0
    );
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
}

/// A spread of waits within a minute for the idle samples (deterministic, so runs compare).
fn rand_offset(k: usize) -> Duration {
    Duration::from_secs([7u64, 31, 49, 18, 55][k % 5])
}
