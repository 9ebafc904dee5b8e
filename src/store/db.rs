//! The store's connection: opening SQLite or Postgres, migrating it, and the error every
//! statement returns. The statements themselves live in the sibling files, by table.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, ConnectOptions, Connection, Executor, Row};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long opening the store may take before start-up gives up with an error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a SQLite writer waits for another connection's write lock before failing.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;
/// How often the write-ahead log is copied back into the SQLite file.
const SQLITE_CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);
/// Frames (pages of about 4 KiB) in the write-ahead log past which passive checkpoints are
/// taken to be falling behind and a restarting one is run: the log's size under steady load.
const SQLITE_WAL_RESTART_FRAMES: i64 = 4_096;
/// How long a restarting checkpoint waits for the writer and readers to step aside before it
/// gives up until the next tick; writers queue behind it meanwhile, so this bounds their delay.
const SQLITE_RESTART_BUSY_MS: u32 = 50;
/// The size SQLite cuts the write-ahead log file back to whenever the log restarts.
const SQLITE_JOURNAL_SIZE_LIMIT: i64 = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("`{0}` is not a database URL boardsync can use (sqlite://FILE or postgres://...)")]
    UnsupportedUrl(String),
    #[error("cannot reach the database at {url}")]
    Unreachable {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("stored data is not what this version expects: {0}")]
    Corrupt(String),
}

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(super) pool: AnyPool,
    pub(super) backend: Backend,
    /// Write transactions still to fail on purpose (tests only; see `inject_sqlite_full`).
    pub(super) faults: Arc<AtomicU32>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

impl StoreError {
    /// Whether trying again later may succeed: the database did not answer, or answered that it
    /// cannot take connections yet. A bad URL, password or database name is not worth a retry.
    pub(crate) fn may_pass(&self) -> bool {
        let StoreError::Unreachable { source, .. } = self else {
            return false;
        };
        match source {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
            // cannot_connect_now (starting up), object_not_in_prerequisite_state (not accepting
            // connections), too_many_connections.
            sqlx::Error::Database(e) => {
                matches!(e.code().as_deref(), Some("57P03" | "55000" | "53300"))
            }
            _ => false,
        }
    }
}

impl Store {
    /// Connects to `url`, creating a SQLite file if there is none, and applies the migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_waiting(url, SQLITE_BUSY_TIMEOUT_MS).await
    }

    /// Like [`Store::open`], waiting up to `busy_ms` for another process's write on SQLite
    /// before giving up: for the commands run beside a daemon, which would rather wait for a
    /// busy daemon than fail.
    pub(crate) async fn open_waiting(url: &str, busy_ms: u32) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url).ok_or_else(|| StoreError::UnsupportedUrl(redact(url)))?;
        let url = match backend {
            Backend::Sqlite => sqlite_url(url),
            Backend::Postgres => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|source| StoreError::Unreachable {
                url: redact(&url),
                source,
            })?
            .disable_statement_logging();
        // One plain connection first: the pool retries until its timeout and then reports only
        // that it timed out, where a person needs the cause ("connection refused", "no such
        // database", a bad password).
        let probe = options
            .connect()
            .await
            .map_err(|source| StoreError::Unreachable {
                url: redact(&url),
                source,
            })?;
        let _ = probe.close().await;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 10,
            })
            .acquire_timeout(CONNECT_TIMEOUT)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers (the dashboard) run beside the one writer; NORMAL
                        // syncs at checkpoints, so a killed process loses nothing committed and
                        // a lost machine can lose the last moments. See docs/benchmarks.md.
                        // Setting it takes a lock the busy timeout does not wait for, so a
                        // second process (a command beside the daemon) could fail on it; the
                        // file keeps the mode, so it is set once, by the first connection.
                        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                            .fetch_one(&mut *conn)
                            .await?;
                        if !mode.eq_ignore_ascii_case("wal") {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                        }
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        // Checkpoints run beside the writer (below), not inside a commit that
                        // a webhook is waiting for.
                        conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
                        conn.execute(
                            format!("PRAGMA journal_size_limit = {SQLITE_JOURNAL_SIZE_LIMIT}")
                                .as_str(),
                        )
                        .await?;
                        conn.execute(format!("PRAGMA busy_timeout = {busy_ms}").as_str())
                            .await?;
                    }
                    Ok(())
                })
            })
            // Every transaction goes through `tx::WriteTx`, which closes a connection whose
            // write failed; this is the net under it, for anything that might still return a
            // connection sqlx believes is inside a transaction.
            .after_release(|conn, _| {
                Box::pin(async move {
                    let clean = !conn.is_in_transaction();
                    if !clean {
                        tracing::warn!("closing a connection returned inside a transaction");
                    }
                    Ok(clean)
                })
            })
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Unreachable {
                url: redact(&url),
                source,
            })?;
        let store = Store {
            pool,
            backend,
            faults: Arc::default(),
        };
        store.migrate().await?;
        if backend == Backend::Sqlite {
            tokio::spawn(checkpoint_wal(store.pool.clone(), busy_ms));
        }
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Commits a one-row write; `/readyz` asks this, since a store that answers reads can still
    /// be unable to write (a full disk), and only a write shows it.
    pub(crate) async fn prove_writable(&self, now: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO readiness (probe, checked_at) VALUES ('readyz', $1)
             ON CONFLICT (probe) DO UPDATE SET checked_at = excluded.checked_at",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Waits for connections in use to be returned, then closes them.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Copies the SQLite write-ahead log into the database every so often, from its own connection,
/// without blocking the writer (a passive checkpoint), until the pool closes. SQLite would
/// otherwise checkpoint inside whichever commit crossed 1,000 pages, and the webhooks waiting on
/// that commit would wait for the checkpoint's fsync too.
///
/// A passive checkpoint copies frames but never restarts the log: only a writer that finds it
/// wholly copied, with no reader inside it, starts it over, and under steady load there is always
/// a reader or a write in flight, so the file grew without bound (291 MB for an 8 MB database
/// after 30 s at 200 deliveries/s). When the log holds more than `SQLITE_WAL_RESTART_FRAMES`,
/// a restarting checkpoint briefly holds writers back, waits a bounded time for readers, and
/// makes the next write start the log over (the file is cut back to `SQLITE_JOURNAL_SIZE_LIMIT`).
/// RESTART rather than TRUNCATE: freeing and reallocating the file's blocks each time doubled
/// the webhooks' p99 in `scripts/bench-wal.sh` (see docs/reliability.md).
async fn checkpoint_wal(pool: AnyPool, busy_ms: u32) {
    let mut every = tokio::time::interval(SQLITE_CHECKPOINT_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !pool.is_closed() {
        every.tick().await;
        let passive = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await;
        let log_frames = match passive {
            Ok(row) => row.try_get::<i64, _>(1).unwrap_or(0),
            Err(e) => {
                if !pool.is_closed() {
                    tracing::warn!(error = %e, "SQLite checkpoint failed");
                }
                continue;
            }
        };
        if log_frames > SQLITE_WAL_RESTART_FRAMES
            && let Err(e) = restart_wal(&pool, busy_ms).await
            && !pool.is_closed()
        {
            tracing::warn!(error = %e, log_frames, "SQLite restarting checkpoint failed");
        }
    }
}

/// Runs one restarting checkpoint with a short busy wait; a busy answer is left for the next tick.
async fn restart_wal(pool: &AnyPool, busy_ms: u32) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    conn.execute(format!("PRAGMA busy_timeout = {SQLITE_RESTART_BUSY_MS}").as_str())
        .await?;
    let done = sqlx::query("PRAGMA wal_checkpoint(RESTART)")
        .fetch_one(&mut *conn)
        .await;
    // The connection goes back to the pool with the busy timeout every writer expects, or not at all.
    if conn
        .execute(format!("PRAGMA busy_timeout = {busy_ms}").as_str())
        .await
        .is_err()
    {
        conn.close_on_drop();
    }
    let busy = done?.try_get::<i64, _>(0)?;
    if busy != 0 {
        tracing::debug!("SQLite restarting checkpoint found the log busy; next tick");
    }
    Ok(())
}

fn backend_of(url: &str) -> Option<Backend> {
    let scheme = url.split_once(':')?.0;
    match scheme {
        "sqlite" => Some(Backend::Sqlite),
        "postgres" | "postgresql" => Some(Backend::Postgres),
        _ => None,
    }
}

/// sqlx opens SQLite files read-write but does not create them unless asked; a daemon started
/// for the first time should simply make its store.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// A database URL fit for a message: any password replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://app:hunter2@db:5432/boardsync"),
            "postgres://app:***@db:5432/boardsync"
        );
        assert_eq!(redact("sqlite://boardsync.db"), "sqlite://boardsync.db");
    }

    #[test]
    fn sqlite_files_are_created_when_missing() {
        assert_eq!(sqlite_url("sqlite://a.db"), "sqlite://a.db?mode=rwc");
        assert_eq!(sqlite_url("sqlite://a.db?mode=ro"), "sqlite://a.db?mode=ro");
        assert_eq!(
            sqlite_url("sqlite://a.db?cache=shared"),
            "sqlite://a.db?cache=shared&mode=rwc"
        );
        assert_eq!(backend_of("mysql://x"), None);
    }
}
