//! Values between the two sides. Every mapped field has a *logical* value, the text a person
//! would read: a sticky note's HTML content as plain text, a fill colour as the status label the
//! value map names. Comparisons (echo, conflict, "did it change") happen on logical values, so a
//! round trip through both APIs is stable even where Miro rewrites its HTML.

use crate::config::FieldMapping;
use serde_json::Value;

/// Miro fields that hold HTML text.
fn is_html(path: &str) -> bool {
    matches!(path, "data.content" | "data.title" | "data.description")
}

/// The logical value of a Miro field, or `None` when the value map has no entry for it (the
/// change is then filtered for this field).
pub fn from_miro(field: &FieldMapping, path: &str, native: &Value) -> Option<String> {
    let text = match native {
        Value::Null => String::new(),
        Value::String(s) if is_html(path) => html_to_text(s),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if is_html(path) {
        return Some(text);
    }
    field.to_monday_value(&text).map(str::to_owned)
}

/// The Miro value to write for a logical value, or `None` when the value map cannot express it.
pub fn to_miro(field: &FieldMapping, path: &str, logical: &str) -> Option<Value> {
    if is_html(path) {
        return Some(Value::String(text_to_html(logical)));
    }
    field
        .to_miro_value(logical)
        .map(|v| Value::String(v.to_owned()))
}

/// The logical value of a monday column value as a webhook or a read gives it: a name as it is,
/// a status as its label, a text column as its text.
pub fn from_monday(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some(String::new()),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(o) => {
            if let Some(label) = o.get("label") {
                return match label {
                    Value::Object(l) => l.get("text").and_then(Value::as_str).map(str::to_owned),
                    Value::String(s) => Some(s.clone()),
                    _ => None,
                };
            }
            ["text", "value", "date"]
                .iter()
                .find_map(|k| o.get(*k))
                .and_then(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Null => Some(String::new()),
                    _ => None,
                })
        }
        _ => None,
    }
}

/// The value `change_multiple_column_values` takes for a column of `column_type`.
pub fn to_monday(column_type: &str, logical: &str) -> Value {
    match column_type {
        "status" | "color" => serde_json::json!({ "label": logical }),
        "long_text" => serde_json::json!({ "text": logical }),
        "date" if logical.is_empty() => Value::Null,
        "date" => serde_json::json!({ "date": logical }),
        _ => Value::String(logical.to_owned()),
    }
}

/// Miro's HTML as plain text: each paragraph and `<br>` a line, tags dropped, entities decoded,
/// surrounding blank lines trimmed.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            // A lone `<` is text.
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let tag = rest[start + 1..start + end]
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let closing = rest[start + 1..].starts_with('/');
        match tag.as_str() {
            "br" => out.push('\n'),
            "p" | "div" | "li" if closing => out.push('\n'),
            _ => {}
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    let decoded = html_escape::decode_html_entities(&out).replace('\u{a0}', " ");
    decoded.trim_matches('\n').to_owned()
}

/// Plain text as Miro HTML: one `<p>` per line, `<`, `>` and `&` escaped.
pub fn text_to_html(text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    text.split('\n')
        .map(|line| format!("<p>{}</p>", html_escape::encode_text(line)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Direction, MiroSide};
    use serde_json::json;

    fn status_map() -> FieldMapping {
        FieldMapping {
            name: "status".into(),
            miro: MiroSide::All("style.fillColor".into()),
            monday: "status".into(),
            direction: Direction::Both,
            miro_as: None,
            values: vec![
                ("light_green".into(), "Done".into()),
                ("red".into(), "Stuck".into()),
            ],
        }
    }

    #[test]
    fn html_becomes_lines_of_text_with_entities_decoded() {
        assert_eq!(html_to_text("<p>Fix &amp; ship</p>"), "Fix & ship");
        assert_eq!(html_to_text("<p>one</p><p>two</p>"), "one\ntwo");
        assert_eq!(html_to_text("<p>a<br>b</p>"), "a\nb");
        assert_eq!(
            html_to_text("<p><strong>bold</strong> &lt;tag&gt;</p>"),
            "bold <tag>"
        );
        assert_eq!(html_to_text("1 < 2"), "1 < 2");
        assert_eq!(html_to_text(""), "");
    }

    #[test]
    fn text_round_trips_through_miro_html() {
        for text in [
            "Fix & ship",
            "a\nb",
            "<script>x</script>",
            "quote \" and 'apostrophe'",
            "",
            "ü ß 中",
        ] {
            assert_eq!(html_to_text(&text_to_html(text)), text, "{text:?}");
        }
    }

    #[test]
    fn status_colours_map_both_ways_and_unmapped_values_are_filtered() {
        let f = status_map();
        assert_eq!(
            from_miro(&f, "style.fillColor", &json!("light_green")).as_deref(),
            Some("Done")
        );
        assert_eq!(from_miro(&f, "style.fillColor", &json!("blue")), None);
        assert_eq!(to_miro(&f, "style.fillColor", "Stuck"), Some(json!("red")));
        assert_eq!(to_miro(&f, "style.fillColor", "Working on it"), None);
    }

    #[test]
    fn monday_values_read_as_their_text_and_write_in_their_column_format() {
        assert_eq!(
            from_monday(&json!({"label": {"index": 1, "text": "Done"}})).as_deref(),
            Some("Done")
        );
        assert_eq!(
            from_monday(&json!({"value": "abc"})).as_deref(),
            Some("abc")
        );
        assert_eq!(
            from_monday(&json!({"text": "long"})).as_deref(),
            Some("long")
        );
        assert_eq!(
            from_monday(&json!("Item name")).as_deref(),
            Some("Item name")
        );
        assert_eq!(to_monday("status", "Done"), json!({"label": "Done"}));
        assert_eq!(to_monday("long_text", "x"), json!({"text": "x"}));
        assert_eq!(to_monday("text", "x"), json!("x"));
    }
}
