//! The inbox: normalised changes, stored before any sender is answered, taken by the processor in
//! arrival order. The dedupe key decides, in the same transaction as the insert, whether an event
//! is new; so a repeat can never slip in twice, and a failed insert leaves no key behind.

use super::db::{Backend, Store, StoreError};
use sqlx::Row;
use std::collections::{HashMap, HashSet};

/// Rows per multi-row insert: well inside SQLite's 32,766 and Postgres's 65,535 bound parameters.
const MAX_ROWS_PER_STATEMENT: usize = 500;

/// `($1, $2), ($3, $4), ...`: `rows` groups of `columns` numbered placeholders. SQLite gets plain
/// `?` instead: it finds a numbered parameter by a linear search of the names, which makes binding
/// thousands of them quadratic.
fn placeholders(backend: Backend, rows: usize, columns: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        if row > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for column in 0..columns {
            if column > 0 {
                out.push_str(", ");
            }
            match backend {
                Backend::Sqlite => out.push('?'),
                Backend::Postgres => {
                    out.push('$');
                    out.push_str(&(row * columns + column + 1).to_string());
                }
            }
        }
        out.push(')');
    }
    out
}

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

impl NewInboxEntry {
    /// A change a poller found, as an inbox entry of pair `pair_slug` under `dedupe_key`.
    pub(crate) fn polled(
        pair_slug: &str,
        change: &crate::domain::change::Change,
        dedupe_key: String,
        now: i64,
    ) -> NewInboxEntry {
        NewInboxEntry {
            dedupe_key,
            source: change.side().as_str().into(),
            pair: Some(pair_slug.to_owned()),
            board_id: change.item.board().to_owned(),
            item_id: Some(change.item.item().to_owned()),
            kind: change.kind.as_str().into(),
            change: serde_json::to_string(change).expect("a change serialises"),
            raw_body: None,
            source_ts: change.source_us.map(|us| us.div_euclid(1000)),
            received_at: now,
            outcome: None,
        }
    }
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
    ///
    /// The common case, every key new, costs two statements for the whole batch: one multi-row
    /// insert of the keys (which reports the new ones) and one of the inbox rows. Only a key that
    /// was there already costs statements of its own.
    pub async fn insert_inbox_batch(
        &self,
        entries: &[(&NewInboxEntry, i64)],
    ) -> Result<Vec<InboxInsert>, StoreError> {
        let mut tx = self.begin_write().await?;
        // Keys first, so that on SQLite the transaction takes the write lock at once.
        let mut fresh: HashSet<String> = HashSet::with_capacity(entries.len());
        for chunk in entries.chunks(MAX_ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO dedupe_keys (key, expires_at) VALUES {} ON CONFLICT (key) DO NOTHING RETURNING key",
                placeholders(self.backend, chunk.len(), 2)
            );
            let mut query = sqlx::query(&sql);
            for (entry, expires_at) in chunk {
                query = query.bind(&entry.dedupe_key).bind(*expires_at);
            }
            for row in query.fetch_all(&mut *tx).await? {
                fresh.insert(row.try_get("key")?);
            }
        }
        // Which entries get stored: the first of each new key, and any whose old key had expired.
        let mut store = Vec::with_capacity(entries.len());
        let mut claimed: HashSet<&str> = HashSet::with_capacity(entries.len());
        for (entry, expires_at) in entries {
            let key = entry.dedupe_key.as_str();
            let stored = if !claimed.insert(key) {
                false
            } else if fresh.contains(key) {
                true
            } else {
                // A key past its expiry counts as new again, and its old inbox row gives the key
                // up to the new event.
                let renewed = sqlx::query(
                    "UPDATE dedupe_keys SET expires_at = $2 WHERE key = $1 AND expires_at <= $3",
                )
                .bind(key)
                .bind(expires_at)
                .bind(entry.received_at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if renewed {
                    sqlx::query("DELETE FROM inbox WHERE dedupe_key = $1")
                        .bind(key)
                        .execute(&mut *tx)
                        .await?;
                }
                renewed
            };
            store.push(stored);
        }
        let rows: Vec<&NewInboxEntry> = entries
            .iter()
            .zip(&store)
            .filter(|(_, stored)| **stored)
            .map(|((entry, _), _)| *entry)
            .collect();
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(rows.len());
        for chunk in rows.chunks(MAX_ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO inbox (dedupe_key, source, pair, board_id, item_id, kind, change, raw_body, source_ts, received_at, status, outcome, processed_at)
                 VALUES {} RETURNING id, dedupe_key",
                placeholders(self.backend, chunk.len(), 13)
            );
            let mut query = sqlx::query(&sql);
            for entry in chunk {
                let (status, processed_at) = match entry.outcome {
                    Some(_) => ("done", Some(entry.received_at)),
                    None => ("pending", None),
                };
                query = query
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
                    .bind(processed_at);
            }
            for row in query.fetch_all(&mut *tx).await? {
                ids.insert(row.try_get("dedupe_key")?, row.try_get("id")?);
            }
        }
        tx.commit().await?;
        entries
            .iter()
            .zip(store)
            .map(|((entry, _), stored)| {
                if !stored {
                    return Ok(InboxInsert::Duplicate);
                }
                ids.get(&entry.dedupe_key)
                    .map(|id| InboxInsert::Stored(*id))
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "the inbox did not return an id for {}",
                            entry.dedupe_key
                        ))
                    })
            })
            .collect()
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

    /// Up to `limit` changes not yet processed, oldest first, leaving out those of paused pairs.
    pub async fn pending_inbox(&self, limit: i64) -> Result<Vec<InboxEntry>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM inbox WHERE status = 'pending'
               AND (pair IS NULL OR pair NOT IN (SELECT pair FROM paused_pairs))
             ORDER BY id LIMIT $1"
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
