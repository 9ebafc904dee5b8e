//! The supervisor on its own, in paused time: restarts on a panic and on a return, none at
//! shutdown, and the backoff between restarts.

use super::*;
use std::sync::atomic::{AtomicU32, Ordering};

/// Lets the supervised tasks run until `done` holds; panics naming `what` when it does not
/// within ten minutes of (paused, auto-advancing) time.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn view(supervisor: &Supervisor, name: &str) -> WorkerView {
    supervisor
        .workers()
        .into_iter()
        .find(|w| w.name == name)
        .expect("the worker is listed")
}

fn restarts_counted(metrics: &Metrics, name: &str) -> u64 {
    metrics.worker_restarts.with_label_values(&[name]).get()
}

/// A supervisor with metrics of its own, and the shutdown its workers stop on.
fn supervisor() -> (Metrics, Supervisor, CancellationToken) {
    let metrics = Metrics::default();
    let supervisor = Supervisor::new(&metrics, Clock::default());
    (metrics, supervisor, CancellationToken::new())
}

/// A worker whose runs are counted: each is `run(n, shutdown)`, `n` counting from 0.
fn counted<Fut>(
    supervisor: &Supervisor,
    name: &str,
    shutdown: &CancellationToken,
    run: impl Fn(u32, CancellationToken) -> Fut + Send + 'static,
) -> (Arc<AtomicU32>, tokio::task::JoinHandle<()>)
where
    Fut: Future + Send + 'static,
    Fut::Output: RunOutcome + Send,
{
    let runs = Arc::new(AtomicU32::new(0));
    let count = runs.clone();
    let stop = shutdown.clone();
    let handle = supervisor.spawn(name, shutdown.clone(), move |_| {
        run(count.fetch_add(1, Ordering::SeqCst), stop.clone())
    });
    (runs, handle)
}

/// A worker whose runs are counted and which runs until shutdown.
fn steady(
    supervisor: &Supervisor,
    name: &str,
    shutdown: &CancellationToken,
) -> (Arc<AtomicU32>, tokio::task::JoinHandle<()>) {
    counted(supervisor, name, shutdown, |_, stop| async move {
        stop.cancelled().await
    })
}

#[tokio::test(start_paused = true)]
async fn a_worker_that_panics_is_restarted_with_its_panic_as_last_error() {
    let (metrics, supervisor, shutdown) = supervisor();
    let (runs, _) = counted(&supervisor, "flaky", &shutdown, |run, stop| async move {
        assert!(run > 0, "first run blew up");
        stop.cancelled().await
    });
    until("the second run", || runs.load(Ordering::SeqCst) == 2).await;
    let flaky = view(&supervisor, "flaky");
    assert_eq!(flaky.state, WorkerState::Running);
    assert_eq!(flaky.restarts, 1);
    assert_eq!(
        flaky.last_error.as_deref(),
        Some("panicked: first run blew up")
    );
    assert_eq!(restarts_counted(&metrics, "flaky"), 1);
    shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_worker_that_returns_before_shutdown_is_restarted_and_its_error_kept() {
    let (metrics, supervisor, shutdown) = supervisor();
    let (runs, _) = counted(&supervisor, "quitter", &shutdown, |run, stop| async move {
        if run < 2 {
            return Err(anyhow::anyhow!("gave up on run {run}"));
        }
        stop.cancelled().await;
        Ok(())
    });
    until("the third run", || runs.load(Ordering::SeqCst) == 3).await;
    let quitter = view(&supervisor, "quitter");
    assert_eq!(quitter.restarts, 2);
    assert_eq!(quitter.last_error.as_deref(), Some("gave up on run 1"));
    assert_eq!(restarts_counted(&metrics, "quitter"), 2);
    shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_worker_that_returns_without_an_error_before_shutdown_is_a_failure_too() {
    let (_metrics, supervisor, shutdown) = supervisor();
    let (runs, _) = counted(&supervisor, "done-early", &shutdown, |_, _| async {});
    until("a restart", || runs.load(Ordering::SeqCst) >= 2).await;
    assert_eq!(
        view(&supervisor, "done-early").last_error.as_deref(),
        Some("stopped without an error")
    );
    shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_worker_that_returns_at_shutdown_is_not_restarted_and_the_supervisor_ends() {
    let (metrics, supervisor, shutdown) = supervisor();
    let (runs, handle) = steady(&supervisor, "steady", &shutdown);
    supervisor.close();
    until("the first run", || runs.load(Ordering::SeqCst) == 1).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(1), supervisor.wait())
        .await
        .expect("every worker stops at shutdown");
    assert!(handle.is_finished());
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let steady = view(&supervisor, "steady");
    assert_eq!((steady.restarts, steady.last_error), (0, None));
    assert_eq!(restarts_counted(&metrics, "steady"), 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_during_the_backoff_stops_the_worker_without_another_run() {
    let (_metrics, supervisor, shutdown) = supervisor();
    let (runs, handle) = counted(&supervisor, "crasher", &shutdown, |_, _| async {
        panic!("always");
        #[allow(unreachable_code)]
        ()
    });
    supervisor.hold_restarts(true);
    until("the first failure", || {
        view(&supervisor, "crasher").state == WorkerState::Restarting
    })
    .await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(1), handle)
        .await
        .expect("the worker stops while it waits to restart")
        .unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn the_backoff_doubles_from_its_first_wait_up_to_its_cap() {
    let backoff = Backoff::default();
    let mut wait = None;
    let mut waits = Vec::new();
    for _ in 0..12 {
        let next = backoff.next(wait);
        waits.push(next.as_millis());
        wait = Some(next);
    }
    assert_eq!(
        waits,
        [
            100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000
        ]
    );
}

/// The times (since the start) at which each run of a worker that always fails started.
async fn failing_run_starts(run_for: Duration, runs: usize) -> Vec<Duration> {
    let (_metrics, supervisor, shutdown) = supervisor();
    let starts = Arc::new(Mutex::new(Vec::new()));
    let seen = starts.clone();
    let begin = Instant::now();
    supervisor.spawn("crasher", shutdown.clone(), move |_| {
        seen.lock().unwrap().push(begin.elapsed());
        async move {
            tokio::time::sleep(run_for).await;
            panic!("failed after {run_for:?}");
            #[allow(unreachable_code)]
            ()
        }
    });
    until("the runs", || starts.lock().unwrap().len() >= runs).await;
    shutdown.cancel();
    let starts = starts.lock().unwrap().clone();
    starts[..runs].to_vec()
}

/// The waits between the starts of successive runs, in ms.
fn gaps(starts: &[Duration]) -> Vec<u128> {
    starts
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn restarts_wait_longer_each_time_a_worker_fails_at_once() {
    let starts = failing_run_starts(Duration::ZERO, 5).await;
    assert_eq!(gaps(&starts), [100, 200, 400, 800]);
}

#[tokio::test(start_paused = true)]
async fn a_worker_that_ran_a_while_before_failing_restarts_after_the_first_wait() {
    let starts = failing_run_starts(HEALTHY_RUN, 4).await;
    let run = HEALTHY_RUN.as_millis();
    assert_eq!(gaps(&starts), [run + 100, run + 100, run + 100]);
}

#[tokio::test(start_paused = true)]
async fn a_worker_on_standby_is_healthy_and_running_again_once_it_holds_its_lease() {
    let (_metrics, supervisor, shutdown) = supervisor();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<WorkerStatus>();
    let stop = shutdown.clone();
    supervisor.spawn("leased", shutdown.clone(), move |status| {
        tx.send(status).unwrap();
        let stop = stop.clone();
        async move { stop.cancelled().await }
    });
    let status = rx.recv().await.unwrap();
    status.standby();
    assert_eq!(view(&supervisor, "leased").state, WorkerState::Standby);
    assert!(supervisor.restarting().is_empty());
    status.running();
    assert_eq!(view(&supervisor, "leased").state, WorkerState::Running);
    shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn the_fault_hook_panics_the_current_run_and_held_restarts_wait_for_release() {
    let (_metrics, supervisor, shutdown) = supervisor();
    let (runs, _) = steady(&supervisor, "victim", &shutdown);
    until("the first run", || runs.load(Ordering::SeqCst) == 1).await;
    assert!(!supervisor.fail("nobody", "no such worker"));
    supervisor.hold_restarts(true);
    assert!(supervisor.fail("victim", "injected by a test"));
    until("the failure", || {
        view(&supervisor, "victim").state == WorkerState::Restarting
    })
    .await;
    // Long past the backoff, the held restart has not happened.
    tokio::time::sleep(MAX_BACKOFF * 2).await;
    let victim = view(&supervisor, "victim");
    assert_eq!(victim.state, WorkerState::Restarting);
    assert_eq!(
        victim.last_error.as_deref(),
        Some("panicked: injected by a test")
    );
    assert_eq!(supervisor.restarting(), ["victim"]);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    supervisor.hold_restarts(false);
    until("the restart", || runs.load(Ordering::SeqCst) == 2).await;
    assert_eq!(view(&supervisor, "victim").state, WorkerState::Running);
    assert!(supervisor.restarting().is_empty());
    // The fault was for the run that is gone: the new one keeps running.
    tokio::time::sleep(MAX_BACKOFF).await;
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    shutdown.cancel();
}
