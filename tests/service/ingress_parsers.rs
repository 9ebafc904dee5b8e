//! The webhook parsers take any bytes without panicking: random bytes, random JSON, and real
//! bodies with their values replaced by values of other types.

use boardsync::ingress::{parse_miro, parse_monday};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z0-9_ ]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z]{1,10}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn monday_sample() -> Value {
    json!({"event": {"app": "monday", "type": "update_column_value", "triggerTime": "2025-02-05T17:52:53.186Z",
        "subscriptionId": 466701570, "isRetry": false, "userId": 67214742, "boardId": 7786783342u64,
        "pulseId": 7786784079u64, "columnId": "status", "columnType": "color", "value": {"label": {"index": 0}},
        "triggerUuid": "179d9f2b3f2bc19d141f4bc53764cf01"}})
}

fn miro_sample() -> Value {
    json!({"eventType": "board_subscription", "event": {"boardId": "uXjV=", "type": "update",
        "item": {"id": "3458764500000000001", "type": "sticky_note", "modifiedAt": "2023-02-01T15:24:35Z",
        "data": {"content": "<p>x</p>"}, "style": {"fillColor": "red"}, "modifiedBy": {"id": "1"}}},
        "eventTime": "2023-02-01T15:24:35Z", "appId": 3458764500000000003u64, "users": [1]})
}

/// Replaces the value at `path` (keys separated by '/') with `with`.
fn replace(mut v: Value, path: &[&str], with: Value) -> Value {
    if let Some(slot) = path.iter().try_fold(&mut v, |at, k| at.get_mut(*k)) {
        *slot = with;
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_miro(&bytes);
        let _ = parse_monday(&bytes);
    }

    #[test]
    fn random_json_never_panics(v in any_json()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        let _ = parse_miro(&bytes);
        let _ = parse_monday(&bytes);
    }

    #[test]
    fn real_bodies_with_retyped_fields_never_panic(
        field in prop::sample::select(vec!["type", "triggerUuid", "pulseId", "boardId", "userId", "value", "columnId", "triggerTime", "changedAt"]),
        miro_field in prop::sample::select(vec!["boardId", "type", "item"]),
        with in any_json(),
    ) {
        let monday = replace(monday_sample(), &["event", field], with.clone());
        let _ = parse_monday(&serde_json::to_vec(&monday).unwrap());
        let miro = replace(miro_sample(), &["event", miro_field], with);
        let _ = parse_miro(&serde_json::to_vec(&miro).unwrap());
    }
}

#[test]
fn the_unchanged_samples_parse() {
    let monday = parse_monday(&serde_json::to_vec(&monday_sample()).unwrap()).unwrap();
    assert_eq!(monday[0].key(), "monday:179d9f2b3f2bc19d141f4bc53764cf01");
    let miro = parse_miro(&serde_json::to_vec(&miro_sample()).unwrap()).unwrap();
    assert_eq!(miro[0].change().unwrap().item.item(), "3458764500000000001");
}
