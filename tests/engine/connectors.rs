//! Connectors end to end: the daemon against the sandbox, with the connector poll run round by
//! round (see `relations`). A connector drawn between two linked sticky notes becomes a monday
//! dependency, its removal removes it, a dependency set on monday is drawn on Miro, and a
//! connector to an item with no twin is left out and counted.

use crate::common::wait_for;
use crate::common::world::{DEADLINE, World};
use crate::relations::world;
use serde_json::{Value, json};

const FIELDS: &str = r#"title = { miro = "data.content", monday = "name" }
  links = { miro = "connectors", monday = "deps" }"#;

/// The ids a monday item's dependency column links to.
fn deps(item: &Value) -> Vec<String> {
    item["values"]["deps"]["value"]["linkedPulseIds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| l["linkedPulseId"].to_string())
        .collect()
}

/// The (start, end) of every connector on the Miro board, sorted.
async fn connectors(w: &World) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = w.miro_board().await["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["startItem"]["id"].as_str().unwrap().to_owned(),
                c["endItem"]["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_connector_between_linked_sticky_notes_becomes_a_monday_dependency_and_back() {
    let w = world(false, "", FIELDS).await;
    let design = w.sticky("Design").await;
    let build = w.sticky("Build").await;
    // A shape is not of the pair's types: it never has a twin.
    let note = w
        .miro(
            reqwest::Method::POST,
            "shapes",
            Some(json!({ "data": { "content": "<p>A note</p>", "shape": "rectangle" } })),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ((design_m, build_m), _, _) = w
        .within_two_rounds("both sticky notes on monday", || async {
            let d = w.monday_item("Design").await?;
            let b = w.monday_item("Build").await?;
            Some((d["id"].as_str()?.to_owned(), b["id"].as_str()?.to_owned()))
        })
        .await;

    // Build depends on Design: a connector from Build to Design. Another one goes to the shape,
    // which has no twin: it is left out of the value, and counted.
    let drawn = w
        .miro(
            reqwest::Method::POST,
            "connectors",
            Some(json!({ "startItem": { "id": build }, "endItem": { "id": design } })),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.miro(
        reqwest::Method::POST,
        "connectors",
        Some(json!({ "startItem": { "id": build }, "endItem": { "id": note } })),
    )
    .await;
    let (_, rounds, (_, found)) = w
        .within_two_rounds("the dependency on monday", || async {
            w.monday_item("Build")
                .await
                .filter(|i| deps(i) == [design_m.clone()])
        })
        .await;
    assert_eq!(rounds, 1);
    assert_eq!((found.changes, found.ignored), (1, 1));

    // Removed on Miro: removed on monday.
    w.miro(
        reqwest::Method::DELETE,
        &format!("connectors/{drawn}"),
        None,
    )
    .await;
    w.within_two_rounds("the dependency gone from monday", || async {
        w.monday_item("Build").await.filter(|i| deps(i).is_empty())
    })
    .await;

    // Set on monday (Design depends on Build): the connector is drawn on Miro, and the one to
    // the shape, which monday cannot see, stays.
    w.set_monday_column(
        &design_m,
        "deps",
        json!({ "item_ids": [build_m.parse::<u64>().unwrap()] }),
    )
    .await;
    wait_for("the connector on Miro", DEADLINE, || async {
        let all = connectors(&w).await;
        all.contains(&(design.clone(), build.clone()))
            .then_some(all)
    })
    .await;
    let mut expected = vec![
        (design.clone(), build.clone()),
        (build.clone(), note.clone()),
    ];
    expected.sort();
    assert_eq!(connectors(&w).await, expected);

    // Cleared on monday: the connector goes; the shape's stays.
    w.set_monday_column(&design_m, "deps", json!({ "item_ids": [] }))
        .await;
    wait_for("the connector gone from Miro", DEADLINE, || async {
        (connectors(&w).await == [(build.clone(), note.clone())]).then_some(())
    })
    .await;
    w.assert_quiet().await;
    w.stop().await;
}
