//! The dispatcher's loop: claims due outbox rows, folds the rows for one item into as few API calls as
//! the APIs allow (a burst of edits to one sticky note becomes one update), makes the calls, and
//! settles each row: done, retried at the time the failure calls for, or dead (kept and shown).
//!
//! Creates are idempotent: monday gets an `Idempotency-Key` derived from the row, and a retried
//! Miro create first looks for the item an earlier attempt may have made before making another.
//! Comments are posted the same way, once each ([`super::comments`]).

use super::fold::{Settlement, count, fold, group_by_item, settlement};
use super::miro::to_miro;
use super::monday::{ColumnTypes, to_monday};
use crate::clients::ApiError;
use crate::domain::Target;
use crate::runtime::Engine;
use crate::runtime::WriteError;
use crate::store::{LinkState, OutboxEntry, StoreError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Rows claimed at a time.
const CLAIM: i64 = 100;
/// Items written at once.
const IN_FLIGHT: usize = 8;
/// How long a claim holds before another dispatcher may take the row: a dispatcher renews its
/// claims every [`RENEW_EVERY`] while it lives, so this is how soon a dead one's rows (kill -9, a
/// lost machine) are taken up by another.
const LEASE_MS: i64 = 15_000;
/// How often a dispatcher renews its claims: a third of their length, so two renewals may fail
/// before a claim lapses under a call still running.
const RENEW_EVERY: Duration = Duration::from_millis(LEASE_MS as u64 / 3);
/// How long the dispatcher sleeps when nothing is due and nobody wakes it.
const IDLE: Duration = Duration::from_millis(200);
/// How long a write waits for the create of its item, which another row is making.
const WAIT_FOR_CREATE_MS: i64 = 1_000;
pub async fn run(engine: Engine, shutdown: CancellationToken) {
    let columns = ColumnTypes::default();
    // This run's name on its claims, renewed for as long as it runs.
    let claimer = format!("dispatcher-{}", uuid::Uuid::new_v4().simple());
    let _renewing = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(renew(
        engine.clone(),
        claimer.clone(),
    )));
    loop {
        let now = engine.clock.now_ms();
        let claimed = match engine.store.claim_due(&claimer, now, LEASE_MS, CLAIM).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim outbox rows");
                Vec::new()
            }
        };
        let n = claimed.len();
        // Calls to different items overlap; the rows of one item are one group, in order.
        let mut running = tokio::task::JoinSet::new();
        for group in group_by_item(claimed) {
            while running.len() >= IN_FLIGHT {
                running.join_next().await;
            }
            let (engine, columns, claimer) = (engine.clone(), columns.clone(), claimer.clone());
            running.spawn(async move {
                if let Err(e) = dispatch(&engine, &columns, &claimer, group).await {
                    tracing::warn!(error = %e, "cannot settle outbox rows; their lease will expire and they run again");
                }
            });
        }
        while running.join_next().await.is_some() {}
        if n == 0 {
            update_depth(&engine).await;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = engine.wake_dispatcher.notified() => {}
                _ = tokio::time::sleep(IDLE) => {}
            }
        } else if shutdown.is_cancelled() {
            return;
        }
    }
}

/// Keeps `claimer`'s claims from lapsing while it works, until the dispatcher stops (the task is
/// aborted with it).
async fn renew(engine: Engine, claimer: String) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let until = engine.clock.now_ms() + LEASE_MS;
        if let Err(e) = engine.store.renew_claims(&claimer, until).await {
            tracing::warn!(error = %e, "cannot renew the dispatcher's claims; they lapse unless a later renewal succeeds");
        }
    }
}

async fn update_depth(engine: &Engine) {
    for pair in &engine.config.pairs {
        if let Ok((backlog, _)) = engine.store.outbox_counts(&pair.slug).await {
            engine
                .metrics
                .outbox_depth
                .with_label_values(&[&pair.name])
                .set(backlog);
        }
    }
}

async fn dispatch(
    engine: &Engine,
    columns: &ColumnTypes,
    claimer: &str,
    mut rows: Vec<OutboxEntry>,
) -> Result<(), StoreError> {
    let now = engine.clock.now_ms();
    if let Some(link_id) = rows[0].link_id {
        // Writes to this item still waiting for a retry go out now, folded in order, so a retried
        // old value can never land after a newer one.
        let waiting = engine
            .store
            .claim_link_rows(claimer, link_id, rows[0].target.side(), now, LEASE_MS)
            .await?;
        rows.extend(waiting);
        rows.sort_by_key(|r| r.id);
    }
    let first = &rows[0];
    let Some(pair) = engine.config.pair(&first.pair) else {
        return settle_all(
            engine,
            &rows,
            Err(WriteError::Unwritable(format!(
                "no pair `{}` in the mappings file",
                first.pair
            ))),
        )
        .await;
    };
    let side = first.target.side();
    let link = match first.link_id {
        Some(id) => engine.store.link_by_id(id).await?,
        None => None,
    };
    let mut folded = match fold(&rows) {
        Ok(f) => f,
        Err(e) => return settle_all(engine, &rows, Err(WriteError::Unwritable(e))).await,
    };
    if let Some(l) = &link {
        // Read after the claim: the processor records a newer value before it queues its row.
        let dropped = folded.drop_superseded(pair, l);
        if dropped > 0 {
            tracing::debug!(
                link = l.id,
                dropped,
                "queued values superseded by newer ones"
            );
        }
        if folded.is_empty() {
            for row in &rows {
                engine.store.complete(row.id, now).await?;
            }
            return Ok(());
        }
    }
    let target = match &link {
        Some(l) => l.target(side).or(first.target.clone()),
        None => first.target.clone(),
    };
    if link.is_none() && first.link_id.is_some() && folded.finish.is_none() {
        // The link ended (its item was deleted) before these updates went out: nothing to write.
        for row in &rows {
            engine.store.complete(row.id, now).await?;
        }
        return Ok(());
    }
    if target.item().is_none() && folded.create.is_none() {
        // Another row is creating the item; write once it exists (or give up with it).
        let max_attempts = i64::from(engine.config.sync.max_attempts);
        for row in &rows {
            if row.attempts >= max_attempts * 10 {
                engine
                    .store
                    .mark_dead(row.id, "the item this write is for was never created", now)
                    .await?;
            } else {
                engine
                    .store
                    .schedule_retry(
                        row.id,
                        now + WAIT_FOR_CREATE_MS,
                        "waiting for the item to be created",
                    )
                    .await?;
            }
        }
        return Ok(());
    }
    let result = match target {
        Target::Monday(known) => {
            to_monday(engine, columns, pair, &rows, link.as_ref(), known, folded).await
        }
        Target::Miro(known) => to_miro(engine, pair, &rows, link.as_ref(), known, folded).await,
    };
    count(&engine.metrics, side, &result);
    if let Err(WriteError::Api(ApiError::NotFound(why))) = &result
        && let Some(l) = &link
    {
        // The other side is gone: the link is marked, the rows are done, nothing crashes.
        tracing::info!(link = l.id, %why, "the linked item is gone; marking the link orphaned");
        engine
            .store
            .set_link_state(l.id, LinkState::Orphaned, now)
            .await?;
        for row in &rows {
            engine.store.complete(row.id, now).await?;
        }
        return Ok(());
    }
    if result.is_ok() {
        for row in &rows {
            let lag = (engine.clock.now_ms() - row.created_at).max(0) as f64 / 1000.0;
            engine
                .metrics
                .sync_lag_seconds
                .with_label_values(&[&pair.name, side.other().as_str()])
                .observe(lag);
        }
    }
    settle_all(engine, &rows, result).await
}

/// Settles every row of a group the same way.
async fn settle_all(
    engine: &Engine,
    rows: &[OutboxEntry],
    result: Result<(), WriteError>,
) -> Result<(), StoreError> {
    let now = engine.clock.now_ms();
    let max_attempts = i64::from(engine.config.sync.max_attempts);
    let error = result.as_ref().err().map(ToString::to_string);
    let error = error.as_deref().unwrap_or_default();
    for row in rows {
        match settlement(&result, row.attempts, max_attempts, now) {
            Settlement::Done => engine.store.complete(row.id, now).await?,
            Settlement::RetryAt(due) => {
                tracing::info!(
                    row = row.id,
                    attempt = row.attempts,
                    error,
                    retry_in_ms = due - now,
                    "write failed; will retry"
                );
                engine.store.schedule_retry(row.id, due, error).await?;
            }
            Settlement::Dead => {
                tracing::warn!(
                    row = row.id,
                    attempts = row.attempts,
                    error,
                    "write failed for good; kept as a dead letter"
                );
                engine.store.mark_dead(row.id, error, now).await?;
            }
        }
    }
    Ok(())
}
