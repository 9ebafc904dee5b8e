//! One test per rule of the planner, both directions where the rule has two.

use super::lifecycle::ARCHIVED_TAG;
use super::*;
use crate::config::{Config, MiroAs, PairConfig};
use crate::domain::change::{Change, ChangeKind, ItemRef, Via};
use crate::domain::miro::ItemType;
use crate::domain::{Linked, Side};
use serde_json::Value;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

/// A pair with `extra` keys and `fields` (the body of `[pair.fields]`).
pub(crate) fn pair_with(extra: &str, fields: &str) -> PairConfig {
    let text = format!(
        r#"
[miro]
token = "t"
[monday]
token = "t"
[[pair]]
name = "P"
miro_board = "uXjVAAAAAAA="
monday_board = 1
monday_group = "topics"
{extra}
  [pair.fields]
  {fields}
"#
    );
    Config::parse(Path::new("t.toml"), &text, &|_| None)
        .unwrap_or_else(|e| panic!("{e}"))
        .pairs
        .remove(0)
}

const FIELDS: &str = r#"title  = { miro = "data.content", monday = "name" }
  status = { miro = "style.fillColor", monday = "status", values = { light_green = "Done", red = "Stuck" } }"#;

fn pair() -> PairConfig {
    pair_with("", FIELDS)
}

fn change(side: Side, kind: ChangeKind, ts: i64, fields: Value) -> Change {
    let item = match side {
        Side::Miro => ItemRef::miro("b", "3458764500000000001"),
        Side::Monday => ItemRef::monday("b", "200"),
    };
    Change {
        item_type: (side == Side::Miro).then(|| "sticky_note".into()),
        fields: serde_json::from_value(fields).unwrap(),
        author: Some("someone".into()),
        source_us: Some(ts),
        ..Change::new(item, Via::Webhook, kind)
    }
}

fn link(fields: LinkFields) -> LinkView {
    LinkView {
        miro_item_id: Linked::Known("3458764500000000001".into()),
        monday_item_id: Linked::Known("200".into()),
        miro_type: ItemType::StickyNote,
        quarantined: false,
        fields,
    }
}

fn cx(pair: &PairConfig) -> Context<'_> {
    Context {
        pair,
        own_user: Some("boardsync-user"),
        max_loop_returns: 30,
        now: 1_000_000,
    }
}

fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A link whose title and status were synced at time 100.
fn synced() -> LinkView {
    let mut fields = LinkFields::default();
    for (name, value) in [("title", "Plan"), ("status", "Stuck")] {
        fields.fields.insert(
            name.into(),
            FieldState {
                value: Some(value.into()),
                miro_us: 100,
                monday_us: 100,
                synced_us: 100,
                ..FieldState::default()
            },
        );
    }
    link(fields)
}

#[test]
fn a_miro_title_edit_renames_the_monday_item_as_plain_text() {
    let p = pair();
    let c = change(
        Side::Miro,
        ChangeKind::Updated,
        200,
        json!({"data.content": "<p>Plan &amp; ship</p>"}),
    );
    let out = plan(&c, Some(&synced()), &cx(&p));
    assert_eq!(out.outcome, Outcome::Applied);
    assert_eq!(
        out.writes,
        vec![Write::UpdateMonday {
            values: values(&[("name", "Plan & ship")])
        }]
    );
    assert_eq!(
        out.fields.fields["title"].value.as_deref(),
        Some("Plan & ship")
    );
}

#[test]
fn a_monday_status_change_recolours_the_sticky_note_through_the_value_map() {
    let p = pair();
    let c = change(
        Side::Monday,
        ChangeKind::Updated,
        200,
        json!({"status": {"label": {"index": 1, "text": "Done"}}}),
    );
    let out = plan(&c, Some(&synced()), &cx(&p));
    assert_eq!(out.outcome, Outcome::Applied);
    assert_eq!(
        out.writes,
        vec![Write::UpdateMiro {
            fields: [("style.fillColor".to_owned(), json!("light_green"))].into()
        }]
    );
}

#[test]
fn a_value_the_map_does_not_name_is_filtered() {
    let p = pair();
    let c = change(
        Side::Miro,
        ChangeKind::Updated,
        200,
        json!({"style.fillColor": "blue"}),
    );
    let out = plan(&c, Some(&synced()), &cx(&p));
    assert_eq!(out.outcome, Outcome::Filtered);
    assert!(out.writes.is_empty());
}

#[test]
fn a_one_way_field_does_not_flow_back() {
    let p = pair_with(
        "",
        r#"title = { miro = "data.content", monday = "name", direction = "miro_to_monday" }"#,
    );
    let c = change(
        Side::Monday,
        ChangeKind::Updated,
        200,
        json!({"name": "Renamed on monday"}),
    );
    let out = plan(&c, Some(&synced()), &cx(&p));
    assert_eq!(out.outcome, Outcome::Filtered);
    assert!(out.writes.is_empty());
    let c = change(
        Side::Miro,
        ChangeKind::Updated,
        300,
        json!({"data.content": "<p>From Miro</p>"}),
    );
    assert_eq!(plan(&c, Some(&synced()), &cx(&p)).outcome, Outcome::Applied);
}

#[test]
fn a_sticky_note_born_on_miro_is_created_in_the_pairs_group_and_linked() {
    let p = pair();
    let c = change(
        Side::Miro,
        ChangeKind::Created,
        200,
        json!({"data.content": "<p>New idea</p>", "style.fillColor": "red"}),
    );
    let out = plan(&c, None, &cx(&p));
    assert_eq!(out.outcome, Outcome::Applied);
    assert_eq!(
        out.link,
        LinkChange::Create {
            miro_type: ItemType::StickyNote
        }
    );
    assert_eq!(
        out.writes,
        vec![Write::CreateMonday {
            name: "New idea".into(),
            group: Some("topics".into()),
            values: values(&[("status", "Stuck")]),
        }]
    );
    // The twin's own creation will come back as a change: it is remembered as boardsync's write.
    assert_eq!(
        out.fields.fields["title"].sent_monday,
        vec!["New idea".to_owned()]
    );
}

#[test]
fn an_item_born_on_monday_becomes_a_sticky_note_in_the_pairs_frame() {
    let p = pair_with(r#"miro_frame = "3458764500000000999""#, FIELDS);
    let c = change(
        Side::Monday,
        ChangeKind::Created,
        200,
        json!({"name": "From monday", "group": "topics", "status": {"label": {"text": "Done"}}}),
    );
    let out = plan(&c, None, &cx(&p));
    assert_eq!(
        out.writes,
        vec![Write::CreateMiro {
            item_type: ItemType::StickyNote,
            frame: Some("3458764500000000999".into()),
            fields: [
                ("data.content".to_owned(), json!("<p>From monday</p>")),
                ("style.fillColor".to_owned(), json!("light_green")),
            ]
            .into(),
        }]
    );
}

#[test]
fn a_webhook_of_an_edit_to_an_item_not_linked_yet_has_the_item_read_before_its_twin_is_made() {
    // monday refused the item's create_pulse (the daemon was down) and retries it a minute
    // later; the status edit made meanwhile arrives first, carrying the status alone.
    let p = pair();
    let edit = change(
        Side::Monday,
        ChangeKind::Updated,
        300,
        json!({"status": {"label": {"text": "Done"}}}),
    );
    let out = plan(&edit, None, &cx(&p));
    assert!(out.read_item, "{out:?}");
    assert!(out.writes.is_empty(), "{out:?}");
    assert_eq!(out.link, LinkChange::Keep);

    // Read whole, it makes the twin with every field, the name included.
    let mut read = change(
        Side::Monday,
        ChangeKind::Updated,
        300,
        json!({"name": "Order laptops", "group": "topics", "status": {"label": {"text": "Done"}}}),
    );
    read.read_back = true;
    let out = plan(&read, None, &cx(&p));
    assert!(!out.read_item);
    assert_eq!(
        out.writes,
        vec![Write::CreateMiro {
            item_type: ItemType::StickyNote,
            frame: None,
            fields: [
                ("data.content".to_owned(), json!("<p>Order laptops</p>")),
                ("style.fillColor".to_owned(), json!("light_green")),
            ]
            .into(),
        }]
    );

    // A poll reads the item whole already, and a create event carries all of it.
    let mut polled = read.clone();
    polled.read_back = false;
    polled.via = Via::Reconcile;
    assert!(!plan(&polled, None, &cx(&p)).read_item);
    let created = change(
        Side::Monday,
        ChangeKind::Created,
        300,
        json!({"name": "Order laptops", "group": "topics"}),
    );
    assert!(!plan(&created, None, &cx(&p)).read_item);
}

#[test]
fn items_outside_the_pairs_frame_or_groups_are_filtered() {
    let p = pair_with(
        "miro_filter = { frame = \"3458764500000000999\" }\nmonday_filter = { groups = [\"topics\"] }",
        FIELDS,
    );
    let elsewhere = change(
        Side::Miro,
        ChangeKind::Created,
        200,
        json!({"data.content": "<p>x</p>", "parent": "3458764500000000111"}),
    );
    assert_eq!(plan(&elsewhere, None, &cx(&p)).outcome, Outcome::Filtered);
    let later = change(
        Side::Monday,
        ChangeKind::Created,
        200,
        json!({"name": "x", "group": "later"}),
    );
    assert_eq!(plan(&later, None, &cx(&p)).outcome, Outcome::Filtered);
    let inside = change(
        Side::Monday,
        ChangeKind::Created,
        200,
        json!({"name": "x", "group": "topics"}),
    );
    assert_eq!(plan(&inside, None, &cx(&p)).outcome, Outcome::Applied);
}

#[test]
fn deletes_follow_on_delete_and_miro_archives_by_tag() {
    for (policy, from, expected) in [
        ("archive", Side::Miro, vec![Write::ArchiveMonday]),
        (
            "archive",
            Side::Monday,
            vec![Write::TagMiro {
                title: ARCHIVED_TAG.into(),
            }],
        ),
        ("delete", Side::Miro, vec![Write::DeleteMonday]),
        ("delete", Side::Monday, vec![Write::DeleteMiro]),
        ("ignore", Side::Miro, vec![]),
    ] {
        let p = pair_with(&format!("on_delete = \"{policy}\""), FIELDS);
        let c = change(from, ChangeKind::Deleted, 200, json!({}));
        let out = plan(&c, Some(&synced()), &cx(&p));
        assert_eq!(out.writes, expected, "{policy} from {from}");
        assert_eq!(out.link, LinkChange::Remove, "{policy} from {from}");
    }
}

#[test]
fn boardsyncs_own_write_coming_back_is_an_echo() {
    let p = pair();
    let out = plan(
        &change(
            Side::Miro,
            ChangeKind::Updated,
            200,
            json!({"data.content": "<p>Renamed</p>"}),
        ),
        Some(&synced()),
        &cx(&p),
    );
    // monday reports the name boardsync just wrote there.
    let echo = change(
        Side::Monday,
        ChangeKind::Updated,
        250,
        json!({"name": "Renamed"}),
    );
    let again = plan(&echo, Some(&link(out.fields)), &cx(&p));
    assert_eq!(again.outcome, Outcome::Echo);
    assert!(again.writes.is_empty());
}

#[test]
fn an_item_boardsync_itself_created_is_not_created_back() {
    let p = pair();
    let mut c = change(
        Side::Monday,
        ChangeKind::Created,
        200,
        json!({"name": "x", "group": "topics"}),
    );
    c.author = Some("boardsync-user".into());
    let out = plan(&c, None, &cx(&p));
    assert_eq!(out.outcome, Outcome::Echo);
    assert!(out.writes.is_empty());
}

#[test]
fn a_delivery_older_than_what_the_link_has_seen_is_stale() {
    let p = pair();
    let c = change(
        Side::Monday,
        ChangeKind::Updated,
        99,
        json!({"name": "Old name"}),
    );
    let out = plan(&c, Some(&synced()), &cx(&p));
    assert_eq!(out.outcome, Outcome::Stale);
    assert!(out.writes.is_empty());
}

/// monday renamed the item at 300 (synced); then a Miro edit made at 250 arrives.
fn concurrent_edits(policy: &str) -> Plan {
    let p = pair_with(&format!("conflict = \"{policy}\""), FIELDS);
    let first = plan(
        &change(
            Side::Monday,
            ChangeKind::Updated,
            300,
            json!({"name": "monday's name"}),
        ),
        Some(&synced()),
        &cx(&p),
    );
    let late = change(
        Side::Miro,
        ChangeKind::Updated,
        250,
        json!({"data.content": "<p>Miro's name</p>"}),
    );
    plan(&late, Some(&link(first.fields)), &cx(&p))
}

#[test]
fn under_newest_the_later_edit_wins_a_conflict_and_the_loser_is_kept() {
    let out = concurrent_edits("newest");
    assert_eq!(out.outcome, Outcome::Conflict);
    assert_eq!(out.conflicts[0].winner, Side::Monday);
    assert_eq!(out.conflicts[0].lost, "Miro's name");
    assert_eq!(
        (out.conflicts[0].miro_us, out.conflicts[0].monday_us),
        (250, 300)
    );
    // Miro is brought back to the winning value.
    let back = crate::mapping::values::text_to_html("monday's name");
    assert_eq!(
        out.writes,
        vec![Write::UpdateMiro {
            fields: [("data.content".to_owned(), json!(back))].into()
        }]
    );
}

#[test]
fn a_fixed_side_policy_wins_conflicts_whatever_the_times() {
    let out = concurrent_edits("miro");
    assert_eq!(out.outcome, Outcome::Conflict);
    assert_eq!(out.conflicts[0].winner, Side::Miro);
    // monday gets Miro's value; Miro gets it back too, since boardsync's write of monday's
    // value there may land after the edit that won.
    assert_eq!(
        out.writes,
        vec![
            Write::UpdateMonday {
                values: values(&[("name", "Miro's name")])
            },
            Write::UpdateMiro {
                fields: [(
                    "data.content".to_owned(),
                    json!(crate::mapping::values::text_to_html("Miro's name"))
                )]
                .into()
            },
        ]
    );
    let out = concurrent_edits("monday");
    assert_eq!(out.conflicts[0].winner, Side::Monday);
}

#[test]
fn fifty_new_values_of_one_field_in_a_minute_are_no_loop() {
    let p = pair();
    let mut view = synced();
    for i in 0..50 {
        let c = change(
            Side::Monday,
            ChangeKind::Updated,
            200 + i,
            json!({"name": format!("edit {i}")}),
        );
        let out = plan(&c, Some(&view), &cx(&p));
        assert_eq!(out.outcome, Outcome::Applied, "edit {i}: {:?}", out.detail);
        assert_eq!(out.link, LinkChange::Keep, "edit {i}");
        view = link(out.fields);
    }
    assert!(view.fields.loop_returns.is_empty());
}

#[test]
fn a_field_that_keeps_coming_back_to_values_boardsync_wrote_quarantines_its_link() {
    // Something on monday turns every value boardsync writes there into another one (a
    // normalising automation, another integration): boardsync writes each back to Miro, and the
    // field goes round. The authors are people as far as boardsync can tell.
    let p = pair();
    let mut context = cx(&p);
    context.max_loop_returns = 3;
    let mut view = synced();
    let mut last = None;
    for i in 0..6 {
        let c = change(
            Side::Monday,
            ChangeKind::Updated,
            200 + i,
            json!({"name": if i % 2 == 0 { "Plan B" } else { "Plan" }}),
        );
        let out = plan(&c, Some(&view), &context);
        view = link(out.fields.clone());
        let done = out.link == LinkChange::Quarantine;
        last = Some(out);
        if done {
            // "Plan B" and "Plan" are new the first time; every value after is a return.
            assert_eq!(i, 5, "quarantined at the fourth return");
            break;
        }
    }
    let last = last.unwrap();
    assert_eq!(last.link, LinkChange::Quarantine);
    assert!(last.writes.is_empty());
    view.quarantined = true;
    let c = change(
        Side::Miro,
        ChangeKind::Updated,
        900,
        json!({"data.content": "<p>more</p>"}),
    );
    assert!(plan(&c, Some(&view), &context).writes.is_empty());
}

#[test]
fn a_person_setting_a_value_boardsync_once_wrote_is_not_mistaken_for_an_echo() {
    let p = pair();
    // monday says Done: boardsync colours the sticky note green (and remembers that).
    let first = plan(
        &change(
            Side::Monday,
            ChangeKind::Updated,
            200,
            json!({"status": {"label": {"text": "Done"}}}),
        ),
        Some(&synced()),
        &cx(&p),
    );
    // Someone recolours it red before a scan saw the green: red flows to monday.
    let red = plan(
        &change(
            Side::Miro,
            ChangeKind::Updated,
            300,
            json!({"style.fillColor": "red"}),
        ),
        Some(&link(first.fields)),
        &cx(&p),
    );
    assert_eq!(red.outcome, Outcome::Applied);
    // Then back to green, by hand: that is a change, not boardsync's old write coming back.
    let green = plan(
        &change(
            Side::Miro,
            ChangeKind::Updated,
            400,
            json!({"style.fillColor": "light_green"}),
        ),
        Some(&link(red.fields)),
        &cx(&p),
    );
    assert_eq!(green.outcome, Outcome::Applied);
    assert_eq!(green.writes, done_to_monday_and_green_back_to_miro());
}

/// What a person's green on Miro makes while a colour boardsync wrote there is unseen: Done on
/// monday, and green again on Miro, since boardsync's write may land after the person's edit.
fn done_to_monday_and_green_back_to_miro() -> Vec<Write> {
    vec![
        Write::UpdateMonday {
            values: values(&[("status", "Done")]),
        },
        Write::UpdateMiro {
            fields: [("style.fillColor".to_owned(), json!("light_green"))].into(),
        },
    ]
}

/// The link after monday said Done, then Stuck: boardsync wrote both to Miro.
fn after_two_writes_to_miro(p: &PairConfig) -> LinkView {
    let mut view = synced();
    for (ts, label) in [(200, "Done"), (300, "Stuck")] {
        let out = plan(
            &change(
                Side::Monday,
                ChangeKind::Updated,
                ts,
                json!({"status": {"label": {"text": label}}}),
            ),
            Some(&view),
            &cx(p),
        );
        view = link(out.fields);
    }
    view
}

/// A Miro scan whose item boardsync's user modified last (a scan names only who touched the item
/// last, not who set each field).
fn scan_naming_boardsync(ts: i64, fields: Value) -> Change {
    let mut scan = change(Side::Miro, ChangeKind::Updated, ts, fields);
    scan.via = Via::Poll;
    scan.author = Some("boardsync-user".into());
    scan
}

#[test]
fn a_scan_of_a_version_older_than_boardsyncs_landed_write_of_a_field_is_stale_for_that_field() {
    // The note was made green (Done) with the item; monday then set Stuck, which boardsync wrote
    // to Miro, and it landed. A scan that read the item between boardsync's write of its title
    // (whose version names boardsync, with a newer time than monday's edit) and that landing sees
    // the old green: not a person's edit, since the processor found the status written in a
    // newer version of boardsync's.
    let p = pair();
    let view = after_two_writes_to_miro(&p);
    let scan = scan_naming_boardsync(
        400,
        json!({
            "style.fillColor": "light_green",
            "data.content": "<p>Plan</p>",
            "@own_fields": ["data.content"],
            "@later_own_fields": ["style.fillColor"],
        }),
    );
    let out = plan(&scan, Some(&view), &cx(&p));
    assert!(out.writes.is_empty(), "{:?}", out.writes);
    assert_eq!(
        out.fields.fields["status"].value.as_deref(),
        Some("Stuck"),
        "the link keeps what boardsync wrote"
    );
    // Without the note the same report would be taken for a person's edit (see the test after
    // the next): the note is what tells them apart.
    let mut unnoted = scan.clone();
    unnoted.fields.remove("@later_own_fields");
    assert!(!plan(&unnoted, Some(&view), &cx(&p)).writes.is_empty());
}

#[test]
fn a_person_restoring_an_old_value_before_boardsyncs_write_was_seen_is_a_change() {
    let p = pair();
    // boardsync wrote Done, then Stuck, to Miro; a scan saw neither.
    let view = after_two_writes_to_miro(&p);
    // A person sets it back to green (Done): the first of boardsync's writes, not its latest.
    let c = change(
        Side::Miro,
        ChangeKind::Updated,
        400,
        json!({"style.fillColor": "light_green"}),
    );
    let out = plan(&c, Some(&view), &cx(&p));
    assert_eq!(out.outcome, Outcome::Applied);
    // The same value from boardsync's own user is its write coming back.
    let mut own = c.clone();
    own.author = Some("boardsync-user".into());
    assert_eq!(plan(&own, Some(&view), &cx(&p)).outcome, Outcome::Echo);
}

#[test]
fn a_scan_that_finds_boardsyncs_user_last_on_an_item_still_sees_a_persons_edit_of_a_field() {
    let p = pair();
    let view = after_two_writes_to_miro(&p);
    // A person turned the note green; boardsync then wrote its title, so the scan names
    // boardsync as the last to modify the item. Green is not boardsync's latest write: a change.
    let scan = scan_naming_boardsync(400, json!({"style.fillColor": "light_green"}));
    let out = plan(&scan, Some(&view), &cx(&p));
    assert_eq!(out.outcome, Outcome::Applied);
    assert_eq!(out.writes, done_to_monday_and_green_back_to_miro());
}

const COMMENTS: &str = r#"comments = { miro = "comments", monday = "updates" }"#;

fn comment_pair(extra: &str, comments: &str) -> PairConfig {
    pair_with(extra, &format!("{FIELDS}\n  {comments}"))
}

fn miro_comment(text: &str) -> Change {
    let mut c = change(
        Side::Miro,
        ChangeKind::Commented,
        200,
        json!({"comment.id": "77", "comment.text": text, "comment.author": "Carol <C>"}),
    );
    c.via = Via::ContentLog;
    c.item = ItemRef::miro("uXjVAAAAAAA=", "3458764500000000001");
    c
}

fn monday_update(body: &str) -> Change {
    change(
        Side::Monday,
        ChangeKind::Commented,
        200,
        json!({"update.body": body, "update.id": "900"}),
    )
}

#[test]
fn a_miro_comment_on_a_linked_item_becomes_a_monday_update_with_its_author_and_a_link_back() {
    let p = comment_pair("", COMMENTS);
    let out = plan(&miro_comment("Looks <good>"), Some(&synced()), &cx(&p));
    assert_eq!(out.outcome, Outcome::Applied);
    assert_eq!(
        out.writes,
        vec![Write::CommentMonday {
            body: "<p>Looks &lt;good&gt;</p><p>— Carol &lt;C&gt; on <a href=\"https://miro.com/app/board/uXjVAAAAAAA%3D/?moveToWidget=3458764500000000001\">Miro</a></p>".into()
        }]
    );
    assert_eq!(out.title.as_deref(), Some("Plan"));
    assert_eq!(out.fields.loop_returns, vec![1_000_000]);
}

#[test]
fn a_monday_update_becomes_a_miro_note_in_plain_text() {
    let p = comment_pair("", COMMENTS);
    let out = plan(
        &monday_update("<p>Ship it &amp; tell</p>"),
        Some(&synced()),
        &cx(&p),
    );
    assert_eq!(out.outcome, Outcome::Applied);
    assert_eq!(
        out.writes,
        vec![Write::CommentMiro {
            author_id: Some("someone".into()),
            text: "Ship it & tell".into(),
            miro_as: MiroAs::Text,
        }]
    );
}

#[test]
fn an_app_card_shows_monday_updates_in_its_field_when_the_pair_asks_and_other_types_as_notes() {
    let p = pair_with(
        r#"miro_items = ["sticky_note", "app_card"]"#,
        r#"title = { miro = { sticky_note = "data.content", app_card = "data.title" }, monday = "name" }
  comments = { miro = "comments", monday = "updates", miro_as = "app_card_field" }"#,
    );
    let mut card = synced();
    card.miro_type = ItemType::AppCard;
    let field =
        |view: &LinkView| match &plan(&monday_update("<p>x</p>"), Some(view), &cx(&p)).writes[..] {
            [Write::CommentMiro { miro_as, .. }] => *miro_as,
            other => panic!("{other:?}"),
        };
    assert_eq!(field(&card), MiroAs::AppCardField);
    assert_eq!(field(&synced()), MiroAs::Text);
}

#[test]
fn boardsyncs_own_posts_coming_back_are_echoes() {
    let p = comment_pair("", COMMENTS);
    for mut c in [miro_comment("hi"), monday_update("<p>hi</p>")] {
        c.author = Some("boardsync-user".into());
        let out = plan(&c, Some(&synced()), &cx(&p));
        assert_eq!(out.outcome, Outcome::Echo, "{c:?}");
        assert!(out.writes.is_empty());
    }
}

#[test]
fn comments_not_mapped_or_against_the_direction_or_on_unlinked_items_are_ignored_with_a_reason() {
    let unmapped = pair();
    let out = plan(&miro_comment("hi"), Some(&synced()), &cx(&unmapped));
    assert_eq!(out.outcome, Outcome::Ignored);
    assert!(out.detail.unwrap().contains("does not map comments"));

    let one_way = comment_pair(
        "",
        r#"comments = { miro = "comments", monday = "updates", direction = "miro_to_monday" }"#,
    );
    let out = plan(&monday_update("<p>hi</p>"), Some(&synced()), &cx(&one_way));
    assert_eq!(out.outcome, Outcome::Ignored);
    assert!(out.detail.unwrap().contains("miro_to_monday"));
    assert_eq!(
        plan(&miro_comment("hi"), Some(&synced()), &cx(&one_way)).outcome,
        Outcome::Applied
    );

    let p = comment_pair("", COMMENTS);
    let out = plan(&miro_comment("hi"), None, &cx(&p));
    assert_eq!(out.outcome, Outcome::Ignored);
    assert!(out.writes.is_empty());
    let out = plan(&miro_comment("   "), Some(&synced()), &cx(&p));
    assert_eq!(out.outcome, Outcome::Ignored);
}

#[test]
fn an_item_flooded_with_comments_is_quarantined_like_any_other_loop() {
    let p = comment_pair("", COMMENTS);
    let mut view = synced();
    view.fields.loop_returns = vec![1_000_000; 30];
    let out = plan(&miro_comment("hi"), Some(&view), &cx(&p));
    assert_eq!(out.link, LinkChange::Quarantine);
    assert!(out.writes.is_empty());
}

#[test]
fn the_comments_field_leaves_value_changes_alone() {
    let p = comment_pair("", COMMENTS);
    let c = change(
        Side::Miro,
        ChangeKind::Updated,
        200,
        json!({"data.content": "<p>Plan 2</p>"}),
    );
    let out = plan(&c, Some(&synced()), &cx(&p));
    assert_eq!(
        out.writes,
        vec![Write::UpdateMonday {
            values: values(&[("name", "Plan 2")])
        }]
    );
    assert!(!out.fields.fields.contains_key("comments"));
}

fn monday_name(ts: i64, name: &str) -> Change {
    change(
        Side::Monday,
        ChangeKind::Updated,
        ts,
        json!({ "name": name }),
    )
}

fn miro_text(ts: i64, text: &str) -> Change {
    change(
        Side::Miro,
        ChangeKind::Updated,
        ts,
        json!({ "data.content": format!("<p>{text}</p>") }),
    )
}

#[test]
fn two_edits_of_a_field_at_one_source_time_are_settled_by_reading_the_item() {
    // One monday request renamed the item twice: both webhooks carry one time.
    let p = pair();
    let first = plan(&monday_name(300, "First"), Some(&synced()), &cx(&p));
    assert_eq!(first.outcome, Outcome::Applied);
    let view = link(first.fields.clone());
    let second = plan(&monday_name(300, "Second"), Some(&view), &cx(&p));
    assert!(second.read_item, "a tie is not taken for stale");
    assert!(second.writes.is_empty());
    assert_eq!(
        second.fields, first.fields,
        "nothing recorded before the read"
    );
    // The item, read now, holds the second name: that is planned as the newest at that time.
    let mut read = monday_name(300, "Second");
    read.read_back = true;
    let out = plan(&read, Some(&view), &cx(&p));
    assert!(!out.read_item);
    assert_eq!(out.outcome, Outcome::Applied);
    assert_eq!(
        out.fields.fields["title"].value.as_deref(),
        Some("Second"),
        "neither edit is dropped by the tie"
    );
    // A tie that repeats the value the link holds needs no read.
    let again = plan(&monday_name(300, "First"), Some(&view), &cx(&p));
    assert!(!again.read_item);
    assert!(again.writes.is_empty());
}

#[test]
fn a_tie_arriving_in_reverse_order_reads_the_item_and_keeps_the_later_value() {
    let p = pair();
    // The second rename's webhook came first; the first one's arrives now.
    let second = plan(&monday_name(300, "Second"), Some(&synced()), &cx(&p));
    let view = link(second.fields.clone());
    assert!(plan(&monday_name(300, "First"), Some(&view), &cx(&p)).read_item);
    // The item still says "Second": nothing to write.
    let mut read = monday_name(300, "Second");
    read.read_back = true;
    let out = plan(&read, Some(&view), &cx(&p));
    assert!(out.writes.is_empty(), "{:?}", out.writes);
    assert_eq!(out.fields.fields["title"].value.as_deref(), Some("Second"));
}

#[test]
fn an_edit_made_while_boardsync_was_writing_another_value_there_is_written_back_to_its_side() {
    // A Miro edit at 200 is on its way to monday when a person renames the item on monday at
    // 250: the queued write may land after the person's edit, so the edit goes to both sides.
    let p = pair();
    let queued = plan(&miro_text(200, "From Miro"), Some(&synced()), &cx(&p));
    assert_eq!(
        queued.writes,
        vec![Write::UpdateMonday {
            values: values(&[("name", "From Miro")])
        }]
    );
    let out = plan(
        &monday_name(250, "From monday"),
        Some(&link(queued.fields)),
        &cx(&p),
    );
    assert_eq!(out.outcome, Outcome::Applied);
    assert_eq!(
        out.writes,
        vec![
            Write::UpdateMiro {
                fields: [(
                    "data.content".to_owned(),
                    json!(crate::mapping::values::text_to_html("From monday"))
                )]
                .into()
            },
            Write::UpdateMonday {
                values: values(&[("name", "From monday")])
            },
        ]
    );
    assert_eq!(
        out.fields.fields["title"].value.as_deref(),
        Some("From monday")
    );
    // Its echo on monday is recognised as boardsync's.
    let mut echo = monday_name(400, "From monday");
    echo.author = Some("boardsync-user".into());
    let echoed = plan(&echo, Some(&link(out.fields)), &cx(&p));
    assert_eq!(echoed.outcome, Outcome::Echo);
}

#[test]
fn a_repeated_report_of_an_edit_takes_no_echo_so_a_late_write_of_boardsyncs_stays_an_echo() {
    // monday renames the item at 200; boardsync's write of it to Miro is on its way when a
    // person renames the sticky note at 250: the edit goes to both sides.
    let p = pair();
    let own = |mut c: Change| {
        c.author = Some("boardsync-user".into());
        c
    };
    let queued = plan(&monday_name(200, "task 17"), Some(&synced()), &cx(&p));
    let crossed = plan(
        &miro_text(250, "task 11"),
        Some(&link(queued.fields)),
        &cx(&p),
    );
    assert_eq!(crossed.writes.len(), 2, "{:?}", crossed.writes);
    // The same edit, reported again (the content log after the scan).
    let again = plan(
        &miro_text(250, "task 11"),
        Some(&link(crossed.fields)),
        &cx(&p),
    );
    assert!(again.writes.is_empty(), "{:?}", again.writes);
    // boardsync's first write lands after the person's edit and is seen: its echo, not a
    // newer edit to take to monday.
    let landed = plan(
        &own(miro_text(260, "task 17")),
        Some(&link(again.fields)),
        &cx(&p),
    );
    assert_eq!(landed.outcome, Outcome::Echo, "{:?}", landed.writes);
    assert!(landed.writes.is_empty());
    // Then the write-back lands: both sides end on the person's edit.
    let back = plan(
        &own(miro_text(270, "task 11")),
        Some(&link(landed.fields)),
        &cx(&p),
    );
    assert_eq!(back.outcome, Outcome::Echo);
    assert_eq!(
        back.fields.fields["title"].value.as_deref(),
        Some("task 11")
    );
}

#[test]
fn under_a_side_policy_that_side_wins_even_when_its_edit_arrives_second_and_older() {
    // conflict = "monday": Miro's edit at 300 is processed first and queued for monday; then
    // monday's own edit made at 250 arrives (the reconciler found it late).
    let p = pair_with("conflict = \"monday\"", FIELDS);
    let first = plan(&miro_text(300, "Miro's name"), Some(&synced()), &cx(&p));
    assert_eq!(first.outcome, Outcome::Applied);
    let out = plan(
        &monday_name(250, "monday's name"),
        Some(&link(first.fields)),
        &cx(&p),
    );
    assert_eq!(out.outcome, Outcome::Conflict);
    let c = &out.conflicts[0];
    assert_eq!(
        (c.winner, c.won.as_str(), c.lost.as_str()),
        (Side::Monday, "monday's name", "Miro's name")
    );
    // The record and both boards agree: Miro gets monday's value, and monday gets it back in
    // case the queued write of Miro's value reached it first.
    assert_eq!(
        out.fields.fields["title"].value.as_deref(),
        Some("monday's name")
    );
    assert!(out.writes.contains(&Write::UpdateMonday {
        values: values(&[("name", "monday's name")])
    }));
    assert!(
        out.writes
            .iter()
            .any(|w| matches!(w, Write::UpdateMiro { .. }))
    );
    // The queued write of Miro's value had reached monday already: its echo is boardsync's own,
    // not a newer edit, and monday's value stays the one both sides are brought to.
    let mut echo = monday_name(400, "Miro's name");
    echo.author = Some("boardsync-user".into());
    let echoed = plan(&echo, Some(&link(out.fields)), &cx(&p));
    assert_eq!(echoed.outcome, Outcome::Echo);
    assert_eq!(
        echoed.fields.fields["title"].value.as_deref(),
        Some("monday's name")
    );
}

#[test]
fn a_link_stored_with_millisecond_times_reads_them_as_microseconds() {
    let stored = json!({"fields": {"title": {"value": "Plan", "miro_ts": 1_700_000_000_000_i64,
        "monday_ts": 0, "synced_ts": 1_700_000_000_000_i64}}});
    let fields: LinkFields = serde_json::from_value(stored).unwrap();
    let title = &fields.fields["title"];
    assert_eq!(title.miro_us, 1_700_000_000_000_000);
    assert_eq!(title.synced_us, 1_700_000_000_000_000);
    assert_eq!(title.monday_us, 0);
    let again = serde_json::to_value(&fields).unwrap();
    assert_eq!(
        again["fields"]["title"]["miro_ts"],
        json!(1_700_000_000_000_000_i64)
    );
}
