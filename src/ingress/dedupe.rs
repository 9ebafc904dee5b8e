//! Redis in front of the store's dedupe, so repeated deliveries across replicas are answered
//! without touching the store. The store stays the authority: a key is set `pending` (short TTL)
//! before the insert and `done` (full TTL) only after the commit, so a crash between the two
//! leaves a key that expires and a sender's retry that is stored, never a lost event.
//!
//! A pending key holds the token of the request that set it, and only that request may give it
//! up: its claim can expire while it is still inserting (a slow store), a retry can claim the key
//! meanwhile, and a plain `DEL` from the first would then delete the retry's claim.
//!
//! Redis only saves work; it is never waited for long. A copy that finds the key pending waits
//! [`PENDING_WAIT`] at most, then goes to the store, whose unique key decides (a crashed replica's
//! leftover key no longer holds a redelivery up for the pending TTL). A Redis that does not answer
//! within `[ingress] redis_timeout` is left aside for [`AWAY_FOR`], and the store decides alone.

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// How often a copy waiting on a pending key looks again.
const POLL: Duration = Duration::from_millis(10);
/// How long a copy waits for another request's pending claim before the store decides.
pub(crate) const PENDING_WAIT: Duration = Duration::from_millis(500);
/// How long Redis is left aside after it failed to answer.
pub const AWAY_FOR: Duration = Duration::from_secs(5);

/// Deletes `KEYS[1]` only while it still holds `ARGV[1]`, in one step on the server (a `GET`
/// then a `DEL` from here could delete a claim made between the two). Sent with `EVAL`: the
/// script is a few bytes, and this needs no script cache nor the crate's `script` feature.
const RELEASE_IF_MINE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// What a request's pending claim holds: unique to that request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToken(String);

impl ClaimToken {
    fn new() -> ClaimToken {
        ClaimToken(format!("pending:{}", uuid::Uuid::new_v4().simple()))
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// This request owns the event: store it, then call `done` (or `release` with this token
    /// on failure).
    Mine(ClaimToken),
    /// Another request stored it.
    Done,
    /// Redis cannot say (another request's claim is still pending after [`PENDING_WAIT`], or
    /// Redis did not answer): store it, and let the store's key decide.
    Unknown,
}

#[derive(Clone)]
pub struct RedisDedupe {
    /// Set once Redis has answered (at start, or later when it was down at start).
    conn: Arc<tokio::sync::OnceCell<ConnectionManager>>,
    prefix: String,
    pending_ttl: Duration,
    done_ttl: Duration,
    timeout: Duration,
    /// Until when Redis is left aside, after it failed to answer.
    away_until: Arc<Mutex<Option<Instant>>>,
}

impl RedisDedupe {
    /// Connects to Redis at `url`; an error when it does not answer within 5 s.
    pub async fn connect(
        url: &str,
        prefix: &str,
        pending_ttl: Duration,
        done_ttl: Duration,
        timeout: Duration,
    ) -> anyhow::Result<RedisDedupe> {
        let dedupe = RedisDedupe::unconnected(prefix, pending_ttl, done_ttl, timeout);
        let conn = first_connection(redis::Client::open(url)?).await?;
        let _ = dedupe.conn.set(conn);
        Ok(dedupe)
    }

    /// A dedupe that connects in the background: Redis is an accelerator, so a daemon whose
    /// Redis is down at start runs without it (the store decides duplicates) and uses it once
    /// it answers, trying every few seconds. Only a malformed URL is an error.
    pub(crate) fn connect_in_background(
        url: &str,
        prefix: &str,
        pending_ttl: Duration,
        done_ttl: Duration,
        timeout: Duration,
    ) -> anyhow::Result<RedisDedupe> {
        let client = redis::Client::open(url)?;
        let dedupe = RedisDedupe::unconnected(prefix, pending_ttl, done_ttl, timeout);
        let cell = dedupe.conn.clone();
        tokio::spawn(async move {
            let mut attempt = 1;
            loop {
                match first_connection(client.clone()).await {
                    Ok(conn) => {
                        if attempt > 1 {
                            tracing::info!(
                                "Redis answers; deliveries are deduplicated in it again"
                            );
                        }
                        let _ = cell.set(conn);
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(attempt, error = %e, "Redis does not answer; running without it, the store decides duplicates");
                        attempt += 1;
                        tokio::time::sleep(AWAY_FOR).await;
                    }
                }
            }
        });
        Ok(dedupe)
    }

    fn unconnected(
        prefix: &str,
        pending_ttl: Duration,
        done_ttl: Duration,
        timeout: Duration,
    ) -> RedisDedupe {
        RedisDedupe {
            conn: Arc::default(),
            prefix: prefix.to_owned(),
            pending_ttl,
            done_ttl,
            timeout,
            away_until: Arc::default(),
        }
    }

    /// The connection, once Redis has answered.
    fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        self.conn.get().cloned().ok_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::Io, "Redis has not answered yet"))
        })
    }

    /// Whether Redis is left aside now: not connected yet, or it failed to answer less than
    /// [`AWAY_FOR`] ago.
    pub fn away(&self) -> bool {
        if self.conn.get().is_none() {
            return true;
        }
        let away = self.away_until.lock().expect("away lock");
        away.is_some_and(|until| Instant::now() < until)
    }

    /// Runs one Redis step within the timeout; a failure or no answer leaves Redis aside.
    async fn within<T>(
        &self,
        step: impl Future<Output = redis::RedisResult<T>>,
    ) -> redis::RedisResult<T> {
        let result = match tokio::time::timeout(self.timeout, step).await {
            Ok(r) => r,
            Err(_) => Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "Redis did not answer in time",
            ))),
        };
        if result.is_err() {
            *self.away_until.lock().expect("away lock") = Some(Instant::now() + AWAY_FOR);
        }
        result
    }

    fn key(&self, key: &str) -> String {
        format!("{}:dedupe:{key}", self.prefix)
    }

    /// Claims `key`, or waits (at most [`PENDING_WAIT`]) while another request holds it
    /// pending. A pending key that expires (its holder crashed) is taken over. Redis failing or
    /// not answering is an error, after which Redis is [`away`](Self::away) for a while.
    pub async fn claim(&self, key: &str) -> redis::RedisResult<Claim> {
        let key = self.key(key);
        let mut conn = self.connection()?;
        let deadline = Instant::now() + PENDING_WAIT;
        loop {
            let token = ClaimToken::new();
            let set: Option<String> = self
                .within(
                    redis::cmd("SET")
                        .arg(&key)
                        .arg(&token.0)
                        .arg("NX")
                        .arg("PX")
                        .arg(self.pending_ttl.as_millis() as u64)
                        .query_async(&mut conn),
                )
                .await?;
            if set.is_some() {
                return Ok(Claim::Mine(token));
            }
            loop {
                let state: Option<String> = self.within(conn.get(&key)).await?;
                match state.as_deref() {
                    Some("done") => return Ok(Claim::Done),
                    Some(_) if Instant::now() < deadline => tokio::time::sleep(POLL).await,
                    Some(_) => return Ok(Claim::Unknown),
                    None => break,
                }
            }
        }
    }

    /// Marks `key` stored, for the whole dedupe TTL. Unconditional, unlike `release`: it is
    /// called only after the commit, so "done" is true whoever holds the claim by then (a retry
    /// that claimed it finds its own insert a duplicate in the store).
    pub async fn done(&self, key: &str) -> redis::RedisResult<()> {
        let mut conn = self.connection()?;
        self.within(conn.set_ex::<_, _, ()>(self.key(key), "done", self.done_ttl.as_secs().max(1)))
            .await
    }

    /// Gives a pending key up after a failed insert, so the sender's retry is not kept waiting;
    /// does nothing when the key no longer holds `token` (the claim expired and another request
    /// holds the key now, or it is done).
    pub async fn release(&self, key: &str, token: &ClaimToken) {
        let released: redis::RedisResult<i64> = match self.connection() {
            Ok(mut conn) => {
                self.within(
                    redis::cmd("EVAL")
                        .arg(RELEASE_IF_MINE)
                        .arg(1)
                        .arg(self.key(key))
                        .arg(&token.0)
                        .query_async(&mut conn),
                )
                .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = released {
            // The claim then expires by itself after the pending TTL.
            tracing::warn!(error = %e, "could not release a Redis dedupe claim");
        }
    }

    /// Sets `key` pending as a crashed request would have left it (for tests of that case).
    pub async fn leave_pending(&self, key: &str) -> redis::RedisResult<()> {
        let mut conn = self.connection()?;
        conn.pset_ex::<_, _, ()>(
            self.key(key),
            ClaimToken::new().0,
            self.pending_ttl.as_millis() as u64,
        )
        .await
    }
}

/// A first connection to Redis, or an error when it does not answer within 5 s.
async fn first_connection(client: redis::Client) -> anyhow::Result<ConnectionManager> {
    tokio::time::timeout(Duration::from_secs(5), ConnectionManager::new(client))
        .await
        .map_err(|_| anyhow::anyhow!("Redis did not answer within 5 s"))?
        .map_err(Into::into)
}
