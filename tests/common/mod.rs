//! Helpers the integration tests share: the binary, fresh Postgres databases, and waiting on a
//! condition with a deadline (never a fixed sleep).

#![allow(dead_code)]

pub mod world;

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The `boardsync` binary cargo built for these tests.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_boardsync")
}

/// Runs `boardsync ARGS --config CONFIG` to its end, off the test's runtime: the daemon and the
/// sandbox of the test run on that runtime, so waiting for the command on it would freeze them,
/// with whatever they were doing (an SQLite write transaction, an answer the command waits for).
pub async fn run_cli(args: &[&str], config: &std::path::Path) -> std::process::Output {
    let mut command = std::process::Command::new(bin());
    command
        .args(args)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn");
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the command's thread")
        .expect("the binary runs")
}

/// The Postgres server tests make their databases on: `BOARDSYNC_TEST_POSTGRES`, else the local
/// one. (`DATABASE_URL` is deliberately not read: it also steers the daemon.)
pub fn postgres_server() -> String {
    std::env::var("BOARDSYNC_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database of its own for one test, dropped by [`TestDb::drop_now`].
pub struct TestDb {
    pub name: String,
    pub url: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    pub async fn create() -> TestDb {
        let name = format!(
            "boardsync_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        admin(&format!("CREATE DATABASE {name}")).await;
        let server = postgres_server();
        let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
        TestDb {
            url: format!("{base}/{name}"),
            name,
        }
    }

    /// Drops the database, cutting off any connection still open to it.
    pub async fn drop_now(self) {
        admin(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .await;
    }
}

/// Runs `sql` on the test server's admin database.
pub async fn admin(sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&postgres_server())
        .await
        .unwrap_or_else(|e| panic!("tests need Postgres at {}: {e}", postgres_server()));
    sqlx::query(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// Polls `check` until it yields a value or `deadline` passes; panics naming `what` on timeout.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The lines a child process writes to standard error, as they come (read on a thread of
/// their own, so the child never blocks on a full pipe).
pub fn stderr_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().expect("stderr is piped");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A webhook endpoint for tests: answers challenges by echoing them (as Miro and monday require),
/// answers everything else with `status`, and keeps every request it received.
pub struct Receiver {
    pub url: String,
    pub deliveries: std::sync::Arc<std::sync::Mutex<Vec<Delivery>>>,
    pub status: std::sync::Arc<std::sync::atomic::AtomicU16>,
}

#[derive(Clone, Debug)]
pub struct Delivery {
    pub headers: axum::http::HeaderMap,
    pub body: axum::body::Bytes,
}

impl Delivery {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON delivery")
    }
}

impl Receiver {
    pub async fn start() -> Receiver {
        use axum::http::StatusCode;
        use std::sync::atomic::AtomicU16;
        use std::sync::{Arc, Mutex};
        let deliveries: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(200));
        let (d, s) = (deliveries.clone(), status.clone());
        let app = axum::Router::new().fallback(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (d, s) = (d.clone(), s.clone());
                async move {
                    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
                        && v.get("challenge").is_some()
                        && v.as_object().is_some_and(|o| o.len() == 1)
                    {
                        return (StatusCode::OK, axum::Json(v)).into_response();
                    }
                    d.lock().unwrap().push(Delivery { headers, body });
                    let code = s.load(Ordering::SeqCst);
                    StatusCode::from_u16(code).unwrap().into_response()
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            url,
            deliveries,
            status,
        }
    }

    pub fn received(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    /// Waits until at least `n` deliveries have arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Delivery> {
        wait_for(
            &format!("{n} webhook deliveries"),
            Duration::from_secs(10),
            || async {
                let got = self.received();
                (got.len() >= n).then_some(got)
            },
        )
        .await
    }
}

use axum::response::IntoResponse;

/// GETs `url` and reads the answer as JSON.
pub async fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> T {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// GETs `url` and reads the answer as text (such as `/metrics`).
pub async fn get_text(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// Sends a GraphQL query to the monday stand-in at `url` as `token`; returns the whole answer.
pub async fn monday_query(url: &str, token: &str, query: &str) -> serde_json::Value {
    reqwest::Client::new()
        .post(url)
        .header("Authorization", token)
        .header("API-Version", "2026-10")
        .json(&serde_json::json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The sandbox on free loopback ports with `seed`, and a temp dir with an SQLite URL in it for the
/// daemon's store (the dir lives as long as the returned handle).
pub async fn seeded_sandbox(
    seed: boardsync::sandbox::Seed,
) -> (boardsync::sandbox::Sandbox, tempfile::TempDir, String) {
    let sandbox = boardsync::sandbox::Sandbox::start(boardsync::sandbox::SandboxOptions {
        seed: Some(seed),
        ..boardsync::sandbox::SandboxOptions::ephemeral()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("boardsync.db").display());
    (sandbox, dir, db)
}

/// The items of board `id` in a sandbox `GET /_sandbox/state` answer (either API's).
pub fn board_items(state: &serde_json::Value, id: &str) -> Vec<serde_json::Value> {
    state["boards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == id)
        .map(|b| b["items"].as_array().unwrap().clone())
        .unwrap_or_default()
}

/// A path segment, percent-encoded (Miro board ids end in `=`).
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// What a browser without JavaScript does with the dashboard: loads pages, keeps the cookies they
/// set, and submits their forms (with the CSRF token the page put in them). Redirects are not
/// followed, so tests see them.
pub struct Visitor {
    http: reqwest::Client,
    base: String,
    cookies: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
}

impl Visitor {
    pub fn new(base: &str) -> Visitor {
        Visitor {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.trim_end_matches('/').to_owned(),
            cookies: Default::default(),
        }
    }

    fn remember(&self, response: &reqwest::Response) {
        let mut jar = self.cookies.lock().unwrap();
        for set in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() {
                    jar.remove(name.trim());
                } else {
                    jar.insert(name.trim().to_owned(), value.trim().to_owned());
                }
            }
        }
    }

    fn cookie_header(&self) -> String {
        let jar = self.cookies.lock().unwrap();
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// `GET path`: the status and the body.
    pub async fn get(&self, path: &str) -> (reqwest::StatusCode, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.remember(&response);
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    /// A page that must answer 200.
    pub async fn page(&self, path: &str) -> String {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Loads `page` and submits its form whose action is `action`, with the form's hidden fields;
    /// answers the status and the `Location` of the answer.
    pub async fn submit(&self, page: &str, action: &str) -> (reqwest::StatusCode, Option<String>) {
        let html = self.page(page).await;
        let fields = form_fields(&html, action)
            .unwrap_or_else(|| panic!("no form posting to {action} on {page}:\n{html}"));
        self.post(action, &fields).await
    }

    /// `POST action` with `fields`, urlencoded, and this visitor's cookies.
    pub async fn post(
        &self,
        action: &str,
        fields: &[(String, String)],
    ) -> (reqwest::StatusCode, Option<String>) {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let response = self
            .http
            .post(format!("{}{action}", self.base))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .unwrap();
        self.remember(&response);
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        (response.status(), location)
    }
}

/// The hidden fields of the form in `html` whose action is `action`.
pub fn form_fields(html: &str, action: &str) -> Option<Vec<(String, String)>> {
    let start = html.find(&format!("action=\"{action}\""))?;
    let form = &html[start..start + html[start..].find("</form>")?];
    let mut fields = Vec::new();
    for input in form.split("<input").skip(1) {
        let attr = |name: &str| {
            let at = input.find(&format!("{name}=\""))? + name.len() + 2;
            Some(input[at..at + input[at..].find('"')?].replace("&amp;", "&"))
        };
        if attr("type").as_deref() == Some("hidden") {
            fields.push((attr("name")?, attr("value").unwrap_or_default()));
        }
    }
    Some(fields)
}

/// A monday app JWT for `aud` signed with `secret`, expiring `expires_in` seconds from now.
pub fn monday_jwt(secret: &str, aud: &str, expires_in: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({"accountId": 1825528, "userId": 4012689, "aud": aud, "iat": now - 10, "exp": now + expires_in, "shortLivedToken": "x"});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// A real monday status-change delivery, made fresh: now as its trigger time, `trigger` as its
/// `triggerUuid`.
pub fn monday_delivery(trigger: &str) -> Vec<u8> {
    let now = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    serde_json::to_vec(&serde_json::json!({"event": {"app": "monday", "type": "update_column_value", "triggerTime": now, "subscriptionId": 466701570, "isRetry": false, "userId": 67214742, "originalTriggerUuid": null, "boardId": 7786783342u64, "groupId": "topics", "pulseId": 7786784079u64, "pulseName": "Developer", "columnId": "status", "columnType": "color", "columnTitle": "Status", "value": {"label": {"index": 1, "text": "Done"}}, "previousValue": null, "changedAt": 1738777972.386279, "isTopGroup": true, "triggerUuid": trigger}})).unwrap()
}
