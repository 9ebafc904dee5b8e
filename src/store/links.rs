//! Links: which Miro item goes with which monday item in a pair, and the last value synced for
//! each field with its source timestamp. Echo suppression and conflict handling read these.

use super::db::{Store, StoreError};
use crate::domain::{Linked, MiroItemId, MondayItemId, Side, Target};
use sqlx::Row;

/// Whether a link is live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Active,
    /// Too many writes in a short time: no more writes until released.
    Quarantined,
    /// The item on one side is gone.
    Orphaned,
}

impl LinkState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LinkState::Active => "active",
            LinkState::Quarantined => "quarantined",
            LinkState::Orphaned => "orphaned",
        }
    }

    fn parse(s: &str) -> Result<LinkState, StoreError> {
        match s {
            "active" => Ok(LinkState::Active),
            "quarantined" => Ok(LinkState::Quarantined),
            "orphaned" => Ok(LinkState::Orphaned),
            other => Err(StoreError::Corrupt(format!("unknown link state `{other}`"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ItemLink {
    /// 0 until stored.
    pub id: i64,
    pub pair: String,
    pub miro_item_id: Linked<MiroItemId>,
    pub monday_item_id: Linked<MondayItemId>,
    pub miro_type: String,
    pub state: LinkState,
    /// Field name → last synced value, source timestamp and fingerprint, as JSON.
    pub fields: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ItemLink {
    /// Where a write to the link's item on `side` goes: that item, once it exists.
    pub(crate) fn target(&self, side: Side) -> Target {
        match side {
            Side::Miro => Target::Miro(self.miro_item_id.known().cloned()),
            Side::Monday => Target::Monday(self.monday_item_id.known().cloned()),
        }
    }
}

const COLUMNS: &str =
    "id, pair, miro_item_id, monday_item_id, miro_type, state, fields, created_at, updated_at";

impl Store {
    /// Stores a new link or updates the one with the same Miro item; returns its id.
    pub async fn upsert_link(&self, link: &ItemLink) -> Result<i64, StoreError> {
        let id = sqlx::query(
            "INSERT INTO links (pair, miro_item_id, monday_item_id, miro_type, state, fields, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (pair, miro_item_id) DO UPDATE SET
               monday_item_id = excluded.monday_item_id, miro_type = excluded.miro_type,
               state = excluded.state, fields = excluded.fields, updated_at = excluded.updated_at
             RETURNING id",
        )
        .bind(&link.pair)
        .bind(stored(&link.miro_item_id))
        .bind(stored(&link.monday_item_id))
        .bind(&link.miro_type)
        .bind(link.state.as_str())
        .bind(link.fields.to_string())
        .bind(link.created_at)
        .bind(link.updated_at)
        .fetch_one(&self.pool)
        .await?
        .try_get("id")?;
        Ok(id)
    }

    pub async fn link_by_miro(
        &self,
        pair: &str,
        miro_item_id: &MiroItemId,
    ) -> Result<Option<ItemLink>, StoreError> {
        self.link_where("miro_item_id", pair, miro_item_id.as_str())
            .await
    }

    pub async fn link_by_monday(
        &self,
        pair: &str,
        monday_item_id: &MondayItemId,
    ) -> Result<Option<ItemLink>, StoreError> {
        self.link_where("monday_item_id", pair, monday_item_id.as_str())
            .await
    }

    /// The monday twin of a Miro item in the pair, once it has been created.
    pub(crate) async fn monday_twin(
        &self,
        pair: &str,
        miro_item_id: &MiroItemId,
    ) -> Result<Option<MondayItemId>, StoreError> {
        Ok(self
            .link_by_miro(pair, miro_item_id)
            .await?
            .and_then(|l| l.monday_item_id.into_known()))
    }

    /// The Miro twin of a monday item in the pair, once it has been created.
    pub(crate) async fn miro_twin(
        &self,
        pair: &str,
        monday_item_id: &MondayItemId,
    ) -> Result<Option<MiroItemId>, StoreError> {
        Ok(self
            .link_by_monday(pair, monday_item_id)
            .await?
            .and_then(|l| l.miro_item_id.into_known()))
    }

    async fn link_where(
        &self,
        column: &'static str,
        pair: &str,
        item_id: &str,
    ) -> Result<Option<ItemLink>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM links WHERE pair = $1 AND {column} = $2"
        ))
        .bind(pair)
        .bind(item_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(item_link).transpose()
    }

    /// The number of links in a pair, by state.
    /// The links of `pair` in `state`, most recently changed first.
    pub(crate) async fn links_in_state(
        &self,
        pair: &str,
        state: LinkState,
        limit: i64,
    ) -> Result<Vec<ItemLink>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM links WHERE pair = $1 AND state = $2 ORDER BY updated_at DESC LIMIT $3"
        ))
        .bind(pair)
        .bind(state.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(item_link).collect()
    }

    pub async fn link_by_id(&self, id: i64) -> Result<Option<ItemLink>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM links WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(item_link).transpose()
    }

    /// Sets a link's state (a link whose other item is gone becomes `orphaned`), leaving its
    /// field state, which only the processor writes, alone.
    pub(crate) async fn set_link_state(
        &self,
        id: i64,
        state: LinkState,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE links SET state = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(state.as_str())
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn count_links(&self, pair: &str, state: LinkState) -> Result<i64, StoreError> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM links WHERE pair = $1 AND state = $2")
                .bind(pair)
                .bind(state.as_str())
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }
}

fn item_link(row: &sqlx::any::AnyRow) -> Result<ItemLink, StoreError> {
    let fields: String = row.try_get("fields")?;
    Ok(ItemLink {
        id: row.try_get("id")?,
        pair: row.try_get("pair")?,
        miro_item_id: parse_stored(row.try_get("miro_item_id")?)?,
        monday_item_id: parse_stored(row.try_get("monday_item_id")?)?,
        miro_type: row.try_get("miro_type")?,
        state: LinkState::parse(&row.try_get::<String, _>("state")?)?,
        fields: serde_json::from_str(&fields)
            .map_err(|e| StoreError::Corrupt(format!("link fields: {e}")))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}
/// The prefix of a link's other-side id, as stored, while the create that makes it is in flight:
/// `pending:N` for [`Linked::Pending`]`(N)`.
const PENDING_ID: &str = "pending:";

/// A linked id as the links table stores it (and `/api/*` shows it): the id, or `pending:N`.
pub(crate) fn stored<T: AsRef<str>>(id: &Linked<T>) -> String {
    match id {
        Linked::Known(id) => id.as_ref().to_owned(),
        Linked::Pending(n) => format!("{PENDING_ID}{n}"),
    }
}

/// A linked id from its stored form.
pub(super) fn parse_stored<T: From<String>>(text: String) -> Result<Linked<T>, StoreError> {
    match text.strip_prefix(PENDING_ID) {
        None => Ok(Linked::Known(T::from(text))),
        Some(n) => n.parse().map(Linked::Pending).map_err(|_| {
            StoreError::Corrupt(format!(
                "a link's id `{text}` is neither an id nor pending:N"
            ))
        }),
    }
}

/// The SQL condition on `column` (a links id column) that holds while the id is pending.
pub(super) fn is_pending_sql(column: &str) -> String {
    format!("substr({column}, 1, {}) = '{PENDING_ID}'", PENDING_ID.len())
}

/// Serialised in the stored form, so the JSON of `/api/*` shows what the links table holds.
impl<T: AsRef<str>> serde::Serialize for Linked<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&stored(self))
    }
}

/// The column of the links table holding `side`'s item id.
pub(super) fn id_column(side: Side) -> &'static str {
    match side {
        Side::Miro => "miro_item_id",
        Side::Monday => "monday_item_id",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_id_is_stored_as_pending_n_and_read_back() {
        let pending: Linked<MiroItemId> = Linked::Pending(42);
        assert_eq!(stored(&pending), "pending:42");
        assert_eq!(
            parse_stored::<MiroItemId>("pending:42".into()).unwrap(),
            pending
        );
        let known = Linked::Known(MondayItemId::from("9988"));
        assert_eq!(stored(&known), "9988");
        assert_eq!(parse_stored::<MondayItemId>("9988".into()).unwrap(), known);
        assert!(matches!(
            parse_stored::<MiroItemId>("pending:x".into()),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(serde_json::to_value(&pending).unwrap(), "pending:42");
    }
}
