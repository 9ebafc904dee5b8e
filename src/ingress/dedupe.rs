//! Redis in front of the store's dedupe, so repeated deliveries across replicas are answered
//! without touching the store. The store stays the authority: a key is set `pending` (short TTL)
//! before the insert and `done` (full TTL) only after the commit, so a crash between the two
//! leaves a key that expires and a sender's retry that is stored, never a lost event.

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use std::time::Duration;

/// How often a copy waiting on a pending key looks again.
const POLL: Duration = Duration::from_millis(10);

pub enum Claim {
    /// This request owns the event: store it, then call `done` (or `release` on failure).
    Mine,
    /// Another request stored it.
    Done,
}

#[derive(Clone)]
pub struct RedisDedupe {
    conn: ConnectionManager,
    prefix: String,
    pending_ttl: Duration,
    done_ttl: Duration,
}

impl RedisDedupe {
    pub async fn connect(
        url: &str,
        prefix: &str,
        pending_ttl: Duration,
        done_ttl: Duration,
    ) -> anyhow::Result<RedisDedupe> {
        let client = redis::Client::open(url)?;
        let conn = tokio::time::timeout(Duration::from_secs(5), ConnectionManager::new(client))
            .await
            .map_err(|_| anyhow::anyhow!("Redis did not answer within 5 s"))??;
        Ok(RedisDedupe {
            conn,
            prefix: prefix.to_owned(),
            pending_ttl,
            done_ttl,
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}:dedupe:{key}", self.prefix)
    }

    /// Claims `key`, or waits while another request holds it pending. A pending key that expires
    /// (its holder crashed) is taken over.
    pub async fn claim(&self, key: &str) -> redis::RedisResult<Claim> {
        let key = self.key(key);
        let mut conn = self.conn.clone();
        let deadline = tokio::time::Instant::now() + self.pending_ttl + Duration::from_secs(1);
        loop {
            let set: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg("pending")
                .arg("NX")
                .arg("PX")
                .arg(self.pending_ttl.as_millis() as u64)
                .query_async(&mut conn)
                .await?;
            if set.is_some() {
                return Ok(Claim::Mine);
            }
            loop {
                let state: Option<String> = conn.get(&key).await?;
                match state.as_deref() {
                    Some("done") => return Ok(Claim::Done),
                    Some(_) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(POLL).await
                    }
                    Some(_) => {
                        return Err(redis::RedisError::from((
                            redis::ErrorKind::Io,
                            "a pending copy did not finish in time",
                        )));
                    }
                    None => break,
                }
            }
        }
    }

    /// Marks `key` stored, for the whole dedupe TTL.
    pub async fn done(&self, key: &str) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        conn.set_ex::<_, _, ()>(self.key(key), "done", self.done_ttl.as_secs().max(1))
            .await
    }

    /// Gives a pending key up after a failed insert, so the sender's retry is not kept waiting.
    pub async fn release(&self, key: &str) {
        let mut conn = self.conn.clone();
        let _: redis::RedisResult<()> = conn.del(self.key(key)).await;
    }

    /// Sets `key` pending as a crashed request would have left it (for tests of that case).
    pub async fn leave_pending(&self, key: &str) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        conn.pset_ex::<_, _, ()>(
            self.key(key),
            "pending",
            self.pending_ttl.as_millis() as u64,
        )
        .await
    }
}
