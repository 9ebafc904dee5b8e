//! The processor: takes inbox entries in arrival order, loads each one's link, asks the planner,
//! and stores the outcome, the link state and the outbox rows in one transaction. It never calls
//! an API to write; only to read an item whose change did not carry its fields.

use super::relations;
use crate::config::PairConfig;
use crate::domain::change::{Change, ChangeKind, ItemRef};
use crate::domain::miro::ItemType;
use crate::domain::{Linked, Side, Target};
use crate::mapping::plan::{self, Context, LinkChange, LinkFields, LinkView, Outcome, Plan};
use crate::runtime::Lease;
use crate::runtime::{Engine, SyncEvent};
use crate::store::keys;
use crate::store::{
    HistoryEntry, InboxEntry, ItemLink, LinkState, LinkWrite, NewConflict, NewOutboxEntry,
    ProcessedChange, StoreError,
};
use crate::supervisor::WorkerStatus;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Entries taken from the inbox at a time.
const BATCH: i64 = 200;
/// How long the lease lasts without renewal: a replica that dies hands over within this.
const LEASE_TTL: Duration = Duration::from_secs(10);
/// How long the processor sleeps when the inbox is empty and nobody wakes it.
const IDLE: Duration = Duration::from_millis(200);
/// How long an edit of an unlinked item waits while boardsync is creating items on its side: it
/// may be a person editing the item boardsync just made, whose link is about to be recorded.
const DEFER_WHILE_CREATING_MS: i64 = 120_000;

/// Runs until `shutdown`, then gives up its lease so another replica takes over at once.
pub async fn run(engine: Engine, shutdown: CancellationToken) {
    run_as(engine, shutdown, WorkerStatus::detached("processor")).await;
}

/// [`run`], telling `status` whether this replica holds the processor's lease.
pub(crate) async fn run_as(engine: Engine, shutdown: CancellationToken, status: WorkerStatus) {
    let mut lease =
        Lease::new(keys::PROCESSOR_LEASE, status.holder(), LEASE_TTL).reporting(&status);
    work(&engine, &shutdown, &mut lease).await;
    lease.release(&engine).await;
}

async fn work(engine: &Engine, shutdown: &CancellationToken, lease: &mut Lease) {
    // Until boardsync knows its own user on both sides, it cannot tell its own changes from a
    // person's; the start-up task asks both APIs (and the store remembers across restarts).
    while engine.own_user(Side::Miro).await.is_none()
        || engine.own_user(Side::Monday).await.is_none()
    {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(IDLE) => {}
        }
    }
    // One replica processes at a time: the processor reads a link and writes it back, so two at
    // once could each plan from the state the other is replacing. The others wait for the lease.
    loop {
        if !lease.acquire(engine, shutdown).await {
            return;
        }
        let handled = match engine.store.pending_inbox(BATCH).await {
            Ok(entries) => {
                let mut done = 0;
                for entry in entries {
                    if shutdown.is_cancelled() {
                        return;
                    }
                    match process(engine, &entry).await {
                        Ok(true) => done += 1,
                        Ok(false) => {}
                        Err(e) => {
                            tracing::warn!(entry = entry.id, error = %e, "cannot record a processed change; will try again");
                            break;
                        }
                    }
                }
                done
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the inbox");
                0
            }
        };
        if handled == 0 {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = engine.wake_processor.notified() => {}
                _ = tokio::time::sleep(IDLE) => {}
            }
        }
    }
}

/// Plans and records one entry; `false` when it must wait and stays in the inbox.
pub async fn process(engine: &Engine, entry: &InboxEntry) -> Result<bool, StoreError> {
    let now = engine.clock.now_ms();
    let (pair, mut change) = match locate(engine, entry).await? {
        Ok(found) => found,
        Err((outcome, why)) => {
            return finish(engine, entry, None, outcome, why, now)
                .await
                .map(|()| true);
        }
    };
    if let Some(why) = relations::prepare(engine, pair, &mut change).await? {
        return finish(engine, entry, Some(pair), Outcome::Ignored, why, now)
            .await
            .map(|()| true);
    }
    if change.incomplete
        && let Err(e) = super::fetch::complete(engine, pair, &mut change).await
    {
        return unread(engine, entry, pair, e, now).await;
    }
    relations::keep_linked(engine, pair, &mut change).await?;
    mark_own_fields(engine, pair, &mut change).await?;
    let link = link_of(engine, &pair.slug, &change).await?;
    if link.is_none()
        && change.kind == ChangeKind::Updated
        && now - entry.received_at < DEFER_WHILE_CREATING_MS
        && engine
            .store
            .pending_creates(&pair.slug, change.side())
            .await?
            > 0
    {
        return Ok(false);
    }
    let view = link.as_ref().map(view_of);
    let own = engine.own_user(change.side()).await;
    let cx = Context {
        pair,
        own_user: own.as_deref(),
        max_loop_returns: engine.config.sync.max_loop_returns,
        now,
    };
    let mut planned = plan::plan(&change, view.as_ref(), &cx);
    if planned.read_item {
        // Plan with what the item holds now. For a linked item (a tie of source times), only
        // the fields the change is about: the others may have writes of boardsync's still on
        // their way there. For an item not linked yet, all of it: its twin is made from it.
        let about: Vec<String> = change.fields.keys().cloned().collect();
        if let Err(e) = super::fetch::complete(engine, pair, &mut change).await {
            return unread(engine, entry, pair, e, now).await;
        }
        // What the item holds now is not the version boardsync's note was about.
        change.fields.retain(|k, _| {
            (view.is_none() || about.contains(k))
                && k != crate::mapping::values::OWN_FIELDS
                && k != crate::mapping::values::LATER_OWN_FIELDS
        });
        change.read_back = true;
        planned = plan::plan(&change, view.as_ref(), &cx);
    }
    record(engine, entry, pair, &change, link.as_ref(), planned, now)
        .await
        .map(|()| true)
}

/// Marks the fields of a Miro item that boardsync itself set in the version the change reports,
/// when its last write made that version (the dispatcher notes each write's version and paths).
/// A scan that catches an older write of boardsync's before the newer one lands must not take it
/// for a person's edit. Read here rather than by the scan, so that the note of a write the scan
/// found a moment after it landed is there by now.
async fn mark_own_fields(
    engine: &Engine,
    pair: &PairConfig,
    change: &mut Change,
) -> Result<(), StoreError> {
    let Some(item) = change.item.miro_item() else {
        return Ok(());
    };
    let key = keys::own_writes(&pair.slug, item);
    let Some(note) = engine.store.cursor(&key).await? else {
        return Ok(());
    };
    let writes = crate::mapping::values::OwnWrites::parse(&note);
    let Some(at) = change.source_us else {
        return Ok(());
    };
    if let Some(paths) = writes.paths_at(at) {
        change.fields.insert(
            crate::mapping::values::OWN_FIELDS.to_owned(),
            serde_json::json!(paths),
        );
    }
    let later = writes.paths_after(at);
    if !later.is_empty() {
        change.fields.insert(
            crate::mapping::values::LATER_OWN_FIELDS.to_owned(),
            serde_json::json!(later),
        );
    }
    Ok(())
}

/// What becomes of an entry whose item could not be read: a deleted item's change is done with
/// (its delete is a change of its own); any other failure leaves it in the inbox for later.
async fn unread(
    engine: &Engine,
    entry: &InboxEntry,
    pair: &PairConfig,
    error: crate::clients::ApiError,
    now: i64,
) -> Result<bool, StoreError> {
    if let crate::clients::ApiError::NotFound(_) = error {
        let why = "the item is gone".to_owned();
        return finish(engine, entry, Some(pair), Outcome::Ignored, why, now)
            .await
            .map(|()| true);
    }
    tracing::info!(entry = entry.id, %error, "cannot read the item the change is about; will try again");
    Ok(false)
}

/// The pair and the change of an entry, or the outcome of an entry that has neither.
async fn locate<'a>(
    engine: &'a Engine,
    entry: &InboxEntry,
) -> Result<Result<(&'a PairConfig, Change), (Outcome, String)>, StoreError> {
    let change: Change = match serde_json::from_str(&entry.change) {
        Ok(c) => c,
        Err(e) => {
            return Ok(Err((
                Outcome::Failed,
                format!("the stored change does not parse: {e}"),
            )));
        }
    };
    if let Some(slug) = &entry.pair {
        return Ok(match engine.config.pair(slug) {
            Some(pair) => Ok((pair, change)),
            None => Err((Outcome::Ignored, format!("no pair `{slug}` any more"))),
        });
    }
    // The receivers name the pair when only one has the board; with several (told apart by
    // their filters), the pair is the one whose link holds the item, or whose filter it passes.
    let candidates: Vec<&PairConfig> = engine
        .config
        .pairs
        .iter()
        .filter(|p| match &change.item {
            ItemRef::Miro { board, .. } => &p.miro_board == board,
            ItemRef::Monday { board, .. } => &p.monday_board == board,
        })
        .collect();
    if candidates.len() > 1 {
        for &pair in &candidates {
            if link_of(engine, &pair.slug, &change).await?.is_some() {
                return Ok(Ok((pair, change)));
            }
        }
    }
    let pair = match candidates.as_slice() {
        [] => return Ok(Err((Outcome::Ignored, "no pair has this board".to_owned()))),
        [one] => *one,
        several => match passing(engine, several, &change).await? {
            Some(p) => p,
            None => {
                return Ok(Err((
                    Outcome::Filtered,
                    "the board is in several pairs and the item is in none of their filters"
                        .to_owned(),
                )));
            }
        },
    };
    Ok(Ok((pair, change)))
}

/// The pair's link of the change's item, found by the id on the change's side.
async fn link_of(
    engine: &Engine,
    pair: &str,
    change: &Change,
) -> Result<Option<crate::store::ItemLink>, StoreError> {
    match &change.item {
        ItemRef::Miro { item_id, .. } => engine.store.link_by_miro(pair, item_id).await,
        ItemRef::Monday { item_id, .. } => engine.store.link_by_monday(pair, item_id).await,
    }
}

/// The first of `pairs` whose filter the change's item passes (its tags as the tag poll saw them).
async fn passing<'a>(
    engine: &Engine,
    pairs: &[&'a PairConfig],
    change: &Change,
) -> Result<Option<&'a PairConfig>, StoreError> {
    for &pair in pairs {
        if passes_filter(pair, change) && relations::passes(engine, pair, change).await? {
            return Ok(Some(pair));
        }
    }
    Ok(None)
}

/// Whether a change's item lies inside the pair's filter on its side (as far as the change says).
fn passes_filter(pair: &PairConfig, change: &Change) -> bool {
    let field = |name: &str| change.fields.get(name).and_then(serde_json::Value::as_str);
    match change.side() {
        Side::Monday => {
            pair.monday_filter.groups.is_empty()
                || field("group").is_some_and(|g| pair.monday_filter.groups.iter().any(|x| x == g))
        }
        Side::Miro => pair
            .miro_filter
            .frame
            .as_deref()
            .is_none_or(|frame| field("parent") == Some(frame)),
    }
}

async fn finish(
    engine: &Engine,
    entry: &InboxEntry,
    pair: Option<&PairConfig>,
    outcome: Outcome,
    why: String,
    now: i64,
) -> Result<(), StoreError> {
    let pair_name = pair.map(|p| p.slug.clone()).unwrap_or_default();
    engine
        .store
        .record_processed(&ProcessedChange {
            entry_id: entry.id,
            outcome: outcome.as_str().into(),
            error: (outcome == Outcome::Failed).then(|| why.clone()),
            now,
            link: LinkWrite::None,
            outbox: Vec::new(),
            history: HistoryEntry {
                at: now,
                pair: pair_name,
                origin: entry.source.clone(),
                item: entry.item_id.clone().unwrap_or_default(),
                title: None,
                outcome: outcome.as_str().into(),
                detail: Some(why),
            },
            conflicts: Vec::new(),
        })
        .await?;
    engine.metrics.change(
        pair.map_or("", |p| &p.name),
        &entry.source,
        outcome.as_str(),
    );
    Ok(())
}

fn view_of(link: &ItemLink) -> LinkView {
    LinkView {
        miro_item_id: link.miro_item_id.clone(),
        monday_item_id: link.monday_item_id.clone(),
        miro_type: ItemType::parse(&link.miro_type).unwrap_or(ItemType::StickyNote),
        quarantined: link.state == LinkState::Quarantined,
        fields: serde_json::from_value::<LinkFields>(link.fields.clone()).unwrap_or_default(),
    }
}

async fn record(
    engine: &Engine,
    entry: &InboxEntry,
    pair: &PairConfig,
    change: &Change,
    link: Option<&ItemLink>,
    planned: Plan,
    now: i64,
) -> Result<(), StoreError> {
    let fields = serde_json::to_value(&planned.fields).expect("link state serialises");
    let link_write = match (&planned.link, link) {
        (LinkChange::Keep, Some(l)) => LinkWrite::Update {
            id: l.id,
            state: l.state,
            fields,
        },
        (LinkChange::Keep, None) => LinkWrite::None,
        (LinkChange::Quarantine, Some(l)) => LinkWrite::Update {
            id: l.id,
            state: LinkState::Quarantined,
            fields,
        },
        (LinkChange::Remove, Some(l)) => LinkWrite::Remove { id: l.id },
        (LinkChange::Create { miro_type }, _) => {
            let (miro_item_id, monday_item_id) = match &change.item {
                ItemRef::Miro { item_id, .. } => {
                    (Linked::Known(item_id.clone()), Linked::Pending(entry.id))
                }
                ItemRef::Monday { item_id, .. } => {
                    (Linked::Pending(entry.id), Linked::Known(item_id.clone()))
                }
            };
            LinkWrite::Create {
                pair: pair.slug.clone(),
                miro_item_id,
                monday_item_id,
                miro_type: miro_type.as_str().into(),
                fields,
            }
        }
        (_, None) => LinkWrite::None,
    };
    let outbox = planned
        .writes
        .iter()
        .enumerate()
        .map(|(i, write)| {
            let side = write.target();
            NewOutboxEntry {
                pair: pair.slug.clone(),
                target: link.map_or(Target::new(side, None), |l| l.target(side)),
                link_id: link.map(|l| l.id),
                operation: write.name().into(),
                payload: serde_json::to_string(write).expect("a write serialises"),
                idempotency_key: format!("inbox:{}:{i}", entry.id),
                due_at: now,
                created_at: change.source_us.map_or(now, |us| us.div_euclid(1000)),
            }
        })
        .collect::<Vec<_>>();
    let conflicts = planned
        .conflicts
        .iter()
        .map(|c| NewConflict {
            item: change.item.item().to_owned(),
            field: c.field.clone(),
            winner: c.winner.as_str().into(),
            won: c.won.clone(),
            lost: c.lost.clone(),
            // The store keeps milliseconds, as every other time it holds.
            miro_ts: c.miro_us.div_euclid(1000),
            monday_ts: c.monday_us.div_euclid(1000),
        })
        .collect();
    let outcome = planned.outcome.as_str();
    let wrote = !outbox.is_empty();
    engine
        .store
        .record_processed(&ProcessedChange {
            entry_id: entry.id,
            outcome: outcome.into(),
            error: None,
            now,
            link: link_write,
            outbox,
            history: HistoryEntry {
                at: now,
                pair: pair.slug.clone(),
                origin: change.side().as_str().into(),
                item: change.item.item().to_owned(),
                title: planned.title.clone(),
                outcome: outcome.into(),
                detail: planned.detail.clone(),
            },
            conflicts,
        })
        .await?;
    engine
        .metrics
        .change(&pair.name, change.side().as_str(), outcome);
    if wrote {
        engine.wake_dispatcher.notify_one();
    }
    if planned.outcome != Outcome::Echo {
        report(engine, pair, change, &planned);
    }
    tracing::debug!(pair = %pair.name, side = %change.side(), item = %change.item.item(), outcome, "processed");
    Ok(())
}

/// Tells whoever listens (the demo's output, the dashboard's live stream) what became of a change.
fn report(engine: &Engine, pair: &PairConfig, change: &Change, planned: &Plan) {
    if engine.events.receiver_count() == 0 {
        return;
    }
    let _ = engine.events.send(SyncEvent {
        pair: pair.name.clone(),
        direction: format!("{} -> {}", change.side(), change.side().other()),
        item: change.item.item().to_owned(),
        title: planned.title.clone(),
        outcome: planned.outcome.as_str().into(),
        detail: planned.detail.clone(),
    });
}
