//! The monday reconciler. monday gives up on a webhook delivery after 30 minutes of failed
//! retries, so a change whose delivery failed that long, or that happened while the daemon was
//! down for longer, never reaches boardsync by webhook. The reconciler repairs that: each pair's
//! monday board is read whole (`items_page`) at start and every `[poller] reconcile_interval`,
//! and compared with what the links hold:
//!
//! - a linked item whose mapped field differs from the value its link last synced becomes an
//!   `Updated` change carrying the fields that differ, stamped with the item's `updated_at`;
//! - an unlinked item created after the previous completed round, by someone other than
//!   boardsync, becomes a `Created` change.
//!
//! Start-up wakes a pair's reconciler for a round as soon as it has made webhooks for the pair's
//! board: with hundreds of boards, making them all takes minutes within monday's limits, and an
//! item created on a board before its webhooks existed would otherwise wait an hour.
//!
//! The changes go into the inbox like any other, and the planner decides. What a webhook already
//! delivered is never applied twice: its value equals the link's, so nothing is emitted, or, when
//! the webhook's change is still waiting in the inbox, the planner finds one of the two stale (a
//! source time not newer than the field's last monday change). The round's time is recorded only
//! after its changes are stored, and their dedupe keys (`reconcile:board:item:updated_at`) make a
//! repeated round harmless, so a round cut off anywhere is simply done again.
//!
//! It never writes to either API, and never deletes: a linked item missing from the listing is
//! left alone (monday's delete and archive webhooks, and the Miro side's delete flow, end links).

use crate::clients::ApiError;
use crate::clients::monday::BoardItem;
use crate::config::PairConfig;
use crate::domain::Side;
use crate::domain::change::{Change, ChangeKind, ItemRef, Via, micros, millis};
use crate::domain::miro::ItemType;
use crate::mapping::plan::{LinkFields, logical_value};
use crate::runtime::Engine;
use crate::runtime::Lease;
use crate::store::keys;
use crate::store::{ItemLink, LinkState, NewInboxEntry, OutboxStatus, StoreError};
use crate::supervisor::WorkerStatus;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How soon a round that failed is tried again (never later than `reconcile_interval`, and not
/// before a rate limit's reset).
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(300);

/// What one round found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    /// The pair's first round: its time was recorded and nothing was read. Items already on the
    /// board then are left alone (`sync_existing` has the backfill link them).
    pub first: bool,
    /// Items of the pair's groups read.
    pub items: usize,
    /// Changes queued, `Created` ones included.
    pub changes: usize,
    /// Of those, items no webhook brought that are to be created on Miro.
    pub created: usize,
    /// Linked items that differ from their link while boardsync's own writes to them are still
    /// going out (or dead), or that changed during the round: left for the next round.
    pub deferred: usize,
}

/// Reconciles one pair until `shutdown` (the supervisor runs one such task per pair): a round at
/// start (a daemon that was down catches up), then one every `reconcile_interval`, each under the
/// pair's lease so that one replica reconciles a pair at a time; `status` hears whether this
/// replica holds it.
pub(crate) async fn run_pair(
    engine: Engine,
    pair: PairConfig,
    shutdown: CancellationToken,
    status: WorkerStatus,
) {
    let holder = status.holder();
    let interval = engine.config.poller.reconcile_interval.0;
    let mut lease = Lease::new(
        keys::reconcile_cursor(&pair.slug),
        holder,
        engine.config.poller.lease.0,
    )
    .reporting(&status);
    loop {
        if !lease.acquire(&engine, &shutdown).await {
            break;
        }
        // Stopping cuts a round off; the next start does it again.
        let work = reconcile_pair(&engine, &pair);
        let round = tokio::select! {
            _ = shutdown.cancelled() => break,
            held = super::schedule::while_held(&mut lease, &engine, work) => held,
        };
        let Some(result) = round else {
            tracing::info!(pair = %pair.name, "another replica took over this pair's reconciling");
            continue;
        };
        let (outcome, wait) = match result {
            Ok(report) => {
                if report.changes > 0 {
                    tracing::info!(pair = %pair.name, ?report, "found changes no webhook brought");
                } else {
                    tracing::debug!(pair = %pair.name, ?report, "reconciled the monday board");
                }
                ("ok", interval)
            }
            Err(e) => {
                tracing::warn!(pair = %pair.name, error = %e, "monday reconcile failed; will try again");
                ("error", retry_wait(&e, interval, engine.clock.now_ms()))
            }
        };
        engine
            .metrics
            .polls
            .with_label_values(&[&pair.name, "monday_reconcile", outcome])
            .inc();
        // Until the interval, or until start-up has made webhooks for this board: an item made
        // before they were there reached no webhook, and waits for this round, not the next hour.
        let woken = engine.reconcile_wake(&pair.slug).unwrap_or_default();
        let pause = async {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = woken.notified() => {}
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            held = super::schedule::while_held(&mut lease, &engine, pause) => if held.is_none() { continue },
        }
    }
    lease.release(&engine).await;
}

/// The wait before a failed round is tried again: a few minutes, or until a rate limit resets,
/// and never longer than the interval.
fn retry_wait(e: &anyhow::Error, interval: Duration, now: i64) -> Duration {
    let limited = match e.downcast_ref::<ApiError>() {
        Some(ApiError::RateLimited { retry_at, .. }) => {
            Duration::from_millis(u64::try_from(retry_at - now).unwrap_or(0))
        }
        _ => Duration::ZERO,
    };
    RETRY_AFTER_ERROR.max(limited).min(interval)
}

/// One round for one pair: reads its monday board and queues the changes webhooks missed.
pub async fn reconcile_pair(engine: &Engine, pair: &PairConfig) -> anyhow::Result<ReconcileReport> {
    let key = keys::reconcile_cursor(&pair.slug);
    let started = engine.clock.now_ms();
    let previous = engine
        .store
        .cursor(&key)
        .await?
        .and_then(|v| v.parse::<i64>().ok());
    let Some(previous) = previous else {
        // Which items are new is told by the time of the previous round; there is none yet.
        engine
            .store
            .record_cursor(&key, &started.to_string(), started)
            .await?;
        return Ok(ReconcileReport {
            first: true,
            ..ReconcileReport::default()
        });
    };
    let own = own_monday_user(engine).await?;
    let mut report = ReconcileReport::default();
    let mut entries = Vec::new();
    for item in engine.monday.board_items(&pair.monday_board).await? {
        let groups = &pair.monday_filter.groups;
        if !groups.is_empty() && !item.group.as_ref().is_some_and(|g| groups.contains(g)) {
            continue;
        }
        report.items += 1;
        let entry = match engine
            .store
            .link_by_monday(&pair.slug, &item.id.as_str().into())
            .await?
        {
            Some(link) => repair(engine, pair, &link, &item, started, &mut report).await?,
            None => created(pair, &item, previous, &own, engine.clock.now_ms())
                .inspect(|_| report.created += 1),
        };
        entries.extend(entry);
    }
    report.changes = entries.len();
    let now = engine.clock.now_ms();
    engine.enqueue_polled(&entries, now).await?;
    engine
        .store
        .record_cursor(&key, &started.to_string(), now)
        .await?;
    Ok(report)
}

/// boardsync's own monday user: its items are twins it made, never new items to create back.
async fn own_monday_user(engine: &Engine) -> anyhow::Result<String> {
    if let Some(id) = engine.own_user(Side::Monday).await {
        return Ok(id);
    }
    engine.learn_own_users().await?;
    engine
        .own_user(Side::Monday)
        .await
        .ok_or_else(|| anyhow::anyhow!("monday did not say which user boardsync is"))
}

/// The change that brings a linked item's missed edits over: its mapped fields (toward Miro)
/// whose values differ from what the link last synced. Only those: a field that agrees is left
/// out, so that a Miro edit of it that lands meanwhile cannot be overwritten by this older read.
async fn repair(
    engine: &Engine,
    pair: &PairConfig,
    link: &ItemLink,
    item: &BoardItem,
    started: i64,
    report: &mut ReconcileReport,
) -> Result<Option<NewInboxEntry>, StoreError> {
    if link.state != LinkState::Active {
        return Ok(None);
    }
    let (Some(mut change), Some(updated_at)) = (
        monday_change(pair, item, ChangeKind::Updated),
        &item.updated_at,
    ) else {
        return Ok(None);
    };
    let miro_type = ItemType::parse(&link.miro_type).unwrap_or(pair.miro_new_item);
    let synced: LinkFields = serde_json::from_value(link.fields.clone()).unwrap_or_default();
    let differ = differing(pair, &synced, &change, miro_type);
    if differ.is_empty() {
        return Ok(None);
    }
    // The item differs because a write of boardsync's own has not reached it (yet, or at all:
    // dead writes wait for `replay`), or the link changed while the board was read: this read
    // may be older than what the link holds, and the next round looks again.
    if link.updated_at >= started || writes_unsettled(engine, link).await? {
        report.deferred += 1;
        return Ok(None);
    }
    change.fields.retain(|column, _| differ.contains(column));
    Ok(Some(entry(
        pair,
        &change,
        updated_at,
        engine.clock.now_ms(),
    )))
}

/// Whether the link has writes that are not done: pending, in flight, or dead.
async fn writes_unsettled(engine: &Engine, link: &ItemLink) -> Result<bool, StoreError> {
    Ok(engine
        .store
        .outbox_for_link(link.id)
        .await?
        .iter()
        .any(|w| w.status != OutboxStatus::Done))
}

/// The monday keys (`name` or column ids) of the mapped fields that flow toward Miro and whose
/// logical value in `change` is not the one the link last synced. A field the link has no value
/// for counts as empty.
fn differing(
    pair: &PairConfig,
    synced: &LinkFields,
    change: &Change,
    miro_type: ItemType,
) -> BTreeSet<String> {
    pair.fields
        .iter()
        .filter(|f| f.direction.to_miro())
        .filter(|f| {
            let Some(Some(now)) = logical_value(change, f, miro_type) else {
                return false;
            };
            let was = synced.fields.get(&f.name).and_then(|s| s.value.as_deref());
            now != was.unwrap_or_default()
        })
        .map(|f| f.monday.clone())
        .collect()
}

/// A `Created` change for an unlinked item made after the previous round by someone other than
/// boardsync (whose own creates are twins waiting for their links).
fn created(
    pair: &PairConfig,
    item: &BoardItem,
    previous: i64,
    own: &str,
    now: i64,
) -> Option<NewInboxEntry> {
    let created_at = millis(&Value::String(item.created_at.clone()?))?;
    if created_at <= previous || item.creator_id == own {
        return None;
    }
    let mut change = monday_change(pair, item, ChangeKind::Created)?;
    change.author = Some(item.creator_id.clone());
    Some(entry(pair, &change, item.updated_at.as_deref()?, now))
}

/// The item as it is now, as a change found by the reconciler; `None` when monday gave no time
/// it was updated at, without which the change could not be ordered.
fn monday_change(pair: &PairConfig, item: &BoardItem, kind: ChangeKind) -> Option<Change> {
    Some(Change {
        item_type: Some("item".into()),
        fields: item.fields(),
        source_us: Some(micros(&Value::String(item.updated_at.clone()?))?),
        ..Change::new(
            ItemRef::monday(pair.monday_board.clone(), item.id.clone()),
            Via::Reconcile,
            kind,
        )
    })
}

/// The change as an inbox entry, under a key that a later read of the same item state repeats.
fn entry(pair: &PairConfig, change: &Change, updated_at: &str, now: i64) -> NewInboxEntry {
    let key = format!(
        "reconcile:{}:{}:{updated_at}",
        pair.monday_board.as_str(),
        change.item.item()
    );
    NewInboxEntry::polled(&pair.slug, change, key, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::plan::FieldState;

    fn pair() -> PairConfig {
        crate::mapping::plan::tests::pair_with(
            "",
            r#"title  = { miro = "data.content", monday = "name" }
  status = { miro = "style.fillColor", monday = "status", values = { light_green = "Done", red = "Stuck" } }
  notes  = { miro = "data.content", monday = "notes", direction = "miro_to_monday" }"#,
        )
    }

    fn item(name: &str, status: &str, notes: &str) -> BoardItem {
        BoardItem {
            id: "200".into(),
            name: name.into(),
            group: Some("topics".into()),
            created_at: Some("2026-11-24T09:00:00.000Z".into()),
            creator_id: "7".into(),
            updated_at: Some("2026-11-24T09:30:00.250Z".into()),
            texts: vec![
                ("status".into(), status.into()),
                ("notes".into(), notes.into()),
            ],
        }
    }

    fn synced(values: &[(&str, &str)]) -> LinkFields {
        LinkFields {
            fields: values
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        FieldState {
                            value: Some(v.to_string()),
                            ..FieldState::default()
                        },
                    )
                })
                .collect(),
            loop_returns: Vec::new(),
        }
    }

    fn differ(link: &LinkFields, item: &BoardItem) -> Vec<String> {
        let pair = pair();
        let change = monday_change(&pair, item, ChangeKind::Updated).unwrap();
        differing(&pair, link, &change, ItemType::StickyNote)
            .into_iter()
            .collect()
    }

    #[test]
    fn only_fields_that_differ_from_the_link_and_flow_to_miro_are_repaired() {
        let link = synced(&[("title", "Ship it"), ("status", "Working on it")]);
        assert_eq!(
            differ(&link, &item("Ship it", "Working on it", "x")),
            Vec::<String>::new(),
            "equal values, and a one-way field toward monday, are no change"
        );
        assert_eq!(differ(&link, &item("Ship it", "Done", "x")), vec!["status"]);
        assert_eq!(
            differ(&link, &item("Ship it now", "Done", "y")),
            vec!["name", "status"]
        );
    }

    #[test]
    fn a_field_the_link_holds_no_value_for_counts_as_empty() {
        let link = synced(&[("title", "Ship it")]);
        assert!(differ(&link, &item("Ship it", "", "")).is_empty());
        assert_eq!(differ(&link, &item("Ship it", "Stuck", "")), vec!["status"]);
    }

    #[test]
    fn the_change_is_stamped_with_the_items_update_time_and_needs_one() {
        let pair = pair();
        let change = monday_change(&pair, &item("a", "Done", ""), ChangeKind::Updated).unwrap();
        assert_eq!(change.source_us, Some(1_795_512_600_250_000));
        assert_eq!(change.via, Via::Reconcile);
        assert_eq!(change.author, None);
        let mut undated = item("a", "Done", "");
        undated.updated_at = None;
        assert_eq!(monday_change(&pair, &undated, ChangeKind::Updated), None);
    }

    #[test]
    fn only_items_made_after_the_previous_round_by_a_person_are_created() {
        let pair = pair();
        let it = item("New", "Done", "");
        let made = millis(&Value::String(it.created_at.clone().unwrap())).unwrap();
        let entry = created(&pair, &it, made - 1, "1", 5).expect("made after the round");
        assert_eq!(entry.received_at, 5);
        assert_eq!(entry.kind, "created");
        assert_eq!(entry.dedupe_key, "reconcile:1:200:2026-11-24T09:30:00.250Z");
        assert!(created(&pair, &it, made, "1", 5).is_none(), "not after it");
        assert!(
            created(&pair, &it, made - 1, "7", 5).is_none(),
            "boardsync's own"
        );
    }

    #[test]
    fn a_failed_round_is_tried_again_within_minutes_or_after_the_limit_resets() {
        let hour = Duration::from_secs(3600);
        let other = anyhow::Error::new(ApiError::Transient("down".into()));
        assert_eq!(retry_wait(&other, hour, 0), RETRY_AFTER_ERROR);
        let limited = anyhow::Error::new(ApiError::RateLimited {
            retry_at: 600_000,
            reason: "daily".into(),
        });
        assert_eq!(retry_wait(&limited, hour, 0), Duration::from_secs(600));
        assert_eq!(
            retry_wait(&limited, Duration::from_secs(60), 0),
            Duration::from_secs(60)
        );
    }
}
