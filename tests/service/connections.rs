//! Slow, idle and too many clients cannot hold the receivers: connections held open with
//! unfinished requests, headers that never end, bodies that never arrive, and more connections
//! than `[daemon] max_connections`, each against a daemon over real sockets.

use crate::common::wait_for;
use crate::ingress::{Daemon, MONDAY_SECRET, PUBLIC_URL};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The head of a monday delivery whose body will never come whole: `Content-Length` promises
/// more than is sent.
pub(crate) fn unfinished_delivery() -> Vec<u8> {
    let jwt =
        crate::common::monday_jwt(MONDAY_SECRET, &format!("{PUBLIC_URL}/webhooks/monday"), 300);
    format!(
        "POST /webhooks/monday HTTP/1.1\r\nHost: boardsync\r\nAuthorization: {jwt}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"event\":"
    )
    .into_bytes()
}

/// Connects `n` clients that each send `bytes` and then nothing more.
pub(crate) async fn hold(base: &str, n: usize, bytes: &[u8]) -> Vec<TcpStream> {
    // The test's own ends of the connections count against its open files too.
    rlimit::increase_nofile_limit(u64::MAX).unwrap();
    let addr = base.trim_start_matches("http://");
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(bytes).await.unwrap();
        held.push(s);
    }
    held
}

/// `boardsync_http_connections` (or the over-limit counter) read off `/metrics`.
pub(crate) async fn gauge(base: &str, name: &str) -> Option<u64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .map(|n| n.trim().parse().unwrap())
}

/// Sends a request on a connection of its own and reads the whole answer (the server closes it).
async fn raw_request(base: &str, request: &str) -> String {
    let mut s = TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut answer))
        .await
        .expect("answered and closed")
        .unwrap();
    answer
}

/// Waits for the server to close `s` (a read that ends), for at most `deadline`.
async fn closed_by_server(mut s: TcpStream, deadline: Duration) -> String {
    let mut answer = String::new();
    tokio::time::timeout(deadline, s.read_to_string(&mut answer))
        .await
        .expect("the server closes the connection")
        .unwrap();
    answer
}

#[tokio::test]
async fn a_thousand_unfinished_requests_do_not_keep_deliveries_from_their_200_within_a_second() {
    let d = Daemon::start_sqlite_with("").await;
    let held = hold(&d.base, 1000, &unfinished_delivery()).await;
    wait_for(
        "the daemon to hold the 1,000 connections",
        Duration::from_secs(30),
        || async {
            gauge(&d.base, "boardsync_http_connections")
                .await
                .filter(|&n| n >= 1000)
        },
    )
    .await;
    for i in 0..20 {
        let body = crate::common::monday_delivery(&format!("held-{i}-{}", uuid::Uuid::new_v4()));
        let started = Instant::now();
        assert_eq!(d.monday(&body).await, 200);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "delivery {i} took {took:?} beside 1,000 held connections"
        );
    }
    let health = reqwest::get(format!("{}/healthz", d.base)).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(d.stored(None).await, 20);
    drop(held);
    wait_for(
        "the held connections to be let go",
        Duration::from_secs(30),
        || async {
            gauge(&d.base, "boardsync_http_connections")
                .await
                .filter(|&n| n < 10)
        },
    )
    .await;
}

#[tokio::test]
async fn past_max_connections_a_new_one_gets_the_health_checks_and_a_503_and_the_slots_come_back() {
    let d = Daemon::start_sqlite_with("max_connections = 20\nbody_read_timeout = \"120s\"\n").await;
    // Twenty clients take every slot with requests whose bodies never come.
    let held = hold(&d.base, 20, &unfinished_delivery()).await;
    // Connections are accepted in the order they came, so these come after the twenty.
    let health = raw_request(
        &d.base,
        "GET /healthz HTTP/1.1\r\nHost: boardsync\r\nConnection: keep-alive\r\n\r\n",
    )
    .await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(
        health.to_ascii_lowercase().contains("connection: close"),
        "closed after one request: {health}"
    );
    let body = crate::common::monday_delivery(&uuid::Uuid::new_v4().to_string());
    let jwt =
        crate::common::monday_jwt(MONDAY_SECRET, &format!("{PUBLIC_URL}/webhooks/monday"), 300);
    let refused = reqwest::Client::new()
        .post(format!("{}/webhooks/monday", d.base))
        .header("Authorization", &jwt)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5");
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("[daemon] max_connections")
    );
    assert_eq!(d.stored(None).await, 0, "nothing stored for a refused one");

    // The held clients give up; their slots come back and the sender's retry is stored.
    drop(held);
    let status = wait_for(
        "a delivery within the limit again",
        Duration::from_secs(30),
        || async {
            let s = d.monday(&body).await;
            (s == 200).then_some(s)
        },
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(d.stored(None).await, 1);
    assert!(
        gauge(&d.base, "boardsync_http_connections_over_limit_total")
            .await
            .unwrap()
            >= 2
    );
}

#[tokio::test]
async fn headers_that_never_end_and_idle_keep_alive_connections_are_closed_after_the_header_timeout()
 {
    let d = Daemon::start_sqlite_with("header_read_timeout = \"1s\"\n").await;
    let addr = d.base.trim_start_matches("http://").to_owned();
    // Half a request head, then nothing.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"POST /webhooks/monday HTTP/1.1\r\nHost: boardsync\r\n")
        .await
        .unwrap();
    // A whole request, answered, and then the connection left open and idle.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: boardsync\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let after_half = closed_by_server(slow, Duration::from_secs(15)).await;
    assert!(
        !after_half.contains("200 OK"),
        "half a head is never served: {after_half}"
    );
    let after_idle = closed_by_server(idle, Duration::from_secs(15)).await;
    assert!(after_idle.starts_with("HTTP/1.1 200"), "{after_idle}");
    // Not closed before the timeout either.
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn a_body_that_does_not_arrive_within_the_body_timeout_gets_408_and_nothing_is_stored() {
    let d = Daemon::start_sqlite_with("body_read_timeout = \"1s\"\n").await;
    let held = hold(&d.base, 1, &unfinished_delivery()).await;
    let conn = held.into_iter().next().unwrap();
    // Answered, and closed: the rest of the body is not waited for.
    let answer = closed_by_server(conn, Duration::from_secs(15)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_read_timeout"), "{answer}");
    assert_eq!(d.received("monday", "timed_out").await, 1);
    assert_eq!(d.stored(None).await, 0);
}
