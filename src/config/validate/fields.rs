//! The rules for a pair's `[pair.fields]`: Miro paths that exist on the pair's item types, a
//! column or Miro field written by one field only, value maps, and the comments field.

use super::checker::Checker;
use crate::config::pair::{FieldMapping, MIRO_COMMENTS, MONDAY_UPDATES, MiroAs, MiroSide};
use crate::config::raw::{RawField, RawMiroSide, RawPair};
use crate::domain::miro::{FieldValues, ItemType, field_values};
use std::collections::{BTreeMap, HashMap};

impl<'r, 'a> Checker<'r, 'a> {
    pub(super) fn fields(&mut self, raw: &RawPair, types: &[ItemType]) -> Vec<FieldMapping> {
        if raw.fields.get_ref().is_empty() {
            self.report.at(
                raw.fields.span(),
                "`[pair.fields]` must map at least one field, e.g. title = { miro = \"data.content\", monday = \"name\" }",
            );
        }
        let mut fields = Vec::new();
        let mut monday_columns: HashMap<String, String> = HashMap::new();
        let mut miro_paths: HashMap<(ItemType, String), String> = HashMap::new();
        // Fields in file order, so "mapped twice" points at the later one.
        let mut entries: Vec<_> = raw.fields.get_ref().iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        for (key, field) in entries {
            let name = key.get_ref().clone();
            let f = field.get_ref();
            let miro = self.miro_side(f, types);
            let monday = f.monday.get_ref().trim().to_owned();
            // A value may be read by several fields, but written by one only: two fields writing
            // one column (or one Miro field) would overwrite each other on every change.
            if monday.is_empty() {
                self.report
                    .at(f.monday.span(), "`monday` must name `name` or a column id");
            } else if f.direction.to_monday()
                && let Some(first) = monday_columns.insert(monday.clone(), name.clone())
            {
                self.report.at(
                    f.monday.span(),
                    format!("monday column `{monday}` is already written by field `{first}`; map it once, or make one of them direction = \"monday_to_miro\""),
                );
            }
            for t in types {
                let Some(path) = miro.path_for(*t) else {
                    continue;
                };
                if !f.direction.to_miro() {
                    continue;
                }
                if let Some(first) = miro_paths.insert((*t, path.to_owned()), name.clone()) {
                    self.report.at(
                        f.miro.span(),
                        format!("Miro {t} field `{path}` is already written by field `{first}`; map it once, or make one of them direction = \"miro_to_monday\""),
                    );
                }
            }
            let values = self.value_map(f, &miro, &monday, types);
            let miro_as = self.comments(f, &miro, &monday, types);
            fields.push(FieldMapping {
                name,
                miro,
                monday,
                direction: f.direction,
                values,
                miro_as,
            });
        }
        fields
    }

    fn miro_side(&mut self, f: &RawField, types: &[ItemType]) -> MiroSide {
        let span = f.miro.span();
        match f.miro.get_ref() {
            RawMiroSide::One(path) => {
                for t in types {
                    if !t.has_field(path) {
                        self.report.at(
                            span.clone(),
                            format!(
                                "`{path}` is not a field of {t} items (they have {}); map it per type, e.g. miro = {{ {t} = \"{}\" }}",
                                t.fields().join(", "),
                                t.fields()[0]
                            ),
                        );
                    }
                }
                MiroSide::All(path.clone())
            }
            RawMiroSide::PerType(paths) => {
                let mut by_type = BTreeMap::new();
                if paths.is_empty() {
                    self.report
                        .at(span.clone(), "the per-type table of `miro` is empty");
                }
                for (type_name, path) in paths {
                    let Some(t) = ItemType::parse(type_name) else {
                        let known: Vec<&str> = ItemType::ALL.iter().map(|t| t.as_str()).collect();
                        self.report.at(
                            span.clone(),
                            format!(
                                "unknown Miro item type `{type_name}`, expected one of {}",
                                known.join(", ")
                            ),
                        );
                        continue;
                    };
                    if !types.contains(&t) {
                        self.report.at(
                            span.clone(),
                            format!("{t} is not in this pair's `miro_items`"),
                        );
                    } else if !t.has_field(path) {
                        self.report.at(
                            span.clone(),
                            format!(
                                "`{path}` is not a field of {t} items (they have {})",
                                t.fields().join(", ")
                            ),
                        );
                    }
                    by_type.insert(t, path.clone());
                }
                MiroSide::PerType(by_type)
            }
        }
    }

    /// Miro comments and monday updates go together and with nothing else; `miro_as` belongs to
    /// them, and its app-card form to pairs that sync app cards. The comments field's `miro_as`
    /// (`text` unless set), or `None` for other fields.
    fn comments(
        &mut self,
        f: &RawField,
        miro: &MiroSide,
        monday: &str,
        types: &[ItemType],
    ) -> Option<MiroAs> {
        let paths: Vec<&str> = types.iter().filter_map(|t| miro.path_for(*t)).collect();
        let miro_comments = !paths.is_empty() && paths.iter().all(|p| *p == MIRO_COMMENTS);
        let is_updates = monday == MONDAY_UPDATES;
        if is_updates && !miro_comments {
            self.report.at(
                f.monday.span(),
                format!("monday `{MONDAY_UPDATES}` (the item's updates) syncs only with miro = \"{MIRO_COMMENTS}\""),
            );
        } else if !is_updates && paths.contains(&MIRO_COMMENTS) {
            self.report.at(
                f.miro.span(),
                format!("Miro `{MIRO_COMMENTS}` sync only with monday = \"{MONDAY_UPDATES}\" (the item's updates)"),
            );
        }
        let Some(miro_as) = &f.miro_as else {
            return is_updates.then_some(MiroAs::Text);
        };
        if !is_updates {
            self.report.at(
                miro_as.span(),
                format!("`miro_as` applies only to the comments field (miro = \"{MIRO_COMMENTS}\", monday = \"{MONDAY_UPDATES}\")"),
            );
        } else if *miro_as.get_ref() == MiroAs::AppCardField && !types.contains(&ItemType::AppCard)
        {
            self.report.at(
                miro_as.span(),
                "`miro_as = \"app_card_field\"` needs app_card among the pair's `miro_items`",
            );
        }
        Some(*miro_as.get_ref())
    }

    fn value_map(
        &mut self,
        f: &RawField,
        miro: &MiroSide,
        monday: &str,
        types: &[ItemType],
    ) -> Vec<(String, String)> {
        let Some(values) = &f.values else {
            return Vec::new();
        };
        let kinds: Vec<(ItemType, &str, FieldValues)> = types
            .iter()
            .filter_map(|t| miro.path_for(*t).map(|p| (*t, p, field_values(*t, p))))
            .collect();
        if monday == "name" {
            self.report.at(
                values.span(),
                "a value map cannot apply to the item name; map a status or text column instead",
            );
        }
        if let Some((t, path, _)) = kinds.iter().find(|(_, _, k)| *k == FieldValues::Free) {
            self.report.at(
                values.span(),
                format!(
                    "a value map needs a Miro field with a fixed set of values (such as style.fillColor); `{path}` of {t} items is free text"
                ),
            );
            return Vec::new();
        }
        let mut entries: Vec<_> = values.get_ref().iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        let mut by_label: HashMap<&str, &str> = HashMap::new();
        let mut out = Vec::new();
        for (miro_value, label) in entries {
            for (t, path, kind) in &kinds {
                match kind {
                    FieldValues::OneOf(allowed)
                        if !allowed.contains(&miro_value.get_ref().as_str()) =>
                    {
                        self.report.at(
                            miro_value.span(),
                            format!(
                                "`{}` is not a {t} {path} value; expected one of {}",
                                miro_value.get_ref(),
                                allowed.join(", ")
                            ),
                        );
                    }
                    FieldValues::HexColor if !is_hex_color(miro_value.get_ref()) => {
                        self.report.at(
                            miro_value.span(),
                            format!(
                                "`{}` is not a colour for {t} {path}; write it as \"#rrggbb\"",
                                miro_value.get_ref()
                            ),
                        );
                    }
                    _ => {}
                }
            }
            if label.get_ref().trim().is_empty() {
                self.report.at(
                    label.span(),
                    "a value map entry needs a non-empty monday label",
                );
            }
            if f.direction.to_miro()
                && let Some(first) = by_label.insert(label.get_ref(), miro_value.get_ref())
            {
                self.report.at(
                    miro_value.span(),
                    format!(
                        "`{first}` and `{}` both map to \"{}\", so a change on monday cannot choose between them; set direction = \"miro_to_monday\" or give each its own label",
                        miro_value.get_ref(),
                        label.get_ref()
                    ),
                );
            }
            out.push((miro_value.get_ref().clone(), label.get_ref().clone()));
        }
        out
    }
}

fn is_hex_color(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}
