//! The store under write failures, from outside: signed monday deliveries to a real daemon on
//! SQLite while its disk is full (a small tmpfs mounted by the test when it runs as root, or
//! `SQLITE_FULL` injected through the store's test hook otherwise), then after space returns, then
//! after a restart. Every delivery answered 200 must be in the store; none may be answered 200
//! while its write failed.

use boardsync::app::{App, Role};
use boardsync::config::Config;
use boardsync::store::Store;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const MONDAY_SECRET: &str = "monday-signing-secret";
const PUBLIC_URL: &str = "https://boardsync.example.com";

/// A tmpfs of `size` mounted under a tempdir of its own, unmounted when dropped (whether the
/// test passed or not).
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` where mounting is not allowed (not root, or in a container without the right).
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let mounted = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "boardsync-test",
            ])
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(Tmpfs { path, _dir: dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = std::process::Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Something still holds a file there (a test that failed midway): detach it now,
            // the kernel frees it when the last file closes.
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.path)
                .status();
        }
    }
}

/// How the disk is made full.
enum Disk {
    Tmpfs(Tmpfs),
    Injected,
}

impl Disk {
    fn dir(&self) -> Option<&Path> {
        match self {
            Disk::Tmpfs(t) => Some(&t.path),
            Disk::Injected => None,
        }
    }

    fn fill(&self, store: &Store) {
        match self {
            Disk::Tmpfs(t) => {
                let mut file = std::fs::File::create(t.path.join("filler")).unwrap();
                let chunk = vec![0u8; 16 * 1024];
                while file.write_all(&chunk).is_ok() {}
                // The last, partial chunk: down to the last byte.
                while file.write_all(&[0]).is_ok() {}
            }
            Disk::Injected => store.inject_sqlite_full(u32::MAX),
        }
    }

    fn free(&self, store: &Store) {
        match self {
            Disk::Tmpfs(t) => std::fs::remove_file(t.path.join("filler")).unwrap(),
            Disk::Injected => store.inject_sqlite_full(0),
        }
    }
}

struct Daemon {
    base: String,
    store: Store,
    stop: CancellationToken,
    run: tokio::task::JoinHandle<anyhow::Result<()>>,
    http: reqwest::Client,
}

impl Daemon {
    async fn start(url: &str) -> Daemon {
        let text = format!(
            "[daemon]\nlisten = \"127.0.0.1:0\"\npublic_url = \"{PUBLIC_URL}\"\ndatabase_url = \"{url}\"\n\
             [miro]\ntoken = \"t\"\n\
             [monday]\ntoken = \"t\"\nsigning_secret = \"{MONDAY_SECRET}\"\n\
             [[pair]]\nname = \"p\"\nmiro_board = \"uXjVREDACTED=\"\nmonday_board = 7786783342\nfields.title = {{ miro = \"data.content\", monday = \"name\" }}\n"
        );
        let config = Config::parse(Path::new("test.toml"), &text, &|_| None).unwrap();
        let app = App::build(config, Role::Ingest).await.unwrap();
        let base = format!("http://{}", app.local_addr());
        let store = app.state().store.clone();
        let stop = CancellationToken::new();
        let run = tokio::spawn(app.run(stop.clone()));
        Daemon {
            base,
            store,
            stop,
            run,
            http: reqwest::Client::new(),
        }
    }

    /// Sends a signed monday delivery with `trigger` as its triggerUuid; the status it got.
    async fn deliver(&self, trigger: &str) -> u16 {
        self.http
            .post(format!("{}/webhooks/monday", self.base))
            .header("content-type", "application/json")
            .header(
                "Authorization",
                crate::common::monday_jwt(
                    MONDAY_SECRET,
                    &format!("{PUBLIC_URL}/webhooks/monday"),
                    300,
                ),
            )
            .body(crate::common::monday_delivery(trigger))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn readyz(&self) -> u16 {
        self.http
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Stops the daemon and waits until its store is closed.
    async fn stop(self) {
        self.stop.cancel();
        self.run.await.unwrap().unwrap();
        self.store.close().await;
    }
}

fn trigger() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Several writes fail while the disk is full (one is not enough to leave a connection in a bad
/// state), so the test waits for this many 503s before freeing it.
const FAILED_WRITES_WHILE_FULL: usize = 6;

async fn every_delivery_answered_200_survives_a_full_disk_and_a_restart(disk: Disk) {
    let scratch = tempfile::tempdir().unwrap();
    let dir = disk.dir().unwrap_or(scratch.path()).to_owned();
    let url = format!("sqlite://{}", dir.join("boardsync.db").display());
    let daemon = Daemon::start(&url).await;
    let mut acknowledged: Vec<String> = Vec::new();

    for _ in 0..5 {
        let t = trigger();
        assert_eq!(daemon.deliver(&t).await, 200, "before the disk fills");
        acknowledged.push(t);
    }
    assert_eq!(daemon.readyz().await, 200);

    disk.fill(&daemon.store);
    // SQLite can still reuse space inside its log for a while, so a write may succeed at first;
    // whatever was answered 200 must be kept all the same.
    let mut refused = 0;
    for _ in 0..200 {
        let t = trigger();
        match daemon.deliver(&t).await {
            200 => acknowledged.push(t),
            503 => refused += 1,
            other => panic!("a delivery got {other} while the disk was full"),
        }
        if refused == FAILED_WRITES_WHILE_FULL {
            break;
        }
    }
    assert_eq!(
        refused, FAILED_WRITES_WHILE_FULL,
        "deliveries get 503 while the disk is full"
    );
    crate::common::wait_for(
        "/readyz to answer 503 while the disk is full",
        Duration::from_secs(10),
        || async { (daemon.readyz().await == 503).then_some(()) },
    )
    .await;

    disk.free(&daemon.store);
    crate::common::wait_for(
        "/readyz to answer 200 once space is back",
        Duration::from_secs(10),
        || async { (daemon.readyz().await == 200).then_some(()) },
    )
    .await;
    for i in 0..30 {
        let t = trigger();
        assert_eq!(
            daemon.deliver(&t).await,
            200,
            "delivery {i} after space came back"
        );
        acknowledged.push(t);
    }
    daemon.stop().await;

    let store = Store::open(&url).await.unwrap();
    let stored: HashSet<String> = store
        .pending_inbox(10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.dedupe_key)
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|t| !stored.iter().any(|key| key.ends_with(t.as_str())))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} deliveries answered 200 are not in the store after a restart: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
    assert_eq!(
        stored.len(),
        acknowledged.len(),
        "nothing answered 503 was stored"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_delivery_answered_200_survives_a_full_disk_and_a_restart_on_sqlite() {
    let disk = match Tmpfs::mount("2m") {
        Some(t) => Disk::Tmpfs(t),
        None => {
            eprintln!("cannot mount a tmpfs here: injecting SQLITE_FULL instead");
            Disk::Injected
        }
    };
    every_delivery_answered_200_survives_a_full_disk_and_a_restart(disk).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_delivery_answered_200_survives_injected_sqlite_full_errors_and_a_restart() {
    every_delivery_answered_200_survives_a_full_disk_and_a_restart(Disk::Injected).await;
}
