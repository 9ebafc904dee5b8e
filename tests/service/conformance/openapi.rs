//! Checks HTTP exchanges against the official Miro OpenAPI spec: that the route exists with that
//! method, and that the response body validates against the spec's schema for that route and
//! status. OpenAPI 3.0 schemas are turned into JSON Schema (draft 4) first: `nullable: true`
//! becomes a `null` alternative, and `$ref`s resolve inside the spec's own `components`.

use serde_json::{Map, Value, json};

pub struct Spec {
    doc: Value,
    /// `components` rewritten as JSON Schema, the root every `$ref` resolves against.
    components: Value,
}

/// One operation of the spec that a request matched.
pub struct Operation<'a> {
    pub template: &'a str,
    op: &'a Value,
}

impl Spec {
    pub fn load(path: &std::path::Path) -> Spec {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let components = to_json_schema(&doc["components"]);
        Spec { doc, components }
    }

    /// The operation for `method` on a concrete `path` with these query keys. Where the spec has
    /// several templates for one URL (it dispatches `/items` on `tag_id` and `parent_item_id`),
    /// the one whose declared query parameters the request uses wins.
    pub fn operation(
        &self,
        method: &str,
        path: &str,
        query_keys: &[&str],
    ) -> Option<Operation<'_>> {
        let method = method.to_ascii_lowercase();
        let mut best: Option<(usize, Operation<'_>)> = None;
        for (template, item) in self.doc["paths"].as_object()? {
            let Some(op) = item.get(&method) else {
                continue;
            };
            if !template_matches(template, path) {
                continue;
            }
            let params: Vec<(String, bool)> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| self.resolve(p))
                .filter(|p| p["in"] == "query")
                .map(|p| {
                    (
                        p["name"].as_str().unwrap_or("").to_owned(),
                        p["required"] == true,
                    )
                })
                .collect();
            if params
                .iter()
                .any(|(name, required)| *required && !query_keys.contains(&name.as_str()))
            {
                continue;
            }
            let used = params
                .iter()
                .filter(|(n, _)| query_keys.contains(&n.as_str()))
                .count();
            if best.as_ref().is_none_or(|(score, _)| used > *score) {
                best = Some((used, Operation { template, op }));
            }
        }
        best.map(|(_, op)| op)
    }

    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => self
                .doc
                .pointer(r.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling $ref {r}")),
            None => v,
        }
    }

    /// Validates `body` as the response `status` of `op`; returns the problems found.
    pub fn check_response(
        &self,
        op: &Operation<'_>,
        status: u16,
        body: &Value,
    ) -> Result<(), String> {
        let responses = &op.op["responses"];
        let Some(response) = responses
            .get(status.to_string())
            .or_else(|| responses.get("default"))
        else {
            return Err(format!(
                "{}: status {status} is not among the documented responses {:?}",
                op.template,
                responses.as_object().map(|o| o.keys().collect::<Vec<_>>())
            ));
        };
        let response = self.resolve(response);
        // A 204 has no body, whatever schema the spec attaches to it.
        if status == 204 {
            return if body.is_null() {
                Ok(())
            } else {
                Err(format!("{}: a 204 with a body: {body}", op.template))
            };
        }
        let Some(schema) = response.pointer("/content/application~1json/schema") else {
            return if body.is_null() {
                Ok(())
            } else {
                Err(format!(
                    "{}: status {status} documents no JSON body, got {body}",
                    op.template
                ))
            };
        };
        let mut root = to_json_schema(schema);
        root.as_object_mut()
            .expect("a schema is an object")
            .insert("components".to_owned(), self.components.clone());
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .should_validate_formats(true)
            .build(&root)
            .map_err(|e| format!("{}: the spec's schema does not compile: {e}", op.template))?;
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("{} {status}: {}", op.template, errors.join("; ")))
        }
    }
}

fn template_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p)
}

/// OpenAPI 3.0 schema → JSON Schema draft 4.
///
/// The spec's `oneOf`s have no discriminator and overlap (every item `data` schema accepts any
/// object of strings), so a real Miro answer would match several; they are read as `anyOf`, which
/// is what the spec means by them.
fn to_json_schema(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut out: Map<String, Value> = map
                .iter()
                .map(|(k, v)| {
                    let k = if k == "oneOf" { "anyOf" } else { k.as_str() };
                    (k.to_owned(), to_json_schema(v))
                })
                .collect();
            if out.remove("nullable") == Some(Value::Bool(true)) {
                match out.get("type").cloned() {
                    Some(Value::String(t)) => {
                        out.insert("type".to_owned(), json!([t, "null"]));
                        if let Some(Value::Array(values)) = out.get_mut("enum") {
                            values.push(Value::Null);
                        }
                    }
                    _ => return json!({ "anyOf": [Value::Object(out), { "type": "null" }] }),
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_json_schema).collect()),
        other => other.clone(),
    }
}

#[test]
fn templates_match_concrete_paths_segment_by_segment() {
    assert!(template_matches(
        "/v2/boards/{board_id}/items",
        "/v2/boards/uXjV=/items"
    ));
    assert!(!template_matches(
        "/v2/boards/{board_id}/items",
        "/v2/boards/uXjV=/items/1"
    ));
    assert!(!template_matches("/v2/boards/{board_id}", "/v2/boards//"));
}

#[test]
fn nullable_fields_accept_null_after_conversion() {
    let s = to_json_schema(&json!({"type": "string", "nullable": true}));
    assert_eq!(s, json!({"type": ["string", "null"]}));
    let r = to_json_schema(&json!({"$ref": "#/x", "nullable": true}));
    assert_eq!(r, json!({"anyOf": [{"$ref": "#/x"}, {"type": "null"}]}));
}
