//! A property of the inbox writer and the store's dedupe: whatever the interleaving of duplicate
//! deliveries (how many copies, in what order, how many at once), each event is stored exactly
//! once.

use boardsync::ingress::writer::InboxWriter;
use boardsync::store::{InboxInsert, NewInboxEntry, Store};
use proptest::prelude::*;

fn entry(key: u8, copy: usize) -> NewInboxEntry {
    NewInboxEntry {
        dedupe_key: format!("monday:{key:032x}"),
        source: "monday".into(),
        pair: None,
        board_id: "1".into(),
        item_id: Some(key.to_string()),
        kind: "updated".into(),
        change: "{}".into(),
        raw_body: None,
        source_ts: None,
        received_at: 1_000 + copy as i64,
        outcome: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn each_event_is_stored_once_whatever_the_interleaving(
        deliveries in proptest::collection::vec(0u8..12, 1..80),
        concurrency in 1usize..16,
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (stored, distinct, rows) = runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(&format!("sqlite://{}", dir.path().join("p.db").display())).await.unwrap();
            let writer = InboxWriter::spawn(store.clone(), None);
            let mut stored = 0;
            for chunk in deliveries.chunks(concurrency) {
                let mut set = tokio::task::JoinSet::new();
                for (i, key) in chunk.iter().enumerate() {
                    let (writer, e) = (writer.clone(), entry(*key, i));
                    set.spawn(async move { writer.insert(e, i64::MAX).await.unwrap() });
                }
                while let Some(r) = set.join_next().await {
                    if matches!(r.unwrap(), InboxInsert::Stored(_)) {
                        stored += 1;
                    }
                }
            }
            let mut distinct = deliveries.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let rows = store.count_inbox(None).await.unwrap();
            (stored, distinct.len() as i64, rows)
        });
        prop_assert_eq!(stored, distinct);
        prop_assert_eq!(rows, distinct);
    }
}
