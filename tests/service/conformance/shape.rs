//! "Same keys and value types": compares a JSON body with a real sample, recursively, and lists
//! every key one has and the other lacks, and every value whose JSON type differs.

use serde_json::Value;

/// Keys whose contents depend on the column or item (a status value, a date value), compared only
/// for their presence.
const OPAQUE: [&str; 3] = ["value", "previousValue", "columnValues"];

pub fn differences(ours: &Value, sample: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("", ours, sample, &mut out);
    out
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn walk(path: &str, ours: &Value, sample: &Value, out: &mut Vec<String>) {
    match (ours, sample) {
        (Value::Object(o), Value::Object(s)) => {
            for (k, sv) in s {
                let p = format!("{path}.{k}");
                match o.get(k) {
                    None => out.push(format!("{p} is missing")),
                    Some(_) if OPAQUE.contains(&k.as_str()) => {}
                    Some(ov) => walk(&p, ov, sv, out),
                }
            }
            for k in o.keys().filter(|k| !s.contains_key(*k)) {
                out.push(format!("{path}.{k} is not in the sample"));
            }
        }
        (Value::Array(o), Value::Array(s)) => {
            if let (Some(o), Some(s)) = (o.first(), s.first()) {
                walk(&format!("{path}[0]"), o, s, out);
            }
        }
        // A null in the sample (originalTriggerUuid, previousValue) says nothing of the type.
        (_, Value::Null) => {}
        // A float that happens to be whole (a coordinate, a width) is still a number.
        (Value::Number(_), Value::Number(_)) => {}
        (o, s) if kind(o) != kind(s) => out.push(format!(
            "{path} is {} here, {} in the sample",
            kind(o),
            kind(s)
        )),
        _ => {}
    }
}

#[test]
fn missing_extra_and_retyped_keys_are_all_reported() {
    let sample =
        serde_json::json!({"event": {"pulseId": 1, "name": "a", "value": {"x": 1}, "o": null}});
    let ours = serde_json::json!({"event": {"pulseId": "1", "value": 3, "o": "x", "extra": true}});
    let mut d = differences(&ours, &sample);
    d.sort();
    assert_eq!(
        d,
        [
            ".event.extra is not in the sample",
            ".event.name is missing",
            ".event.pulseId is string here, integer in the sample",
        ]
    );
}
