//! Compares a GraphQL schema, read by introspection, with a published SDL: every type, field,
//! argument, input field and enum value of the first must exist in the second with the same type.

use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Default, Debug)]
pub struct TypeShape {
    pub kind: String,
    /// field or input field → (type, argument → type)
    pub fields: BTreeMap<String, (String, BTreeMap<String, String>)>,
    pub enum_values: BTreeSet<String>,
}

/// The published schema's types, from its SDL text.
pub fn from_sdl(text: &str) -> BTreeMap<String, TypeShape> {
    let doc = async_graphql::parser::parse_schema(text).expect("the reference SDL parses");
    let mut types = BTreeMap::new();
    for def in doc.definitions {
        let TypeSystemDefinition::Type(t) = def else {
            continue;
        };
        let t = t.node;
        let mut shape = TypeShape::default();
        match t.kind {
            TypeKind::Object(o) => {
                shape.kind = "OBJECT".into();
                fields(&mut shape, &o.fields);
            }
            TypeKind::Interface(i) => {
                shape.kind = "INTERFACE".into();
                fields(&mut shape, &i.fields);
            }
            TypeKind::InputObject(i) => {
                shape.kind = "INPUT_OBJECT".into();
                for f in &i.fields {
                    let f = &f.node;
                    shape.fields.insert(
                        f.name.node.to_string(),
                        (f.ty.node.to_string(), BTreeMap::new()),
                    );
                }
            }
            TypeKind::Enum(e) => {
                shape.kind = "ENUM".into();
                shape.enum_values = e
                    .values
                    .iter()
                    .map(|v| v.node.value.node.to_string())
                    .collect();
            }
            TypeKind::Scalar => shape.kind = "SCALAR".into(),
            TypeKind::Union(_) => shape.kind = "UNION".into(),
        }
        types.insert(t.name.node.to_string(), shape);
    }
    types
}

fn fields(
    shape: &mut TypeShape,
    defs: &[async_graphql::Positioned<async_graphql::parser::types::FieldDefinition>],
) {
    for f in defs {
        let f = &f.node;
        let args = f
            .arguments
            .iter()
            .map(|a| (a.node.name.node.to_string(), a.node.ty.node.to_string()))
            .collect();
        shape
            .fields
            .insert(f.name.node.to_string(), (f.ty.node.to_string(), args));
    }
}

/// The query that reads a schema's types from a running server.
pub const INTROSPECTION: &str = r#"query {
  __schema { types {
    kind name
    fields(includeDeprecated: true) { name type { ...T } args { name type { ...T } } }
    inputFields { name type { ...T } }
    enumValues(includeDeprecated: true) { name }
  } }
}
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }"#;

/// A server's types, from its answer to [`INTROSPECTION`].
pub fn from_introspection(answer: &Value) -> BTreeMap<String, TypeShape> {
    let mut types = BTreeMap::new();
    for t in answer["data"]["__schema"]["types"]
        .as_array()
        .expect("introspection answer")
    {
        let name = t["name"].as_str().unwrap().to_owned();
        if name.starts_with("__") {
            continue;
        }
        let mut shape = TypeShape {
            kind: t["kind"].as_str().unwrap().to_owned(),
            ..TypeShape::default()
        };
        for f in t["fields"].as_array().into_iter().flatten() {
            let args = f["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| (a["name"].as_str().unwrap().to_owned(), type_ref(&a["type"])))
                .collect();
            shape.fields.insert(
                f["name"].as_str().unwrap().to_owned(),
                (type_ref(&f["type"]), args),
            );
        }
        for f in t["inputFields"].as_array().into_iter().flatten() {
            shape.fields.insert(
                f["name"].as_str().unwrap().to_owned(),
                (type_ref(&f["type"]), BTreeMap::new()),
            );
        }
        shape.enum_values = t["enumValues"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v["name"].as_str().unwrap().to_owned())
            .collect();
        types.insert(name, shape);
    }
    types
}

fn type_ref(t: &Value) -> String {
    match t["kind"].as_str() {
        Some("NON_NULL") => format!("{}!", type_ref(&t["ofType"])),
        Some("LIST") => format!("[{}]", type_ref(&t["ofType"])),
        _ => t["name"].as_str().unwrap_or("?").to_owned(),
    }
}

const BUILT_IN_SCALARS: [&str; 5] = ["String", "Int", "Float", "Boolean", "ID"];

/// Every way `ours` is not a subset of `theirs`.
pub fn differences(
    ours: &BTreeMap<String, TypeShape>,
    theirs: &BTreeMap<String, TypeShape>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (name, o) in ours {
        if BUILT_IN_SCALARS.contains(&name.as_str()) {
            continue;
        }
        let Some(t) = theirs.get(name) else {
            out.push(format!("type {name} is not in the published schema"));
            continue;
        };
        if o.kind != t.kind {
            out.push(format!("{name} is {} here, {} there", o.kind, t.kind));
        }
        for (field, (ty, args)) in &o.fields {
            match t.fields.get(field) {
                None => out.push(format!("{name}.{field} is not in the published schema")),
                Some((their_ty, their_args)) => {
                    if ty != their_ty {
                        out.push(format!("{name}.{field} is {ty} here, {their_ty} there"));
                    }
                    for (arg, aty) in args {
                        match their_args.get(arg) {
                            None => out.push(format!(
                                "{name}.{field}({arg}:) is not in the published schema"
                            )),
                            Some(t) if t != aty => {
                                out.push(format!("{name}.{field}({arg}:) is {aty} here, {t} there"))
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        for v in o.enum_values.difference(&t.enum_values) {
            out.push(format!(
                "enum value {name}.{v} is not in the published schema"
            ));
        }
    }
    out
}

#[test]
fn a_schema_is_a_subset_of_itself_and_a_changed_type_is_caught() {
    let real = "type Query { items(ids: [ID!], limit: Int = 25): [Item] }\ntype Item { id: ID! name: String! }\nenum State { active archived }";
    let theirs = from_sdl(real);
    assert!(differences(&from_sdl(real), &theirs).is_empty());
    let changed = "type Query { items(ids: [ID], limit: Int): [Item] }\ntype Item { id: ID! name: String! colour: String }\nenum State { active gone }";
    let diffs = differences(&from_sdl(changed), &theirs);
    assert!(
        diffs.contains(&"Query.items(ids:) is [ID] here, [ID!] there".to_owned()),
        "{diffs:?}"
    );
    assert!(
        diffs.contains(&"Item.colour is not in the published schema".to_owned()),
        "{diffs:?}"
    );
    assert!(
        diffs.contains(&"enum value State.gone is not in the published schema".to_owned()),
        "{diffs:?}"
    );
}
