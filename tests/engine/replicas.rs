//! Two replicas of the real binary on one Postgres and one Redis, behind a round-robin proxy that
//! takes the sandbox's webhooks, with people editing both boards; the one holding every lease is
//! killed with SIGKILL in the middle of it. The other takes the processor's lease (10 s) and the
//! pollers' (15 s) within one lease period of the kill, and afterwards every item has exactly one
//! twin, with the same title and status on both sides.

use crate::common::world::{DEADLINE, MIRO_BOARD, MONDAY_BOARD, Setup};
use crate::common::{TestDb, board_items, get_json, urlencode, wait_for};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Forwards each request to the next live backend in turn, as a load balancer in front of the
/// replicas does; a backend that refuses the connection is skipped.
#[derive(Clone, Default)]
struct RoundRobin {
    backends: Arc<Mutex<Vec<SocketAddr>>>,
    next: Arc<AtomicUsize>,
    http: reqwest::Client,
    /// Requests each backend answered.
    served: Arc<Mutex<Vec<usize>>>,
}

impl RoundRobin {
    async fn start(listener: tokio::net::TcpListener) -> RoundRobin {
        let rr = RoundRobin::default();
        let app = axum::Router::new().fallback(forward).with_state(rr.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        rr
    }

    fn add(&self, backend: SocketAddr) {
        self.backends.lock().unwrap().push(backend);
        self.served.lock().unwrap().push(0);
    }
}

async fn forward(State(rr): State<RoundRobin>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let backends = rr.backends.lock().unwrap().clone();
    let first = rr.next.fetch_add(1, Ordering::Relaxed);
    for i in 0..backends.len() {
        let at = (first + i) % backends.len();
        let sent = rr
            .http
            .request(
                parts.method.clone(),
                format!("http://{}{}", backends[at], parts.uri),
            )
            .headers(parts.headers.clone())
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(answer) => {
                rr.served.lock().unwrap()[at] += 1;
                let status = answer.status();
                let text = answer.bytes().await.unwrap_or_default();
                return (status, text).into_response();
            }
            // Refused: the replica is gone; the next one takes it.
            Err(e) if e.is_connect() => continue,
            Err(_) => break,
        }
    }
    axum::http::StatusCode::BAD_GATEWAY.into_response()
}

/// A replica: `boardsync run` as its own process.
struct Replica {
    child: Child,
    addr: SocketAddr,
}

impl Replica {
    fn start(config: &std::path::Path) -> Replica {
        let mut child = Command::new(crate::common::bin())
            .args(["run", "--config"])
            .arg(config)
            .env("BOARDSYNC_LISTEN", "127.0.0.1:0")
            .env("REDIS_URL", "redis://127.0.0.1:6379")
            .env("BOARDSYNC_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = crate::common::stderr_lines(&mut child);
        let end = Instant::now() + DEADLINE;
        let mut said = Vec::new();
        let addr = loop {
            let left = end
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("the replica never said it was listening: {said:#?}"));
            let line = lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the replica stopped: {said:#?}"));
            said.push(line.clone());
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if v["fields"]["message"] == "listening" {
                break v["fields"]["addr"].as_str().unwrap().parse().unwrap();
            }
        };
        // The rest of its log is read and dropped, so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Replica { child, addr }
    }

    async fn status(&self) -> Value {
        get_json(&format!("http://{}/api/status", self.addr)).await
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Who holds each lease now.
async fn holders(db: &str) -> std::collections::HashMap<String, String> {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::PgConnection::connect(db).await.unwrap();
    let rows = sqlx::query("SELECT name, holder FROM leases")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    rows.iter()
        .map(|r| (r.get("name"), r.get("holder")))
        .collect()
}

/// People at work: alice on Miro, bob on monday, through the sandbox's APIs.
struct People {
    miro: String,
    monday: String,
    http: reqwest::Client,
}

impl People {
    async fn sticky(&self, text: &str) -> String {
        let made: Value = self
            .http
            .post(format!(
                "{}/v2/boards/{}/sticky_notes",
                self.miro,
                urlencode(MIRO_BOARD)
            ))
            .bearer_auth("sandbox-alice")
            .json(&json!({ "data": { "content": format!("<p>{text}</p>") } }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        made["id"].as_str().unwrap().to_owned()
    }

    async fn monday(&self, query: &str) -> Value {
        let v = crate::common::monday_query(&self.monday, "sandbox-bob", query).await;
        assert!(v.get("errors").is_none(), "{query}: {v}");
        v["data"].clone()
    }

    async fn item(&self, name: &str) -> String {
        let data = self
            .monday(&format!(
                r#"mutation {{ create_item(board_id: {MONDAY_BOARD}, group_id: "topics", item_name: "{name}") {{ id }} }}"#
            ))
            .await;
        data["create_item"]["id"].as_str().unwrap().to_owned()
    }

    async fn status(&self, item: &str, label: &str) {
        let values = json!({ "status": { "label": label } }).to_string();
        self.monday(&format!(
            "mutation {{ change_multiple_column_values(board_id: {MONDAY_BOARD}, item_id: {item}, column_values: {}) {{ id }} }}",
            serde_json::to_string(&values).unwrap()
        ))
        .await;
    }
}

/// Title → colour of every sticky note, and name → status of every monday item, counting each
/// title: a twin made twice shows as a count of 2.
async fn boards(miro: &str, monday: &str) -> (Vec<(String, String)>, Vec<(String, String)>) {
    let notes = board_items(
        &get_json(&format!("{miro}/_sandbox/state")).await,
        MIRO_BOARD,
    );
    let items = board_items(
        &get_json(&monday.replace("/v2", "/_sandbox/state")).await,
        MONDAY_BOARD,
    );
    let mut on_miro: Vec<(String, String)> = notes
        .iter()
        .map(|n| {
            let text = n["data"]["content"].as_str().unwrap_or_default();
            let title = text.trim_start_matches("<p>").trim_end_matches("</p>");
            let status = match n["style"]["fillColor"].as_str() {
                Some("light_green") => "Done",
                Some("red") => "Stuck",
                _ => "Working on it",
            };
            (title.to_owned(), status.to_owned())
        })
        .collect();
    let mut on_monday: Vec<(String, String)> = items
        .iter()
        .map(|i| {
            let status = i["values"]["status"]["text"]
                .as_str()
                .filter(|t| !t.is_empty())
                .unwrap_or("Working on it");
            (i["name"].as_str().unwrap().to_owned(), status.to_owned())
        })
        .collect();
    on_miro.sort();
    on_monday.sort();
    (on_miro, on_monday)
}

#[tokio::test]
async fn two_replicas_one_killed_under_load_hand_over_their_leases_within_a_lease_period_with_each_effect_once()
 {
    let prefix = format!("boardsync-replicas-{}", uuid::Uuid::new_v4().simple());
    // Redis comes from REDIS_URL (as in compose), the prefix from the file.
    let settings = format!("[ingress]\nredis_prefix = \"{prefix}\"\n");
    let setup = Setup {
        settings: &settings,
        interval: "200ms",
        ..Setup::default()
    };
    let sandbox = setup.sandbox().await;
    let db = TestDb::create().await;
    let front = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("replicas.toml");
    std::fs::write(
        &config,
        setup.mappings(&sandbox, front.local_addr().unwrap(), &db.url),
    )
    .unwrap();
    let proxy = RoundRobin::start(front).await;

    // The first replica takes every lease; the second waits for them.
    let first = Replica::start(&config);
    proxy.add(first.addr);
    let leases = [
        "processor".to_owned(),
        format!("poll:miro:{MIRO_BOARD}"),
        "reconcile:sync-test".to_owned(),
    ];
    // Each worker holds its lease under a name of its own.
    let before = wait_for(
        "the first replica to hold every lease",
        DEADLINE,
        || async {
            let held = holders(&db.url).await;
            leases
                .iter()
                .map(|l| held.get(l).cloned())
                .collect::<Option<Vec<String>>>()
        },
    )
    .await;
    let second = Replica::start(&config);
    proxy.add(second.addr);

    let people = People {
        miro: sandbox.miro_api_url(),
        monday: sandbox.monday_api_url(),
        http: reqwest::Client::new(),
    };
    let mut items = Vec::new();
    let mut first = Some(first);
    let mut killed = None;
    for i in 0..24 {
        people.sticky(&format!("Note {i}")).await;
        let item = people.item(&format!("Item {i}")).await;
        items.push(item);
        if i % 3 == 2 {
            let label = ["Done", "Stuck"][i % 2];
            people.status(&items[i - 1], label).await;
        }
        if i == 11 {
            // Both have answered webhooks by now.
            wait_for("a webhook on each replica", DEADLINE, || async {
                let served = proxy.served.lock().unwrap().clone();
                served.iter().all(|&n| n > 0).then_some(())
            })
            .await;
            drop(first.take()); // SIGKILL, and reaped.
            killed = Some(Instant::now());
        }
    }
    let killed = killed.unwrap();

    // Each lease passes to the survivor within its period of the kill.
    let mut took = Vec::new();
    for ((lease, holder), period) in leases.iter().zip(&before).zip([10, 15, 15]) {
        let period = Duration::from_secs(period);
        wait_for(&format!("{lease} taken over"), period * 2, || async {
            let held = holders(&db.url).await;
            held.get(lease).filter(|h| *h != holder).map(|_| ())
        })
        .await;
        let after = killed.elapsed();
        took.push((lease.clone(), after));
        assert!(
            after <= period + Duration::from_secs(1),
            "{lease} taken over {after:?} after the kill (lease {period:?})"
        );
    }
    eprintln!("takeover after the kill: {took:?}");

    // Everything settles on the survivor: each item has exactly one twin, as its source says.
    let status = wait_for(
        "the survivor to settle",
        Duration::from_secs(60),
        || async {
            let s = second.status().await;
            let pair = &s["pairs"][0];
            (s["inbox_backlog"] == 0
                && pair["outbox_backlog"] == 0
                && pair["links"]["active"] == 48)
                .then_some(s)
        },
    )
    .await;
    assert_eq!(status["pairs"][0]["dead_letters"], 0, "{status}");
    let (on_miro, on_monday) = wait_for("both boards alike", DEADLINE, || async {
        let (m, d) = boards(&people.miro, &people.monday).await;
        (m == d).then_some((m, d))
    })
    .await;
    assert_eq!(on_miro.len(), 48, "each twin once: {on_miro:?}");
    assert_eq!(on_monday.len(), 48);
    assert!(on_monday.iter().any(|(_, s)| s == "Done"));
    db.drop_now().await;
}
