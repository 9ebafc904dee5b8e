//! What the dashboard reads beyond the counts, and the controls it sets: paused pairs, dead
//! letters retried or discarded, and a pair's history with both items of each change.

use super::db::{Store, StoreError};
use super::links::parse_stored;
use crate::domain::{MiroItemId, MondayItemId};
use sqlx::Row;

/// One change the processor handled, with the link it touched (when it has one).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HistoryRow {
    pub id: i64,
    pub at: i64,
    pub pair: String,
    /// `miro` or `monday`: where the change came from.
    pub origin: String,
    /// The item's id on the side it came from.
    pub item: String,
    pub title: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
    /// The linked Miro item, when the change's item is linked.
    pub miro_item: Option<String>,
    /// The linked monday item, when the change's item is linked.
    pub monday_item: Option<String>,
}

/// The history columns joined with the link of the item (on the side the change came from).
const HISTORY: &str = "SELECT h.id, h.at, h.pair, h.origin, h.item, h.title, h.outcome, h.detail,
       l.miro_item_id, l.monday_item_id
     FROM history h LEFT JOIN links l ON l.pair = h.pair
       AND ((h.origin = 'miro' AND l.miro_item_id = h.item)
         OR (h.origin = 'monday' AND l.monday_item_id = h.item))";

impl Store {
    /// Pauses `pair`: its inbox entries and outbox rows wait until [`Store::resume_pair`].
    /// Pausing a paused pair keeps its first time.
    pub async fn pause_pair(&self, pair: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO paused_pairs (pair, since) VALUES ($1, $2) ON CONFLICT (pair) DO NOTHING",
        )
        .bind(pair)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Resumes `pair`; `false` when it was not paused.
    pub async fn resume_pair(&self, pair: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("DELETE FROM paused_pairs WHERE pair = $1")
            .bind(pair)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    /// Since when `pair` is paused, if it is.
    pub async fn paused_since(&self, pair: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT since FROM paused_pairs WHERE pair = $1")
            .bind(pair)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("since")).transpose()?)
    }

    /// The newest `limit` history rows of `pair` older than `before` (an id), newest first;
    /// with `search`, only those of the item whose id (on either side of its link) is `search`,
    /// or whose title contains it, ignoring case.
    pub async fn history_page(
        &self,
        pair: &str,
        search: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<HistoryRow>, StoreError> {
        // The link's ids first (two unique-index lookups), so that the scan of the history
        // compares its own columns only and joins the links of the rows it keeps.
        let (mut miro, mut monday) = (None, None);
        if let Some(q) = search
            && let Some(link) = sqlx::query(
                "SELECT miro_item_id, monday_item_id FROM links
                 WHERE pair = $1 AND (miro_item_id = $2 OR monday_item_id = $2)",
            )
            .bind(pair)
            .bind(q)
            .fetch_optional(&self.pool)
            .await?
        {
            miro = Some(link.try_get::<String, _>("miro_item_id")?);
            monday = Some(link.try_get::<String, _>("monday_item_id")?);
        }
        // An item's id finds its changes through the index; anything else is looked for in
        // the titles, which takes a scan of the pair's history.
        // (`+h.id` keeps SQLite from walking the id index in order, fetching every row to test
        // it: a search reads what matches, or scans the table in order, and sorts.)
        let (matching, order) = match (search, &miro) {
            (None, _) => ("", "h.id"),
            (Some(_), Some(_)) => ("AND h.item IN ($3, $4, $5)", "+h.id"),
            (Some(_), None) => ("AND (h.item = $3 OR LOWER(h.title) LIKE $6)", "+h.id"),
        };
        let pattern = search.map(|s| format!("%{}%", s.to_lowercase()));
        let rows = sqlx::query(&format!(
            "{HISTORY}
             WHERE h.pair = $1 AND ($2 IS NULL OR h.id < $2) {matching}
             ORDER BY {order} DESC LIMIT $7"
        ))
        .bind(pair)
        .bind(before)
        .bind(search)
        .bind(miro)
        .bind(monday)
        .bind(pattern)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(history_row).collect()
    }

    /// History rows of every pair newer than `after` (an id), oldest first, at most `limit`.
    pub async fn history_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<HistoryRow>, StoreError> {
        let rows = sqlx::query(&format!("{HISTORY} WHERE h.id > $1 ORDER BY h.id LIMIT $2"))
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(history_row).collect()
    }

    /// The id of the newest history row, 0 when there is none.
    pub async fn last_history_id(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query("SELECT COALESCE(MAX(id), 0) AS id FROM history")
                .fetch_one(&self.pool)
                .await?
                .try_get("id")?,
        )
    }

    /// Makes one dead row pending again, due `now`, with its attempts reset; `false` when the row
    /// is not dead (retried or discarded already, or no such row).
    pub async fn retry_dead(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE outbox SET status = 'pending', attempts = 0, due_at = $2, finished_at = NULL
             WHERE id = $1 AND status = 'dead'",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// Gives up on one dead row: it is kept, as discarded, until `[sync] retention` prunes it;
    /// `false` when the row is not dead.
    pub async fn discard_dead(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE outbox SET status = 'discarded', finished_at = $2 WHERE id = $1 AND status = 'dead'",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// When the oldest change of `pair` still waiting was received: an inbox entry not yet
    /// processed or a write not yet made. `None` when nothing waits.
    pub async fn oldest_waiting(&self, pair: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(t) AS t FROM (
               SELECT MIN(received_at) AS t FROM inbox WHERE pair = $1 AND status = 'pending'
               UNION ALL
               SELECT MIN(created_at) AS t FROM outbox WHERE pair = $1 AND status IN ('pending', 'in_flight')
             ) waiting",
        )
        .bind(pair)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("t")?)
    }

    /// Inbox entries of `pair` the receivers stored with `outcome` (`stale`, `ignored`) and that
    /// retention has not pruned yet.
    pub(crate) async fn count_received(
        &self,
        pair: &str,
        outcome: &str,
    ) -> Result<i64, StoreError> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM inbox WHERE pair = $1 AND outcome = $2")
                .bind(pair)
                .bind(outcome)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }

    /// The latest conflicts of every pair, newest first.
    pub(crate) async fn all_conflicts(
        &self,
        limit: i64,
    ) -> Result<Vec<super::sync::ConflictRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, pair, item, field, winner, won, lost FROM conflicts
             ORDER BY at DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(super::sync::conflict_record).collect()
    }
}

fn history_row(r: &sqlx::any::AnyRow) -> Result<HistoryRow, StoreError> {
    Ok(HistoryRow {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        pair: r.try_get("pair")?,
        origin: r.try_get("origin")?,
        item: r.try_get("item")?,
        title: r.try_get("title")?,
        outcome: r.try_get("outcome")?,
        detail: r.try_get("detail")?,
        miro_item: known_id::<MiroItemId>(r.try_get("miro_item_id")?)?,
        monday_item: known_id::<MondayItemId>(r.try_get("monday_item_id")?)?,
    })
}

/// A linked id read beside a history row, when the item exists (not while it is being created).
fn known_id<T: From<String> + AsRef<str>>(
    stored: Option<String>,
) -> Result<Option<String>, StoreError> {
    Ok(stored
        .map(parse_stored::<T>)
        .transpose()?
        .and_then(|id| id.into_known())
        .map(|id| id.as_ref().to_owned()))
}
