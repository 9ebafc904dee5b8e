//! Poller cursors, and the history of what the daemon did with each change (for the dashboard),
//! and pruning of what has outlived its retention.

use super::db::{Store, StoreError};
use crate::domain::MiroItemId;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub at: i64,
    pub pair: String,
    /// `miro` or `monday`: where the change came from.
    pub origin: String,
    /// The item's id on the side it came from.
    pub item: String,
    pub title: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

impl Store {
    /// Saves a poller position; the last write wins.
    pub async fn record_cursor(&self, name: &str, value: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cursors (name, value, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(value)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes or renews the lease `name` for `holder` until `now + ttl_ms`: `true` when `holder`
    /// has it now (it was free, expired, or already `holder`'s), `false` when another replica
    /// holds it.
    pub async fn lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let taken = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE leases.holder = excluded.holder OR leases.expires_at <= $4",
        )
        .bind(name)
        .bind(holder)
        .bind(now + ttl_ms)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    /// When the lease `name` lapses (Unix ms), if anyone holds it.
    pub async fn lease_expiry(&self, name: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT expires_at FROM leases WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("expires_at")).transpose()?)
    }

    /// Gives the lease up, if `holder` has it, so another replica takes over at once.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn cursor(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM cursors WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    pub async fn record_history(&self, entry: &HistoryEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO history (at, pair, origin, item, title, outcome, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(entry.at)
        .bind(&entry.pair)
        .bind(&entry.origin)
        .bind(&entry.item)
        .bind(&entry.title)
        .bind(&entry.outcome)
        .bind(&entry.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes what is finished and older than `before` (done and discarded outbox rows, processed inbox
    /// entries, history, conflicts), dedupe keys that expired by `now`, and the raw bodies of
    /// entries received before `raw_before`. Pending and dead rows stay. Works in batches, each
    /// its own short transaction, so receivers and workers are never held up behind it.
    pub async fn prune(
        &self,
        before: i64,
        raw_before: i64,
        now: i64,
    ) -> Result<Pruned, StoreError> {
        const BATCH: i64 = 1_000;
        let mut pruned = Pruned::default();
        for (sql, cutoff, raw) in [
            (
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE status = 'done' AND finished_at < $1 LIMIT $2)",
                before,
                false,
            ),
            (
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE status = 'discarded' AND finished_at < $1 LIMIT $2)",
                before,
                false,
            ),
            (
                "DELETE FROM inbox WHERE id IN (SELECT id FROM inbox WHERE status = 'done' AND processed_at < $1 LIMIT $2)",
                before,
                false,
            ),
            (
                "DELETE FROM history WHERE id IN (SELECT id FROM history WHERE at < $1 LIMIT $2)",
                before,
                false,
            ),
            (
                "DELETE FROM conflicts WHERE id IN (SELECT id FROM conflicts WHERE at < $1 LIMIT $2)",
                before,
                false,
            ),
            (
                "DELETE FROM dedupe_keys WHERE key IN (SELECT key FROM dedupe_keys WHERE expires_at <= $1 LIMIT $2)",
                now,
                false,
            ),
            (
                "UPDATE inbox SET raw_body = NULL WHERE id IN (SELECT id FROM inbox WHERE raw_body IS NOT NULL AND received_at < $1 LIMIT $2)",
                raw_before,
                true,
            ),
        ] {
            loop {
                let n = sqlx::query(sql)
                    .bind(cutoff)
                    .bind(BATCH)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                if raw {
                    pruned.raw_bodies += n;
                } else {
                    pruned.rows += n;
                }
                if n < BATCH as u64 {
                    break;
                }
            }
        }
        Ok(pruned)
    }
}

/// What one [`Store::prune`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Rows deleted.
    pub rows: u64,
    /// Raw webhook bodies dropped from entries that stay.
    pub raw_bodies: u64,
}

pub(super) fn history_entry(r: &sqlx::any::AnyRow) -> Result<HistoryEntry, StoreError> {
    Ok(HistoryEntry {
        at: r.try_get("at")?,
        pair: r.try_get("pair")?,
        origin: r.try_get("origin")?,
        item: r.try_get("item")?,
        title: r.try_get("title")?,
        outcome: r.try_get("outcome")?,
        detail: r.try_get("detail")?,
    })
}

/// What a poller last saw of one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub item_id: String,
    pub version: String,
    pub data: String,
}

impl Store {
    /// Every item a poller saw on `side` of `pair` at its last completed scan.
    pub async fn snapshots(&self, pair: &str, side: &str) -> Result<Vec<Snapshot>, StoreError> {
        let rows = sqlx::query(
            "SELECT item_id, version, data FROM snapshots WHERE pair = $1 AND side = $2",
        )
        .bind(pair)
        .bind(side)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Snapshot {
                    item_id: r.try_get("item_id")?,
                    version: r.try_get("version")?,
                    data: r.try_get("data")?,
                })
            })
            .collect()
    }

    /// What a poller saw of one item on `side` of `pair` at its last completed scan.
    pub async fn snapshot(
        &self,
        pair: &str,
        side: &str,
        item_id: &str,
    ) -> Result<Option<Snapshot>, StoreError> {
        let row = sqlx::query(
            "SELECT item_id, version, data FROM snapshots WHERE pair = $1 AND side = $2 AND item_id = $3",
        )
        .bind(pair)
        .bind(side)
        .bind(item_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Snapshot {
                item_id: r.try_get("item_id")?,
                version: r.try_get("version")?,
                data: r.try_get("data")?,
            })
        })
        .transpose()
    }

    /// Advances the snapshot after a scan's changes are in the inbox: `seen` upserted, `gone`
    /// removed, in one transaction.
    pub async fn save_snapshots(
        &self,
        pair: &str,
        side: &str,
        seen: &[Snapshot],
        gone: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for s in seen {
            sqlx::query(
                "INSERT INTO snapshots (pair, side, item_id, version, data, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (pair, side, item_id) DO UPDATE SET
                   version = excluded.version, data = excluded.data, updated_at = excluded.updated_at",
            )
            .bind(pair)
            .bind(side)
            .bind(&s.item_id)
            .bind(&s.version)
            .bind(&s.data)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        for id in gone {
            sqlx::query("DELETE FROM snapshots WHERE pair = $1 AND side = $2 AND item_id = $3")
                .bind(pair)
                .bind(side)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// Records `version` as the Miro scan's snapshot of an item boardsync just wrote, in one
    /// statement and only if nothing could be hiding behind it: no change of the item is waiting
    /// in the inbox, and its link still holds `link_fields` (no change was processed since the
    /// caller compared the written item with them). Returns whether it was recorded.
    pub async fn note_own_write(
        &self,
        pair: &str,
        item_id: &MiroItemId,
        version: &str,
        link_id: i64,
        link_fields: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO snapshots (pair, side, item_id, version, data, updated_at)
             SELECT $1, 'miro', $2, $3, '', $4
             WHERE NOT EXISTS (SELECT 1 FROM inbox WHERE pair = $1 AND item_id = $2 AND status = 'pending')
               AND EXISTS (SELECT 1 FROM links WHERE id = $5 AND fields = $6)
             ON CONFLICT (pair, side, item_id) DO UPDATE SET
               version = excluded.version, data = excluded.data, updated_at = excluded.updated_at",
        )
        .bind(pair)
        .bind(item_id.as_str())
        .bind(version)
        .bind(now)
        .bind(link_id)
        .bind(link_fields)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    /// Every cursor whose name starts with `prefix`, as (name, value).
    pub(crate) async fn cursors_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, value FROM cursors WHERE substr(name, 1, length($1)) = $1 ORDER BY name",
        )
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("name")?, r.try_get("value")?)))
            .collect()
    }

    pub(crate) async fn forget_cursor(&self, name: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM cursors WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
