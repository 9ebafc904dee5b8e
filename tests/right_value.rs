//! The right value wins, end to end: edits that cross while one side's write is held, and two
//! renames that monday stamps with one time. Each case is made to happen deterministically with the sandbox's faults and
//! boardsync's own commands, then both boards are checked against what the record says.

mod common;

use common::wait_for;
use common::world::{DEADLINE, MONDAY_BOARD, World, world};
use serde_json::{Value, json};

/// The text of the sticky note `id` on Miro, as plain text.
async fn miro_text(w: &World, id: &str) -> Option<String> {
    w.miro_items()
        .await
        .iter()
        .find(|i| i["id"] == id)
        .and_then(|i| i["data"]["content"].as_str())
        .map(boardsync::sync::values::html_to_text)
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
        let f: Value = common::get_json(&url).await;
        (f["injected"][kind].as_u64() >= Some(1)).then_some(())
    })
    .await;
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
