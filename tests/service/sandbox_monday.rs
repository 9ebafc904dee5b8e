//! The monday stand-in behaves as monday does where boardsync depends on it: column formats,
//! cursors that expire, limits, idempotent mutations, and webhooks that are challenged, signed
//! and retried for 30 minutes of (moved) time.

use crate::common::Receiver;
use boardsync::sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};
use std::time::Duration;

async fn post(sandbox: &Sandbox, token: &str, query: &str, key: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(sandbox.monday_api_url())
        .header("Authorization", token)
        .header("API-Version", "2026-10")
        .json(&json!({ "query": query }));
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    req.send().await.unwrap()
}

async fn gql(sandbox: &Sandbox, query: &str) -> Value {
    let r = post(sandbox, "sandbox-alice", query, None).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v.get("errors").is_none(), "{query}: {v}");
    v["data"].clone()
}

async fn empty_board(sandbox: &Sandbox) -> String {
    let b = gql(
        sandbox,
        r#"mutation { create_board(board_name: "T", board_kind: public, empty: true) { id } }"#,
    )
    .await;
    b["create_board"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_new_board_has_default_groups_and_items_unless_empty() {
    let sandbox = Sandbox::start(SandboxOptions::ephemeral()).await.unwrap();
    let full = gql(
        &sandbox,
        r#"mutation { create_board(board_name: "Full", board_kind: public) { id } }"#,
    )
    .await;
    let id = full["create_board"]["id"].as_str().unwrap();
    let board = gql(&sandbox, &format!("query {{ boards(ids: [{id}]) {{ groups {{ id }} columns {{ id type }} items_page {{ items {{ name }} }} }} }}")).await;
    assert_eq!(board["boards"][0]["groups"].as_array().unwrap().len(), 2);
    assert_eq!(
        board["boards"][0]["items_page"]["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let empty = empty_board(&sandbox).await;
    let board = gql(
        &sandbox,
        &format!("query {{ boards(ids: [{empty}]) {{ items_page {{ items {{ id }} }} }} }}"),
    )
    .await;
    assert_eq!(board["boards"][0]["items_page"]["items"], json!([]));
}

#[tokio::test]
async fn column_values_are_written_and_read_in_mondays_formats() {
    let sandbox = Sandbox::start(SandboxOptions::ephemeral()).await.unwrap();
    let board = empty_board(&sandbox).await;
    for (title, kind) in [
        ("Status", "status"),
        ("Due", "date"),
        ("Notes", "text"),
        ("Points", "numbers"),
    ] {
        gql(&sandbox, &format!(r#"mutation {{ create_column(board_id: {board}, title: "{title}", column_type: {kind}, id: "{kind}") {{ id }} }}"#)).await;
    }
    let values = r#"{\"status\": {\"label\": \"Done\"}, \"date\": {\"date\": \"2026-06-15\"}, \"text\": \"hello\", \"numbers\": \"42\"}"#;
    let item = gql(&sandbox, &format!(r#"mutation {{ create_item(board_id: {board}, item_name: "First", column_values: "{values}") {{ id }} }}"#)).await;
    let item = item["create_item"]["id"].as_str().unwrap().to_owned();
    let read = gql(
        &sandbox,
        &format!(
            "query {{ items(ids: [{item}]) {{ name column_values {{ id type text value }} }} }}"
        ),
    )
    .await;
    let cv = |id: &str| {
        read["items"][0]["column_values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(cv("status")["text"], "Done");
    let status_value: Value =
        serde_json::from_str(cv("status")["value"].as_str().unwrap()).unwrap();
    assert_eq!(
        status_value["index"], 1,
        "value is JSON text with the label index"
    );
    assert_eq!(cv("date")["text"], "2026-06-15");
    assert_eq!(cv("text")["value"], "\"hello\"");
    assert_eq!(cv("numbers")["text"], "42");

    gql(&sandbox, &format!(r#"mutation {{ change_multiple_column_values(board_id: {board}, item_id: {item}, column_values: "{{\"name\": \"Renamed\", \"status\": {{\"index\": 2}}}}") {{ id }} }}"#)).await;
    let read = gql(&sandbox, &format!("query {{ items(ids: [{item}]) {{ name column_values(ids: [\"status\"]) {{ text }} }} }}")).await;
    assert_eq!(read["items"][0]["name"], "Renamed");
    assert_eq!(read["items"][0]["column_values"][0]["text"], "Stuck");

    let bad = post(&sandbox, "sandbox-alice", &format!(r#"mutation {{ change_simple_column_value(board_id: {board}, item_id: {item}, column_id: "status", value: "Nope") {{ id }} }}"#), None).await;
    assert_eq!(
        bad.status(),
        200,
        "application errors come back with HTTP 200"
    );
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(
        bad["errors"][0]["extensions"]["code"], "ColumnValueException",
        "{bad}"
    );
}

#[tokio::test]
async fn items_page_walks_every_item_once_and_its_cursor_expires_after_an_hour() {
    let sandbox = Sandbox::start(SandboxOptions::ephemeral()).await.unwrap();
    let board = empty_board(&sandbox).await;
    for n in 0..12 {
        gql(
            &sandbox,
            &format!(
                r#"mutation {{ create_item(board_id: {board}, item_name: "i{n}") {{ id }} }}"#
            ),
        )
        .await;
    }
    let first = gql(&sandbox, &format!("query {{ boards(ids: [{board}]) {{ items_page(limit: 5) {{ cursor items {{ name }} }} }} }}")).await;
    let mut names: Vec<String> = first["boards"][0]["items_page"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect();
    let mut cursor = first["boards"][0]["items_page"]["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    loop {
        let next = gql(&sandbox, &format!(r#"query {{ next_items_page(limit: 5, cursor: "{cursor}") {{ cursor items {{ name }} }} }}"#)).await;
        names.extend(
            next["next_items_page"]["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["name"].as_str().unwrap().to_owned()),
        );
        match next["next_items_page"]["cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(names, (0..12).map(|n| format!("i{n}")).collect::<Vec<_>>());

    let first = gql(
        &sandbox,
        &format!("query {{ boards(ids: [{board}]) {{ items_page(limit: 5) {{ cursor }} }} }}"),
    )
    .await;
    let cursor = first["boards"][0]["items_page"]["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    sandbox.clock().advance(Duration::from_secs(61 * 60));
    let expired: Value = post(
        &sandbox,
        "sandbox-alice",
        &format!(r#"query {{ next_items_page(limit: 5, cursor: "{cursor}") {{ cursor }} }}"#),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        expired["errors"][0]["extensions"]["code"], "CursorExpiredError",
        "{expired}"
    );
}

#[tokio::test]
async fn unknown_tokens_are_refused_and_limits_answer_429_with_a_retry_time() {
    let sandbox = Sandbox::start(SandboxOptions {
        monday_complexity: 30_000,
        monday_daily_cap: Some(5),
        ..SandboxOptions::ephemeral()
    })
    .await
    .unwrap();
    assert_eq!(
        post(&sandbox, "nope", "query { me { id } }", None)
            .await
            .status(),
        401
    );
    let mut saw_budget = false;
    for _ in 0..5 {
        let r = post(
            &sandbox,
            "sandbox-alice",
            "mutation { create_board(board_name: \"x\", board_kind: public, empty: true) { id } }",
            None,
        )
        .await;
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
            let body: Value = r.json().await.unwrap();
            assert_eq!(
                body["errors"][0]["extensions"]["code"],
                "COMPLEXITY_BUDGET_EXHAUSTED"
            );
            assert!(
                body["errors"][0]["extensions"]["retry_in_seconds"]
                    .as_i64()
                    .unwrap()
                    > 0
            );
            saw_budget = true;
        }
    }
    assert!(
        saw_budget,
        "30,000 points a minute run out within five mutations"
    );
    let r = post(&sandbox, "sandbox-alice", "query { me { id } }", None).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "DAILY_LIMIT_EXCEEDED",
        "the sixth call of the day: {body}"
    );
    let bob = post(
        &sandbox,
        "sandbox-bob",
        "query { me { name } complexity { before query after } }",
        None,
    )
    .await;
    let bob: Value = bob.json().await.unwrap();
    assert_eq!(bob["data"]["me"]["name"], "bob");
    let c = &bob["data"]["complexity"];
    assert_eq!(
        c["before"].as_i64().unwrap() - c["query"].as_i64().unwrap(),
        c["after"].as_i64().unwrap()
    );
}

#[tokio::test]
async fn a_mutation_retried_with_its_idempotency_key_runs_once() {
    let sandbox = Sandbox::start(SandboxOptions::ephemeral()).await.unwrap();
    let board = empty_board(&sandbox).await;
    let q = format!(r#"mutation {{ create_item(board_id: {board}, item_name: "Once") {{ id }} }}"#);
    let first = post(&sandbox, "sandbox-alice", &q, Some("key-1")).await;
    assert!(first.headers().get("idempotency-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = post(&sandbox, "sandbox-alice", &q, Some("key-1")).await;
    assert_eq!(again.headers()["idempotency-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["data"], again["data"]);
    let items = gql(
        &sandbox,
        &format!("query {{ boards(ids: [{board}]) {{ items_page {{ items {{ id }} }} }} }}"),
    )
    .await;
    assert_eq!(
        items["boards"][0]["items_page"]["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn webhooks_are_challenged_signed_and_retried_for_thirty_minutes() {
    let sandbox = Sandbox::start(SandboxOptions::ephemeral()).await.unwrap();
    let board = empty_board(&sandbox).await;
    let receiver = Receiver::start().await;
    let failing = post(&sandbox, "sandbox-app-alice", &format!(r#"mutation {{ create_webhook(board_id: {board}, url: "http://127.0.0.1:9/closed", event: create_item) {{ id }} }}"#), None).await;
    let failing: Value = failing.json().await.unwrap();
    assert!(
        failing["errors"].is_array(),
        "no echo, no webhook: {failing}"
    );

    let hook = post(&sandbox, "sandbox-app-alice", &format!(r#"mutation {{ create_webhook(board_id: {board}, url: "{}", event: create_item) {{ id }} }}"#, receiver.url), None).await;
    let hook: Value = hook.json().await.unwrap();
    let hook_id: u64 = hook["data"]["create_webhook"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    receiver
        .status
        .store(500, std::sync::atomic::Ordering::SeqCst);
    gql(
        &sandbox,
        &format!(r#"mutation {{ create_item(board_id: {board}, item_name: "Hooked") {{ id }} }}"#),
    )
    .await;
    let first = receiver.wait_for(1).await;
    let body = first[0].json();
    assert_eq!(body["event"]["type"], "create_pulse");
    assert_eq!(body["event"]["subscriptionId"], hook_id);
    assert_eq!(body["event"]["isRetry"], false);
    assert_eq!(
        body["event"]["userId"],
        boardsync::sandbox::users::User::named("alice", false).monday_id
    );
    let trigger = body["event"]["triggerUuid"].as_str().unwrap().to_owned();
    assert_eq!(trigger.len(), 32);

    let token = first[0].headers["authorization"].to_str().unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&[receiver.url.as_str()]);
    let claims = jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(boardsync::sandbox::DEFAULT_SECRET.as_bytes()),
        &validation,
    )
    .expect("the JWT verifies with the signing secret and its aud is the webhook URL")
    .claims;
    assert!(claims["shortLivedToken"].is_string() && claims["accountId"].is_number());

    // Each minute of moved time brings one retry, with the same trigger and isRetry: true.
    for n in 2..=4 {
        sandbox.clock().advance(Duration::from_secs(60));
        let got = receiver.wait_for(n).await;
        let retry = got[n - 1].json();
        assert_eq!(
            (
                retry["event"]["triggerUuid"].as_str(),
                retry["event"]["isRetry"].as_bool()
            ),
            (Some(trigger.as_str()), Some(true))
        );
    }
    // Past 30 minutes, monday gives up.
    sandbox.clock().advance(Duration::from_secs(31 * 60));
    let deliveries_url = format!("http://{}/_sandbox/webhooks", sandbox.monday_addr());
    crate::common::wait_for(
        "the delivery to be given up",
        Duration::from_secs(30),
        || async {
            let d: Value = crate::common::get_json(&deliveries_url).await;
            (d[0]["status"] == "failed").then_some(())
        },
    )
    .await;
    let settled = receiver.received().len();
    sandbox.clock().advance(Duration::from_secs(120));
    let d: Value = crate::common::get_json(&deliveries_url).await;
    assert_eq!(d[0]["status"], "failed");
    assert_eq!(
        receiver.received().len(),
        settled,
        "no delivery after the window"
    );
}

#[tokio::test]
async fn personal_token_webhooks_carry_no_jwt() {
    let sandbox = Sandbox::start(SandboxOptions::ephemeral()).await.unwrap();
    let board = empty_board(&sandbox).await;
    let receiver = Receiver::start().await;
    gql(&sandbox, &format!(r#"mutation {{ create_webhook(board_id: {board}, url: "{}", event: create_item) {{ id }} }}"#, receiver.url)).await;
    gql(
        &sandbox,
        &format!(r#"mutation {{ create_item(board_id: {board}, item_name: "x") {{ id }} }}"#),
    )
    .await;
    let got = receiver.wait_for(1).await;
    assert!(got[0].headers.get("authorization").is_none());
}
