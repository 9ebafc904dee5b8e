//! Supervised workers end to end: a daemon syncing the sandbox has its processor and dispatcher
//! made to panic through the supervisor's test-only fault hook. While their restarts are held,
//! `/healthz` answers 503 naming them, `/metrics` counts the restarts, `/api/status` and the
//! overview show them restarting with the panic as their last error; once released, `/healthz`
//! is 200 again and a change made on monday meanwhile reaches Miro. The HTTP server, made to fail,
//! comes back on the same port; an inbox writer started again goes on with the queue it left; a
//! second replica's leased workers are on standby, and healthy.

use crate::common::wait_for;
use crate::common::world::{DEADLINE, MONDAY_BOARD, World, world};
use serde_json::Value;

const FAULT: &str = "fault injected by the test";

/// `GET /healthz`: its status and body.
async fn health(w: &World) -> (u16, String) {
    let r = w
        .http
        .get(format!("{}/healthz", w.base))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The worker `name` in `/api/status`.
async fn worker(w: &World, name: &str) -> Value {
    let status = w.status().await;
    status["workers"]
        .as_array()
        .expect("workers is a list")
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no worker {name} in {status}"))
        .clone()
}

/// The value of `boardsync_worker_restarts_total{worker="name"}` in `/metrics`.
async fn restarts_counted(w: &World, name: &str) -> Option<f64> {
    let text = crate::common::get_text(&format!("{}/metrics", w.base)).await;
    let prefix = format!("boardsync_worker_restarts_total{{worker=\"{name}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.parse().unwrap())
}

async fn on_miro(w: &World, content: &str) -> bool {
    w.miro_items()
        .await
        .iter()
        .any(|i| i["data"]["content"] == content)
}

async fn failed_workers_make_healthz_fail_are_shown_and_restart_to_sync_again(postgres: bool) {
    let w = world(postgres, "").await;
    wait_for("the processor running", DEADLINE, || async {
        (worker(&w, "processor").await["state"] == "running").then_some(())
    })
    .await;
    assert_eq!(health(&w).await, (200, "ok\n".to_owned()));
    for name in ["processor", "dispatcher"] {
        assert_eq!(restarts_counted(&w, name).await, Some(0.0), "{name}");
    }

    w.supervisor.hold_restarts(true);
    assert!(w.supervisor.fail("processor", FAULT));
    assert!(w.supervisor.fail("dispatcher", FAULT));
    let (code, body) = wait_for("/healthz to fail", DEADLINE, || async {
        let (code, body) = health(&w).await;
        (body.contains("processor") && body.contains("dispatcher")).then_some((code, body))
    })
    .await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(body, "restarting: dispatcher, processor\n");

    // Made on monday while neither runs: it waits in the inbox.
    w.monday(&format!(
        r#"mutation {{ create_item(board_id: {MONDAY_BOARD}, group_id: "topics", item_name: "After the restart", column_values: "{{}}") {{ id }} }}"#
    ))
    .await;

    for name in ["processor", "dispatcher"] {
        assert_eq!(restarts_counted(&w, name).await, Some(1.0), "{name}");
        let shown = worker(&w, name).await;
        assert_eq!(shown["state"], "restarting", "{shown}");
        assert_eq!(shown["restarts"], 1, "{shown}");
        assert_eq!(shown["last_error"], format!("panicked: {FAULT}"), "{shown}");
    }
    assert_eq!(worker(&w, "miro-scan:uXjVSyncTst=").await["restarts"], 0);
    let page = crate::common::get_text(&format!("{}/", w.base)).await;
    let row = page
        .split("<tr data-worker=\"processor\">")
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .unwrap_or_else(|| panic!("no processor row on the overview:\n{page}"));
    assert!(row.contains(">restarting<"), "{row}");
    assert!(row.contains(FAULT), "{row}");
    assert!(
        !on_miro(&w, "<p>After the restart</p>").await,
        "synced with the processor and dispatcher down"
    );

    w.supervisor.hold_restarts(false);
    wait_for("/healthz to pass again", DEADLINE, || async {
        (health(&w).await == (200, "ok\n".to_owned())).then_some(())
    })
    .await;
    wait_for("the monday item on Miro", DEADLINE, || async {
        on_miro(&w, "<p>After the restart</p>").await.then_some(())
    })
    .await;
    for name in ["processor", "dispatcher"] {
        let shown = worker(&w, name).await;
        assert_eq!(shown["state"], "running", "{shown}");
        assert_eq!(shown["restarts"], 1, "{shown}");
    }
    w.stop().await;
}

#[tokio::test]
async fn sqlite_failed_workers_make_healthz_fail_are_shown_and_restart_to_sync_again() {
    failed_workers_make_healthz_fail_are_shown_and_restart_to_sync_again(false).await;
}

#[tokio::test]
async fn postgres_failed_workers_make_healthz_fail_are_shown_and_restart_to_sync_again() {
    failed_workers_make_healthz_fail_are_shown_and_restart_to_sync_again(true).await;
}

#[tokio::test]
async fn a_failed_http_server_comes_back_on_the_same_port() {
    let w = world(false, "").await;
    assert!(w.supervisor.fail("http", FAULT));
    wait_for("the server's restart", DEADLINE, || async {
        let http = w
            .supervisor
            .workers()
            .into_iter()
            .find(|v| v.name == "http")?;
        (http.restarts == 1 && http.state == boardsync::supervisor::WorkerState::Running)
            .then_some(())
    })
    .await;
    assert_eq!(health(&w).await, (200, "ok\n".to_owned()));
    let http = worker(&w, "http").await;
    assert_eq!(http["last_error"], format!("panicked: {FAULT}"));
    assert_eq!(restarts_counted(&w, "http").await, Some(1.0));
    w.stop().await;
}

#[tokio::test]
async fn workers_waiting_for_a_lease_another_replica_holds_are_standby_and_healthy() {
    let w = world(false, "").await;
    // Something synced: this daemon's processor holds the lease (and renews it while it runs).
    w.monday(&format!(
        r#"mutation {{ create_item(board_id: {MONDAY_BOARD}, group_id: "topics", item_name: "Before the second", column_values: "{{}}") {{ id }} }}"#
    ))
    .await;
    wait_for("the monday item on Miro", DEADLINE, || async {
        on_miro(&w, "<p>Before the second</p>").await.then_some(())
    })
    .await;
    // A second daemon on the same store: the first holds the processor's lease.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (shutdown, daemon, _) = crate::common::world::start_daemon(listener, &w.config_path).await;
    // Each of its workers that needs a lease says `standby` once it has tried for the lease and
    // found it held; they start together, so each is waited for, not read off one snapshot.
    for name in ["processor", "monday-reconcile:sync-test"] {
        wait_for(
            &format!("the second daemon's {name} on standby"),
            DEADLINE,
            || async {
                let status: Value = crate::common::get_json(&format!("{base}/api/status")).await;
                let state = status["workers"]
                    .as_array()?
                    .iter()
                    .find(|v| v["name"] == name)?["state"]
                    .clone();
                (state == "standby").then_some(())
            },
        )
        .await;
    }
    let r = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(r.status(), 200);
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
    w.stop().await;
}

fn inbox_entry(key: &str) -> boardsync::store::NewInboxEntry {
    boardsync::store::NewInboxEntry {
        dedupe_key: format!("monday:{key}"),
        source: "monday".into(),
        pair: None,
        board_id: "1".into(),
        item_id: Some(key.into()),
        kind: "updated".into(),
        change: "{}".into(),
        raw_body: None,
        source_ts: None,
        received_at: 1_000,
        outcome: None,
    }
}

#[tokio::test]
async fn a_restarted_inbox_writer_stores_what_was_queued_while_it_was_down() {
    use boardsync::ingress::writer::InboxWriter;
    use boardsync::store::{InboxInsert, Store};
    use boardsync::supervisor::{Supervisor, WorkerState};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("w.db").display());
    let store = Store::open(&url).await.unwrap();
    let supervisor = Supervisor::new(
        &boardsync::metrics::Metrics::default(),
        boardsync::clock::Clock::default(),
    );
    let shutdown = tokio_util::sync::CancellationToken::new();
    let (writer, writing) = InboxWriter::new(store.clone(), None);
    supervisor.spawn("inbox-writer", shutdown.clone(), move |_| writing.run());
    let first = writer.insert(inbox_entry("before"), i64::MAX).await;
    assert!(matches!(first, Ok(InboxInsert::Stored(_))), "{first:?}");

    supervisor.hold_restarts(true);
    assert!(supervisor.fail("inbox-writer", FAULT));
    let state = || supervisor.workers()[0].state;
    wait_for("the writer to fail", DEADLINE, || async {
        (state() == WorkerState::Restarting).then_some(())
    })
    .await;
    // Sent while no run reads the queue: it waits there, unanswered, for the next run.
    let queued = tokio::spawn({
        let writer = writer.clone();
        async move { writer.insert(inbox_entry("while down"), i64::MAX).await }
    });
    supervisor.hold_restarts(false);
    let second = queued.await.unwrap();
    assert!(matches!(second, Ok(InboxInsert::Stored(_))), "{second:?}");
    assert_eq!(state(), WorkerState::Running);
    assert_eq!(store.count_inbox(None).await.unwrap(), 2);
    shutdown.cancel();
    drop(writer);
    supervisor.close();
    tokio::time::timeout(DEADLINE, supervisor.wait())
        .await
        .expect("the writer stops once its handles are gone");
}
