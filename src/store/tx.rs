//! Write transactions: every transaction the store opens goes through [`WriteTx`], so that a
//! connection whose write failed is closed and never goes back to the pool.
//!
//! Why not sqlx's `Transaction`: sqlx counts a connection's transaction depth itself. When SQLite
//! fails a write with `SQLITE_FULL` (or an I/O error) it rolls the whole transaction back on its
//! own; sqlx's `ROLLBACK` then fails ("no transaction is active"), its count stays at 1, and the
//! connection returns to the pool believing it is inside a transaction. Its next "transaction"
//! is a `SAVEPOINT`; after one more failure a `ROLLBACK TO` leaves a real transaction open, and
//! every later "commit" is only a `RELEASE SAVEPOINT` inside it: answered as committed, never
//! written, while that connection holds the write lock and every other writer times out with
//! "database is locked". This module issues `BEGIN` and `COMMIT` itself and trusts nothing about
//! a connection after an error: closing it makes the database roll back whatever is left.
//!
//! It must never hand a connection back to the pool unless its `COMMIT` returned success.

use super::db::{Backend, Store, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Executor};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};

/// An open write transaction on a connection of its own. Dropped without [`WriteTx::commit`]
/// succeeding (an error, a cancelled future), it closes its connection, which rolls back.
pub(crate) struct WriteTx {
    conn: Option<PoolConnection<Any>>,
    /// Whether this transaction must fail (an injected fault): its connection is closed after it
    /// like any other whose write failed, so the cap set on it never reaches the pool.
    capped: bool,
}

impl Store {
    /// Takes a connection from the pool and begins a transaction on it.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        let conn = self.pool.acquire().await?;
        let mut tx = WriteTx {
            conn: Some(conn),
            capped: false,
        };
        if self.backend == Backend::Sqlite && take_one(&self.faults) {
            // The database may not grow by a page in this transaction: the next insert fails
            // with a real SQLITE_FULL from SQLite, as on a full disk.
            tx.capped = true;
            tx.execute("PRAGMA max_page_count = 1").await?;
        }
        tx.execute("BEGIN").await?;
        Ok(tx)
    }

    /// Makes the next `n` SQLite write transactions fail with `SQLITE_FULL`, as a full disk
    /// would: for tests on machines where a small file system cannot be mounted.
    #[doc(hidden)]
    pub fn inject_sqlite_full(&self, n: u32) {
        self.faults.store(n, Ordering::SeqCst);
    }
}

fn take_one(faults: &AtomicU32) -> bool {
    faults
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

impl WriteTx {
    /// Commits; only a `COMMIT` that succeeded lets the connection go back to the pool.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        if self.capped {
            // The transaction did not grow the database (an update in place), so the cap could
            // not fail it; a full disk would have failed its commit all the same. Dropping the
            // connection unreleased rolls it back, as SQLite does after a failed commit.
            return Err(StoreError::Sql(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "injected: database or disk is full",
            ))));
        }
        self.execute("COMMIT").await?;
        // Dropped normally: back to the pool.
        drop(self.conn.take());
        Ok(())
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if let Some(conn) = &mut self.conn {
            conn.close_on_drop();
        }
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        self.conn.as_deref().expect("a connection until commit")
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn.as_deref_mut().expect("a connection until commit")
    }
}
