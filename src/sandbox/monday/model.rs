//! The monday sandbox's state (boards, groups, columns, items, updates, tags, webhooks) and the
//! column value formats: what a write may send, what `value` and `text` read back, and what a
//! webhook carries, per column type, as the reference notes give them.

use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: String,
    pub title: String,
    pub color: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub id: String,
    pub title: String,
    /// The API's `ColumnType` name: `name`, `text`, `long_text`, `status`, `date`, ...
    pub kind: String,
    /// Status labels by index.
    pub labels: BTreeMap<i64, String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Update {
    pub id: u64,
    pub body: String,
    pub creator_id: i64,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub id: u64,
    pub name: String,
    pub group: String,
    /// Column id → the stored value, in the API's read shape.
    pub values: BTreeMap<String, Value>,
    /// `active`, `archived` or `deleted`.
    pub state: &'static str,
    pub creator_id: i64,
    pub created_at: String,
    pub updated_at: String,
    pub updates: Vec<Update>,
}

#[derive(Debug, Clone)]
pub(crate) struct Board {
    pub id: u64,
    pub name: String,
    pub kind: String,
    pub groups: Vec<Group>,
    pub columns: Vec<Column>,
    pub items: BTreeMap<u64, Item>,
}

#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    pub id: u64,
    pub board: u64,
    pub url: String,
    pub event: String,
    pub config: Option<String>,
    /// Created with an app token: deliveries carry a JWT.
    pub app: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Tag {
    pub id: u64,
    pub name: String,
    pub color: String,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub boards: BTreeMap<u64, Board>,
    pub tags: Vec<Tag>,
    pub webhooks: BTreeMap<u64, Webhook>,
    next_id: u64,
}

impl State {
    /// A fresh id, in the range real monday ids fall in (within 2^53).
    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        7_786_000_000 + self.next_id
    }

    pub(crate) fn item(&self, id: u64) -> Option<(&Board, &Item)> {
        self.boards
            .values()
            .find_map(|b| b.items.get(&id).map(|i| (b, i)))
    }

    pub(crate) fn board_of_item(&self, id: u64) -> Option<u64> {
        self.boards
            .values()
            .find(|b| b.items.contains_key(&id))
            .map(|b| b.id)
    }
}

/// The labels a new status column has.
pub(crate) fn default_labels() -> BTreeMap<i64, String> {
    [(0, "Working on it"), (1, "Done"), (2, "Stuck"), (5, "")]
        .into_iter()
        .map(|(i, s)| (i, s.to_owned()))
        .collect()
}

/// monday's colours for the default status labels, as webhooks describe them.
fn label_style(index: i64) -> Value {
    match index {
        0 => json!({"color": "#fdab3d", "border": "#e99729", "var_name": "orange"}),
        1 => json!({"color": "#00c875", "border": "#00b461", "var_name": "green-shadow"}),
        2 => json!({"color": "#df2f4a", "border": "#ce3048", "var_name": "red-shadow"}),
        _ => json!({"color": "#c4c4c4", "border": "#b0b0b0", "var_name": "grey"}),
    }
}

impl Column {
    /// Turns a written value (JSON from `column_values`/`change_column_value`, or a plain string
    /// from `change_simple_column_value`) into the stored read shape. `Ok(None)` clears the column.
    pub(crate) fn write(
        &mut self,
        input: &Value,
        create_labels: bool,
        now: &str,
    ) -> Result<Option<Value>, String> {
        if input.is_null() || input.as_str() == Some("") && self.kind != "text" {
            return Ok(None);
        }
        let text = input.as_str();
        Ok(Some(match self.kind.as_str() {
            "text" => json!(text.ok_or("a text column takes a string")?),
            "numbers" => {
                let n = match input {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) => s.clone(),
                    _ => return Err("a numbers column takes a number as a string".into()),
                };
                n.parse::<f64>()
                    .map_err(|_| format!("`{n}` is not a number"))?;
                json!(n)
            }
            "long_text" => {
                let t = text
                    .or_else(|| input["text"].as_str())
                    .ok_or("a long_text column takes {\"text\": ...}")?;
                json!({"text": t, "changed_at": now})
            }
            "status" => {
                let index = if let Some(i) = input["index"].as_i64() {
                    if !self.labels.contains_key(&i) {
                        return Err(format!("this status column has no label with index {i}"));
                    }
                    i
                } else {
                    let label = text
                        .or_else(|| input["label"].as_str())
                        .ok_or("a status column takes {\"label\": ...} or {\"index\": ...}")?;
                    match self.labels.iter().find(|(_, l)| *l == label) {
                        Some((i, _)) => *i,
                        None if create_labels => {
                            let i = self.labels.keys().max().map_or(0, |m| m + 1);
                            self.labels.insert(i, label.to_owned());
                            i
                        }
                        None => {
                            return Err(format!(
                                "This status label doesn't exist, possible statuses are: {}",
                                self.labels
                                    .values()
                                    .filter(|l| !l.is_empty())
                                    .cloned()
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ));
                        }
                    }
                };
                json!({"index": index, "post_id": null, "changed_at": now})
            }
            "date" => {
                let date = text
                    .or_else(|| input["date"].as_str())
                    .ok_or("a date column takes {\"date\": \"YYYY-MM-DD\"}")?;
                chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
                    .map_err(|_| format!("`{date}` is not a date YYYY-MM-DD"))?;
                let mut v = json!({"date": date, "changed_at": now});
                if let Some(t) = input["time"].as_str() {
                    v["time"] = json!(t);
                }
                v
            }
            "people" => {
                let people = input["personsAndTeams"]
                    .as_array()
                    .ok_or("a people column takes {\"personsAndTeams\": [...]}")?;
                json!({"personsAndTeams": people, "changed_at": now})
            }
            "tags" => {
                let ids = input["tag_ids"]
                    .as_array()
                    .ok_or("a tags column takes {\"tag_ids\": [...]}")?;
                json!({"tag_ids": ids})
            }
            "dependency" | "board_relation" => {
                let ids = input["item_ids"]
                    .as_array()
                    .ok_or("this column takes {\"item_ids\": [...]}")?;
                let linked: Vec<Value> = ids.iter().map(|i| json!({"linkedPulseId": i.as_u64().or_else(|| i.as_str().and_then(|s| s.parse().ok()))})).collect();
                json!({"linkedPulseIds": linked, "changed_at": now})
            }
            other => return Err(format!("the sandbox cannot write {other} columns")),
        }))
    }

    /// The `text` the API reads for a stored value.
    pub(crate) fn text(&self, stored: Option<&Value>, tags: &[Tag]) -> Option<String> {
        let v = stored?;
        Some(match self.kind.as_str() {
            "text" | "numbers" => v.as_str().unwrap_or_default().to_owned(),
            "long_text" => v["text"].as_str().unwrap_or_default().to_owned(),
            "status" => self
                .labels
                .get(&v["index"].as_i64().unwrap_or(-1))
                .cloned()
                .unwrap_or_default(),
            "date" => v["date"].as_str().unwrap_or_default().to_owned(),
            "tags" => v["tag_ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|id| {
                    tags.iter()
                        .find(|t| json!(t.id) == *id)
                        .map(|t| t.name.clone())
                })
                .collect::<Vec<_>>()
                .join(", "),
            "people" => v["personsAndTeams"]
                .as_array()
                .map_or(0, Vec::len)
                .to_string(),
            "dependency" | "board_relation" => v["linkedPulseIds"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|l| l["linkedPulseId"].to_string())
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        })
    }

    /// `columnType` and `value` as a webhook reports them.
    pub(crate) fn webhook_value(&self, stored: Option<&Value>) -> (String, Value) {
        let kind = match self.kind.as_str() {
            "status" => "color",
            "people" => "multiple-person",
            other => other,
        };
        let value = match (self.kind.as_str(), stored) {
            (_, None) => Value::Null,
            ("status", Some(v)) => {
                let index = v["index"].as_i64().unwrap_or(-1);
                json!({"label": {"index": index, "text": self.labels.get(&index).cloned().unwrap_or_default(), "style": label_style(index), "is_done": index == 1}, "post_id": null})
            }
            ("text" | "numbers", Some(v)) => json!({"value": v}),
            ("date", Some(v)) => {
                json!({"date": v["date"], "icon": null, "time": v.get("time").cloned().unwrap_or(Value::Null)})
            }
            (_, Some(v)) => v.clone(),
        };
        (kind.to_owned(), value)
    }
}
