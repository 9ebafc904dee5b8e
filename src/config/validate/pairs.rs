//! The rules for each `[[pair]]` (its name, boards, item types, filters and `match_by`) and for
//! the pairs together: unique names, and boards shared only where filters tell the pairs apart.

use super::checker::Checker;
use crate::config::pair::{FieldMapping, MiroFilter, MondayFilter, PairConfig};
use crate::config::raw::{BoardNumber, RawPair};
use crate::domain::miro::ItemType;
use crate::domain::slug;
use crate::domain::{MiroBoardId, MondayBoardId};

impl<'r, 'a> Checker<'r, 'a> {
    pub(super) fn pair(&mut self, raw: &RawPair) -> Option<PairConfig> {
        let name = raw.name.get_ref().trim().to_owned();
        let slug = slug(&name);
        if slug.is_empty() {
            self.report.at(
                raw.name.span(),
                "a pair name needs at least one letter or digit (it becomes the pair's URL slug)",
            );
        }
        let miro_board = raw.miro_board.get_ref().trim();
        if miro_board.is_empty() {
            self.report
                .at(raw.miro_board.span(), "`miro_board` must not be empty");
        }
        let monday_board = match raw.monday_board.get_ref() {
            BoardNumber::Number(n) if *n > 0 => n.to_string(),
            BoardNumber::Text(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.clone()
            }
            _ => {
                self.report.at(
                    raw.monday_board.span(),
                    "`monday_board` must be a board id: a positive integer or a string of digits",
                );
                String::new()
            }
        };

        let miro_items = self.item_types(raw);
        let miro_new_item = match &raw.miro_new_item {
            Some(t) if !miro_items.contains(t.get_ref()) => {
                self.report.at(
                    t.span(),
                    format!(
                        "`miro_new_item` is {}, which is not in this pair's `miro_items`; items born on monday would never sync back",
                        t.get_ref()
                    ),
                );
                *t.get_ref()
            }
            Some(t) => *t.get_ref(),
            None => miro_items.first().copied().unwrap_or(ItemType::StickyNote),
        };

        let fields = self.fields(raw, &miro_items);
        let miro_filter = raw
            .miro_filter
            .as_ref()
            .map(|f| MiroFilter {
                frame: f.get_ref().frame.clone(),
                tag: f.get_ref().tag.clone(),
            })
            .unwrap_or_default();
        let monday_filter = raw
            .monday_filter
            .as_ref()
            .map(|f| MondayFilter {
                groups: f.get_ref().groups.clone(),
            })
            .unwrap_or_default();
        self.landing_places_pass_filters(raw, &miro_filter, &monday_filter);
        let match_by = self.match_by(raw, &fields);

        Some(PairConfig {
            name,
            slug,
            miro_board: MiroBoardId(miro_board.to_owned()),
            monday_board: MondayBoardId(monday_board),
            miro_items,
            miro_new_item,
            monday_group: raw.monday_group.as_ref().map(|g| g.get_ref().clone()),
            miro_frame: raw.miro_frame.as_ref().map(|f| f.get_ref().clone()),
            conflict: raw.conflict,
            on_delete: raw.on_delete,
            sync_existing: raw.sync_existing,
            match_by,
            fields,
            miro_filter,
            monday_filter,
        })
    }

    /// The field existing items are matched by: `match_by`, or the one mapped to the item name.
    fn match_by(&mut self, raw: &RawPair, fields: &[FieldMapping]) -> Option<String> {
        let Some(m) = &raw.match_by else {
            if raw.sync_existing && !fields.iter().any(|f| f.monday == "name") {
                self.report.at(
                    raw.name.span(),
                    "`sync_existing` matches existing items by the field mapped to the monday item name, and this pair maps none; set `match_by` to the field to match by",
                );
            }
            return None;
        };
        if !fields.iter().any(|f| &f.name == m.get_ref()) {
            let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            self.report.at(
                m.span(),
                format!(
                    "`match_by` is `{}`, which is not a field of this pair (its fields: {})",
                    m.get_ref(),
                    names.join(", ")
                ),
            );
        }
        Some(m.get_ref().clone())
    }

    fn item_types(&mut self, raw: &RawPair) -> Vec<ItemType> {
        let Some(items) = &raw.miro_items else {
            return vec![ItemType::StickyNote];
        };
        if items.get_ref().is_empty() {
            self.report.at(
                items.span(),
                "`miro_items` must name at least one item type, such as \"sticky_note\"",
            );
        }
        let mut types = Vec::new();
        for t in items.get_ref() {
            if types.contains(t.get_ref()) {
                self.report
                    .at(t.span(), format!("{} is listed twice", t.get_ref()));
            } else {
                types.push(*t.get_ref());
            }
        }
        types
    }

    /// Items created on one side must land where the other side's filter will see them, or they
    /// would never sync back.
    fn landing_places_pass_filters(
        &mut self,
        raw: &RawPair,
        miro_filter: &MiroFilter,
        monday_filter: &MondayFilter,
    ) {
        if let (Some(filter_frame), Some(frame)) = (&miro_filter.frame, &raw.miro_frame)
            && filter_frame != frame.get_ref()
        {
            self.report.at(
                frame.span(),
                format!(
                    "`miro_frame` is {}, but `miro_filter` only takes items in frame {filter_frame}; items born on monday would never sync back",
                    frame.get_ref()
                ),
            );
        }
        if let Some(group) = &raw.monday_group
            && !monday_filter.groups.is_empty()
            && !monday_filter.groups.contains(group.get_ref())
        {
            self.report.at(
                group.span(),
                format!(
                    "`monday_group` {} is not among `monday_filter.groups`; items born on Miro would never sync back",
                    group.get_ref()
                ),
            );
        }
    }

    /// Names must be unique, and a board may be in two pairs only if their filters tell the two
    /// pairs' items apart.
    pub(super) fn pairs_apart(&mut self, pairs: &[RawPair]) {
        for (i, later) in pairs.iter().enumerate() {
            for earlier in &pairs[..i] {
                let (a, b) = (earlier.name.get_ref().trim(), later.name.get_ref().trim());
                if slug(a) == slug(b) && !slug(a).is_empty() {
                    let line = self.report.line_of(earlier.name.span().start);
                    self.report.at(
                        later.name.span(),
                        format!(
                            "pair name \"{b}\" is the same as \"{a}\" on line {line} once made a URL slug ({})",
                            slug(b)
                        ),
                    );
                }
                if earlier.miro_board.get_ref().trim() == later.miro_board.get_ref().trim()
                    && !miro_filters_disjoint(earlier, later)
                {
                    self.report.at(
                        later.miro_board.span(),
                        format!(
                            "Miro board {} is also in pair \"{a}\", and `miro_filter` does not tell the two apart (give each pair a different frame or tag)",
                            later.miro_board.get_ref().trim()
                        ),
                    );
                }
                if board_number(earlier) == board_number(later)
                    && board_number(later).is_some()
                    && !monday_filters_disjoint(earlier, later)
                {
                    self.report.at(
                        later.monday_board.span(),
                        format!(
                            "monday board {} is also in pair \"{a}\", and `monday_filter` does not tell the two apart (give each pair groups of its own)",
                            board_number(later).unwrap_or_default()
                        ),
                    );
                }
            }
        }
    }
}

fn board_number(p: &RawPair) -> Option<String> {
    match p.monday_board.get_ref() {
        BoardNumber::Number(n) => Some(n.to_string()),
        BoardNumber::Text(s) => Some(s.trim().to_owned()),
    }
}

fn miro_filters_disjoint(a: &RawPair, b: &RawPair) -> bool {
    let (Some(fa), Some(fb)) = (&a.miro_filter, &b.miro_filter) else {
        return false;
    };
    let (fa, fb) = (fa.get_ref(), fb.get_ref());
    let differ =
        |x: &Option<String>, y: &Option<String>| matches!((x, y), (Some(x), Some(y)) if x != y);
    differ(&fa.frame, &fb.frame) || differ(&fa.tag, &fb.tag)
}

fn monday_filters_disjoint(a: &RawPair, b: &RawPair) -> bool {
    let (Some(fa), Some(fb)) = (&a.monday_filter, &b.monday_filter) else {
        return false;
    };
    let (ga, gb) = (&fa.get_ref().groups, &fb.get_ref().groups);
    !ga.is_empty() && !gb.is_empty() && !ga.iter().any(|g| gb.contains(g))
}
