//! The Redis dedupe claim against a real Redis: a claim is given up only by the request that
//! made it, even after it expired and another request claimed the key.

use boardsync::ingress::dedupe::{Claim, RedisDedupe};
use std::time::Duration;

const REDIS: &str = "redis://127.0.0.1:6379";

/// A dedupe on a prefix no other test uses, with a short pending TTL, and a plain connection to
/// look at its keys.
async fn dedupe(pending_ttl: Duration) -> (RedisDedupe, String, redis::aio::MultiplexedConnection) {
    let prefix = format!("boardsync-test-{}", uuid::Uuid::new_v4().simple());
    let dedupe = RedisDedupe::connect(REDIS, &prefix, pending_ttl, Duration::from_secs(60))
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
