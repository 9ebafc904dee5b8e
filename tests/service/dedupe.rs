//! The Redis dedupe claim against a real Redis: a claim is given up only by the request that
//! made it, even after it expired and another request claimed the key.

use boardsync::ingress::dedupe::{Claim, RedisDedupe};
use std::time::Duration;

const REDIS: &str = "redis://127.0.0.1:6379";

/// A dedupe on a prefix no other test uses, with a short pending TTL, and a plain connection to
/// look at its keys.
async fn dedupe(pending_ttl: Duration) -> (RedisDedupe, String, redis::aio::MultiplexedConnection) {
    let prefix = format!("boardsync-test-{}", uuid::Uuid::new_v4().simple());
    let dedupe = RedisDedupe::connect(
        REDIS,
        &prefix,
        pending_ttl,
        Duration::from_secs(60),
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    let conn = redis::Client::open(REDIS)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    (dedupe, prefix, conn)
}

async fn value(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query_async(conn).await.unwrap()
}

#[tokio::test]
async fn a_late_release_of_an_expired_claim_leaves_the_retrys_claim_standing() {
    let (dedupe, prefix, mut conn) = dedupe(Duration::from_millis(100)).await;
    let key = format!("{prefix}:dedupe:monday:late");

    let Claim::Mine(first) = dedupe.claim("monday:late").await.unwrap() else {
        panic!("the first request claims a fresh key");
    };
    // The first request's store is slow: its claim runs out before it is done.
    crate::common::wait_for(
        "the first claim to expire",
        Duration::from_secs(5),
        || async { value(&mut conn.clone(), &key).await.is_none().then_some(()) },
    )
    .await;
    let Claim::Mine(second) = dedupe.claim("monday:late").await.unwrap() else {
        panic!("the retry claims the expired key");
    };
    assert_ne!(first, second, "each claim holds a token of its own");

    // The first request's insert fails and it gives up what it believes is its claim.
    dedupe.release("monday:late", &first).await;
    assert!(
        value(&mut conn, &key).await.is_some(),
        "the retry's claim still stands"
    );

    dedupe.release("monday:late", &second).await;
    assert_eq!(
        value(&mut conn, &key).await,
        None,
        "the retry gives up its own claim"
    );
}

#[tokio::test]
async fn a_release_after_another_request_marked_the_key_done_keeps_it_done() {
    let (dedupe, prefix, mut conn) = dedupe(Duration::from_millis(100)).await;
    let key = format!("{prefix}:dedupe:monday:done");

    let Claim::Mine(first) = dedupe.claim("monday:done").await.unwrap() else {
        panic!("the first request claims a fresh key");
    };
    crate::common::wait_for(
        "the first claim to expire",
        Duration::from_secs(5),
        || async { value(&mut conn.clone(), &key).await.is_none().then_some(()) },
    )
    .await;
    let Claim::Mine(_) = dedupe.claim("monday:done").await.unwrap() else {
        panic!("the retry claims the expired key");
    };
    dedupe.done("monday:done").await.unwrap();

    dedupe.release("monday:done", &first).await;
    assert_eq!(value(&mut conn, &key).await.as_deref(), Some("done"));
    assert_eq!(dedupe.claim("monday:done").await.unwrap(), Claim::Done);
}

/// A TCP relay to the local Redis that can go silent: while `silent`, what either side sends is
/// held back (as by a Redis that hangs), and passed on once it is not.
async fn relay() -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let silent = std::sync::Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let gate = silent.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = tokio::net::TcpStream::connect("127.0.0.1:6379")
                .await
                .unwrap();
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            for (mut from, mut to, gate) in [
                (
                    Box::new(cr) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
                    Box::new(sw) as Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
                    gate.clone(),
                ),
                (Box::new(sr), Box::new(cw), gate.clone()),
            ] {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = from.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        while gate.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        if to.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        }
    });
    (url, silent)
}

#[tokio::test]
async fn a_redis_that_stops_answering_is_left_aside_within_its_timeout_and_used_again_after() {
    let (url, silent) = relay().await;
    let prefix = format!("boardsync-test-{}", uuid::Uuid::new_v4().simple());
    let timeout = Duration::from_millis(200);
    let dedupe = RedisDedupe::connect(
        &url,
        &prefix,
        Duration::from_secs(30),
        Duration::from_secs(60),
        timeout,
    )
    .await
    .unwrap();
    assert!(matches!(dedupe.claim("a").await.unwrap(), Claim::Mine(_)));
    assert!(!dedupe.away());

    silent.store(true, std::sync::atomic::Ordering::SeqCst);
    let claimed = tokio::time::timeout(Duration::from_secs(5), dedupe.claim("b"))
        .await
        .expect("a silent Redis is not waited for beyond its timeout");
    assert!(claimed.is_err(), "{claimed:?}");
    assert!(dedupe.away(), "left aside after it did not answer");

    silent.store(false, std::sync::atomic::Ordering::SeqCst);
    // Once the time aside is over, Redis is asked again (the connection manager reconnects).
    let claimed = crate::common::wait_for(
        "Redis answering again",
        boardsync::ingress::dedupe::AWAY_FOR + Duration::from_secs(10),
        || async {
            if dedupe.away() {
                return None;
            }
            dedupe.claim("c").await.ok()
        },
    )
    .await;
    assert!(matches!(claimed, Claim::Mine(_)), "{claimed:?}");
}

#[tokio::test]
async fn a_copy_finding_a_claim_left_pending_goes_to_the_store_within_the_pending_wait() {
    let (dedupe, _prefix, _conn) = dedupe(Duration::from_secs(60)).await;
    dedupe.leave_pending("crashed").await.unwrap();
    let claimed = tokio::time::timeout(Duration::from_secs(5), dedupe.claim("crashed"))
        .await
        .expect("not held for the pending TTL")
        .unwrap();
    assert_eq!(claimed, Claim::Unknown);
}
