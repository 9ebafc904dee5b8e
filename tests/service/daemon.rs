//! `boardsync run` as a user runs it: the real binary, on a real store, answering real HTTP, and
//! stopping on SIGTERM. Each daemon listens on a port of its own (port 0) and uses a store of its
//! own, named explicitly so that no `DATABASE_URL` in the environment can steer it elsewhere.

use crate::common::TestDb;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const MINIMAL: &str = "[miro]\ntoken = \"t\"\n\n[monday]\ntoken = \"t\"\n";

struct Daemon {
    child: Child,
    addr: String,
    stderr: mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

/// Starts `boardsync run` on `database_url` and returns once it says it is listening.
fn start(database_url: &str) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("boardsync.toml");
    std::fs::write(&config, MINIMAL).unwrap();
    let mut child = spawn(&config, database_url, "127.0.0.1:0");
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
    Command::new(crate::common::bin())
        .args(["run", "--config"])
        .arg(config)
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
