//! The dispatcher's pure part: outbox rows grouped by item and folded into one write each (a
//! burst of edits to one sticky note becomes one update), queued values the link has moved past
//! dropped, the backoff of a failed write, and the idempotency key of a row.

use crate::clients::ApiError;
use crate::config::PairConfig;
use crate::domain::Side;
use crate::domain::miro::ItemType;
use crate::mapping::plan::{LinkFields, Write};
use crate::metrics::Metrics;
use crate::runtime::WriteError;
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
    let mut groups: BTreeMap<(Side, String), Vec<OutboxEntry>> = BTreeMap::new();
    for row in rows {
        let key = match (row.link_id, row.target.item()) {
            (Some(link), _) => format!("link:{link}"),
            (None, Some(item)) => format!("item:{item}"),
            (None, None) => format!("row:{}", row.id),
        };
        groups
            .entry((row.target.side(), key))
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
pub(crate) fn backoff(attempts: i64) -> i64 {
    let exp = BASE_BACKOFF_MS.saturating_mul(1 << attempts.clamp(1, 20).saturating_sub(1));
    let ceiling = exp.min(MAX_BACKOFF_MS);
    rand::thread_rng().gen_range(ceiling / 2..=ceiling)
}

/// What becomes of an outbox row after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Settlement {
    Done,
    /// Tried again at this time (Unix ms).
    RetryAt(i64),
    /// Kept as a dead letter: the failure is permanent, or the row has had all its attempts.
    Dead,
}

/// The settlement of a row that has had `attempts` tries (this one included) out of
/// `max_attempts`, after `result`: a rate limit is retried when the API says, another retryable
/// failure after [`backoff`], anything else is dead at once.
/// A store failure midway is retried after [`backoff`] too.
pub(super) fn settlement(
    result: &Result<(), WriteError>,
    attempts: i64,
    max_attempts: i64,
    now: i64,
) -> Settlement {
    let Err(e) = result else {
        return Settlement::Done;
    };
    if attempts >= max_attempts {
        return Settlement::Dead;
    }
    match e {
        WriteError::Api(ApiError::RateLimited { retry_at, .. }) => {
            Settlement::RetryAt((*retry_at).max(now))
        }
        WriteError::Api(e) if e.is_retryable() => Settlement::RetryAt(now + backoff(attempts)),
        WriteError::Store(_) => Settlement::RetryAt(now + backoff(attempts)),
        WriteError::Api(_) | WriteError::Unwritable(_) => Settlement::Dead,
    }
}

/// Counts a write's outcome by who failed: the API's answers in `boardsync_api_calls_total`, the
/// store's in `boardsync_store_errors_total`; a write refused before any call is neither.
pub(super) fn count(metrics: &Metrics, target: Side, result: &Result<(), WriteError>) {
    match result {
        Ok(()) => metrics.api_call(target.as_str(), "ok"),
        Err(WriteError::Api(e)) => metrics.api_call(target.as_str(), e.kind()),
        Err(WriteError::Store(_)) => metrics.store_error("dispatcher"),
        Err(WriteError::Unwritable(_)) => {}
    }
}

/// The key monday replays a create's answer for: the same for every attempt of the same row.
pub(super) fn idempotency_key(row: &OutboxEntry) -> String {
    let digest = Sha256::digest(format!("{}\n{}", row.idempotency_key, row.payload).as_bytes());
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Linked, Target};
    use crate::mapping::plan::tests::pair_with;
    use crate::store::{LinkState, StoreError};
    use serde_json::json;

    /// An outbox row `id` for `target`, about `link` (or, without one, `item`), carrying `write`.
    fn row(
        id: i64,
        target: &str,
        link: Option<i64>,
        item: Option<&str>,
        write: &Write,
    ) -> OutboxEntry {
        OutboxEntry {
            id,
            pair: "p".into(),
            target: Target::new(target.parse().unwrap(), item.map(Into::into)),
            link_id: link,
            operation: "update".into(),
            payload: serde_json::to_string(write).unwrap(),
            idempotency_key: format!("inbox:{id}:0"),
            status: crate::store::OutboxStatus::Pending,
            attempts: 1,
            due_at: 0,
            last_error: None,
            created_at: 0,
            finished_at: None,
        }
    }

    fn monday(values: &[(&str, &str)]) -> Write {
        Write::UpdateMonday {
            values: values
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        }
    }

    #[test]
    fn rows_are_grouped_by_target_and_item_in_the_order_they_were_queued() {
        let w = monday(&[("name", "x")]);
        let rows = vec![
            row(5, "monday", Some(1), None, &w),
            row(2, "miro", Some(1), None, &w),
            row(3, "monday", Some(1), None, &w),
            row(4, "monday", None, Some("200"), &w),
            row(6, "monday", None, Some("200"), &w),
            row(1, "monday", None, None, &w),
            row(7, "monday", None, None, &w),
        ];
        let ids: Vec<Vec<i64>> = group_by_item(rows)
            .iter()
            .map(|g| g.iter().map(|r| r.id).collect())
            .collect();
        // One group per (side, link or item); a row with neither is alone. Groups go in the order
        // of their first row, and rows within a group in the order they were queued.
        assert_eq!(ids, vec![vec![1], vec![2], vec![3, 5], vec![4, 6], vec![7]]);
    }

    #[test]
    fn a_burst_of_updates_folds_into_one_write_with_the_last_value_of_each_field() {
        let rows = vec![
            row(
                1,
                "monday",
                Some(1),
                None,
                &monday(&[("name", "A"), ("status", "Stuck")]),
            ),
            row(2, "monday", Some(1), None, &monday(&[("name", "B")])),
            row(
                3,
                "monday",
                Some(1),
                None,
                &Write::CommentMonday {
                    body: "<p>hi</p>".into(),
                },
            ),
            row(4, "monday", Some(1), None, &monday(&[("name", "C")])),
        ];
        let folded = fold(&rows).unwrap();
        assert_eq!(
            folded.monday_values,
            [
                ("name".to_owned(), "C".to_owned()),
                ("status".to_owned(), "Stuck".to_owned())
            ]
            .into()
        );
        assert!(folded.create.is_none() && folded.finish.is_none());
        // The comment keeps the index of its row, whose key makes its post idempotent.
        assert_eq!(folded.comments.len(), 1);
        assert_eq!(folded.comments[0].0, 2);
    }

    #[test]
    fn the_first_create_is_kept_and_a_delete_comes_last() {
        let create = |name: &str| Write::CreateMonday {
            name: name.into(),
            group: None,
            values: BTreeMap::new(),
        };
        let rows = vec![
            row(1, "monday", Some(1), None, &create("first")),
            row(2, "monday", Some(1), None, &create("second")),
            row(3, "monday", Some(1), None, &Write::ArchiveMonday),
            row(4, "monday", Some(1), None, &Write::DeleteMonday),
        ];
        let folded = fold(&rows).unwrap();
        assert!(
            matches!(&folded.create, Some(Write::CreateMonday { name, .. }) if name == "first")
        );
        assert!(matches!(folded.finish, Some(Write::DeleteMonday)));
        assert!(!folded.is_empty());
        assert!(Folded::default().is_empty());
    }

    #[test]
    fn a_row_whose_payload_does_not_parse_fails_the_fold_naming_the_row() {
        let mut bad = row(9, "miro", Some(1), None, &Write::DeleteMiro);
        bad.payload = "{\"NoSuchWrite\":{}}".into();
        let Err(err) = fold(&[bad]) else {
            panic!("a payload of no known write is refused");
        };
        assert!(err.starts_with("outbox row 9 does not parse"), "{err}");
    }

    #[test]
    fn backoff_doubles_from_a_second_up_to_five_minutes_with_jitter_below() {
        for attempts in 1..=30 {
            let ceiling = (BASE_BACKOFF_MS << (attempts.min(20) - 1)).min(MAX_BACKOFF_MS);
            for _ in 0..50 {
                let wait = backoff(attempts);
                assert!(
                    (ceiling / 2..=ceiling).contains(&wait),
                    "{attempts}: {wait}"
                );
            }
        }
        assert_eq!(MAX_BACKOFF_MS, 300_000);
        // Attempts at or below zero wait as the first does.
        assert!(backoff(0) <= BASE_BACKOFF_MS && backoff(-3) <= BASE_BACKOFF_MS);
    }

    #[test]
    fn a_retryable_failure_is_retried_until_the_last_attempt_and_a_permanent_one_is_dead_at_once() {
        let now = 1_000_000;
        let transient: Result<(), WriteError> = Err(ApiError::Transient("503".into()).into());
        assert_eq!(settlement(&Ok(()), 1, 5, now), Settlement::Done);
        match settlement(&transient, 1, 5, now) {
            Settlement::RetryAt(due) => assert!((now + 500..=now + 1_000).contains(&due), "{due}"),
            other => panic!("a first transient failure is retried, not {other:?}"),
        }
        assert!(matches!(
            settlement(&transient, 4, 5, now),
            Settlement::RetryAt(_)
        ));
        assert_eq!(settlement(&transient, 5, 5, now), Settlement::Dead);
        let rejected: Result<(), WriteError> = Err(ApiError::Rejected("bad column".into()).into());
        assert_eq!(settlement(&rejected, 1, 5, now), Settlement::Dead);
        let not_found: Result<(), WriteError> = Err(ApiError::NotFound("item".into()).into());
        assert_eq!(settlement(&not_found, 1, 5, now), Settlement::Dead);
        let unwritable: Result<(), WriteError> = Err(WriteError::Unwritable("no pair".into()));
        assert_eq!(settlement(&unwritable, 1, 5, now), Settlement::Dead);
    }

    #[test]
    fn a_store_failure_midway_is_retried_with_backoff_until_the_last_attempt() {
        let now = 1_000_000;
        let failure = WriteError::from(StoreError::Corrupt("the disk said no".into()));
        // Told apart from the API's failures: it is not one.
        assert!(matches!(failure, WriteError::Store(_)));
        assert!(failure.to_string().starts_with("the store: "), "{failure}");
        let store: Result<(), WriteError> = Err(failure);
        match settlement(&store, 1, 5, now) {
            Settlement::RetryAt(due) => assert!((now + 500..=now + 1_000).contains(&due), "{due}"),
            other => panic!("a store failure is retried, not {other:?}"),
        }
        assert_eq!(settlement(&store, 5, 5, now), Settlement::Dead);
    }

    #[test]
    fn a_store_failure_is_counted_as_the_stores_and_never_as_an_api_call() {
        let metrics = Metrics::default();
        let calls = |outcome: &str| {
            metrics
                .api_calls
                .with_label_values(&["monday", outcome])
                .get()
        };
        let store = || {
            metrics
                .store_errors
                .with_label_values(&["dispatcher"])
                .get()
        };
        count(&metrics, Side::Monday, &Ok(()));
        count(
            &metrics,
            Side::Monday,
            &Err(ApiError::Transient("503".into()).into()),
        );
        count(
            &metrics,
            Side::Monday,
            &Err(StoreError::Corrupt("gone".into()).into()),
        );
        count(
            &metrics,
            Side::Monday,
            &Err(WriteError::Unwritable("no pair".into())),
        );
        assert_eq!((calls("ok"), calls("transient"), store()), (1, 1, 1));
        let all_calls: u64 = ["ok", "transient", "rate_limited", "not_found", "rejected"]
            .iter()
            .map(|o| calls(o))
            .sum();
        assert_eq!(
            all_calls, 2,
            "neither the store's failure nor the refusal is a call"
        );
    }

    #[test]
    fn a_rate_limited_write_is_retried_when_the_api_says_never_in_the_past() {
        let now = 1_000_000;
        let limited = |retry_at| -> Result<(), WriteError> {
            Err(ApiError::RateLimited {
                retry_at,
                reason: "429".into(),
            }
            .into())
        };
        assert_eq!(
            settlement(&limited(now + 42_000), 1, 5, now),
            Settlement::RetryAt(now + 42_000)
        );
        assert_eq!(
            settlement(&limited(now - 5), 1, 5, now),
            Settlement::RetryAt(now)
        );
        assert_eq!(
            settlement(&limited(now + 42_000), 5, 5, now),
            Settlement::Dead
        );
    }

    #[test]
    fn the_idempotency_key_is_stable_per_row_and_differs_between_rows() {
        let a = row(1, "monday", Some(1), None, &monday(&[("name", "A")]));
        let mut again = a.clone();
        again.attempts = 3;
        assert_eq!(idempotency_key(&a), idempotency_key(&again));
        assert_eq!(idempotency_key(&a).len(), 32);
        let mut other = a.clone();
        other.idempotency_key = "inbox:1:1".into();
        assert_ne!(idempotency_key(&a), idempotency_key(&other));
        let b = row(1, "monday", Some(1), None, &monday(&[("name", "B")]));
        assert_ne!(idempotency_key(&a), idempotency_key(&b));
    }

    fn link_holding(title: &str) -> ItemLink {
        ItemLink {
            id: 1,
            pair: "p".into(),
            miro_item_id: Linked::Known("3458764500000000001".into()),
            monday_item_id: Linked::Known("200".into()),
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
