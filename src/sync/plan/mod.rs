//! The planner: what one change means for its pair, as a pure function of the change, the link
//! state and the pair's mapping. No I/O happens here; the processor loads the link, calls
//! [`plan`], and stores what it returns in one transaction. Every rule of the sync (direction,
//! value maps, filters, order, echoes, conflicts, deletes, the loop breaker) lives in this file.

use super::values;
use crate::config::{ConflictPolicy, DeletePolicy, FieldMapping, MiroAs, PairConfig};
use crate::domain::Side;
use crate::domain::change::{Change, ChangeKind, Via};
use crate::domain::miro::ItemType;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// How many of its own recent writes per field and side boardsync remembers to recognise echoes.
const REMEMBERED_WRITES: usize = 8;
/// The window of the loop breaker: a field that comes back to a value boardsync wrote within it
/// counts as a turn of a possible loop.
const LOOP_WINDOW_MS: i64 = 60_000;
/// The most values boardsync remembers having written to one field within the loop window.
const REMEMBERED_VALUES: usize = 64;
/// The tag a Miro item gets when its monday item was archived (Miro has no archive).
pub const ARCHIVED_TAG: &str = "archived";

/// What the processor records for a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Applied,
    Echo,
    Stale,
    Conflict,
    Filtered,
    Ignored,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Echo => "echo",
            Outcome::Stale => "stale",
            Outcome::Conflict => "conflict",
            Outcome::Filtered => "filtered",
            Outcome::Ignored => "ignored",
            Outcome::Failed => "failed",
        }
    }
}

/// What a link remembers of one mapped field. Times are Unix microseconds, the grain of
/// [`Change::source_us`]; links stored before that (in milliseconds) are read as microseconds.
/// The JSON keys stay what they were, so stored links read on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldState {
    /// The logical value both sides were last brought to.
    pub value: Option<String>,
    /// The source time of the newest change seen from each side.
    #[serde(default, rename = "miro_ts", deserialize_with = "legacy_time")]
    pub miro_us: i64,
    #[serde(default, rename = "monday_ts", deserialize_with = "legacy_time")]
    pub monday_us: i64,
    /// The source time of the change that set `value`.
    #[serde(default, rename = "synced_ts", deserialize_with = "legacy_time")]
    pub synced_us: i64,
    /// Logical values boardsync wrote to each side recently, oldest first: a change reporting
    /// one of these is an echo of boardsync's own write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sent_miro: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sent_monday: Vec<String>,
    /// Values boardsync wrote to either side within the loop window, with when (Unix ms).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wrote: Vec<(i64, String)>,
}

fn legacy_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(crate::domain::change::legacy_micros(i64::deserialize(d)?))
}

impl FieldState {
    fn ts(&mut self, side: Side) -> &mut i64 {
        match side {
            Side::Miro => &mut self.miro_us,
            Side::Monday => &mut self.monday_us,
        }
    }

    fn sent(&mut self, side: Side) -> &mut Vec<String> {
        match side {
            Side::Miro => &mut self.sent_miro,
            Side::Monday => &mut self.sent_monday,
        }
    }

    /// Notes a write of `logical` to `side` at `now` (ms): for echoes, and for the loop breaker.
    fn remember_write(&mut self, side: Side, logical: &str, now: i64) {
        let sent = self.sent(side);
        sent.push(logical.to_owned());
        if sent.len() > REMEMBERED_WRITES {
            sent.remove(0);
        }
        self.wrote.retain(|(t, _)| now - t < LOOP_WINDOW_MS);
        self.wrote.push((now, logical.to_owned()));
        if self.wrote.len() > REMEMBERED_VALUES {
            self.wrote.remove(0);
        }
    }

    /// Whether `logical` is a value boardsync wrote to this field within the loop window.
    fn wrote_lately(&self, logical: &str, now: i64) -> bool {
        self.wrote
            .iter()
            .any(|(t, v)| now - t < LOOP_WINDOW_MS && v == logical)
    }

    /// Whether a change reporting `logical` on `side` is boardsync's own write coming back: the
    /// value of its latest write there, or, when boardsync's own user made the change, any value
    /// it wrote recently. (A person setting a value boardsync wrote long ago is a real change.)
    /// Forgets that write and anything older.
    fn take_echo(&mut self, side: Side, logical: &str, own_author: bool) -> bool {
        let sent = self.sent(side);
        let found = if own_author {
            sent.iter().rposition(|v| v == logical)
        } else {
            sent.last()
                .filter(|v| *v == logical)
                .map(|_| sent.len() - 1)
        };
        match found {
            Some(i) => {
                sent.drain(..=i);
                true
            }
            None => false,
        }
    }
}

/// The state a link keeps: per mapped field, and the loop breaker's count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkFields {
    #[serde(default)]
    pub fields: BTreeMap<String, FieldState>,
    /// When (Unix ms) a field of the item came back to a value boardsync wrote within the loop
    /// window, whoever changed it: what a loop looks like, unlike a burst of new values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loop_returns: Vec<i64>,
}

/// A link as the planner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkView {
    pub miro_item_id: String,
    pub monday_item_id: String,
    pub miro_type: ItemType,
    pub quarantined: bool,
    pub fields: LinkFields,
}

/// One write to make, as stored in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Write {
    /// `values`: monday column id (or `name`) → logical value.
    CreateMonday {
        name: String,
        group: Option<String>,
        values: BTreeMap<String, String>,
    },
    UpdateMonday {
        values: BTreeMap<String, String>,
    },
    ArchiveMonday,
    DeleteMonday,
    /// `fields`: Miro path → the value to write.
    CreateMiro {
        item_type: ItemType,
        frame: Option<String>,
        fields: BTreeMap<String, Value>,
    },
    UpdateMiro {
        fields: BTreeMap<String, Value>,
    },
    DeleteMiro,
    TagMiro {
        title: String,
    },
    /// A Miro comment as a monday update (`create_update`); `body` is HTML.
    CommentMonday {
        body: String,
    },
    /// A monday update shown on Miro; `author_id` is the monday user who posted it.
    CommentMiro {
        author_id: Option<String>,
        text: String,
        miro_as: MiroAs,
    },
}

impl Write {
    pub fn target(&self) -> Side {
        match self {
            Write::CreateMonday { .. }
            | Write::UpdateMonday { .. }
            | Write::ArchiveMonday
            | Write::DeleteMonday
            | Write::CommentMonday { .. } => Side::Monday,
            _ => Side::Miro,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Write::CreateMonday { .. } => "create_monday",
            Write::UpdateMonday { .. } => "update_monday",
            Write::ArchiveMonday => "archive_monday",
            Write::DeleteMonday => "delete_monday",
            Write::CreateMiro { .. } => "create_miro",
            Write::UpdateMiro { .. } => "update_miro",
            Write::DeleteMiro => "delete_miro",
            Write::TagMiro { .. } => "tag_miro",
            Write::CommentMonday { .. } => "comment_monday",
            Write::CommentMiro { .. } => "comment_miro",
        }
    }
}

/// What becomes of the link.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkChange {
    /// Nothing beyond the field state in [`Plan::fields`].
    Keep,
    /// A new link; the other side's id is not known until its create is done.
    Create { miro_type: ItemType },
    /// The link ends (the item was deleted or archived on one side).
    Remove,
    /// A field kept coming back to values boardsync wrote: no more writes until released.
    Quarantine,
}

/// A field both sides changed since the last sync, and how it was settled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub field: String,
    pub winner: Side,
    pub won: String,
    pub lost: String,
    /// The two edits' source times, Unix microseconds.
    pub miro_us: i64,
    pub monday_us: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub outcome: Outcome,
    pub detail: Option<String>,
    pub fields: LinkFields,
    pub link: LinkChange,
    pub writes: Vec<Write>,
    pub conflicts: Vec<Conflict>,
    /// A human name for the item, for history and the demo's output.
    pub title: Option<String>,
    /// The change reports a field at the same source time as another change already seen from
    /// its side, with another value: which came last cannot be told from the changes. The
    /// processor reads the item's current values and plans again with those
    /// ([`Change::read_back`]); nothing else in this plan counts.
    pub read_item: bool,
}

impl Plan {
    fn nothing(outcome: Outcome, detail: impl Into<String>, fields: LinkFields) -> Plan {
        Plan {
            outcome,
            detail: Some(detail.into()),
            fields,
            link: LinkChange::Keep,
            writes: Vec::new(),
            conflicts: Vec::new(),
            title: None,
            read_item: false,
        }
    }
}

/// The context a change is planned in.
pub struct Context<'a> {
    pub pair: &'a PairConfig,
    /// boardsync's own user on the change's side, when known.
    pub own_user: Option<&'a str>,
    /// How many times within the loop window the fields of one item may come back to values
    /// boardsync wrote before its link is quarantined.
    pub max_loop_returns: u32,
    /// Unix milliseconds.
    pub now: i64,
}

/// What `change` means for its pair, given the link of its item (if any).
pub fn plan(change: &Change, link: Option<&LinkView>, cx: &Context<'_>) -> Plan {
    let from = change.side;
    let own = cx.own_user.is_some() && change.author.as_deref() == cx.own_user;
    // A webhook names who made this very change; a scan only who touched the item last, which
    // may be boardsync's write of another field after a person's edit of this one.
    let own_field_author = own && change.via != Via::Poll;
    let ts = change.source_us.unwrap_or(cx.now.saturating_mul(1000));
    let Some(link) = link else {
        return plan_unlinked(change, own, ts, cx);
    };
    let mut fields = link.fields.clone();
    if link.quarantined {
        return Plan::nothing(
            Outcome::Filtered,
            "the link is quarantined; release it to sync again",
            fields,
        );
    }
    match change.kind {
        ChangeKind::Deleted | ChangeKind::Archived => {
            return plan_removal(change.kind, from, fields, cx.pair.on_delete);
        }
        ChangeKind::Commented => return plan_comment(change, own, link, fields, cx),
        ChangeKind::Moved => {
            return Plan::nothing(Outcome::Ignored, "not synced yet", fields);
        }
        ChangeKind::Created | ChangeKind::Updated | ChangeKind::Restored => {}
    }
    if from == Side::Miro && !in_miro_scope(change, cx.pair) {
        return Plan::nothing(Outcome::Filtered, "outside the pair's Miro frame", fields);
    }
    if from == Side::Miro && !in_tag_scope(change, cx.pair, true) {
        return Plan::nothing(Outcome::Filtered, "without the pair's Miro tag", fields);
    }

    let mut values_out: BTreeMap<String, String> = BTreeMap::new();
    let mut miro_out: BTreeMap<String, Value> = BTreeMap::new();
    let mut to_self: BTreeMap<String, String> = BTreeMap::new();
    let mut conflicts = Vec::new();
    let (mut echoes, mut stale, mut filtered, mut returns) = (0, 0, 0, 0);
    for field in &cx.pair.fields {
        let Some(logical) = logical_value(change, field, link.miro_type) else {
            continue;
        };
        let Some(logical) = logical else {
            filtered += 1;
            continue;
        };
        let state = fields.fields.entry(field.name.clone()).or_default();
        // A report older than the last sync that shows a value boardsync sent this side is that
        // write coming back late, whoever the scan names, not a person's edit in conflict.
        let older = ts < state.synced_us;
        let own_field =
            own_field_author || older || set_by_own_write(change, field, link.miro_type);
        if state.take_echo(from, &logical, own_field) {
            let t = state.ts(from);
            *t = (*t).max(ts);
            echoes += 1;
            continue;
        }
        let last = *state.ts(from);
        if ts < last {
            stale += 1;
            continue;
        }
        if ts == last && !change.read_back && state.value.as_deref() != Some(logical.as_str()) {
            // Two changes of this field from one side at one source time (monday stamps the
            // changes of one request alike): the order they arrived in says nothing.
            let mut plan = Plan::nothing(
                Outcome::Ignored,
                "two changes of a field at one time: reading the item",
                link.fields.clone(),
            );
            plan.read_item = true;
            return plan;
        }
        *state.ts(from) = ts;
        // A newer value from this side that is not boardsync's: whatever boardsync wrote there
        // before is overwritten, and a later report of it is no echo (it would be stale anyway).
        // A write of boardsync's still on its way there may land after this edit, though.
        let outstanding = std::mem::take(state.sent(from));
        if state.value.as_deref() == Some(logical.as_str()) {
            continue;
        }
        let allowed = match from {
            Side::Miro => field.direction.to_monday(),
            Side::Monday => field.direction.to_miro(),
        };
        if !allowed {
            filtered += 1;
            continue;
        }
        if state.wrote_lately(&logical, cx.now) {
            returns += 1;
        }
        if ts < state.synced_us {
            // The other side changed this field after this edit was made, and this edit had not
            // reached it: both changed it since the last sync.
            let other_value = state.value.clone().unwrap_or_default();
            let winner = match cx.pair.conflict {
                ConflictPolicy::Newest => from.other(),
                ConflictPolicy::Miro => Side::Miro,
                ConflictPolicy::Monday => Side::Monday,
            };
            let (miro_us, monday_us) = match from {
                Side::Miro => (ts, state.synced_us),
                Side::Monday => (state.synced_us, ts),
            };
            let (won, lost) = if winner == from {
                (logical.clone(), other_value.clone())
            } else {
                (other_value.clone(), logical.clone())
            };
            conflicts.push(Conflict {
                field: field.name.clone(),
                winner,
                won,
                lost,
                miro_us,
                monday_us,
            });
            if winner != from {
                // Bring this side back to the winning value. A write still on its way there
                // stays known, so that its echo is taken for one.
                *state.sent(from) = outstanding;
                state.remember_write(from, &other_value, cx.now);
                to_self.insert(field.name.clone(), other_value);
                continue;
            }
            // Fall through: the change is applied as usual below.
        }
        if outstanding.iter().any(|v| *v != logical) {
            // boardsync was writing another value to this side when this edit was made, and
            // that write may land after it: the edit is written back to its own side too, so
            // that side ends on it whichever lands last (a write still queued is dropped as
            // superseded by the dispatcher, and this one goes alone). Should the earlier write
            // land first, its echo is still taken for one.
            *state.sent(from) = outstanding;
            state.remember_write(from, &logical, cx.now);
            to_self.insert(field.name.clone(), logical.clone());
        }
        state.value = Some(logical.clone());
        state.synced_us = ts;
        state.remember_write(from.other(), &logical, cx.now);
        match from {
            Side::Miro => {
                values_out.insert(field.monday.clone(), logical);
            }
            Side::Monday => {
                let Some(miro_path) = field.miro.path_for(link.miro_type) else {
                    continue;
                };
                match values::to_miro(field, miro_path, &logical) {
                    Some(v) => {
                        miro_out.insert(miro_path.to_owned(), v);
                    }
                    None => filtered += 1,
                }
            }
        }
    }

    let mut writes = Vec::new();
    if !values_out.is_empty() {
        writes.push(Write::UpdateMonday { values: values_out });
    }
    if !miro_out.is_empty() {
        writes.push(Write::UpdateMiro { fields: miro_out });
    }
    if !to_self.is_empty() {
        writes.push(match from {
            Side::Miro => Write::UpdateMiro {
                fields: to_self
                    .iter()
                    .filter_map(|(name, v)| {
                        let field = cx.pair.fields.iter().find(|f| &f.name == name)?;
                        let path = field.miro.path_for(link.miro_type)?;
                        Some((path.to_owned(), values::to_miro(field, path, v)?))
                    })
                    .collect(),
            },
            Side::Monday => Write::UpdateMonday {
                values: to_self
                    .iter()
                    .filter_map(|(name, v)| {
                        let field = cx.pair.fields.iter().find(|f| &f.name == name)?;
                        Some((field.monday.clone(), v.clone()))
                    })
                    .collect(),
            },
        });
    }
    let title = title_of(change, cx.pair, link.miro_type).or_else(|| {
        fields
            .fields
            .get(title_field(cx.pair)?)
            .and_then(|s| s.value.clone())
    });
    if returns > 0 && loop_detected(&mut fields, returns, cx) {
        return quarantine(fields, conflicts, title, cx);
    }
    let outcome = if !conflicts.is_empty() {
        Outcome::Conflict
    } else if !writes.is_empty() {
        Outcome::Applied
    } else if echoes > 0 {
        Outcome::Echo
    } else if stale > 0 {
        Outcome::Stale
    } else if filtered > 0 {
        Outcome::Filtered
    } else {
        Outcome::Ignored
    };
    let detail = (outcome == Outcome::Ignored).then(|| "no mapped field changed".to_owned());
    Plan {
        outcome,
        detail,
        fields,
        link: LinkChange::Keep,
        writes,
        conflicts,
        title,
        read_item: false,
    }
}

/// Counts `returns` (fields that came back to a value boardsync wrote lately) for the loop
/// breaker: `true` when that makes more than `max_loop_returns` within the loop window. New
/// values, however many, are no loop: a loop is boardsync and something else (a monday
/// automation, another integration, a normalising API) sending values back and forth.
fn loop_detected(fields: &mut LinkFields, returns: usize, cx: &Context<'_>) -> bool {
    fields.loop_returns.retain(|t| cx.now - t < LOOP_WINDOW_MS);
    fields
        .loop_returns
        .extend(std::iter::repeat_n(cx.now, returns));
    fields.loop_returns.len() > cx.max_loop_returns as usize
}

/// The plan of an item past the loop breaker: no writes, and its link quarantined.
fn quarantine(
    fields: LinkFields,
    conflicts: Vec<Conflict>,
    title: Option<String>,
    cx: &Context<'_>,
) -> Plan {
    Plan {
        outcome: Outcome::Filtered,
        detail: Some(format!(
            "its fields came back to values boardsync wrote more than {} times within a minute: \
             quarantined as a likely loop",
            cx.max_loop_returns
        )),
        fields,
        link: LinkChange::Quarantine,
        writes: Vec::new(),
        conflicts,
        title,
        read_item: false,
    }
}

/// A comment added on Miro, or an update posted on monday, about a linked item: posted on the
/// other side once, as it is added. Neither side can hold the other's thread (Miro has no API to
/// write comments), so each becomes a post of its own there: a monday update, or on Miro a text
/// item or an app-card field. A post by boardsync's own user is its own post coming back.
fn plan_comment(
    change: &Change,
    own: bool,
    link: &LinkView,
    mut fields: LinkFields,
    cx: &Context<'_>,
) -> Plan {
    let from = change.side;
    let Some(field) = cx
        .pair
        .fields
        .iter()
        .find(|f| f.is_comments() && f.miro.path_for(link.miro_type).is_some())
    else {
        return Plan::nothing(
            Outcome::Ignored,
            format!("the pair does not map comments of {} items", link.miro_type),
            fields,
        );
    };
    if own {
        let what = match from {
            Side::Miro => "a comment boardsync made",
            Side::Monday => "an update boardsync posted",
        };
        return Plan::nothing(Outcome::Echo, what, fields);
    }
    let allowed = match from {
        Side::Miro => field.direction.to_monday(),
        Side::Monday => field.direction.to_miro(),
    };
    if !allowed {
        return Plan::nothing(
            Outcome::Ignored,
            format!(
                "field `{}` has direction = \"{}\"",
                field.name,
                field.direction.as_str()
            ),
            fields,
        );
    }
    let text = |key: &str| {
        change
            .fields
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let write = match from {
        Side::Miro => {
            let comment = text("comment.text");
            if comment.is_empty() {
                return Plan::nothing(Outcome::Ignored, "an empty comment", fields);
            }
            let author = Some(text("comment.author")).filter(|a| !a.is_empty());
            Write::CommentMonday {
                body: update_body(
                    &comment,
                    author.as_deref().unwrap_or("someone"),
                    &change.board,
                    &link.miro_item_id,
                ),
            }
        }
        Side::Monday => {
            let update = values::html_to_text(&text("update.body"));
            if update.trim().is_empty() {
                return Plan::nothing(Outcome::Ignored, "an empty update", fields);
            }
            let miro_as = match link.miro_type {
                ItemType::AppCard => field.miro_as.unwrap_or_default(),
                // Only app cards have fields to write to.
                _ => MiroAs::Text,
            };
            Write::CommentMiro {
                author_id: change.author.clone(),
                text: update.trim().to_owned(),
                miro_as,
            }
        }
    };
    let title = title_field(cx.pair)
        .and_then(|name| fields.fields.get(name))
        .and_then(|s| s.value.clone());
    // Comments have no value to come back to; each one posted counts, so that a comment loop
    // through another integration (each turn a new text) is stopped like any other.
    if loop_detected(&mut fields, 1, cx) {
        return quarantine(fields, Vec::new(), title, cx);
    }
    Plan {
        outcome: Outcome::Applied,
        detail: Some(match from {
            Side::Miro => "comment posted as a monday update".into(),
            Side::Monday => "update posted on Miro".into(),
        }),
        fields,
        link: LinkChange::Keep,
        writes: vec![write],
        conflicts: Vec::new(),
        title,
        read_item: false,
    }
}

/// The body of the monday update a Miro comment becomes: the comment's text, then who wrote it,
/// with a link back to the item on Miro.
pub fn update_body(text: &str, author: &str, board: &str, item: &str) -> String {
    let url = format!("https://miro.com/app/board/{board}/?moveToWidget={item}");
    format!(
        "{}<p>— {} on <a href=\"{}\">Miro</a></p>",
        values::text_to_html(text),
        html_escape::encode_text(author),
        html_escape::encode_double_quoted_attribute(&url)
    )
}

/// A change to an item boardsync has no link for: it is born (or enters the pair) and gets a twin.
fn plan_unlinked(change: &Change, own: bool, ts: i64, cx: &Context<'_>) -> Plan {
    let pair = cx.pair;
    let none = LinkFields::default();
    if own {
        // The twin boardsync itself just created, reported before its link was recorded.
        return Plan::nothing(Outcome::Echo, "an item boardsync created", none);
    }
    match change.kind {
        ChangeKind::Created | ChangeKind::Updated | ChangeKind::Restored => {}
        _ => return Plan::nothing(Outcome::Ignored, "the item is not linked", none),
    }
    let miro_type = match change.side {
        Side::Miro => {
            let Some(t) = change.item_type.as_deref().and_then(ItemType::parse) else {
                return Plan::nothing(Outcome::Filtered, "not an item type boardsync syncs", none);
            };
            if !pair.miro_items.contains(&t) {
                return Plan::nothing(
                    Outcome::Filtered,
                    format!("the pair does not sync {}", t.as_str()),
                    none,
                );
            }
            if !in_miro_scope(change, pair) {
                return Plan::nothing(Outcome::Filtered, "outside the pair's Miro frame", none);
            }
            if !in_tag_scope(change, pair, false) {
                return Plan::nothing(Outcome::Filtered, "without the pair's Miro tag", none);
            }
            t
        }
        Side::Monday => {
            if !pair.monday_filter.groups.is_empty() {
                let group = change.fields.get("group").and_then(Value::as_str);
                if !group.is_some_and(|g| pair.monday_filter.groups.iter().any(|x| x == g)) {
                    return Plan::nothing(
                        Outcome::Filtered,
                        "outside the pair's monday groups",
                        none,
                    );
                }
            }
            pair.miro_new_item
        }
    };
    if change.incomplete {
        return Plan::nothing(
            Outcome::Ignored,
            "the change does not carry the item's fields",
            none,
        );
    }
    let mut fields = LinkFields::default();
    let mut monday_values = BTreeMap::new();
    let mut miro_fields = BTreeMap::new();
    for field in &pair.fields {
        let Some(Some(logical)) = logical_value(change, field, miro_type) else {
            continue;
        };
        let allowed = match change.side {
            Side::Miro => field.direction.to_monday(),
            Side::Monday => field.direction.to_miro(),
        };
        let state = fields.fields.entry(field.name.clone()).or_default();
        *state.ts(change.side) = ts;
        if !allowed {
            continue;
        }
        state.value = Some(logical.clone());
        state.synced_us = ts;
        state.remember_write(change.side.other(), &logical, cx.now);
        match change.side {
            Side::Miro => {
                monday_values.insert(field.monday.clone(), logical);
            }
            Side::Monday => {
                if let Some(path) = field.miro.path_for(miro_type)
                    && let Some(v) = values::to_miro(field, path, &logical)
                {
                    miro_fields.insert(path.to_owned(), v);
                }
            }
        }
    }
    // Tags and connectors come with a create only when the item has some: the twin starts
    // with none, so a later report of none is no change.
    for field in &pair.fields {
        if field
            .miro
            .path_for(miro_type)
            .is_some_and(values::polled_apart)
        {
            fields
                .fields
                .entry(field.name.clone())
                .or_insert_with(|| FieldState {
                    value: Some(String::new()),
                    ..FieldState::default()
                });
        }
    }
    let title = title_of(change, pair, miro_type);
    let write = match change.side {
        Side::Miro => {
            let name = monday_values
                .remove("name")
                .filter(|n| !n.trim().is_empty())
                .or_else(|| title.clone().filter(|t| !t.trim().is_empty()))
                .unwrap_or_else(|| format!("Miro {}", miro_type.as_str().replace('_', " ")));
            Write::CreateMonday {
                name: name.chars().take(255).collect(),
                group: pair.monday_group.clone(),
                values: monday_values,
            }
        }
        Side::Monday => Write::CreateMiro {
            item_type: miro_type,
            frame: pair.miro_frame.clone(),
            fields: miro_fields,
        },
    };
    Plan {
        outcome: Outcome::Applied,
        detail: Some("created on the other side".into()),
        fields,
        link: LinkChange::Create { miro_type },
        writes: vec![write],
        conflicts: Vec::new(),
        title,
        read_item: false,
    }
}

fn plan_removal(kind: ChangeKind, from: Side, fields: LinkFields, policy: DeletePolicy) -> Plan {
    let writes = match (policy, from) {
        (DeletePolicy::Ignore, _) => vec![],
        (DeletePolicy::Delete, Side::Miro) => vec![Write::DeleteMonday],
        (DeletePolicy::Delete, Side::Monday) => vec![Write::DeleteMiro],
        (DeletePolicy::Archive, Side::Miro) => vec![Write::ArchiveMonday],
        (DeletePolicy::Archive, Side::Monday) => vec![Write::TagMiro {
            title: ARCHIVED_TAG.into(),
        }],
    };
    Plan {
        outcome: Outcome::Applied,
        detail: Some(format!(
            "{} on {from}; on_delete = {}: {}",
            kind.as_str(),
            policy.as_str(),
            if writes.is_empty() {
                "unlinked"
            } else {
                "unlinked, and the twin follows"
            }
        )),
        fields,
        link: LinkChange::Remove,
        writes,
        conflicts: Vec::new(),
        title: None,
        read_item: false,
    }
}

/// The field's logical value on the change's side (`Some(None)` when the value map has no entry
/// for it), or `None` when the change does not carry the field.
pub(crate) fn logical_value(
    change: &Change,
    field: &FieldMapping,
    miro_type: ItemType,
) -> Option<Option<String>> {
    match change.side {
        Side::Miro => {
            let path = field.miro.path_for(miro_type)?;
            Some(values::from_miro(field, path, change.fields.get(path)?))
        }
        Side::Monday => Some(values::from_monday(change.fields.get(&field.monday)?)),
    }
}

/// Whether the scan found this field as boardsync's own write set it ([`values::OWN_FIELDS`]).
fn set_by_own_write(change: &Change, field: &FieldMapping, miro_type: ItemType) -> bool {
    let Some(path) = field.miro.path_for(miro_type) else {
        return false;
    };
    change
        .fields
        .get(values::OWN_FIELDS)
        .and_then(Value::as_array)
        .is_some_and(|paths| paths.iter().any(|p| p == path))
}

fn in_miro_scope(change: &Change, pair: &PairConfig) -> bool {
    match &pair.miro_filter.frame {
        None => true,
        Some(frame) => match change.fields.get("parent") {
            Some(Value::String(p)) => p == frame,
            // A change that does not say where the item is (a partial update) keeps its scope.
            None => change.kind != ChangeKind::Created,
            Some(_) => false,
        },
    }
}

/// Whether a Miro change's item carries the pair's `miro_filter.tag`, as the processor found it
/// in the tag poll's snapshot. An item the tag poll has not seen yet is out of the pair unless it
/// is `linked` already (boardsync tags the items it makes, and the poll sees that a round later).
fn in_tag_scope(change: &Change, pair: &PairConfig, linked: bool) -> bool {
    if pair.miro_filter.tag.is_none() {
        return true;
    }
    match change.fields.get(values::FILTER_TAG) {
        Some(Value::Bool(inside)) => *inside,
        _ => linked,
    }
}

/// The name of the field that maps to the monday item name, if any.
fn title_field(pair: &PairConfig) -> Option<&str> {
    pair.fields
        .iter()
        .find(|f| f.monday == "name")
        .map(|f| f.name.as_str())
}

fn title_of(change: &Change, pair: &PairConfig, miro_type: ItemType) -> Option<String> {
    match change.side {
        Side::Monday => change.fields.get("name").and_then(values::from_monday),
        Side::Miro => {
            let field = pair.fields.iter().find(|f| f.monday == "name")?;
            let path = field.miro.path_for(miro_type)?;
            values::from_miro(field, path, change.fields.get(path)?)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
