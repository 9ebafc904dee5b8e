//! The store's contract, run on both backends: every case below runs once on SQLite (a file in a
//! temp dir) and once on Postgres (a database of its own), and must behave the same on both.

use crate::common::TestDb;
use boardsync::domain::{Linked, Target};
use boardsync::store::{
    Backend, HistoryEntry, InboxInsert, ItemLink, LinkState, NewInboxEntry, NewOutboxEntry,
    OutboxStatus, Snapshot, Store,
};
use serde_json::json;
use std::future::Future;

/// A store on each backend, handed to one case, then removed.
async fn on_sqlite<F, Fut>(case: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    case(store.clone()).await;
    store.close().await;
}

async fn on_postgres<F, Fut>(case: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = TestDb::create().await;
    let store = Store::open(&db.url).await.unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    case(store.clone()).await;
    store.close().await;
    db.drop_now().await;
}

/// Declares each case as a test on both backends.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $case() { super::on_sqlite(super::$case).await } )*
        }
        mod postgres {
            $( #[tokio::test] async fn $case() { super::on_postgres(super::$case).await } )*
        }
    };
}

contract!(
    a_batch_stores_each_new_key_once_and_known_outcomes_as_done,
    an_event_is_stored_once_however_often_it_arrives,
    concurrent_copies_of_one_event_store_exactly_one_row,
    an_expired_dedupe_key_lets_the_event_in_again,
    pending_inbox_entries_come_oldest_first_until_finished,
    links_are_found_from_either_side_and_updated_in_place,
    a_link_cannot_join_one_monday_item_to_two_miro_items,
    enqueueing_the_same_write_twice_keeps_one_row,
    due_rows_are_claimed_once_and_reclaimed_after_the_lease,
    a_claim_renewed_by_its_dispatcher_holds_and_one_left_alone_lapses,
    failed_rows_wait_for_their_retry_time,
    dead_rows_stay_until_requeued,
    cursors_keep_the_last_value,
    a_lease_has_one_holder_until_it_expires_or_is_given_up,
    own_writes_become_the_snapshot_only_when_nothing_hides_behind_them,
    a_snapshot_is_read_by_item_within_its_pair_and_side,
    history_lists_newest_first_per_pair,
    pruning_removes_only_finished_old_rows,
    a_paused_pair_keeps_its_work_until_resumed,
    one_dead_row_is_retried_or_discarded,
    releasing_a_link_forgets_the_loop_breakers_count,
    history_is_searched_by_either_items_id_or_title,
);

fn event(key: &str, at: i64) -> NewInboxEntry {
    NewInboxEntry {
        dedupe_key: key.to_owned(),
        source: "monday".to_owned(),
        pair: Some("sprint".to_owned()),
        board_id: "1771812698".to_owned(),
        item_id: Some("9988".to_owned()),
        kind: "updated".to_owned(),
        change: json!({"fields": {"name": "Write docs"}}).to_string(),
        raw_body: Some(b"{\"event\":{}}".to_vec()),
        source_ts: Some(at - 5),
        received_at: at,
        outcome: None,
    }
}

fn write(key: &str, due_at: i64) -> NewOutboxEntry {
    NewOutboxEntry {
        pair: "sprint".to_owned(),
        target: Target::Miro(Some("3458764517517819000".into())),
        link_id: None,
        operation: "update".to_owned(),
        payload: json!({"data": {"content": "<p>hi</p>"}}).to_string(),
        idempotency_key: key.to_owned(),
        due_at,
        created_at: due_at,
    }
}

fn link(miro: &str, monday: &str) -> ItemLink {
    ItemLink {
        id: 0,
        pair: "sprint".to_owned(),
        miro_item_id: Linked::Known(miro.into()),
        monday_item_id: Linked::Known(monday.into()),
        miro_type: "sticky_note".to_owned(),
        state: LinkState::Active,
        fields: json!({"title": {"value": "Plan", "ts": 100}}),
        created_at: 100,
        updated_at: 100,
    }
}

/// Opening a store runs the migrations; opening it again must find nothing to do and keep the data.
async fn reopens_with_its_data(url: &str) {
    let store = Store::open(url).await.unwrap();
    store
        .insert_inbox(&event("k", 1_000), 10_000)
        .await
        .unwrap();
    store.close().await;
    let again = Store::open(url).await.unwrap();
    assert_eq!(again.inbox_backlog().await.unwrap(), 1);
    assert_eq!(
        again
            .insert_inbox(&event("k", 2_000), 10_000)
            .await
            .unwrap(),
        InboxInsert::Duplicate,
        "dedupe keys survive a restart"
    );
    again.close().await;
}

#[tokio::test]
async fn a_sqlite_store_reopens_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    reopens_with_its_data(&format!("sqlite://{}", dir.path().join("s.db").display())).await;
}

#[tokio::test]
async fn a_postgres_store_reopens_with_its_data() {
    let db = TestDb::create().await;
    reopens_with_its_data(&db.url).await;
    db.drop_now().await;
}

async fn an_event_is_stored_once_however_often_it_arrives(store: Store) {
    let first = store
        .insert_inbox(&event("trigger-1", 1_000), 10_000)
        .await
        .unwrap();
    let InboxInsert::Stored(id) = first else {
        panic!("first delivery must be stored, got {first:?}")
    };
    for _ in 0..5 {
        assert_eq!(
            store
                .insert_inbox(&event("trigger-1", 2_000), 10_000)
                .await
                .unwrap(),
            InboxInsert::Duplicate
        );
    }
    assert_eq!(store.inbox_backlog().await.unwrap(), 1);
    let stored = store.inbox_entry(id).await.unwrap().unwrap();
    assert_eq!(stored.dedupe_key, "trigger-1");
    assert_eq!(stored.received_at, 1_000, "the first copy is the one kept");
    assert_eq!(stored.item_id.as_deref(), Some("9988"));
    assert_eq!(stored.source_ts, Some(995));
}

async fn concurrent_copies_of_one_event_store_exactly_one_row(store: Store) {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .insert_inbox(&event("burst", 1_000 + i), 10_000)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut stored = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), InboxInsert::Stored(_)) {
            stored += 1;
        }
    }
    assert_eq!(stored, 1);
    assert_eq!(store.inbox_backlog().await.unwrap(), 1);
}

async fn an_expired_dedupe_key_lets_the_event_in_again(store: Store) {
    assert!(matches!(
        store
            .insert_inbox(&event("old", 1_000), 5_000)
            .await
            .unwrap(),
        InboxInsert::Stored(_)
    ));
    assert_eq!(
        store
            .insert_inbox(&event("old", 4_999), 9_999)
            .await
            .unwrap(),
        InboxInsert::Duplicate
    );
    let again = store
        .insert_inbox(&event("old", 5_000), 9_000)
        .await
        .unwrap();
    assert!(matches!(again, InboxInsert::Stored(_)), "got {again:?}");
    assert_eq!(
        store.inbox_backlog().await.unwrap(),
        1,
        "the old row gave up its key"
    );
}

async fn pending_inbox_entries_come_oldest_first_until_finished(store: Store) {
    for (i, key) in ["a", "b", "c"].iter().enumerate() {
        store
            .insert_inbox(&event(key, 1_000 + i as i64), 99_999)
            .await
            .unwrap();
    }
    let pending = store.pending_inbox(10).await.unwrap();
    let keys: Vec<&str> = pending.iter().map(|e| e.dedupe_key.as_str()).collect();
    assert_eq!(keys, ["a", "b", "c"]);
    store
        .finish_inbox(pending[0].id, "applied", None, 2_000)
        .await
        .unwrap();
    store
        .finish_inbox(pending[1].id, "failed", Some("boom"), 2_000)
        .await
        .unwrap();
    let left = store.pending_inbox(10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].dedupe_key, "c");
    let done = store.inbox_entry(pending[0].id).await.unwrap().unwrap();
    assert_eq!(
        (done.status.as_str(), done.outcome.as_deref()),
        ("done", Some("applied"))
    );
}

async fn links_are_found_from_either_side_and_updated_in_place(store: Store) {
    let id = store
        .upsert_link(&link("3458764517517819000", "9988"))
        .await
        .unwrap();
    let by_miro = store
        .link_by_miro("sprint", &"3458764517517819000".into())
        .await
        .unwrap()
        .unwrap();
    let by_monday = store
        .link_by_monday("sprint", &"9988".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_miro, by_monday);
    assert_eq!(by_miro.id, id);
    assert_eq!(by_miro.fields["title"]["value"], "Plan");
    assert!(
        store
            .link_by_miro("other-pair", &"3458764517517819000".into())
            .await
            .unwrap()
            .is_none()
    );

    let mut changed = by_miro.clone();
    changed.fields = json!({"title": {"value": "Plan v2", "ts": 200}});
    changed.state = LinkState::Quarantined;
    changed.updated_at = 200;
    assert_eq!(store.upsert_link(&changed).await.unwrap(), id, "same row");
    let after = store
        .link_by_monday("sprint", &"9988".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.fields["title"]["value"], "Plan v2");
    assert_eq!(after.state, LinkState::Quarantined);
    assert_eq!(
        store
            .count_links("sprint", LinkState::Quarantined)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .count_links("sprint", LinkState::Active)
            .await
            .unwrap(),
        0
    );
}

async fn a_link_cannot_join_one_monday_item_to_two_miro_items(store: Store) {
    store.upsert_link(&link("1", "9988")).await.unwrap();
    assert!(store.upsert_link(&link("2", "9988")).await.is_err());
}

async fn enqueueing_the_same_write_twice_keeps_one_row(store: Store) {
    let a = store.enqueue(&write("w-1", 1_000)).await.unwrap();
    let b = store.enqueue(&write("w-1", 5_000)).await.unwrap();
    assert_eq!(a, b);
    let claimed = store.claim_due("test", 10_000, 30_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].due_at, 1_000, "the first enqueue wins");
}

async fn due_rows_are_claimed_once_and_reclaimed_after_the_lease(store: Store) {
    store.enqueue(&write("early", 1_000)).await.unwrap();
    store.enqueue(&write("later", 2_000)).await.unwrap();
    store.enqueue(&write("future", 9_000)).await.unwrap();

    let claimed = store.claim_due("test", 5_000, 1_000, 10).await.unwrap();
    let keys: Vec<&str> = claimed.iter().map(|e| e.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["early", "later"]);
    assert!(
        claimed
            .iter()
            .all(|e| e.status == OutboxStatus::InFlight && e.attempts == 1)
    );
    assert!(
        store
            .claim_due("test", 5_500, 1_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );

    store.complete(claimed[0].id, 5_600).await.unwrap();
    let reclaimed = store.claim_due("test", 6_000, 1_000, 10).await.unwrap();
    assert_eq!(
        reclaimed.len(),
        1,
        "the lapsed lease comes back, the completed row does not"
    );
    assert_eq!(reclaimed[0].idempotency_key, "later");
    assert_eq!(reclaimed[0].attempts, 2);
}

async fn a_claim_renewed_by_its_dispatcher_holds_and_one_left_alone_lapses(store: Store) {
    store.enqueue(&write("kept", 1_000)).await.unwrap();
    store.enqueue(&write("dropped", 1_000)).await.unwrap();
    let alive = store.claim_due("alive", 1_000, 1_000, 1).await.unwrap();
    let dead = store.claim_due("dead", 1_000, 1_000, 1).await.unwrap();
    assert_eq!((alive.len(), dead.len()), (1, 1));
    assert_eq!(store.renew_claims("alive", 10_000).await.unwrap(), 1);
    // Past the first lease: only the row of the dispatcher that stopped renewing comes back.
    let taken = store.claim_due("other", 5_000, 1_000, 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].idempotency_key, dead[0].idempotency_key);
    // Its old claimer can no longer renew it.
    assert_eq!(store.renew_claims("dead", 20_000).await.unwrap(), 0);
    store.complete(alive[0].id, 6_000).await.unwrap();
    assert_eq!(
        store.renew_claims("alive", 20_000).await.unwrap(),
        0,
        "settled rows are not claims"
    );
}

async fn failed_rows_wait_for_their_retry_time(store: Store) {
    let id = store.enqueue(&write("retry", 1_000)).await.unwrap();
    store.claim_due("test", 1_000, 1_000, 10).await.unwrap();
    store.schedule_retry(id, 8_000, "HTTP 503").await.unwrap();
    assert!(
        store
            .claim_due("test", 7_999, 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.claim_due("test", 8_000, 1_000, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].last_error.as_deref(), Some("HTTP 503"));
    assert_eq!(again[0].attempts, 2);
}

async fn dead_rows_stay_until_requeued(store: Store) {
    let id = store.enqueue(&write("doomed", 1_000)).await.unwrap();
    store.claim_due("test", 1_000, 1_000, 10).await.unwrap();
    store
        .mark_dead(id, "400 invalidParameters", 1_500)
        .await
        .unwrap();
    assert!(
        store
            .claim_due("test", 100_000, 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    store.prune(1_000_000, 1_000_000, 1_000_000).await.unwrap();
    let dead = store.dead_entries(Some("sprint")).await.unwrap();
    assert_eq!(dead.len(), 1, "pruning never removes dead rows");
    assert_eq!(dead[0].status, OutboxStatus::Dead);
    assert!(store.dead_entries(Some("other")).await.unwrap().is_empty());

    assert_eq!(
        store.requeue_dead(None, Some(2_000), 3_000).await.unwrap(),
        0,
        "died before --since"
    );
    assert_eq!(
        store
            .requeue_dead(Some("sprint"), Some(1_500), 3_000)
            .await
            .unwrap(),
        1
    );
    let back = store.claim_due("test", 3_000, 1_000, 10).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].attempts, 1, "attempts start over");
}

async fn cursors_keep_the_last_value(store: Store) {
    assert_eq!(store.cursor("miro-scan:sprint").await.unwrap(), None);
    store
        .record_cursor("miro-scan:sprint", "abc", 1)
        .await
        .unwrap();
    store
        .record_cursor("miro-scan:sprint", "def", 2)
        .await
        .unwrap();
    assert_eq!(
        store.cursor("miro-scan:sprint").await.unwrap().as_deref(),
        Some("def")
    );
}

async fn a_lease_has_one_holder_until_it_expires_or_is_given_up(store: Store) {
    assert!(store.lease("processor", "a", 1_000, 10_000).await.unwrap());
    assert!(
        !store.lease("processor", "b", 2_000, 10_000).await.unwrap(),
        "a holds it"
    );
    assert!(
        store.lease("processor", "a", 5_000, 10_000).await.unwrap(),
        "a renews it"
    );
    assert!(!store.lease("processor", "b", 14_999, 10_000).await.unwrap());
    assert!(
        store.lease("processor", "b", 15_000, 10_000).await.unwrap(),
        "b takes it once a's renewal expired"
    );
    assert!(!store.lease("processor", "a", 16_000, 10_000).await.unwrap());
    assert!(
        store.lease("other", "a", 16_000, 10_000).await.unwrap(),
        "leases are by name"
    );
    store.release_lease("processor", "a").await.unwrap();
    assert!(
        !store.lease("processor", "a", 17_000, 10_000).await.unwrap(),
        "only the holder gives it up"
    );
    store.release_lease("processor", "b").await.unwrap();
    assert!(store.lease("processor", "a", 17_000, 10_000).await.unwrap());
}

async fn own_writes_become_the_snapshot_only_when_nothing_hides_behind_them(store: Store) {
    let miro = "3458764517517819000";
    let id = store.upsert_link(&link(miro, "9988")).await.unwrap();
    let fields = store
        .link_by_id(id)
        .await
        .unwrap()
        .unwrap()
        .fields
        .to_string();
    // A change of the item is waiting in the inbox: not noted.
    let mut waiting = event("scan-v1", 1_000);
    waiting.item_id = Some(miro.to_owned());
    let InboxInsert::Stored(entry) = store.insert_inbox(&waiting, 9_000).await.unwrap() else {
        panic!("stored")
    };
    assert!(
        !store
            .note_own_write("sprint", &miro.into(), "v2", id, &fields, 2_000)
            .await
            .unwrap()
    );
    store
        .finish_inbox(entry, "applied", None, 2_100)
        .await
        .unwrap();
    // The link changed since the caller read it: not noted.
    assert!(
        !store
            .note_own_write("sprint", &miro.into(), "v2", id, r#"{"title":{}}"#, 2_200)
            .await
            .unwrap()
    );
    assert!(store.snapshots("sprint", "miro").await.unwrap().is_empty());
    // Otherwise the write's version is the snapshot; a later write replaces it.
    for version in ["v2", "v3"] {
        assert!(
            store
                .note_own_write("sprint", &miro.into(), version, id, &fields, 2_300)
                .await
                .unwrap()
        );
    }
    let snapshots = store.snapshots("sprint", "miro").await.unwrap();
    let seen: Vec<(&str, &str)> = snapshots
        .iter()
        .map(|s| (s.item_id.as_str(), s.version.as_str()))
        .collect();
    assert_eq!(seen, [(miro, "v3")]);
}

async fn a_snapshot_is_read_by_item_within_its_pair_and_side(store: Store) {
    let tagged = |item: &str, version: &str| Snapshot {
        item_id: item.to_owned(),
        version: version.to_owned(),
        data: "1".to_owned(),
    };
    store
        .save_snapshots(
            "sprint",
            "miro-tags",
            &[tagged("a", "urgent"), tagged("b", "")],
            &[],
            1,
        )
        .await
        .unwrap();
    store
        .save_snapshots("other", "miro-tags", &[tagged("a", "later")], &[], 1)
        .await
        .unwrap();
    let read = |pair: &'static str, side: &'static str, item: &'static str| {
        let store = store.clone();
        async move { store.snapshot(pair, side, item).await.unwrap() }
    };
    assert_eq!(
        read("sprint", "miro-tags", "a").await,
        Some(tagged("a", "urgent"))
    );
    assert_eq!(
        read("other", "miro-tags", "a").await,
        Some(tagged("a", "later"))
    );
    assert_eq!(
        read("sprint", "miro-tags", "b").await,
        Some(tagged("b", ""))
    );
    assert_eq!(read("sprint", "miro", "a").await, None);
    assert_eq!(read("sprint", "miro-tags", "c").await, None);
}

async fn history_lists_newest_first_per_pair(store: Store) {
    for (at, pair, outcome) in [
        (1, "sprint", "applied"),
        (3, "sprint", "echo"),
        (2, "other", "stale"),
    ] {
        store
            .record_history(&HistoryEntry {
                at,
                pair: pair.to_owned(),
                origin: "miro".to_owned(),
                item: "1".to_owned(),
                title: Some("Plan".to_owned()),
                outcome: outcome.to_owned(),
                detail: None,
            })
            .await
            .unwrap();
    }
    let recent = store.history_page("sprint", None, None, 10).await.unwrap();
    let outcomes: Vec<&str> = recent.iter().map(|h| h.outcome.as_str()).collect();
    assert_eq!(outcomes, ["echo", "applied"]);
    assert_eq!(
        store
            .history_page("sprint", None, None, 1)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn pruning_removes_only_finished_old_rows(store: Store) {
    let InboxInsert::Stored(old) = store
        .insert_inbox(&event("old", 1_000), 2_000)
        .await
        .unwrap()
    else {
        panic!("stored")
    };
    store
        .finish_inbox(old, "applied", None, 1_100)
        .await
        .unwrap();
    store
        .insert_inbox(&event("waiting", 1_000), 2_000)
        .await
        .unwrap();
    let done = store.enqueue(&write("done", 1_000)).await.unwrap();
    store.claim_due("test", 1_000, 10, 10).await.unwrap();
    store.complete(done, 1_200).await.unwrap();
    let pending = store.enqueue(&write("pending", 1_000_000)).await.unwrap();

    store
        .insert_inbox(&event("recent", 8_000), 9_000)
        .await
        .unwrap();

    // Raw bodies are dropped sooner than rows: only those received before 2_000.
    let pruned = store.prune(5_000, 2_000, 5_000).await.unwrap();
    // the processed inbox row, the done outbox row, and both expired dedupe keys
    assert_eq!(pruned.rows, 4);
    assert_eq!(
        pruned.raw_bodies, 1,
        "the waiting entry stays, without its raw body"
    );
    assert_eq!(
        store.prune(5_000, 2_000, 5_000).await.unwrap(),
        Default::default(),
        "a second run finds nothing"
    );
    assert!(store.inbox_entry(old).await.unwrap().is_none());
    assert_eq!(
        store.inbox_backlog().await.unwrap(),
        2,
        "unprocessed entries stay"
    );
    assert!(store.outbox_entry(done).await.unwrap().is_none());
    assert!(store.outbox_entry(pending).await.unwrap().is_some());
}

async fn a_batch_stores_each_new_key_once_and_known_outcomes_as_done(store: Store) {
    let mut ignored = event("ignored", 1_000);
    ignored.outcome = Some("ignored".to_owned());
    let (a, b) = (event("a", 1_000), event("b", 1_000));
    let results = store
        .insert_inbox_batch(&[(&a, 9_000), (&b, 9_000), (&a, 9_000), (&ignored, 9_000)])
        .await
        .unwrap();
    assert!(matches!(results[0], InboxInsert::Stored(_)));
    assert!(matches!(results[1], InboxInsert::Stored(_)));
    assert_eq!(
        results[2],
        InboxInsert::Duplicate,
        "a key repeated within one batch"
    );
    assert!(matches!(results[3], InboxInsert::Stored(_)));
    assert_eq!(
        store.inbox_backlog().await.unwrap(),
        2,
        "the ignored event is not for the processor"
    );
    assert_eq!(store.count_inbox(Some("ignored")).await.unwrap(), 1);
    assert_eq!(store.count_inbox(None).await.unwrap(), 3);
}

async fn a_paused_pair_keeps_its_work_until_resumed(store: Store) {
    store
        .insert_inbox(&event("paused-1", 1_000), 10_000)
        .await
        .unwrap();
    store.enqueue(&write("paused-write", 1_000)).await.unwrap();
    store.pause_pair("sprint", 2_000).await.unwrap();
    store.pause_pair("sprint", 3_000).await.unwrap();
    assert_eq!(
        store.paused_since("sprint").await.unwrap(),
        Some(2_000),
        "the first pause counts"
    );
    assert!(store.pending_inbox(10).await.unwrap().is_empty());
    assert!(
        store
            .claim_due("test", 5_000, 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.oldest_waiting("sprint").await.unwrap(),
        Some(1_000),
        "still waiting"
    );

    assert!(store.resume_pair("sprint").await.unwrap());
    assert!(
        !store.resume_pair("sprint").await.unwrap(),
        "not paused any more"
    );
    assert_eq!(store.paused_since("sprint").await.unwrap(), None);
    assert_eq!(store.pending_inbox(10).await.unwrap().len(), 1);
    assert_eq!(
        store
            .claim_due("test", 5_000, 1_000, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn one_dead_row_is_retried_or_discarded(store: Store) {
    let (one, two) = (
        store.enqueue(&write("dead-1", 1_000)).await.unwrap(),
        store.enqueue(&write("dead-2", 1_000)).await.unwrap(),
    );
    store.claim_due("test", 1_000, 1_000, 10).await.unwrap();
    store.mark_dead(one, "HTTP 400", 1_500).await.unwrap();
    store.mark_dead(two, "HTTP 400", 1_500).await.unwrap();

    assert!(store.retry_dead(one, 2_000).await.unwrap());
    assert!(
        !store.retry_dead(one, 2_000).await.unwrap(),
        "no longer dead"
    );
    assert!(store.discard_dead(two, 2_000).await.unwrap());
    assert!(
        !store.retry_dead(two, 2_000).await.unwrap(),
        "discarded stays so"
    );
    assert!(store.dead_entries(None).await.unwrap().is_empty());
    let discarded = store.outbox_entry(two).await.unwrap().unwrap();
    assert_eq!(discarded.status, OutboxStatus::Discarded);
    assert_eq!(store.outbox_counts("sprint").await.unwrap(), (1, 0));

    let back = store.claim_due("test", 2_000, 1_000, 10).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!((back[0].id, back[0].attempts), (one, 1));
    store.prune(1_000_000, 1_000_000, 1_000_000).await.unwrap();
    assert!(
        store.outbox_entry(two).await.unwrap().is_none(),
        "pruned like done rows"
    );
}

async fn releasing_a_link_forgets_the_loop_breakers_count(store: Store) {
    let mut quarantined = link("3458764517517819000", "9988");
    quarantined.state = LinkState::Quarantined;
    quarantined.fields =
        json!({"fields": {"title": {"value": "Plan"}}, "recent_writes": [1, 2, 3]});
    store.upsert_link(&quarantined).await.unwrap();

    assert!(store.release_link("sprint", "9988", 5_000).await.unwrap());
    let released = store
        .link_by_monday("sprint", &"9988".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(released.state, LinkState::Active);
    assert_eq!(
        released.fields,
        json!({"fields": {"title": {"value": "Plan"}}})
    );
    assert!(
        !store.release_link("sprint", "9988", 6_000).await.unwrap(),
        "not quarantined now"
    );
}

async fn history_is_searched_by_either_items_id_or_title(store: Store) {
    store
        .upsert_link(&link("3458764517517819000", "9988"))
        .await
        .unwrap();
    for (at, origin, item, title) in [
        (1, "monday", "9988", "Plan the offsite"),
        (2, "miro", "3458764517517819000", "Plan the offsite"),
        (3, "monday", "7777", "Write the notes"),
    ] {
        store
            .record_history(&HistoryEntry {
                at,
                pair: "sprint".into(),
                origin: origin.into(),
                item: item.into(),
                title: Some(title.into()),
                outcome: "applied".into(),
                detail: None,
            })
            .await
            .unwrap();
    }
    let items = |rows: Vec<boardsync::store::HistoryRow>| -> Vec<(String, Option<String>)> {
        rows.into_iter().map(|r| (r.item, r.miro_item)).collect()
    };
    let all = store.history_page("sprint", None, None, 10).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].item, "7777", "newest first");
    assert_eq!(all[0].miro_item, None, "no link");
    for q in ["9988", "3458764517517819000", "PLAN the"] {
        let found = items(
            store
                .history_page("sprint", Some(q), None, 10)
                .await
                .unwrap(),
        );
        assert_eq!(
            found,
            [
                (
                    "3458764517517819000".to_owned(),
                    Some("3458764517517819000".to_owned())
                ),
                ("9988".to_owned(), Some("3458764517517819000".to_owned())),
            ],
            "{q}"
        );
    }
    let older = store
        .history_page("sprint", None, Some(all[1].id), 10)
        .await
        .unwrap();
    assert_eq!(older.len(), 1, "the next page");
    let after = store.history_after(all[2].id, 10).await.unwrap();
    assert_eq!(after.len(), 2, "oldest first after an id");
    assert_eq!(store.last_history_id().await.unwrap(), all[0].id);
}
