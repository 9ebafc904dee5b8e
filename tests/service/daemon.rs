//! `boardsync run` as a user runs it: the real binary, on a real store, answering real HTTP, and
//! stopping on SIGTERM. Each daemon listens on a port of its own (port 0) and uses a store of its
//! own, named explicitly so that no `DATABASE_URL` in the environment can steer it elsewhere.

use crate::common::TestDb;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Both APIs point at a port where nothing answers: these daemons never reach Miro or monday.
const MINIMAL: &str = "[miro]\ntoken = \"t\"\napi_url = \"http://127.0.0.1:9\"\n\n[monday]\ntoken = \"t\"\napi_url = \"http://127.0.0.1:9\"\n";

struct Daemon {
    child: Child,
    addr: String,
    stderr: mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

/// Starts `boardsync run` on `database_url` and returns once it says it is listening.
fn start(database_url: &str) -> Daemon {
    start_as(MINIMAL, database_url, None, "all")
}

/// Starts `boardsync run --role ROLE` with `config` as its mappings file, under `ulimit ULIMIT`
/// when given (as a shell would start it), and returns once it says it is listening.
fn start_as(config: &str, database_url: &str, ulimit: Option<&str>, role: &str) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("boardsync.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = match ulimit {
        None => spawn_with(
            Command::new(crate::common::bin())
                .args(["run", "--role", role, "--config"])
                .arg(&path),
            database_url,
            "127.0.0.1:0",
        ),
        Some(limit) => spawn_with(
            Command::new("sh").args([
                "-c",
                &format!("ulimit {limit} && exec \"$0\" run --role {role} --config \"$1\""),
                crate::common::bin(),
                path.to_str().unwrap(),
            ]),
            database_url,
            "127.0.0.1:0",
        ),
    };
    let stderr = crate::common::stderr_lines(&mut child);
    let addr = wait_for_line(&stderr, Duration::from_secs(20), |line| {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        (v["fields"]["message"] == "listening")
            .then(|| v["fields"]["addr"].as_str().unwrap().to_owned())
    })
    .unwrap_or_else(|| panic!("the daemon never said it was listening"));
    Daemon {
        child,
        addr,
        stderr,
        _dir: dir,
    }
}

fn spawn(config: &std::path::Path, database_url: &str, listen: &str) -> Child {
    spawn_with(
        Command::new(crate::common::bin())
            .args(["run", "--config"])
            .arg(config),
        database_url,
        listen,
    )
}

fn spawn_with(command: &mut Command, database_url: &str, listen: &str) -> Child {
    command
        .env("DATABASE_URL", database_url)
        .env("BOARDSYNC_LISTEN", listen)
        .env("BOARDSYNC_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for_line<T>(
    lines: &mpsc::Receiver<String>,
    deadline: Duration,
    mut pick: impl FnMut(&str) -> Option<T>,
) -> Option<T> {
    let end = Instant::now() + deadline;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(v) = pick(&line) {
                    return Some(v);
                }
            }
            Err(_) => return None,
        }
    }
    None
}

fn wait_exit(child: &mut Child, deadline: Duration) -> Option<(ExitStatus, Duration)> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some((status, start.elapsed()));
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Daemon {
    async fn get(&self, path: &str) -> (u16, String) {
        let resp = reqwest::get(format!("http://{}{path}", self.addr))
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// Sends SIGTERM and returns how the process ended and how long it took.
    fn terminate(mut self) -> (ExitStatus, Duration) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let ended = wait_exit(&mut self.child, Duration::from_secs(10))
            .expect("the daemon did not exit within 10 s of SIGTERM");
        assert!(
            wait_for_line(&self.stderr, Duration::from_secs(1), |l| l
                .contains("shutting down")
                .then_some(()))
            .is_some(),
            "the daemon did not log its shutdown"
        );
        ended
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

async fn answers_health_and_readiness_then_stops_on_sigterm(database_url: &str) {
    let daemon = start(database_url);
    assert_eq!(daemon.get("/healthz").await, (200, "ok\n".to_owned()));
    assert_eq!(daemon.get("/readyz").await, (200, "ready\n".to_owned()));
    assert_eq!(daemon.get("/no-such-page").await.0, 404);
    let (status, took) = daemon.terminate();
    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");
}

#[tokio::test]
async fn on_sqlite_it_answers_health_and_readiness_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    answers_health_and_readiness_then_stops_on_sigterm(&url).await;
    assert!(
        dir.path().join("store.db").exists(),
        "the store file was created"
    );
}

#[tokio::test]
async fn on_postgres_it_answers_health_and_readiness_and_stops_cleanly() {
    let db = TestDb::create().await;
    answers_health_and_readiness_then_stops_on_sigterm(&db.url).await;
    db.drop_now().await;
}

#[tokio::test]
async fn readiness_fails_while_the_database_is_gone_and_health_does_not() {
    let db = TestDb::create().await;
    let daemon = start(&db.url);
    assert_eq!(daemon.get("/readyz").await.0, 200);
    db.drop_now().await;
    crate::common::wait_for("/readyz to answer 503", Duration::from_secs(10), || async {
        (daemon.get("/readyz").await.0 == 503).then_some(())
    })
    .await;
    assert_eq!(daemon.get("/healthz").await.0, 200);
    let (status, _) = daemon.terminate();
    assert_eq!(status.code(), Some(0));
}

/// Runs a daemon that must fail to start (trying an unreachable database for 2 s); returns its
/// exit code and standard error.
fn failed_start(database_url: &str, listen: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("boardsync.toml");
    std::fs::write(
        &config,
        format!("[daemon]\nstore_start_timeout = \"2s\"\n{MINIMAL}"),
    )
    .unwrap();
    let mut child = spawn(&config, database_url, listen);
    let lines = crate::common::stderr_lines(&mut child);
    let (status, _) = wait_exit(&mut child, Duration::from_secs(15)).expect("it should give up");
    // The child has exited, so its stderr reaches end of file: read every line the reader has
    // (`try_iter` could miss lines the reader thread had not passed on yet).
    let stderr: Vec<String> = lines.iter().collect();
    (status.code(), stderr.join("\n"))
}

#[test]
fn an_unreachable_database_ends_start_up_with_one_readable_line() {
    let (code, stderr) = failed_start("postgres://postgres@127.0.0.1:1/nowhere", "127.0.0.1:0");
    assert_eq!(code, Some(1));
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("boardsync: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("cannot reach the database at postgres://postgres@127.0.0.1:1/nowhere"),
        "{stderr}"
    );
    assert!(errors[0].contains("Connection refused"), "{stderr}");
    assert!(
        stderr.contains("the database does not answer yet; trying again"),
        "each attempt is logged: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_taken_port_ends_start_up_with_one_readable_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let (code, stderr) = failed_start(&url, &addr);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!(
            "boardsync: error: cannot listen on {addr}: Address already in use"
        )),
        "{stderr}"
    );
}

#[test]
fn an_unsupported_database_url_is_refused_before_anything_starts() {
    let (code, stderr) = failed_start("mysql://localhost/db", "127.0.0.1:0");
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("DATABASE_URL: `database_url` must start with sqlite:// or postgres://"),
        "{stderr}"
    );
}

/// A mappings file whose monday receiver verifies the tests' JWTs; for `--role ingest`.
fn receiving() -> String {
    format!(
        "[daemon]\npublic_url = \"{}\"\n{MINIMAL}signing_secret = \"{}\"\n",
        crate::ingress::PUBLIC_URL,
        crate::ingress::MONDAY_SECRET
    )
}

/// One signed monday delivery on a connection of its own: its status and how long it took.
async fn deliver(addr: &str) -> (u16, Duration) {
    let jwt = crate::common::monday_jwt(
        crate::ingress::MONDAY_SECRET,
        &format!("{}/webhooks/monday", crate::ingress::PUBLIC_URL),
        300,
    );
    let started = Instant::now();
    let status = reqwest::Client::new()
        .post(format!("http://{addr}/webhooks/monday"))
        .header("Authorization", jwt)
        .body(crate::common::monday_delivery(
            &uuid::Uuid::new_v4().to_string(),
        ))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    (status, started.elapsed())
}

#[tokio::test]
async fn started_with_a_soft_limit_of_1024_open_files_it_holds_1100_unfinished_requests_and_still_answers()
 {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    // A soft limit of 1,024 is many systems' default; the hard limit above it is left as it is.
    let daemon = start_as(&receiving(), &url, Some("-Sn 1024"), "ingest");
    let base = format!("http://{}", daemon.addr);
    let held =
        crate::connections::hold(&base, 1100, &crate::connections::unfinished_delivery()).await;
    // Read off the process, not its metrics: at 1,024 files a daemon that could not raise its
    // limit would stop just past 1,000, with the rest of the clients queued behind them.
    let pid = daemon.child.id();
    crate::common::wait_for(
        "1,000 connections taken",
        Duration::from_secs(30),
        || async {
            let open = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
            (open >= 1000).then_some(())
        },
    )
    .await;
    for _ in 0..10 {
        let (status, took) = tokio::time::timeout(Duration::from_secs(5), deliver(&daemon.addr))
            .await
            .expect("a delivery answered beside 1,100 unfinished requests");
        assert_eq!(status, 200);
        assert!(took < Duration::from_secs(1), "a delivery took {took:?}");
    }
    assert_eq!(daemon.get("/healthz").await.0, 200);
    let served = crate::connections::gauge(&base, "boardsync_http_connections").await;
    assert!(served >= Some(1100), "{served:?}");
    drop(held);
}

#[tokio::test]
async fn when_its_files_cannot_hold_max_connections_it_serves_fewer_says_so_and_health_still_answers()
 {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    // Soft and hard limits at 1,024: the daemon cannot raise them.
    let daemon = start_as(&receiving(), &url, Some("-n 1024"), "ingest");
    wait_for_line(&daemon.stderr, Duration::from_secs(10), |l| {
        l.contains("the open-file limit cannot hold [daemon] max_connections")
            .then_some(())
    })
    .expect("the lowered limit is logged");
    let base = format!("http://{}", daemon.addr);
    let held =
        crate::connections::hold(&base, 1100, &crate::connections::unfinished_delivery()).await;
    wait_for_line(&daemon.stderr, Duration::from_secs(30), |l| {
        l.contains("connection limit reached").then_some(())
    })
    .expect("reaching the limit is logged");
    // Past the limit: health answers, a delivery is refused at once for its sender to retry.
    assert_eq!(daemon.get("/healthz").await, (200, "ok\n".to_owned()));
    let (status, took) = deliver(&daemon.addr).await;
    assert_eq!(status, 503);
    assert!(took < Duration::from_secs(1), "refused after {took:?}");
    drop(held);
    let (status, _) = crate::common::wait_for(
        "a delivery served once the clients let go",
        Duration::from_secs(30),
        || async { Some(deliver(&daemon.addr).await).filter(|(s, _)| *s == 200) },
    )
    .await;
    assert_eq!(status, 200);
}
