//! Values between the two sides. Every mapped field has a *logical* value, the text a person
//! would read: a sticky note's HTML content as plain text, a fill colour as the status label the
//! value map names. Comparisons (echo, conflict, "did it change") happen on logical values, so a
//! round trip through both APIs is stable even where Miro rewrites its HTML.

use crate::config::{FieldMapping, PairConfig};
use serde_json::Value;

/// Miro fields that hold HTML text.
fn is_html(path: &str) -> bool {
    matches!(path, "data.content" | "data.title" | "data.description")
}

/// The Miro path of an item's tags, and of the connectors that start at it.
pub(crate) const TAGS: &str = "tags";
pub(crate) const CONNECTORS: &str = "connectors";
/// The key under which a Miro change says whether its item carries the pair's
/// `miro_filter.tag` (as the tag poll last saw it); no Miro path looks like it.
pub(crate) const FILTER_TAG: &str = "@filter_tag";
/// A key the processor adds to a Miro change: the paths boardsync itself set in the very version
/// the change reports (an array), as the dispatcher noted after its write. Those fields are
/// boardsync's own write coming back, even when a newer one is already on its way.
pub(crate) const OWN_FIELDS: &str = "@own_fields";
/// A key the processor adds to a Miro change: the paths boardsync's own writes set in versions
/// newer than the one the change reports (an array). What the change shows in those fields is
/// older than a write of boardsync's that has landed since: stale, whatever its time says (a
/// Miro item has one `modifiedAt`, which a write of another field moves on).
pub(crate) const LATER_OWN_FIELDS: &str = "@later_own_fields";

/// How many of its last writes to one Miro item boardsync remembers: a change reporting an older
/// one may be processed after newer ones landed.
const REMEMBERED_OWN_WRITES: usize = 8;

/// boardsync's last writes to one Miro item, oldest first: each version (`modifiedAt`) it made
/// and the paths it set.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct OwnWrites(Vec<(String, Vec<String>)>);

impl OwnWrites {
    /// As stored; anything else (a note in an older shape) is no note.
    pub(crate) fn parse(text: &str) -> OwnWrites {
        serde_json::from_str(text).unwrap_or_default()
    }

    pub(crate) fn push(&mut self, version: &str, paths: Vec<String>) {
        self.0.push((version.to_owned(), paths));
        if self.0.len() > REMEMBERED_OWN_WRITES {
            self.0.remove(0);
        }
    }

    /// The paths boardsync's write that made the version of `at` (Unix µs) set.
    pub(crate) fn paths_at(&self, at: i64) -> Option<&[String]> {
        self.0
            .iter()
            .rev()
            .find(|(version, _)| {
                crate::domain::change::micros(&Value::String(version.clone())) == Some(at)
            })
            .map(|(_, paths)| paths.as_slice())
    }

    /// The paths boardsync's writes set in versions newer than that of `at` (Unix µs).
    pub(crate) fn paths_after(&self, at: i64) -> Vec<String> {
        let mut paths: Vec<String> = self
            .0
            .iter()
            .filter(|(version, _)| {
                crate::domain::change::micros(&Value::String(version.clone()))
                    .is_some_and(|v| v > at)
            })
            .flat_map(|(_, paths)| paths.iter().cloned())
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }
}

/// Miro fields that are not in an item's body: Miro keeps tags and connectors apart, with
/// endpoints of their own, and boardsync reads them with pollers of their own.
pub(crate) fn polled_apart(path: &str) -> bool {
    matches!(path, TAGS | CONNECTORS)
}

/// Tag titles as one logical value: each trimmed (a comma separates two tags, as in monday's
/// text of a tags column), empty ones and repeats dropped, sorted case-insensitively, joined with
/// `, `. Both sides' tags go through this, so the same set reads the same whatever its order.
pub(crate) fn normalise_tags<'a>(titles: impl IntoIterator<Item = &'a str>) -> String {
    let mut out: Vec<&str> = titles
        .into_iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    out.sort_by(|a, b| {
        a.to_lowercase()
            .cmp(&b.to_lowercase())
            .then_with(|| a.cmp(b))
    });
    out.dedup();
    out.join(", ")
}

/// The tag titles of a logical value.
pub(crate) fn tag_titles(logical: &str) -> Vec<String> {
    logical
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// monday item ids as one logical value: sorted numerically, repeats dropped, joined with `, `.
/// Anything that is not an id is dropped.
pub(crate) fn normalise_ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    let mut out: Vec<u64> = ids
        .into_iter()
        .flat_map(|t| t.split(','))
        .filter_map(|t| t.trim().parse().ok())
        .collect();
    out.sort_unstable();
    out.dedup();
    out.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The monday item ids of a logical value.
pub(crate) fn item_ids(logical: &str) -> Vec<u64> {
    logical
        .split(',')
        .filter_map(|t| t.trim().parse().ok())
        .collect()
}

/// The logical value of a Miro field, or `None` when the value map has no entry for it (the
/// change is then filtered for this field).
pub(crate) fn from_miro(field: &FieldMapping, path: &str, native: &Value) -> Option<String> {
    if polled_apart(path) {
        // The pollers' values: a list of titles or ids, or already one logical value.
        let parts: Vec<String> = match native {
            Value::Array(a) => a
                .iter()
                .filter_map(crate::domain::change::id_text)
                .collect(),
            Value::String(s) => vec![s.clone()],
            _ => Vec::new(),
        };
        let parts = parts.iter().map(String::as_str);
        return Some(if path == TAGS {
            normalise_tags(parts)
        } else {
            normalise_ids(parts)
        });
    }
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
pub(crate) fn to_miro(field: &FieldMapping, path: &str, logical: &str) -> Option<Value> {
    if polled_apart(path) {
        // Written by the dispatcher through the tag and connector endpoints, never in a body.
        return Some(Value::String(logical.to_owned()));
    }
    if is_html(path) {
        return Some(Value::String(text_to_html(logical)));
    }
    field
        .to_miro_value(logical)
        .map(|v| Value::String(v.to_owned()))
}

/// The logical value of a monday column value as a webhook or a read gives it: a name as it is,
/// a status as its label, a text column as its text.
pub(crate) fn from_monday(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some(String::new()),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(o) => {
            if let Some(linked) = o.get("linkedPulseIds") {
                // A dependency or board_relation column, as its webhook gives it.
                let ids: Vec<String> = linked
                    .as_array()?
                    .iter()
                    .filter_map(|l| crate::domain::change::id_text(&l["linkedPulseId"]))
                    .collect();
                return Some(normalise_ids(ids.iter().map(String::as_str)));
            }
            if o.contains_key("tag_ids") {
                // Ids only: the item is read for the names (the change is incomplete).
                return None;
            }
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

/// The value `change_multiple_column_values` takes for a column of `column_type`. A tags column
/// takes tag ids, which the dispatcher looks up by name ([`tags_to_monday`]).
pub(crate) fn to_monday(column_type: &str, logical: &str) -> Value {
    match column_type {
        "dependency" | "board_relation" => serde_json::json!({ "item_ids": item_ids(logical) }),
        "status" | "color" => serde_json::json!({ "label": logical }),
        "long_text" => serde_json::json!({ "text": logical }),
        "date" if logical.is_empty() => Value::Null,
        "date" => serde_json::json!({ "date": logical }),
        _ => Value::String(logical.to_owned()),
    }
}

/// A tags column's value for these tag ids.
pub(crate) fn tags_to_monday(ids: &[i64]) -> Value {
    serde_json::json!({ "tag_ids": ids })
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
pub(crate) fn text_to_html(text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    text.split('\n')
        .map(|line| format!("<p>{}</p>", html_escape::encode_text(line)))
        .collect()
}

/// Whether any of the pair's fields reads the Miro path `path` on one of its item types.
pub(crate) fn maps(pair: &PairConfig, path: &str) -> bool {
    pair.fields.iter().any(|f| {
        pair.miro_items
            .iter()
            .any(|t| f.miro.path_for(*t) == Some(path))
    })
}

/// The logical value of a Miro item's titles for `pair`: the pair's filter tag says which pair
/// the item belongs to, and is not synced as one of its tags.
pub(crate) fn logical_tags(pair: &PairConfig, titles: &str) -> String {
    let filter = pair.miro_filter.tag.as_deref();
    let titles = tag_titles(titles);
    normalise_tags(
        titles
            .iter()
            .map(String::as_str)
            .filter(|t| Some(*t) != filter),
    )
}

/// The monday columns the pair's connector fields write to.
pub(crate) fn connector_columns(pair: &PairConfig) -> Vec<&str> {
    pair.fields
        .iter()
        .filter(|f| {
            pair.miro_items
                .iter()
                .any(|t| f.miro.path_for(*t) == Some(CONNECTORS))
        })
        .map(|f| f.monday.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_writes_tell_the_paths_of_each_of_the_last_versions_boardsync_made() {
        let mut writes = OwnWrites::parse("not a note");
        for i in 0..10 {
            writes.push(
                &format!("2026-12-03T09:00:0{i}.000Z"),
                vec![format!("path{i}")],
            );
        }
        let writes = OwnWrites::parse(&serde_json::to_string(&writes).unwrap());
        let at = |s: &str| crate::domain::change::micros(&Value::String(s.into())).unwrap();
        assert_eq!(
            writes.paths_at(at("2026-12-03T09:00:09Z")),
            Some(["path9".to_owned()].as_slice())
        );
        assert_eq!(
            writes.paths_at(at("2026-12-03T09:00:02Z")),
            Some(["path2".to_owned()].as_slice())
        );
        assert_eq!(
            writes.paths_at(at("2026-12-03T09:00:01Z")),
            None,
            "forgotten"
        );
        assert_eq!(writes.paths_at(at("2026-12-03T09:00:09.5Z")), None);
        // The paths of the versions after one, each once.
        assert_eq!(
            writes.paths_after(at("2026-12-03T09:00:07.5Z")),
            vec!["path8".to_owned(), "path9".to_owned()]
        );
        assert!(writes.paths_after(at("2026-12-03T09:00:09Z")).is_empty());
    }
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

    fn field(miro: &str, monday: &str) -> FieldMapping {
        FieldMapping {
            name: miro.into(),
            miro: MiroSide::All(miro.into()),
            monday: monday.into(),
            direction: Direction::Both,
            values: Vec::new(),
            miro_as: None,
        }
    }

    #[test]
    fn tag_titles_normalise_to_one_value_whatever_their_order_spacing_or_repeats() {
        assert_eq!(normalise_tags(["urgent", "Bug", "api"]), "api, Bug, urgent");
        assert_eq!(normalise_tags([" urgent ", "urgent", ""]), "urgent");
        // monday's text of a tags column, and a Miro title with a comma, split the same way.
        assert_eq!(normalise_tags(["b, a"]), "a, b");
        assert_eq!(normalise_tags(["a,b", "c"]), normalise_tags(["c, b", "a"]));
        // Case tells tags apart (Miro's titles are case-sensitive) but not their order.
        assert_eq!(normalise_tags(["b", "B", "a"]), "a, B, b");
        assert_eq!(normalise_tags(Vec::<&str>::new()), "");
        assert_eq!(tag_titles("a, B, b"), ["a", "B", "b"]);
        assert!(tag_titles("").is_empty());
        for titles in [vec!["x y", "Z"], vec![], vec!["ü", "a"]] {
            let once = normalise_tags(titles.iter().copied());
            let twice = normalise_tags(tag_titles(&once).iter().map(String::as_str));
            assert_eq!(once, twice, "{titles:?}");
        }
    }

    #[test]
    fn item_ids_sort_numerically_and_drop_what_is_not_an_id() {
        assert_eq!(normalise_ids(["10", "9", "10", "x", " 100 "]), "9, 10, 100");
        assert_eq!(normalise_ids(["3, 1"]), "1, 3");
        assert_eq!(item_ids("9, 10, 100"), [9, 10, 100]);
        assert_eq!(normalise_ids(Vec::<&str>::new()), "");
    }

    #[test]
    fn tags_and_connectors_convert_to_the_same_logical_value_on_both_sides() {
        let tags = field("tags", "tags");
        assert_eq!(
            from_miro(&tags, "tags", &json!(["urgent", "api"])).as_deref(),
            Some("api, urgent")
        );
        assert_eq!(
            from_miro(&tags, "tags", &json!("urgent, api")).as_deref(),
            Some("api, urgent")
        );
        assert_eq!(
            to_miro(&tags, "tags", "api, urgent"),
            Some(json!("api, urgent"))
        );
        // A tags webhook names ids only: no value until the item is read.
        assert_eq!(from_monday(&json!({"tag_ids": [1, 2]})), None);
        assert_eq!(tags_to_monday(&[2, 1]), json!({"tag_ids": [2, 1]}));

        let links = field("connectors", "deps");
        assert_eq!(
            from_miro(&links, "connectors", &json!(["12", "7"])).as_deref(),
            Some("7, 12")
        );
        // monday's webhook value for a dependency column, and its write format.
        let hook = json!({"linkedPulseIds": [{"linkedPulseId": 12}, {"linkedPulseId": 7}], "changed_at": "x"});
        assert_eq!(from_monday(&hook).as_deref(), Some("7, 12"));
        assert_eq!(
            from_monday(&json!({"linkedPulseIds": []})).as_deref(),
            Some("")
        );
        assert_eq!(from_monday(&Value::Null).as_deref(), Some(""));
        assert_eq!(
            to_monday("dependency", "7, 12"),
            json!({"item_ids": [7, 12]})
        );
        assert_eq!(to_monday("board_relation", ""), json!({"item_ids": []}));
        assert!(polled_apart("tags") && polled_apart("connectors"));
        assert!(!polled_apart("data.content"));
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
