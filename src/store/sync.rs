//! What the sync engine writes: a processed change (its outcome, its link, its outbox rows, its
//! history and conflicts) in one transaction, so a crash leaves either all of it or none, and the
//! change is simply processed again; and the links' other-side ids once a create is done.

use super::db::{Store, StoreError};
use super::links::{LinkState, id_column, is_pending_sql, stored};
use super::outbox::NewOutboxEntry;
use super::state::HistoryEntry;
use crate::domain::{ItemId, Linked, MiroItemId, MondayItemId, Side};
use sqlx::Row;

/// What becomes of the change's link.
#[derive(Debug, Clone)]
pub(crate) enum LinkWrite {
    None,
    /// Updates the field state (and the state) of an existing link.
    Update {
        id: i64,
        state: LinkState,
        fields: serde_json::Value,
    },
    /// A new link. The outbox rows without a `link_id` get its id.
    Create {
        pair: String,
        miro_item_id: Linked<MiroItemId>,
        monday_item_id: Linked<MondayItemId>,
        miro_type: String,
        fields: serde_json::Value,
    },
    Remove {
        id: i64,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct NewConflict {
    pub item: String,
    pub field: String,
    pub winner: String,
    pub won: String,
    pub lost: String,
    pub miro_ts: i64,
    pub monday_ts: i64,
}

/// Everything one processed change writes.
#[derive(Debug, Clone)]
pub(crate) struct ProcessedChange {
    pub entry_id: i64,
    pub outcome: String,
    pub error: Option<String>,
    pub now: i64,
    pub link: LinkWrite,
    pub outbox: Vec<NewOutboxEntry>,
    pub history: HistoryEntry,
    pub conflicts: Vec<NewConflict>,
}

/// A recorded conflict.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictRecord {
    pub at: i64,
    pub pair: String,
    pub item: String,
    pub field: String,
    pub winner: String,
    pub won: String,
    pub lost: String,
}

impl Store {
    /// Writes a processed change in one transaction. Returns the link id, when there is one.
    pub(crate) async fn record_processed(
        &self,
        p: &ProcessedChange,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.begin_write().await?;
        // Claim the entry first: if another worker finished it meanwhile, nothing is written.
        let claimed = sqlx::query(
            "UPDATE inbox SET status = 'done', outcome = $2, error = $3, processed_at = $4
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(p.entry_id)
        .bind(&p.outcome)
        .bind(&p.error)
        .bind(p.now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            return Ok(None);
        }
        let link_id = match &p.link {
            LinkWrite::None => None,
            LinkWrite::Update { id, state, fields } => {
                sqlx::query(
                    "UPDATE links SET state = $2, fields = $3, updated_at = $4 WHERE id = $1",
                )
                .bind(id)
                .bind(state.as_str())
                .bind(fields.to_string())
                .bind(p.now)
                .execute(&mut *tx)
                .await?;
                Some(*id)
            }
            LinkWrite::Create {
                pair,
                miro_item_id,
                monday_item_id,
                miro_type,
                fields,
            } => Some(
                sqlx::query(
                    "INSERT INTO links (pair, miro_item_id, monday_item_id, miro_type, state, fields, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, 'active', $5, $6, $6) RETURNING id",
                )
                .bind(pair)
                .bind(stored(miro_item_id))
                .bind(stored(monday_item_id))
                .bind(miro_type)
                .bind(fields.to_string())
                .bind(p.now)
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?,
            ),
            LinkWrite::Remove { id } => {
                sqlx::query("DELETE FROM links WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                None
            }
        };
        for row in &p.outbox {
            super::outbox::insert_outbox(&mut *tx, row, link_id).await?;
        }
        let h = &p.history;
        sqlx::query(
            "INSERT INTO history (at, pair, origin, item, title, outcome, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(h.at)
        .bind(&h.pair)
        .bind(&h.origin)
        .bind(&h.item)
        .bind(&h.title)
        .bind(&h.outcome)
        .bind(&h.detail)
        .execute(&mut *tx)
        .await?;
        for c in &p.conflicts {
            sqlx::query(
                "INSERT INTO conflicts (at, pair, link_id, item, field, winner, won, lost, miro_ts, monday_ts)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(p.now)
            .bind(&h.pair)
            .bind(link_id)
            .bind(&c.item)
            .bind(&c.field)
            .bind(&c.winner)
            .bind(&c.won)
            .bind(&c.lost)
            .bind(c.miro_ts)
            .bind(c.monday_ts)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(link_id)
    }

    /// Records the other side's id of a link once the create that made it is done.
    pub(crate) async fn resolve_link<I: ItemId>(
        &self,
        link_id: i64,
        item_id: &I,
        now: i64,
    ) -> Result<(), StoreError> {
        let column = id_column(I::SIDE);
        sqlx::query(&format!(
            "UPDATE links SET {column} = $2, updated_at = $3 WHERE id = $1"
        ))
        .bind(link_id)
        .bind(item_id.as_ref())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Puts a link back to active (a released quarantine), forgetting the loop breaker's count
    /// (`loop_returns` in the link's fields: `sync::plan::LinkFields`), so that its next write
    /// is not taken for the loop again.
    pub async fn release_link(
        &self,
        pair: &str,
        item_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT id, fields FROM links
             WHERE pair = $1 AND (miro_item_id = $2 OR monday_item_id = $2) AND state = 'quarantined'",
        )
        .bind(pair)
        .bind(item_id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(false);
        };
        let id: i64 = row.try_get("id")?;
        let text: String = row.try_get("fields")?;
        let mut fields: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("link {id}'s fields: {e}")))?;
        if let Some(map) = fields.as_object_mut() {
            map.remove("loop_returns");
            // What versions before 0.2 counted.
            map.remove("recent_writes");
        }
        // Only if still quarantined: a release racing another changes it once.
        let changed = sqlx::query(
            "UPDATE links SET state = 'active', fields = $2, updated_at = $3
             WHERE id = $1 AND state = 'quarantined'",
        )
        .bind(id)
        .bind(fields.to_string())
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed > 0)
    }

    pub async fn recent_conflicts(
        &self,
        pair: &str,
        limit: i64,
    ) -> Result<Vec<ConflictRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, pair, item, field, winner, won, lost FROM conflicts
             WHERE pair = $1 ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(pair)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(conflict_record).collect()
    }

    /// Outbox rows not yet done for a pair (pending or in flight), and dead ones.
    pub async fn outbox_counts(&self, pair: &str) -> Result<(i64, i64), StoreError> {
        let row = sqlx::query(
            "SELECT
               COALESCE(SUM(CASE WHEN status IN ('pending', 'in_flight') THEN 1 ELSE 0 END), 0) AS backlog,
               COALESCE(SUM(CASE WHEN status = 'dead' THEN 1 ELSE 0 END), 0) AS dead
             FROM outbox WHERE pair = $1",
        )
        .bind(pair)
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("backlog")?, row.try_get("dead")?))
    }
}

impl Store {
    /// The newest history entry of `pair` whose change came from `origin`.
    pub(crate) async fn last_change(
        &self,
        pair: &str,
        origin: &str,
    ) -> Result<Option<HistoryEntry>, StoreError> {
        let row = sqlx::query(
            "SELECT at, pair, origin, item, title, outcome, detail FROM history
             WHERE pair = $1 AND origin = $2 ORDER BY at DESC, id DESC LIMIT 1",
        )
        .bind(pair)
        .bind(origin)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(super::state::history_entry).transpose()
    }

    /// Links of `pair` whose item on `side` is still being created.
    pub(crate) async fn pending_creates(&self, pair: &str, side: Side) -> Result<i64, StoreError> {
        Ok(sqlx::query(&format!(
            "SELECT COUNT(*) AS n FROM links WHERE pair = $1 AND {}",
            is_pending_sql(id_column(side))
        ))
        .bind(pair)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?)
    }

    pub(crate) async fn count_conflicts(&self, pair: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM conflicts WHERE pair = $1")
                .bind(pair)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }
}

pub(super) fn conflict_record(r: &sqlx::any::AnyRow) -> Result<ConflictRecord, StoreError> {
    Ok(ConflictRecord {
        at: r.try_get("at")?,
        pair: r.try_get("pair")?,
        item: r.try_get("item")?,
        field: r.try_get("field")?,
        winner: r.try_get("winner")?,
        won: r.try_get("won")?,
        lost: r.try_get("lost")?,
    })
}
