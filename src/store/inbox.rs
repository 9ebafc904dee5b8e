//! The inbox: normalised changes, stored before any sender is answered, taken by the processor in
//! arrival order. The dedupe key decides, in the same transaction as the insert, whether an event
//! is new; so a repeat can never slip in twice, and a failed insert leaves no key behind.

use super::{Store, StoreError};
use sqlx::Row;

/// A change to store. `change` is the normalised change as JSON; `raw_body` the request as received.
#[derive(Debug, Clone)]
pub struct NewInboxEntry {
    pub dedupe_key: String,
    pub source: String,
    pub pair: Option<String>,
    pub board_id: String,
    pub item_id: Option<String>,
    pub kind: String,
    pub change: String,
    pub raw_body: Option<Vec<u8>>,
    pub source_ts: Option<i64>,
    pub received_at: i64,
    /// Set when the receiver already knows the outcome (an ignored event type, a stale event):
    /// the entry is stored as done and the processor never sees it.
    pub outcome: Option<String>,
}

/// What happened to an insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxInsert {
    /// New; stored with this id.
    Stored(i64),
    /// The key was seen within its time to live; nothing was written.
    Duplicate,
}

/// A stored change.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxEntry {
    pub id: i64,
    pub dedupe_key: String,
    pub source: String,
    pub pair: Option<String>,
    pub board_id: String,
    pub item_id: Option<String>,
    pub kind: String,
    pub change: String,
    pub source_ts: Option<i64>,
    pub received_at: i64,
    pub status: String,
    pub outcome: Option<String>,
}

const COLUMNS: &str = "id, dedupe_key, source, pair, board_id, item_id, kind, change, source_ts, received_at, status, outcome";

impl Store {
    /// Stores `entry` unless its dedupe key is still alive; the key then lives until `expires_at`.
    /// A key past its expiry counts as new again.
    pub async fn insert_inbox(
        &self,
        entry: &NewInboxEntry,
        expires_at: i64,
    ) -> Result<InboxInsert, StoreError> {
        let mut results = self.insert_inbox_batch(&[(entry, expires_at)]).await?;
        Ok(results.pop().expect("one result per entry"))
    }

    /// Stores several entries in one transaction (one commit for many webhooks), each unless its
    /// dedupe key is alive, a key repeated within the batch included. All or nothing.
    pub async fn insert_inbox_batch(
        &self,
        entries: &[(&NewInboxEntry, i64)],
    ) -> Result<Vec<InboxInsert>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut results = Vec::with_capacity(entries.len());
        for (entry, expires_at) in entries {
            // Write first, so that on SQLite the transaction takes the write lock at once. The
            // common case, a new key, costs this one insert.
            let fresh = sqlx::query(
                "INSERT INTO dedupe_keys (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            )
            .bind(&entry.dedupe_key)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !fresh {
                // A key past its expiry counts as new again, and its old inbox row gives the key
                // up to the new event.
                let renewed = sqlx::query(
                    "UPDATE dedupe_keys SET expires_at = $2 WHERE key = $1 AND expires_at <= $3",
                )
                .bind(&entry.dedupe_key)
                .bind(expires_at)
                .bind(entry.received_at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !renewed {
                    results.push(InboxInsert::Duplicate);
                    continue;
                }
                sqlx::query("DELETE FROM inbox WHERE dedupe_key = $1")
                    .bind(&entry.dedupe_key)
                    .execute(&mut *tx)
                    .await?;
            }
            let (status, processed_at) = match entry.outcome {
                Some(_) => ("done", Some(entry.received_at)),
                None => ("pending", None),
            };
            let id: i64 = sqlx::query(
                "INSERT INTO inbox (dedupe_key, source, pair, board_id, item_id, kind, change, raw_body, source_ts, received_at, status, outcome, processed_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
            )
            .bind(&entry.dedupe_key)
            .bind(&entry.source)
            .bind(&entry.pair)
            .bind(&entry.board_id)
            .bind(&entry.item_id)
            .bind(&entry.kind)
            .bind(&entry.change)
            .bind(&entry.raw_body)
            .bind(entry.source_ts)
            .bind(entry.received_at)
            .bind(status)
            .bind(&entry.outcome)
            .bind(processed_at)
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?;
            results.push(InboxInsert::Stored(id));
        }
        tx.commit().await?;
        Ok(results)
    }

    /// How many inbox entries there are with `outcome` (all when `None`).
    pub async fn count_inbox(&self, outcome: Option<&str>) -> Result<i64, StoreError> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM inbox WHERE ($1 IS NULL OR outcome = $1)")
                .bind(outcome)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }

    /// Up to `limit` changes not yet processed, oldest first.
    pub async fn pending_inbox(&self, limit: i64) -> Result<Vec<InboxEntry>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM inbox WHERE status = 'pending' ORDER BY id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(inbox_entry).collect()
    }

    pub async fn inbox_entry(&self, id: i64) -> Result<Option<InboxEntry>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM inbox WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(inbox_entry).transpose()
    }

    /// Records what the processor decided for an entry; it will not be handed out again.
    pub async fn finish_inbox(
        &self,
        id: i64,
        outcome: &str,
        error: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE inbox SET status = 'done', outcome = $2, error = $3, processed_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(outcome)
        .bind(error)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The number of changes waiting for the processor.
    pub async fn inbox_backlog(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM inbox WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }
}

fn inbox_entry(row: &sqlx::any::AnyRow) -> Result<InboxEntry, StoreError> {
    Ok(InboxEntry {
        id: row.try_get("id")?,
        dedupe_key: row.try_get("dedupe_key")?,
        source: row.try_get("source")?,
        pair: row.try_get("pair")?,
        board_id: row.try_get("board_id")?,
        item_id: row.try_get("item_id")?,
        kind: row.try_get("kind")?,
        change: row.try_get("change")?,
        source_ts: row.try_get("source_ts")?,
        received_at: row.try_get("received_at")?,
        status: row.try_get("status")?,
        outcome: row.try_get("outcome")?,
    })
}
