//! The outbox: writes waiting to be made on Miro or monday. A row is claimed for a lease, then
//! completed, rescheduled, or declared dead; dead rows stay, visible and replayable. Nothing here
//! deletes a row that has not succeeded.

use super::db::{Backend, Store, StoreError};
use crate::domain::{Side, Target};
use sqlx::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    Pending,
    /// Claimed by a dispatcher until its lease runs out.
    InFlight,
    Done,
    /// Out of attempts, or failed for good; kept until replayed or discarded.
    Dead,
    /// A dead row a person gave up on; pruned with done rows after `[sync] retention`.
    Discarded,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::InFlight => "in_flight",
            OutboxStatus::Done => "done",
            OutboxStatus::Dead => "dead",
            OutboxStatus::Discarded => "discarded",
        }
    }

    fn parse(s: &str) -> Result<OutboxStatus, StoreError> {
        match s {
            "pending" => Ok(OutboxStatus::Pending),
            "in_flight" => Ok(OutboxStatus::InFlight),
            "done" => Ok(OutboxStatus::Done),
            "dead" => Ok(OutboxStatus::Dead),
            "discarded" => Ok(OutboxStatus::Discarded),
            other => Err(StoreError::Corrupt(format!(
                "unknown outbox status `{other}`"
            ))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewOutboxEntry {
    pub pair: String,
    /// The side written to, and the item there; no item for a create.
    pub target: Target,
    pub link_id: Option<i64>,
    pub operation: String,
    pub payload: String,
    /// Unique per intended write: enqueueing the same key twice stores one row.
    pub idempotency_key: String,
    pub due_at: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub id: i64,
    pub pair: String,
    pub target: Target,
    pub link_id: Option<i64>,
    pub operation: String,
    pub payload: String,
    pub idempotency_key: String,
    pub status: OutboxStatus,
    pub attempts: i64,
    pub due_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

const COLUMNS: &str = "id, pair, target, target_item, link_id, operation, payload, idempotency_key, status, attempts, due_at, last_error, created_at, finished_at";

impl Store {
    /// Adds a write, or finds the row already holding its idempotency key; returns the row's id.
    pub async fn enqueue(&self, entry: &NewOutboxEntry) -> Result<i64, StoreError> {
        insert_outbox(&self.pool, entry, None).await?;
        Ok(
            sqlx::query("SELECT id FROM outbox WHERE idempotency_key = $1")
                .bind(&entry.idempotency_key)
                .fetch_one(&self.pool)
                .await?
                .try_get("id")?,
        )
    }

    /// Claims rows that are due (or whose claim expired) for `claimer`, for `lease_ms`, leaving
    /// out those of paused pairs.
    pub async fn claim_due(
        &self,
        claimer: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let rows = sqlx::query(&format!(
            "UPDATE outbox SET status = 'in_flight', claimed_until = $2, claimed_by = $4,
               attempts = attempts + 1
             WHERE id IN (
               SELECT id FROM outbox
               WHERE ((status = 'pending' AND due_at <= $1) OR (status = 'in_flight' AND claimed_until <= $1))
                 AND pair NOT IN (SELECT pair FROM paused_pairs)
               ORDER BY due_at, id LIMIT $3 {lock})
             RETURNING {COLUMNS}"
        ))
        .bind(now)
        .bind(now + lease_ms)
        .bind(limit)
        .bind(claimer)
        .fetch_all(&self.pool)
        .await?;
        let mut entries = rows
            .iter()
            .map(outbox_entry)
            .collect::<Result<Vec<_>, _>>()?;
        entries.sort_by_key(|e| (e.due_at, e.id));
        Ok(entries)
    }

    /// Claims every other pending row for `link_id` toward `target`, due or not: a write waiting
    /// for its retry must go out with (or before) the newer writes to the same item, never after
    /// them, or an old value would overwrite a new one.
    pub(crate) async fn claim_link_rows(
        &self,
        claimer: &str,
        link_id: i64,
        target: Side,
        now: i64,
        lease_ms: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = sqlx::query(&format!(
            "UPDATE outbox SET status = 'in_flight', claimed_until = $3, claimed_by = $4,
               attempts = attempts + 1
             WHERE link_id = $1 AND target = $2 AND status = 'pending'
             RETURNING {COLUMNS}"
        ))
        .bind(link_id)
        .bind(target.as_str())
        .bind(now + lease_ms)
        .bind(claimer)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_entry).collect()
    }

    /// Extends to `until` the claims `claimer` still holds: a dispatcher at work renews its
    /// rows, so only a dead one's claims lapse. Answers how many were renewed.
    pub async fn renew_claims(&self, claimer: &str, until: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE outbox SET claimed_until = $2 WHERE claimed_by = $1 AND status = 'in_flight'",
        )
        .bind(claimer)
        .bind(until)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    pub async fn complete(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.settle(id, OutboxStatus::Done, None, None, now).await
    }

    /// Puts a claimed row back to wait until `due_at`, noting why.
    pub async fn schedule_retry(
        &self,
        id: i64,
        due_at: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        self.settle(id, OutboxStatus::Pending, Some(due_at), Some(error), due_at)
            .await
    }

    pub async fn mark_dead(&self, id: i64, error: &str, now: i64) -> Result<(), StoreError> {
        self.settle(id, OutboxStatus::Dead, None, Some(error), now)
            .await
    }

    async fn settle(
        &self,
        id: i64,
        status: OutboxStatus,
        due_at: Option<i64>,
        error: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        let finished = matches!(status, OutboxStatus::Done | OutboxStatus::Dead).then_some(now);
        sqlx::query(
            "UPDATE outbox SET status = $2, due_at = COALESCE($3, due_at), last_error = COALESCE($4, last_error),
               claimed_until = NULL, finished_at = $5
             WHERE id = $1",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(due_at)
        .bind(error)
        .bind(finished)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Dead rows, newest first, optionally of one pair.
    pub async fn dead_entries(&self, pair: Option<&str>) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE status = 'dead' AND ($1 IS NULL OR pair = $1)
             ORDER BY finished_at DESC, id DESC"
        ))
        .bind(pair)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_entry).collect()
    }

    /// Makes dead rows (of one pair, or that died at or after `since`) pending again, due `now`,
    /// with their attempts reset; returns how many.
    pub async fn requeue_dead(
        &self,
        pair: Option<&str>,
        since: Option<i64>,
        now: i64,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE outbox SET status = 'pending', attempts = 0, due_at = $3, finished_at = NULL
             WHERE status = 'dead' AND ($1 IS NULL OR pair = $1) AND ($2 IS NULL OR finished_at >= $2)",
        )
        .bind(pair)
        .bind(since)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Every write for one link, oldest first: what was sent to its items and how it went.
    pub async fn outbox_for_link(&self, link_id: i64) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE link_id = $1 ORDER BY id"
        ))
        .bind(link_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_entry).collect()
    }

    pub async fn outbox_entry(&self, id: i64) -> Result<Option<OutboxEntry>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM outbox WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(outbox_entry).transpose()
    }
}

/// Inserts a row unless its idempotency key is there already; `link_id` fills a row without one.
pub(super) async fn insert_outbox<'c, E>(
    executor: E,
    entry: &NewOutboxEntry,
    link_id: Option<i64>,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO outbox (pair, target, target_item, link_id, operation, payload, idempotency_key, due_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(&entry.pair)
    .bind(entry.target.side().as_str())
    .bind(entry.target.item())
    .bind(entry.link_id.or(link_id))
    .bind(&entry.operation)
    .bind(&entry.payload)
    .bind(&entry.idempotency_key)
    .bind(entry.due_at)
    .bind(entry.created_at)
    .execute(executor)
    .await?;
    Ok(())
}

fn outbox_entry(row: &sqlx::any::AnyRow) -> Result<OutboxEntry, StoreError> {
    Ok(OutboxEntry {
        id: row.try_get("id")?,
        pair: row.try_get("pair")?,
        target: Target::new(
            row.try_get::<String, _>("target")?
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("outbox target: {e}")))?,
            row.try_get("target_item")?,
        ),
        link_id: row.try_get("link_id")?,
        operation: row.try_get("operation")?,
        payload: row.try_get("payload")?,
        idempotency_key: row.try_get("idempotency_key")?,
        status: OutboxStatus::parse(&row.try_get::<String, _>("status")?)?,
        attempts: row.try_get("attempts")?,
        due_at: row.try_get("due_at")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}
