//! The dashboard's cost on a big store: how long each page and `/api/status` take to answer when
//! a pair has many links, a long history and dead letters.
//!
//! `cargo run --release --example bench_dashboard`
//!
//! Seeds one pair with `BENCH_LINKS` links (10,000), `BENCH_HISTORY` history rows (100,000: a
//! week of a busy board) and `BENCH_DEAD` dead letters (200), on an SQLite file, or on Postgres
//! with `BENCH_DATABASE_URL`; then serves it (a daemon with no sync engine, so nothing else runs)
//! and times `BENCH_REQUESTS` (50) sequential GETs of each page over loopback: p50, p99, max.

use boardsync::app::{App, Role};
use boardsync::config::Config;
use boardsync::domain::{Linked, Target};
use boardsync::sandbox::{Sandbox, SandboxOptions};
use boardsync::store::{HistoryEntry, ItemLink, LinkState, NewOutboxEntry, Store};
use std::time::{Duration, Instant};

const SLUG: &str = "bench";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (links, history, dead, requests) = (
        env("BENCH_LINKS", 10_000),
        env("BENCH_HISTORY", 100_000),
        env("BENCH_DEAD", 200),
        env("BENCH_REQUESTS", 50) as usize,
    );
    let dir = tempfile::tempdir()?;
    let database_url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    // The sandbox only lends the mappings file its API addresses: nothing calls it.
    let sandbox = Sandbox::start(SandboxOptions::ephemeral()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let text = sandbox.mappings(
        addr,
        &database_url,
        "1s",
        "[[pair]]\nname = \"Bench\"\nmiro_board = \"uXjVBench01=\"\nmonday_board = 1000000555\n\n  [pair.fields]\n  title = { miro = \"data.content\", monday = \"name\" }\n",
    );
    let path = dir.path().join("bench.toml");
    std::fs::write(&path, text)?;
    let config = Config::load(&path).map_err(|e| anyhow::anyhow!("{e}"))?;

    let started = Instant::now();
    let store = Store::open(&database_url).await?;
    seed(&store, links, history, dead).await?;
    store.close().await;
    if database_url.starts_with("postgres") {
        // What autovacuum does soon after a bulk load; the planner needs the row counts.
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&database_url).await?;
        sqlx::query("ANALYZE").execute(&pool).await?;
        pool.close().await;
    }
    println!(
        "seeded {links} links, {history} history rows, {dead} dead letters in {:.1} s ({})",
        started.elapsed().as_secs_f64(),
        if database_url.starts_with("postgres") {
            "Postgres"
        } else {
            "SQLite"
        }
    );

    let app = App::build_on(listener, config, Role::Ingest).await?;
    let stop = tokio_util::sync::CancellationToken::new();
    let served = tokio::spawn(app.run(stop.clone()));
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>9}",
        "GET", "p50 ms", "p99 ms", "max ms", "KiB"
    );
    for path in [
        "/api/status".to_owned(),
        "/".to_owned(),
        format!("/pairs/{SLUG}"),
        format!("/pairs/{SLUG}?q=item%204242"),
        format!("/pairs/{SLUG}?q=miro-4242"),
        "/dead".to_owned(),
        "/conflicts".to_owned(),
        "/metrics".to_owned(),
    ] {
        let url = format!("{base}{path}");
        let mut times = Vec::with_capacity(requests);
        let mut size = 0;
        for i in 0..requests + 3 {
            let t = Instant::now();
            let response = http.get(&url).send().await?;
            anyhow::ensure!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            size = response.bytes().await?.len();
            if i >= 3 {
                times.push(t.elapsed());
            }
        }
        times.sort();
        let at = |q: f64| ms(times[((times.len() as f64 * q) as usize).min(times.len() - 1)]);
        println!(
            "{path:<34} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            at(0.5),
            at(0.99),
            ms(*times.last().expect("timed requests")),
            size as f64 / 1024.0
        );
    }
    stop.cancel();
    served.await??;
    sandbox.stop().await;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

async fn seed(store: &Store, links: u64, history: u64, dead: u64) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp_millis();
    for i in 0..links {
        store
            .upsert_link(&ItemLink {
                id: 0,
                pair: SLUG.into(),
                miro_item_id: Linked::Known(format!("miro-{i}").into()),
                monday_item_id: Linked::Known(format!("monday-{i}").into()),
                miro_type: "sticky_note".into(),
                state: LinkState::Active,
                fields: serde_json::json!({}),
                created_at: now,
                updated_at: now,
            })
            .await?;
    }
    for i in 0..history {
        let n = i % links.max(1);
        let miro = i % 2 == 0;
        store
            .record_history(&HistoryEntry {
                at: now - (history - i) as i64 * 6_000,
                pair: SLUG.into(),
                origin: if miro { "miro" } else { "monday" }.into(),
                item: if miro {
                    format!("miro-{n}")
                } else {
                    format!("monday-{n}")
                },
                title: Some(format!("Item {n}")),
                outcome: "applied".into(),
                detail: None,
            })
            .await?;
    }
    for i in 0..dead {
        let id = store
            .enqueue(&NewOutboxEntry {
                pair: SLUG.into(),
                target: Target::Miro(Some(format!("miro-{i}").into())),
                link_id: None,
                operation: "update".into(),
                payload: serde_json::json!({"data": {"content": format!("<p>Item {i}</p>")}})
                    .to_string(),
                idempotency_key: format!("bench-dead-{i}"),
                due_at: now,
                created_at: now,
            })
            .await?;
        store
            .mark_dead(id, "Miro answered 400: invalid content", now)
            .await?;
    }
    Ok(())
}
