//! Helpers the integration tests share: the binary, fresh Postgres databases, and waiting on a
//! condition with a deadline (never a fixed sleep).

#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The `boardsync` binary cargo built for these tests.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_boardsync")
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

async fn admin(sql: &str) {
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
