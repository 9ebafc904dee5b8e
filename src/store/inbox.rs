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
        let mut tx = self.pool.begin().await?;
        // Write first, so that on SQLite the transaction takes the write lock at once.
        let claimed = sqlx::query(
            "INSERT INTO dedupe_keys (key, expires_at) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at
             WHERE dedupe_keys.expires_at <= $3",
        )
        .bind(&entry.dedupe_key)
        .bind(expires_at)
        .bind(entry.received_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            tx.rollback().await?;
            return Ok(InboxInsert::Duplicate);
        }
        // An expired key may still have its old inbox row; it gives its key up to the new event.
        sqlx::query("DELETE FROM inbox WHERE dedupe_key = $1")
            .bind(&entry.dedupe_key)
            .execute(&mut *tx)
            .await?;
        let id: i64 = sqlx::query(
            "INSERT INTO inbox (dedupe_key, source, pair, board_id, item_id, kind, change, raw_body, source_ts, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
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
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        tx.commit().await?;
        Ok(InboxInsert::Stored(id))
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
