//! The dispatcher's pure part: outbox rows grouped by item and folded into one write each (a
//! burst of edits to one sticky note becomes one update), queued values the link has moved past
//! dropped, the backoff of a failed write, and the idempotency key of a row.

use crate::config::PairConfig;
use crate::domain::miro::ItemType;
use crate::mapping::plan::{LinkFields, Write};
use crate::store::{ItemLink, OutboxEntry};
use rand::Rng;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The first retry waits about this long; each further attempt doubles it, up to [`MAX_BACKOFF_MS`].
const BASE_BACKOFF_MS: i64 = 1_000;

const MAX_BACKOFF_MS: i64 = 300_000;

/// How long monday replays a mutation's answer for its Idempotency-Key (30 minutes), less a
/// margin: a create retried later than this is looked up before it is made again.
pub(super) const IDEMPOTENCY_WINDOW_MS: i64 = 25 * 60_000;

/// Rows for the same target item (by link, or by item id), each group in row order.
pub(super) fn group_by_item(rows: Vec<OutboxEntry>) -> Vec<Vec<OutboxEntry>> {
    let mut groups: BTreeMap<(String, String), Vec<OutboxEntry>> = BTreeMap::new();
    for row in rows {
        let key = match (row.link_id, &row.target_item) {
            (Some(link), _) => format!("link:{link}"),
            (None, Some(item)) => format!("item:{item}"),
            (None, None) => format!("row:{}", row.id),
        };
        groups
            .entry((row.target.clone(), key))
            .or_default()
            .push(row);
    }
    let mut out: Vec<Vec<OutboxEntry>> = groups.into_values().collect();
    for g in &mut out {
        g.sort_by_key(|r| r.id);
    }
    out.sort_by_key(|g| g[0].id);
    out
}

/// The calls one group of rows folds into.
#[derive(Debug, Default)]
pub(super) struct Folded {
    pub(super) create: Option<Write>,
    /// monday: column id → logical value; Miro: path → value.
    pub(super) monday_values: BTreeMap<String, String>,
    pub(super) miro_fields: BTreeMap<String, Value>,
    /// Delete, archive or tag: the last of them, after the updates.
    pub(super) finish: Option<Write>,
    /// Comments to post, each once, with the index of its row (whose key makes it idempotent).
    pub(super) comments: Vec<(usize, Write)>,
}

impl Folded {
    pub(super) fn is_empty(&self) -> bool {
        self.create.is_none()
            && self.monday_values.is_empty()
            && self.miro_fields.is_empty()
            && self.finish.is_none()
            && self.comments.is_empty()
    }

    /// Drops the updates of fields whose value the link has moved past since they were queued:
    /// a newer edit from either side, or a conflict settled the other way, changed what both
    /// sides should hold, and a row carrying that newer value is queued too where one is needed.
    /// Sending the older value anyway could land it after the newer one, and both boards would
    /// end on it. Returns how many were dropped.
    pub(super) fn drop_superseded(&mut self, pair: &PairConfig, link: &ItemLink) -> usize {
        let Ok(state) = serde_json::from_value::<LinkFields>(link.fields.clone()) else {
            return 0;
        };
        let miro_type = ItemType::parse(&link.miro_type).unwrap_or(pair.miro_new_item);
        let before = self.monday_values.len() + self.miro_fields.len();
        for field in &pair.fields {
            let Some(now) = state
                .fields
                .get(&field.name)
                .and_then(|s| s.value.as_deref())
            else {
                continue;
            };
            if self
                .monday_values
                .get(&field.monday)
                .is_some_and(|queued| queued != now)
            {
                self.monday_values.remove(&field.monday);
            }
            if let Some(path) = field.miro.path_for(miro_type)
                && let Some(queued) = self.miro_fields.get(path)
                && crate::mapping::values::to_miro(field, path, now).as_ref() != Some(queued)
            {
                self.miro_fields.remove(path);
            }
        }
        before - self.monday_values.len() - self.miro_fields.len()
    }
}

pub(super) fn fold(rows: &[OutboxEntry]) -> Result<Folded, String> {
    let mut f = Folded::default();
    for (i, row) in rows.iter().enumerate() {
        let write: Write = serde_json::from_str(&row.payload)
            .map_err(|e| format!("outbox row {} does not parse: {e}", row.id))?;
        match write {
            Write::CreateMonday { .. } | Write::CreateMiro { .. } if f.create.is_none() => {
                f.create = Some(write)
            }
            Write::CreateMonday { .. } | Write::CreateMiro { .. } => {}
            Write::UpdateMonday { values } => f.monday_values.extend(values),
            Write::UpdateMiro { fields } => f.miro_fields.extend(fields),
            Write::ArchiveMonday
            | Write::DeleteMonday
            | Write::DeleteMiro
            | Write::TagMiro { .. } => f.finish = Some(write),
            Write::CommentMonday { .. } | Write::CommentMiro { .. } => f.comments.push((i, write)),
        }
    }
    Ok(f)
}

/// Exponential backoff with jitter: attempt 1 waits 0.5–1 s, attempt 2 1–2 s, ... up to 5 min.
pub fn backoff(attempts: i64) -> i64 {
    let exp = BASE_BACKOFF_MS.saturating_mul(1 << attempts.clamp(1, 20).saturating_sub(1));
    let ceiling = exp.min(MAX_BACKOFF_MS);
    rand::thread_rng().gen_range(ceiling / 2..=ceiling)
}

/// The key monday replays a create's answer for: the same for every attempt of the same row.
pub(super) fn idempotency_key(row: &OutboxEntry) -> String {
    let digest = Sha256::digest(format!("{}\n{}", row.idempotency_key, row.payload).as_bytes());
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::plan::tests::pair_with;
    use crate::store::LinkState;
    use serde_json::json;

    fn link_holding(title: &str) -> ItemLink {
        ItemLink {
            id: 1,
            pair: "p".into(),
            miro_item_id: "3458764500000000001".into(),
            monday_item_id: "200".into(),
            miro_type: "sticky_note".into(),
            state: LinkState::Active,
            fields: json!({"fields": {"title": {"value": title}}}),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_queued_value_the_link_has_moved_past_is_not_sent() {
        let pair = pair_with(
            "",
            r#"title = { miro = "data.content", monday = "name" }
  status = { miro = "style.fillColor", monday = "status", values = { red = "Stuck" } }"#,
        );
        let mut folded = Folded::default();
        folded.monday_values.insert("name".into(), "Older".into());
        folded.monday_values.insert("status".into(), "Stuck".into());
        folded
            .miro_fields
            .insert("data.content".into(), json!("<p>Older</p>"));
        assert_eq!(folded.drop_superseded(&pair, &link_holding("Newer")), 2);
        // The status has no value recorded on the link: it goes as queued.
        assert_eq!(
            folded.monday_values,
            [("status".to_owned(), "Stuck".to_owned())].into()
        );
        assert!(folded.miro_fields.is_empty());
        assert!(!folded.is_empty());

        // The value the link holds goes out, in its Miro form too.
        let mut current = Folded::default();
        current.monday_values.insert("name".into(), "Newer".into());
        current.miro_fields.insert(
            "data.content".into(),
            json!(crate::mapping::values::text_to_html("Newer")),
        );
        assert_eq!(current.drop_superseded(&pair, &link_holding("Newer")), 0);
        assert_eq!(current.monday_values.len() + current.miro_fields.len(), 2);
    }
}
