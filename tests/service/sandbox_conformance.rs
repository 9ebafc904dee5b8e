//! The sandbox is only as useful as it is faithful. This suite checks it against what Miro and
//! monday publish, read from `BOARDSYNC_REFERENCE_DIR` (default `../shared/reference`): the Miro
//! OpenAPI spec, the monday SDL, and real webhook bodies. The expectations come from those files,
//! never from the sandbox's own output; when the files are absent the suite says it was skipped.

use crate::common::Receiver;
use boardsync::sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};
use std::path::PathBuf;

fn reference_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("BOARDSYNC_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/reference"));
    if dir.join("miro").is_dir() && dir.join("monday").is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "conformance suite skipped: no reference files at {} (set BOARDSYNC_REFERENCE_DIR)",
            dir.display()
        );
        None
    }
}

/// One request and its answer, kept for checking against the spec afterwards.
struct Exchange {
    method: String,
    path: String,
    query: Vec<String>,
    status: u16,
    body: Value,
}

struct Miro {
    base: String,
    http: reqwest::Client,
    token: &'static str,
    log: Vec<Exchange>,
}

impl Miro {
    async fn call(
        &mut self,
        method: &str,
        path_and_query: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path_and_query}", self.base);
        let mut req = self
            .http
            .request(method.parse().unwrap(), &url)
            .bearer_auth(self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        let parsed = url::Url::parse(&url).unwrap();
        self.log.push(Exchange {
            method: method.to_owned(),
            path: parsed.path().to_owned(),
            query: parsed.query_pairs().map(|(k, _)| k.into_owned()).collect(),
            status,
            body: body.clone(),
        });
        (status, body)
    }

    async fn create(&mut self, path: &str, body: Value) -> String {
        let (status, created) = self.call("POST", path, Some(body)).await;
        assert!(
            status == 201 || status == 200,
            "POST {path}: {status} {created}"
        );
        created["id"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn every_miro_call_is_a_route_of_the_spec_and_answers_in_its_schema() {
    let Some(refs) = reference_dir() else { return };
    let spec = crate::conformance::openapi::Spec::load(
        &refs.join("miro/miro-openapi-v2-2025-11-07-with-webhooks.json"),
    );
    let sandbox = Sandbox::start(SandboxOptions::ephemeral()).await.unwrap();
    let mut m = Miro {
        base: sandbox.miro_api_url(),
        http: reqwest::Client::new(),
        token: "sandbox-alice",
        log: Vec::new(),
    };

    let board = m.create("/v2/boards", json!({"name": "Conformance"})).await;
    m.call("GET", "/v2/boards", None).await;
    m.call("GET", &format!("/v2/boards/{board}"), None).await;
    let b = format!("/v2/boards/{board}");

    let frame = m.create(&format!("{b}/frames"), json!({"data": {"title": "Sprint", "format": "custom", "type": "freeform"}, "position": {"x": 0, "y": 0}, "geometry": {"width": 2000, "height": 1200}})).await;
    let sticky = m.create(&format!("{b}/sticky_notes"), json!({"data": {"content": "<p>Plan</p>", "shape": "square"}, "style": {"fillColor": "light_yellow"}, "position": {"x": 10, "y": 10}, "parent": {"id": frame}})).await;
    let card = m.create(&format!("{b}/cards"), json!({"data": {"title": "Card", "description": "d"}, "style": {"cardTheme": "#2d9bf0"}})).await;
    let app_card = m
        .create(
            &format!("{b}/app_cards"),
            json!({"data": {"title": "App card", "status": "connected"}}),
        )
        .await;
    let shape = m
        .create(
            &format!("{b}/shapes"),
            json!({"data": {"content": "<p>s</p>", "shape": "rectangle"}}),
        )
        .await;
    let text = m
        .create(
            &format!("{b}/texts"),
            json!({"data": {"content": "<p>t</p>"}}),
        )
        .await;

    for (kind, id, patch) in [
        ("frames", &frame, json!({"data": {"title": "Sprint 2"}})),
        (
            "sticky_notes",
            &sticky,
            json!({"style": {"fillColor": "light_green"}}),
        ),
        ("cards", &card, json!({"data": {"title": "Card 2"}})),
        (
            "app_cards",
            &app_card,
            json!({"data": {"title": "App card 2"}}),
        ),
        ("shapes", &shape, json!({"data": {"content": "<p>s2</p>"}})),
        ("texts", &text, json!({"data": {"content": "<p>t2</p>"}})),
    ] {
        m.call("GET", &format!("{b}/{kind}/{id}"), None).await;
        let (status, body) = m
            .call("PATCH", &format!("{b}/{kind}/{id}"), Some(patch))
            .await;
        assert_eq!(status, 200, "PATCH {kind}: {body}");
    }

    m.call("GET", &format!("{b}/items?limit=10"), None).await;
    m.call("GET", &format!("{b}/items?limit=10&type=sticky_note"), None)
        .await;
    m.call("GET", &format!("{b}/items?parent_item_id={frame}"), None)
        .await;
    m.call("GET", &format!("{b}/items/{sticky}"), None).await;
    m.call(
        "PATCH",
        &format!("{b}/items/{text}"),
        Some(json!({"position": {"x": 50, "y": 60}})),
    )
    .await;

    let tag = m
        .create(
            &format!("{b}/tags"),
            json!({"title": "urgent", "fillColor": "red"}),
        )
        .await;
    m.call("GET", &format!("{b}/tags"), None).await;
    m.call("GET", &format!("{b}/tags/{tag}"), None).await;
    m.call(
        "PATCH",
        &format!("{b}/tags/{tag}"),
        Some(json!({"title": "very urgent"})),
    )
    .await;
    assert_eq!(
        m.call("POST", &format!("{b}/items/{sticky}?tag_id={tag}"), None)
            .await
            .0,
        204
    );
    m.call("GET", &format!("{b}/items?tag_id={tag}"), None)
        .await;
    m.call("GET", &format!("{b}/items/{sticky}/tags"), None)
        .await;
    assert_eq!(
        m.call("DELETE", &format!("{b}/items/{sticky}?tag_id={tag}"), None)
            .await
            .0,
        204
    );

    let connector = m
        .create(
            &format!("{b}/connectors"),
            json!({"startItem": {"id": sticky}, "endItem": {"id": card}, "shape": "curved"}),
        )
        .await;
    m.call("GET", &format!("{b}/connectors"), None).await;
    m.call("GET", &format!("{b}/connectors/{connector}"), None)
        .await;
    m.call(
        "PATCH",
        &format!("{b}/connectors/{connector}"),
        Some(json!({"shape": "straight"})),
    )
    .await;
    assert_eq!(
        m.call("DELETE", &format!("{b}/connectors/{connector}"), None)
            .await
            .0,
        204
    );
    assert_eq!(
        m.call("DELETE", &format!("{b}/tags/{tag}"), None).await.0,
        204
    );

    let from = "2020-01-01T00:00:00.000Z";
    let to = "2099-01-01T00:00:00.000Z";
    m.call(
        "GET",
        &format!("/v2/orgs/3074457345821141000/content-logs/items?from={from}&to={to}&limit=10"),
        None,
    )
    .await;

    // Errors are answered in the spec's shape too.
    assert_eq!(
        m.call("GET", &format!("{b}/sticky_notes/1"), None).await.0,
        404
    );
    assert_eq!(
        m.call(
            "POST",
            &format!("{b}/sticky_notes"),
            Some(json!({"style": {"fillColor": "plaid"}}))
        )
        .await
        .0,
        400
    );
    assert_eq!(
        m.call("GET", &format!("{b}/items?limit=500"), None).await.0,
        400
    );

    for (kind, id) in [
        ("sticky_notes", &sticky),
        ("cards", &card),
        ("app_cards", &app_card),
        ("shapes", &shape),
        ("frames", &frame),
    ] {
        assert_eq!(
            m.call("DELETE", &format!("{b}/{kind}/{id}"), None).await.0,
            204,
            "DELETE {kind}"
        );
    }
    assert_eq!(
        m.call("DELETE", &format!("{b}/items/{text}"), None).await.0,
        204
    );

    let mut problems = Vec::new();
    for x in &m.log {
        let keys: Vec<&str> = x.query.iter().map(String::as_str).collect();
        match spec.operation(&x.method, &x.path, &keys) {
            None => problems.push(format!(
                "{} {} is not a route of the spec",
                x.method, x.path
            )),
            Some(op) => {
                if let Err(e) = spec.check_response(&op, x.status, &x.body) {
                    problems.push(format!("{} {}: {e}", x.method, x.path));
                }
            }
        }
    }
    assert!(m.log.len() > 40, "the suite exercises every route");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn the_monday_schema_is_a_subset_of_the_published_one() {
    let Some(refs) = reference_dir() else { return };
    let published = crate::conformance::sdl::from_sdl(
        &std::fs::read_to_string(refs.join("monday/monday-schema-2026-10.graphql")).unwrap(),
    );
    let sandbox = Sandbox::start(SandboxOptions::ephemeral()).await.unwrap();
    let answer = crate::common::monday_query(
        &sandbox.monday_api_url(),
        "sandbox-alice",
        crate::conformance::sdl::INTROSPECTION,
    )
    .await;
    let ours = crate::conformance::sdl::from_introspection(&answer);
    for must in [
        "Query",
        "Mutation",
        "Board",
        "Item",
        "ItemsResponse",
        "Group",
        "Column",
        "Webhook",
    ] {
        assert!(ours.contains_key(must), "the sandbox has no {must}");
    }
    let diffs = crate::conformance::sdl::differences(&ours, &published);
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    sandbox.stop().await;
}

/// The real samples of `webhook-samples.json`, the 2025 captures (with `isRetry`) first.
fn monday_samples(refs: &std::path::Path) -> Vec<(String, Value)> {
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(refs.join("monday/webhook-samples.json")).unwrap(),
    )
    .unwrap();
    let mut samples: Vec<(String, Value)> = file["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["body"]["event"].is_object())
        .map(|s| (s["name"].as_str().unwrap().to_owned(), s["body"].clone()))
        .collect();
    samples.sort_by_key(|(_, b)| b["event"].get("isRetry").is_none());
    samples
}

/// The sample a delivery should look like: same `type`, and for column changes the same column type.
fn matching_sample<'a>(
    samples: &'a [(String, Value)],
    body: &Value,
) -> Option<&'a (String, Value)> {
    let e = &body["event"];
    samples.iter().find(|(name, s)| {
        let se = &s["event"];
        se["type"] == e["type"]
            && (e["type"] != "update_column_value" || se["columnType"] == e["columnType"])
            && !name.contains("subitem")
            && se.get("parentItemId").is_none()
    })
}

async fn gql(sandbox: &Sandbox, token: &str, query: &str) -> Value {
    let answer = crate::common::monday_query(&sandbox.monday_api_url(), token, query).await;
    assert!(answer.get("errors").is_none(), "{query}: {answer}");
    answer["data"].clone()
}

#[tokio::test]
async fn monday_webhook_bodies_have_the_keys_and_types_of_real_ones() {
    let Some(refs) = reference_dir() else { return };
    let samples = monday_samples(&refs);
    let sandbox = Sandbox::start(SandboxOptions::ephemeral()).await.unwrap();
    let receiver = Receiver::start().await;
    let t = "sandbox-alice";
    let board = gql(
        &sandbox,
        t,
        r#"mutation { create_board(board_name: "Hooks", board_kind: public, empty: true) { id } }"#,
    )
    .await;
    let board = board["create_board"]["id"].as_str().unwrap().to_owned();
    gql(
        &sandbox,
        t,
        &format!(
            r#"mutation {{ create_group(board_id: {board}, group_name: "Topics") {{ id }} }}"#
        ),
    )
    .await;
    gql(&sandbox, t, &format!(r#"mutation {{ create_column(board_id: {board}, title: "Status", column_type: status) {{ id }} }}"#)).await;
    for event in [
        "create_item",
        "change_column_value",
        "change_name",
        "item_archived",
        "item_deleted",
        "create_update",
    ] {
        gql(&sandbox, t, &format!(r#"mutation {{ create_webhook(board_id: {board}, url: "{}", event: {event}) {{ id }} }}"#, receiver.url)).await;
    }
    let item = gql(
        &sandbox,
        t,
        &format!(r#"mutation {{ create_item(board_id: {board}, item_name: "First") {{ id }} }}"#),
    )
    .await;
    let item = item["create_item"]["id"].as_str().unwrap().to_owned();
    let columns = gql(
        &sandbox,
        t,
        &format!("query {{ boards(ids: [{board}]) {{ columns {{ id type }} }} }}"),
    )
    .await;
    let status = columns["boards"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "status")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    gql(&sandbox, t, &format!(r#"mutation {{ change_simple_column_value(board_id: {board}, item_id: {item}, column_id: "{status}", value: "Done") {{ id }} }}"#)).await;
    gql(&sandbox, t, &format!(r#"mutation {{ change_simple_column_value(board_id: {board}, item_id: {item}, column_id: "name", value: "Renamed") {{ id }} }}"#)).await;
    gql(
        &sandbox,
        t,
        &format!(r#"mutation {{ create_update(item_id: {item}, body: "Looks good") {{ id }} }}"#),
    )
    .await;
    gql(
        &sandbox,
        t,
        &format!("mutation {{ archive_item(item_id: {item}) {{ id }} }}"),
    )
    .await;
    gql(
        &sandbox,
        t,
        &format!("mutation {{ delete_item(item_id: {item}) {{ id }} }}"),
    )
    .await;

    let deliveries = receiver.wait_for(6).await;
    let mut problems = Vec::new();
    let mut types = Vec::new();
    for d in &deliveries {
        let body = d.json();
        types.push(body["event"]["type"].as_str().unwrap_or("?").to_owned());
        match matching_sample(&samples, &body) {
            None => problems.push(format!("no real sample of type {}", body["event"]["type"])),
            Some((name, sample)) => problems.extend(
                crate::conformance::shape::differences(&body, sample)
                    .into_iter()
                    .map(|p| format!("{name}: {p}")),
            ),
        }
    }
    for t in [
        "create_pulse",
        "update_column_value",
        "update_name",
        "create_update",
        "archive_pulse",
        "delete_pulse",
    ] {
        assert!(
            types.iter().any(|x| x == t),
            "no {t} delivery among {types:?}"
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    sandbox.stop().await;
}

/// The JSON blocks of `webhook-payloads.md`, in order: shape A, then shape B.
fn miro_samples(refs: &std::path::Path) -> Vec<Value> {
    let md = std::fs::read_to_string(refs.join("miro/webhook-payloads.md")).unwrap();
    md.split("```json")
        .skip(1)
        .map(|block| serde_json::from_str(block.split("```").next().unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn miro_webhook_bodies_have_the_keys_and_types_of_both_documented_shapes() {
    let Some(refs) = reference_dir() else { return };
    let samples = miro_samples(&refs);
    assert_eq!(
        samples.len(),
        2,
        "webhook-payloads.md has shape A and shape B"
    );
    let sandbox = Sandbox::start(SandboxOptions::ephemeral()).await.unwrap();
    let (a, b) = (Receiver::start().await, Receiver::start().await);
    let http = reqwest::Client::new();
    let base = sandbox.miro_api_url();
    let post = |path: String, body: Value| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let resp = http
                .post(url)
                .bearer_auth("sandbox-alice")
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap();
            assert!(status == 200 || status == 201, "{status} {body}");
            body
        }
    };
    let board = post("/v2/boards".into(), json!({"name": "Hooks"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    post(
        "/v2-experimental/webhooks/board_subscriptions".into(),
        json!({"boardId": board, "callbackUrl": a.url, "status": "enabled"}),
    )
    .await;
    post(
        "/v2-experimental/webhooks/board_subscriptions".into(),
        json!({"boardId": board, "callbackUrl": b.url, "status": "enabled", "sandboxPayloadShape": "changes"}),
    )
    .await;
    let sticky = post(
        format!("/v2/boards/{board}/sticky_notes"),
        json!({"data": {"content": "<p>hi</p>"}}),
    )
    .await;
    let id = sticky["id"].as_str().unwrap();
    http.patch(format!("{base}/v2/boards/{board}/sticky_notes/{id}"))
        .bearer_auth("sandbox-alice")
        .json(&json!({"data": {"content": "<p>hello</p>"}}))
        .send()
        .await
        .unwrap();

    let a_bodies = a.wait_for(2).await;
    let b_bodies = b.wait_for(2).await;
    let update_a = a_bodies
        .iter()
        .map(|d| d.json())
        .find(|v| v["event"]["type"] == "update")
        .expect("shape A update");
    let update_b = b_bodies
        .iter()
        .map(|d| d.json())
        .find(|v| v["type"] == "update")
        .expect("shape B update");
    let mut problems = crate::conformance::shape::differences(&update_a, &samples[0]);
    problems.extend(
        crate::conformance::shape::differences(&update_b, &samples[1])
            .into_iter()
            .map(|p| format!("shape B: {p}")),
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    sandbox.stop().await;
}

/// The schema the monday client is compiled against (`schema/monday.graphql`) claims nothing the
/// published schema does not have, so every query boardsync sends is one monday can answer.
#[test]
fn the_monday_clients_schema_is_a_subset_of_the_published_one() {
    let Some(refs) = reference_dir() else { return };
    let published =
        std::fs::read_to_string(refs.join("monday/monday-schema-2026-10.graphql")).unwrap();
    let ours = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema/monday.graphql"),
    )
    .unwrap();
    let ours = crate::conformance::sdl::from_sdl(&ours);
    assert!(ours.contains_key("Item") && ours.contains_key("Mutation"));
    let differences =
        crate::conformance::sdl::differences(&ours, &crate::conformance::sdl::from_sdl(&published));
    assert!(differences.is_empty(), "{differences:#?}");
}
