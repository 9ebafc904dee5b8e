//! `boardsync demo`: the whole product in one command, with no credentials and no servers. It
//! starts the sandbox in-process with a seeded Miro board and monday board, writes a mappings file
//! for them to a temp dir, runs the daemon on an embedded SQLite file there, and plays a small
//! team (two people on each side) making a few edits a second. Each change boardsync syncs is
//! printed as it happens.

use crate::app::{App, Role};
use crate::config::Config;
use crate::runtime::SyncEvent;
use crate::sandbox::{Sandbox, SandboxOptions, Seed};
use anyhow::Context;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const MIRO_BOARD: &str = "uXjVDemo001=";
const MONDAY_BOARD: u64 = 1_000_000_501;
/// How often the simulated team makes an edit.
const EDIT_EVERY: Duration = Duration::from_millis(700);
const STATUSES: [(&str, &str); 3] = [
    ("light_yellow", "Working on it"),
    ("light_green", "Done"),
    ("red", "Stuck"),
];
const TASKS: [&str; 12] = [
    "Write the release notes",
    "Fix the login bug",
    "Plan the offsite",
    "Review the roadmap",
    "Interview candidates",
    "Update the pricing page",
    "Draft the Q3 goals",
    "Clean up the backlog",
    "Prepare the demo",
    "Call the design agency",
    "Migrate the wiki",
    "Book the venue",
];

pub(crate) struct DemoOptions {
    pub listen: SocketAddr,
    /// Stop after this long; `None` runs until Ctrl-C.
    pub duration: Option<Duration>,
    /// The simulated team's random seed.
    pub seed: u64,
}

fn seed() -> Seed {
    serde_json::from_value(json!({
        "miro": { "boards": [{
            "id": MIRO_BOARD, "name": "Sprint planning (demo)", "owner": "alice",
            "items": TASKS[..3].iter().zip(STATUSES).map(|(t, (colour, _))| json!({
                "type": "sticky_note", "data": {"content": format!("<p>{t}</p>")}, "style": {"fillColor": colour}
            })).collect::<Vec<_>>()
        }]},
        "monday": { "boards": [{
            "id": MONDAY_BOARD, "name": "Sprint planning (demo)", "owner": "bob",
            "groups": [{"id": "topics", "title": "This sprint"}, {"id": "later", "title": "Later"}],
            "columns": [{"id": "status", "title": "Status", "type": "status"}],
            "items": []
        }]}
    }))
    .expect("the demo seed is valid")
}

fn mappings(addr: SocketAddr, db: &std::path::Path, sandbox: &Sandbox) -> String {
    let pair = format!(
        r#"[[pair]]
name = "Sprint planning"
miro_board = "{MIRO_BOARD}"
monday_board = {MONDAY_BOARD}
monday_group = "topics"
sync_existing = true

  [pair.fields]
  title  = {{ miro = "data.content", monday = "name" }}
  status = {{ miro = "style.fillColor", monday = "status", values = {{ light_green = "Done", red = "Stuck", light_yellow = "Working on it" }} }}
"#
    );
    format!(
        "# Written by `boardsync demo`: the daemon against the in-process sandbox.\n{}",
        sandbox.mappings(addr, &format!("sqlite://{}", db.display()), "1s", &pair)
    )
}

/// Runs the demo until `shutdown` (or the duration) ends it.
pub(crate) async fn run(options: DemoOptions, shutdown: CancellationToken) -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxOptions {
        seed: Some(seed()),
        ..SandboxOptions::ephemeral()
    })
    .await?;
    let listener = match TcpListener::bind(options.listen).await {
        Ok(l) => l,
        // The usual port is taken: any free one will do for a demo.
        Err(_) => TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot listen on a loopback port")?,
    };
    let addr = listener.local_addr()?;
    let dir = tempfile::tempdir().context("cannot make a temp dir")?;
    let file = dir.path().join("demo.toml");
    let text = mappings(addr, &dir.path().join("demo.db"), &sandbox);
    std::fs::write(&file, &text).with_context(|| format!("cannot write {}", file.display()))?;
    // Nothing from the environment: the demo always runs on its own SQLite file.
    let config = Config::parse(&file, &text, &|_| None)?;
    let app = App::build_on(listener, config, Role::All).await?;
    let mut events = app
        .engine()
        .expect("role all runs the engine")
        .events
        .subscribe();
    println!("boardsync demo: a Miro board and a monday board in the local sandbox, kept in step");
    println!("dashboard: http://{addr}/");
    println!("mappings: {}", file.display());
    println!("Ctrl-C stops it.");
    let stop = shutdown.clone();
    if let Some(d) = options.duration {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            stop.cancel();
        });
    }
    let daemon = tokio::spawn(app.run(shutdown.clone()));
    let team = tokio::spawn(play_team(
        sandbox.miro_api_url(),
        sandbox.monday_api_url(),
        options.seed,
        shutdown.clone(),
    ));
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            event = events.recv() => match event {
                Ok(e) if e.outcome != "ignored" => println!("{}", line(&e)),
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => println!("({n} changes not shown)"),
                Err(_) => break,
            },
        }
    }
    let _ = team.await;
    daemon.await.context("the daemon task failed")??;
    sandbox.stop().await;
    println!("stopped");
    Ok(())
}

fn line(e: &SyncEvent) -> String {
    format!(
        "{:<16} {:<32} {}{}",
        e.direction,
        format!("\"{}\"", e.title.as_deref().unwrap_or(&e.item)),
        e.outcome,
        e.detail
            .as_deref()
            .filter(|_| e.outcome != "applied")
            .map(|d| format!(" ({d})"))
            .unwrap_or_default()
    )
}

/// Two people on each side, editing titles and statuses and now and then adding an item.
async fn play_team(miro: String, monday: String, seed: u64, shutdown: CancellationToken) {
    let http = reqwest::Client::new();
    let mut rng = SmallRng::seed_from_u64(seed);
    let board = url::form_urlencoded::byte_serialize(MIRO_BOARD.as_bytes()).collect::<String>();
    let miro_items = format!("{miro}/v2/boards/{board}");
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(EDIT_EVERY) => {}
        }
        let on_miro = rng.gen_bool(0.5);
        let who = if on_miro {
            ["sandbox-alice", "sandbox-carol"]
        } else {
            ["sandbox-bob", "sandbox-dave"]
        }
        .choose(&mut rng)
        .copied()
        .unwrap_or_default();
        let task = TASKS.choose(&mut rng).copied().unwrap_or_default();
        let (colour, label) = STATUSES.choose(&mut rng).copied().unwrap_or(STATUSES[0]);
        let create = rng.gen_bool(0.15);
        // Edits that fail (an item deleted meanwhile, say) are part of a team's day: ignored.
        if on_miro {
            let _ = miro_edit(&http, &miro_items, who, task, colour, create, &mut rng).await;
        } else {
            let _ = monday_edit(&http, &monday, who, task, label, create, &mut rng).await;
        }
    }
}

async fn miro_edit(
    http: &reqwest::Client,
    base: &str,
    who: &str,
    task: &str,
    colour: &str,
    create: bool,
    rng: &mut SmallRng,
) -> Result<(), reqwest::Error> {
    if create {
        http.post(format!("{base}/sticky_notes"))
            .bearer_auth(who)
            .json(&json!({"data": {"content": format!("<p>{task}</p>")}, "style": {"fillColor": colour}}))
            .send()
            .await?;
        return Ok(());
    }
    let items: Value = http
        .get(format!("{base}/items?limit=50&type=sticky_note"))
        .bearer_auth(who)
        .send()
        .await?
        .json()
        .await?;
    let Some(id) = items["data"]
        .as_array()
        .and_then(|a| a.choose(rng))
        .and_then(|i| i["id"].as_str())
    else {
        return Ok(());
    };
    let body = if rng.gen_bool(0.6) {
        json!({"style": {"fillColor": colour}})
    } else {
        json!({"data": {"content": format!("<p>{task}</p>")}})
    };
    http.patch(format!("{base}/sticky_notes/{id}"))
        .bearer_auth(who)
        .json(&body)
        .send()
        .await?;
    Ok(())
}

async fn monday_edit(
    http: &reqwest::Client,
    url: &str,
    who: &str,
    task: &str,
    label: &str,
    create: bool,
    rng: &mut SmallRng,
) -> Result<(), reqwest::Error> {
    let gql = |query: String| {
        http.post(url)
            .header("Authorization", who)
            .header("API-Version", "2026-10")
            .json(&json!({ "query": query }))
            .send()
    };
    if create {
        let values =
            serde_json::to_string(&json!({"status": {"label": label}})).unwrap_or_default();
        gql(format!(
            "mutation {{ create_item(board_id: {MONDAY_BOARD}, group_id: \"topics\", item_name: {}, column_values: {}) {{ id }} }}",
            json!(task),
            json!(values)
        ))
        .await?;
        return Ok(());
    }
    let answer: Value = gql(format!(
        "query {{ boards(ids: [{MONDAY_BOARD}]) {{ items_page(limit: 100) {{ items {{ id }} }} }} }}"
    ))
    .await?
    .json()
    .await?;
    let Some(id) = answer["data"]["boards"][0]["items_page"]["items"]
        .as_array()
        .and_then(|a| a.choose(rng))
        .and_then(|i| i["id"].as_str())
    else {
        return Ok(());
    };
    let values = if rng.gen_bool(0.6) {
        json!({"status": {"label": label}})
    } else {
        json!({"name": task})
    };
    gql(format!(
        "mutation {{ change_multiple_column_values(board_id: {MONDAY_BOARD}, item_id: {id}, column_values: {}) {{ id }} }}",
        json!(serde_json::to_string(&values).unwrap_or_default())
    ))
    .await?;
    Ok(())
}
