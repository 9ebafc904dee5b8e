//! The right value wins, end to end: edits that cross while one side's write is held, a side
//! policy deciding a conflict whose winner arrives second, and two renames that monday stamps
//! with one time. Each case is made to happen deterministically with the sandbox's faults and
//! boardsync's own commands, then both boards are checked against what the record says.

use crate::common::wait_for;
use crate::common::world::{DEADLINE, MONDAY_BOARD, World, world};
use serde_json::{Value, json};

const PAIR: &str = "sync-test";

/// The text of the sticky note `id` on Miro, as plain text.
async fn miro_text(w: &World, id: &str) -> Option<String> {
    w.miro_items()
        .await
        .iter()
        .find(|i| i["id"] == id)
        .and_then(|i| i["data"]["content"].as_str())
        .map(boardsync::mapping::values::html_to_text)
}

async fn monday_name(w: &World, id: &str) -> Option<String> {
    w.monday_items()
        .await
        .iter()
        .find(|i| i["id"] == id)
        .and_then(|i| i["name"].as_str().map(str::to_owned))
}

/// An item made on monday and its twin's id on Miro, once it is there.
async fn linked_item(w: &World, name: &str) -> (String, String) {
    let monday_id = w.create_on_monday(name).await;
    let sticky = wait_for("the item's twin on Miro", DEADLINE, || async {
        w.miro_items()
            .await
            .into_iter()
            .find(|i| i["data"]["content"] == format!("<p>{name}</p>"))
    })
    .await;
    (monday_id, sticky["id"].as_str().unwrap().to_owned())
}

/// Waits until both boards show `name` for the item and nothing is left to do, then lets three
/// more scans pass and checks that they still do: a late write would show by then.
async fn settles_on(w: &World, monday_id: &str, sticky_id: &str, name: &str) {
    wait_for(
        &format!("both boards on {name:?} with nothing queued"),
        DEADLINE,
        || async {
            let s = w.status().await;
            let idle = s["inbox_backlog"] == 0 && s["pairs"][0]["outbox_backlog"] == 0;
            let on_both = monday_name(w, monday_id).await.as_deref() == Some(name)
                && miro_text(w, sticky_id).await.as_deref() == Some(name);
            (idle && on_both).then_some(())
        },
    )
    .await;
    w.scans_after(3).await;
    assert_eq!(monday_name(w, monday_id).await.as_deref(), Some(name));
    assert_eq!(miro_text(w, sticky_id).await.as_deref(), Some(name));
}

/// Waits until the sandbox has injected `kind` at least once on `api` ("miro" or "monday").
async fn fault_fired(w: &World, api: &str, kind: &str) {
    let url = match api {
        "miro" => format!("{}/_sandbox/faults", w.sandbox.miro_api_url()),
        _ => w
            .sandbox
            .monday_api_url()
            .replace("/v2", "/_sandbox/faults"),
    };
    wait_for(&format!("a {kind} on {api}"), DEADLINE, || async {
        let f: Value = crate::common::get_json(&url).await;
        (f["injected"][kind].as_u64() >= Some(1)).then_some(())
    })
    .await;
}

/// Runs `boardsync ARGS --config FILE` as a person would, beside the daemon (off the test's
/// runtime thread, which serves the sandbox the command talks to).
async fn boardsync_cli(w: &World, args: &[&str]) {
    let out = crate::common::run_cli(args, &w.config_path).await;
    assert!(
        out.status.success(),
        "boardsync {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_write_held_by_errors_never_lands_over_a_newer_edit_from_the_other_side() {
    let w = world(false, "").await;
    let (monday_id, sticky_id) = linked_item(&w, "Original").await;

    // boardsync's writes to Miro fail; people's edits go through.
    w.set_faults(
        1,
        json!([{"kind": "http_503", "probability": 1.0, "route": "PATCH", "user": "boardsync"}]),
        json!([]),
    )
    .await;
    w.rename_on_monday(&monday_id, "From monday").await;
    fault_fired(&w, "miro", "http_503").await;

    // The write of "From monday" waits for its retry; meanwhile someone edits the sticky note.
    w.miro(
        reqwest::Method::PATCH,
        &format!("sticky_notes/{sticky_id}"),
        Some(json!({"data": {"content": "<p>From Miro</p>"}})),
    )
    .await;
    wait_for("the Miro edit on monday", DEADLINE, || async {
        (monday_name(&w, &monday_id).await.as_deref() == Some("From Miro")).then_some(())
    })
    .await;

    // The held write goes out now, or would: it is older than what both sides hold.
    w.set_faults(1, json!([]), json!([])).await;
    settles_on(&w, &monday_id, &sticky_id, "From Miro").await;
    w.stop().await;
}

#[tokio::test]
async fn under_conflict_monday_mondays_older_edit_wins_when_it_arrives_second() {
    let w = world(false, "conflict = \"monday\"").await;
    let (monday_id, sticky_id) = linked_item(&w, "Start").await;
    // Everything about the new item done with (the scan's echo of the sticky note included), so
    // that what waits in the inbox below is Miro's edit.
    settles_on(&w, &monday_id, &sticky_id, "Start").await;

    boardsync_cli(&w, &["pause", "--pair", PAIR]).await;
    wait_for("the pair paused", DEADLINE, || async {
        (w.status().await["pairs"][0]["paused_since"].is_number()).then_some(())
    })
    .await;
    // monday's edit comes first, but its webhook is lost; Miro's comes a second later.
    w.set_faults(
        1,
        json!([]),
        json!([{"kind": "webhook_drop", "probability": 1.0}]),
    )
    .await;
    w.rename_on_monday(&monday_id, "monday's name").await;
    fault_fired(&w, "monday", "webhook_drop").await;
    w.set_faults(1, json!([]), json!([])).await;
    let clock = format!("{}/_sandbox/clock", w.sandbox.miro_api_url());
    let moved = w
        .http
        .post(clock)
        .json(&json!({"advance": "1s"}))
        .send()
        .await
        .unwrap();
    assert!(moved.status().is_success());
    w.miro(
        reqwest::Method::PATCH,
        &format!("sticky_notes/{sticky_id}"),
        Some(json!({"data": {"content": "<p>Miro's name</p>"}})),
    )
    .await;
    // The scan goes on while paused: Miro's edit waits in the inbox. Then the reconciler finds
    // monday's, which lands behind it.
    wait_for("Miro's edit in the inbox", DEADLINE, || async {
        (w.status().await["inbox_backlog"].as_i64() >= Some(1)).then_some(())
    })
    .await;
    boardsync_cli(&w, &["reconcile", "--pair", PAIR]).await;
    boardsync_cli(&w, &["resume", "--pair", PAIR]).await;

    settles_on(&w, &monday_id, &sticky_id, "monday's name").await;
    let store = boardsync::store::Store::open(&w.database_url)
        .await
        .unwrap();
    let conflicts = store.recent_conflicts(PAIR, 10).await.unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let c = &conflicts[0];
    assert_eq!(
        (c.winner.as_str(), c.won.as_str(), c.lost.as_str()),
        ("monday", "monday's name", "Miro's name"),
        "the record says what both boards hold"
    );
    w.stop().await;
}

#[tokio::test]
async fn two_renames_in_one_monday_request_end_on_the_second_on_both_boards() {
    let w = world(false, "").await;
    let mut items = Vec::new();
    for i in 0..5 {
        items.push(linked_item(&w, &format!("Item {i}")).await);
    }
    // One request renames each item twice: monday stamps both webhooks with one time.
    let mut mutation = String::from("mutation {");
    for (n, (monday_id, _)) in items.iter().enumerate() {
        for (step, name) in ["first", "second"].iter().enumerate() {
            mutation += &format!(
                r#" r{n}_{step}: change_multiple_column_values(board_id: {MONDAY_BOARD}, item_id: {monday_id}, column_values: "{{\"name\": \"Item {n} {name}\"}}") {{ id }}"#
            );
        }
    }
    mutation += " }";
    w.monday(&mutation).await;
    for (n, (monday_id, sticky_id)) in items.iter().enumerate() {
        settles_on(&w, monday_id, sticky_id, &format!("Item {n} second")).await;
    }
    w.stop().await;
}
