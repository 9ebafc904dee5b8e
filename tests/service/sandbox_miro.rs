//! The Miro stand-in behaves as Miro does where boardsync depends on it: paging, tags, rate
//! limits counted in credits, signed subscription deliveries, and faults on demand.

use crate::common::Receiver;
use base64::Engine;
use boardsync::sandbox::{Sandbox, SandboxOptions};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

struct Client {
    base: String,
    http: reqwest::Client,
    token: &'static str,
}

impl Client {
    fn new(sandbox: &Sandbox, token: &'static str) -> Client {
        Client {
            base: sandbox.miro_api_url(),
            http: reqwest::Client::new(),
            token,
        }
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    async fn json(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let r = self.send(method, path, body).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap()
            },
        )
    }

    async fn board(&self) -> String {
        let (status, b) = self
            .json("POST", "/v2/boards", Some(json!({"name": "Test"})))
            .await;
        assert_eq!(status, 201, "{b}");
        b["id"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn a_sticky_note_is_created_read_changed_and_deleted_with_its_author_recorded() {
    let sandbox = Sandbox::start(SandboxOptions::ephemeral()).await.unwrap();
    let alice = Client::new(&sandbox, "sandbox-alice");
    let bob = Client::new(&sandbox, "sandbox-bob");
    let board = alice.board().await;
    let (status, note) = alice
        .json(
            "POST",
            &format!("/v2/boards/{board}/sticky_notes"),
            Some(json!({"data": {"content": "<p>Plan</p>"}, "style": {"fillColor": "red"}})),
        )
        .await;
    assert_eq!(status, 201, "{note}");
    let id = note["id"].as_str().unwrap().to_owned();
    assert!(
        id.parse::<u64>().unwrap() > 1 << 53,
        "ids are int64 above 2^53"
    );
    assert!(note["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        note["createdAt"].as_str().unwrap().len(),
        "2026-11-24T09:30:00.000Z".len(),
        "milliseconds"
    );

    sandbox.clock().advance(std::time::Duration::from_secs(5));
    let (status, changed) = bob
        .json(
            "PATCH",
            &format!("/v2/boards/{board}/sticky_notes/{id}"),
            Some(json!({"style": {"fillColor": "light_green"}})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["style"]["fillColor"], "light_green");
    assert_eq!(
        changed["data"]["content"], "<p>Plan</p>",
        "a PATCH changes only what it names"
    );
    assert_ne!(changed["modifiedAt"], note["modifiedAt"]);
    assert_eq!(
        changed["modifiedBy"]["id"],
        boardsync::sandbox::users::User::named("bob", false).miro_id
    );
    assert_eq!(changed["createdBy"], note["createdBy"]);

    let (_, generic) = alice
        .json("GET", &format!("/v2/boards/{board}/items/{id}"), None)
        .await;
    assert!(
        generic.get("style").is_none(),
        "the generic item has no style: {generic}"
    );
    assert_eq!(
        alice
            .send(
                "DELETE",
                &format!("/v2/boards/{board}/sticky_notes/{id}"),
                None
            )
            .await
            .status(),
        204
    );
    let (status, gone) = alice
        .json(
            "GET",
            &format!("/v2/boards/{board}/sticky_notes/{id}"),
            None,
        )
        .await;
    assert_eq!(
        (status, gone["type"].as_str(), gone["code"].as_str()),
        (404, Some("error"), Some("notFound"))
    );
}

#[tokio::test]
async fn bad_requests_get_miros_error_bodies() {
    let sandbox = Sandbox::start(SandboxOptions::ephemeral()).await.unwrap();
    let alice = Client::new(&sandbox, "sandbox-alice");
    let board = alice.board().await;
    let (status, body) = alice
        .json(
            "POST",
            &format!("/v2/boards/{board}/sticky_notes"),
            Some(json!({"style": {"fillColor": "plaid"}})),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_u64()),
        (400, Some(400)),
        "{body}"
    );
    let (status, body) = alice
        .json(
            "POST",
            &format!("/v2/boards/{board}/sticky_notes"),
            Some(json!({"geometry": {"width": 100, "height": 100}})),
        )
        .await;
    assert_eq!(status, 400, "width and height together: {body}");
    let r = alice
        .http
        .post(format!("{}/v2/boards/{board}/sticky_notes", alice.base))
        .bearer_auth("sandbox-alice")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["type"],
        "error",
        "never axum's plain-text rejection"
    );
    let nobody = Client::new(&sandbox, "not-a-sandbox-token");
    let (status, body) = nobody.json("GET", "/v2/boards", None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let (status, _) = alice.json("GET", "/v2/boards/uXjVnope000=", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_item_listing_pages_with_a_cursor_without_gaps_or_repeats() {
    let sandbox = Sandbox::start(SandboxOptions::ephemeral()).await.unwrap();
    let alice = Client::new(&sandbox, "sandbox-alice");
    let board = alice.board().await;
    let mut created = Vec::new();
    for n in 0..57 {
        let kind = if n % 3 == 0 { "cards" } else { "sticky_notes" };
        let body = if kind == "cards" {
            json!({"data": {"title": format!("c{n}")}})
        } else {
            json!({"data": {"content": format!("<p>{n}</p>")}})
        };
        let (_, item) = alice
            .json("POST", &format!("/v2/boards/{board}/{kind}"), Some(body))
            .await;
        created.push(item["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = alice
            .json(
                "GET",
                &format!("/v2/boards/{board}/items?limit=25&cursor={cursor}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total"], 57);
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned()),
        );
        match page["cursor"].as_str() {
            Some(c) if !c.is_empty() => cursor = c.to_owned(),
            _ => break,
        }
    }
    assert_eq!(seen, created);
    let (_, cards) = alice
        .json(
            "GET",
            &format!("/v2/boards/{board}/items?limit=50&type=card"),
            None,
        )
        .await;
    assert_eq!(cards["data"].as_array().unwrap().len(), 19);
    assert_eq!(
        alice
            .json("GET", &format!("/v2/boards/{board}/items?limit=51"), None)
            .await
            .0,
        400
    );
    assert_eq!(
        alice
            .json("GET", &format!("/v2/boards/{board}/items?limit=9"), None)
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn tags_attach_list_by_tag_with_offsets_and_detach() {
    let sandbox = Sandbox::start(SandboxOptions::ephemeral()).await.unwrap();
    let alice = Client::new(&sandbox, "sandbox-alice");
    let board = alice.board().await;
    let (_, tag) = alice
        .json(
            "POST",
            &format!("/v2/boards/{board}/tags"),
            Some(json!({"title": "urgent", "fillColor": "red"})),
        )
        .await;
    let tag = tag["id"].as_str().unwrap().to_owned();
    assert_eq!(
        alice
            .json(
                "POST",
                &format!("/v2/boards/{board}/tags"),
                Some(json!({"title": "urgent"}))
            )
            .await
            .0,
        400,
        "titles are unique"
    );
    let (_, note) = alice
        .json(
            "POST",
            &format!("/v2/boards/{board}/sticky_notes"),
            Some(json!({})),
        )
        .await;
    let note = note["id"].as_str().unwrap().to_owned();
    assert_eq!(
        alice
            .send(
                "POST",
                &format!("/v2/boards/{board}/items/{note}?tag_id={tag}"),
                None
            )
            .await
            .status(),
        204
    );
    let (_, tagged) = alice
        .json(
            "GET",
            &format!("/v2/boards/{board}/items?tag_id={tag}&limit=1&offset=0"),
            None,
        )
        .await;
    assert_eq!(tagged["data"][0]["id"], json!(note));
    assert_eq!(tagged["offset"], 0);
    let (_, tags) = alice
        .json(
            "GET",
            &format!("/v2/boards/{board}/items/{note}/tags"),
            None,
        )
        .await;
    assert_eq!(tags["tags"][0]["title"], "urgent");
    assert_eq!(
        alice
            .send(
                "DELETE",
                &format!("/v2/boards/{board}/items/{note}?tag_id={tag}"),
                None
            )
            .await
            .status(),
        204
    );
    let (_, tags) = alice
        .json(
            "GET",
            &format!("/v2/boards/{board}/items/{note}/tags"),
            None,
        )
        .await;
    assert_eq!(tags["tags"], json!([]));
    let (status, _) = alice
        .json(
            "GET",
            &format!("/v2/boards/{board}/sticky_notes/{note}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "detaching a tag does not delete the item");
}

#[tokio::test]
async fn credits_count_down_and_run_out_until_the_window_resets() {
    let sandbox = Sandbox::start(SandboxOptions {
        miro_credits: 500,
        ..SandboxOptions::ephemeral()
    })
    .await
    .unwrap();
    let alice = Client::new(&sandbox, "sandbox-alice");
    let remaining =
        |r: &reqwest::Response, h: &str| r.headers()[h].to_str().unwrap().parse::<i64>().unwrap();
    let r = alice.send("GET", "/v2/boards", None).await; // level 1: 50 credits
    assert_eq!(r.status(), 200);
    assert_eq!(
        (
            remaining(&r, "X-RateLimit-Limit"),
            remaining(&r, "X-RateLimit-Remaining")
        ),
        (500, 450)
    );
    let reset = remaining(&r, "X-RateLimit-Reset");
    let now = sandbox.clock().now_ms() / 1000;
    assert!(
        (now..=now + 61).contains(&reset),
        "reset {reset} is an epoch second within the minute (rounded up)"
    );
    let mut last = 450;
    loop {
        let r = alice.send("GET", "/v2/boards", None).await;
        if r.status() == 429 {
            let body: Value = r.json().await.unwrap();
            assert_eq!(
                (
                    body["status"].as_u64(),
                    body["code"].as_str(),
                    body["type"].as_str()
                ),
                (Some(429), Some("tooManyRequests"), Some("error"))
            );
            break;
        }
        let now_remaining = remaining(&r, "X-RateLimit-Remaining");
        assert_eq!(now_remaining, last - 50);
        last = now_remaining;
    }
    assert_eq!(last, 0);
    let other = Client::new(&sandbox, "sandbox-bob");
    assert_eq!(
        other.send("GET", "/v2/boards", None).await.status(),
        200,
        "budgets are per token"
    );
    sandbox.clock().advance(std::time::Duration::from_secs(61));
    assert_eq!(
        alice.send("GET", "/v2/boards", None).await.status(),
        200,
        "a new minute, a new budget"
    );
}

#[tokio::test]
async fn subscriptions_challenge_first_then_deliver_signed_bodies_of_both_shapes() {
    let sandbox = Sandbox::start(SandboxOptions::ephemeral()).await.unwrap();
    let alice = Client::new(&sandbox, "sandbox-alice");
    let board = alice.board().await;
    let (a, b) = (Receiver::start().await, Receiver::start().await);
    let (status, sub) = alice
        .json(
            "POST",
            "/v2-experimental/webhooks/board_subscriptions",
            Some(json!({"boardId": board, "callbackUrl": a.url})),
        )
        .await;
    assert_eq!(status, 201, "{sub}");
    let (status, _) = alice
        .json(
            "POST",
            "/v2-experimental/webhooks/board_subscriptions",
            Some(json!({"boardId": board, "callbackUrl": b.url, "sandboxPayloadShape": "changes"})),
        )
        .await;
    assert_eq!(status, 201);
    let (_, note) = alice
        .json(
            "POST",
            &format!("/v2/boards/{board}/sticky_notes"),
            Some(json!({"data": {"content": "<p>x</p>"}})),
        )
        .await;
    alice
        .json(
            "PATCH",
            &format!(
                "/v2/boards/{board}/sticky_notes/{}",
                note["id"].as_str().unwrap()
            ),
            Some(json!({"data": {"content": "<p>y</p>"}})),
        )
        .await;

    let secret = boardsync::sandbox::DEFAULT_SECRET.as_bytes();
    for d in a.wait_for(2).await {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(&d.body);
        let sig = base64::engine::general_purpose::STANDARD
            .decode(d.headers["x-miro-hmac-sha256"].as_bytes())
            .unwrap();
        mac.verify_slice(&sig)
            .expect("base64 HMAC-SHA256 of the raw body with the client secret");
        let raw = String::from_utf8(d.body.to_vec()).unwrap();
        assert!(
            raw.contains("\"appId\":3458764540087247854"),
            "appId is a JSON number above 2^53: {raw}"
        );
    }
    let b_bodies = b.wait_for(2).await;
    let update = b_bodies
        .iter()
        .find(|d| d.json()["type"] == "update")
        .expect("an update in shape B");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(&update.body);
    mac.verify_slice(&hex::decode(update.headers["x-miro-signature"].as_bytes()).unwrap())
        .expect("hex signature");
    assert_eq!(
        update.json()["changes"][0],
        json!({"property": "data.content", "previousValue": "<p>x</p>", "newValue": "<p>y</p>"})
    );

    let (status, body) = alice
        .json(
            "POST",
            "/v2-experimental/webhooks/board_subscriptions",
            Some(json!({"boardId": board, "callbackUrl": "http://127.0.0.1:9/nothing-listens"})),
        )
        .await;
    assert_eq!(status, 400, "no echo, no subscription: {body}");
}

#[tokio::test]
async fn comments_and_changes_reach_the_content_log() {
    let sandbox = Sandbox::start(SandboxOptions::ephemeral()).await.unwrap();
    let alice = Client::new(&sandbox, "sandbox-alice");
    let board = alice.board().await;
    let (_, note) = alice
        .json(
            "POST",
            &format!("/v2/boards/{board}/sticky_notes"),
            Some(json!({})),
        )
        .await;
    let id = note["id"].as_str().unwrap();
    let control = reqwest::Client::new();
    let r = control
        .post(format!("{}/_sandbox/comments", sandbox.miro_api_url()))
        .json(&json!({"board": board, "item": id, "user": "carol", "text": "Looks good"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    alice
        .send(
            "DELETE",
            &format!("/v2/boards/{board}/sticky_notes/{id}"),
            None,
        )
        .await;
    let (status, log) = alice
        .json("GET", &format!("/v2/orgs/1/content-logs/items?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&board_ids={board}"), None)
        .await;
    assert_eq!(status, 200, "{log}");
    let entries: Vec<(String, String)> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actionType"].as_str().unwrap().into(),
                e["itemType"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("create".into(), "widget".into()),
            ("create".into(), "comment_message".into()),
            ("delete".into(), "widget".into())
        ]
    );
    assert_eq!(log["data"][1]["actor"]["name"], "carol");
    let (status, _) = alice
        .json("GET", "/v2/orgs/1/content-logs/items", None)
        .await;
    assert_eq!(status, 400, "from and to are required");
}

#[tokio::test]
async fn faults_hit_only_their_route_at_the_rate_asked_for() {
    let sandbox = Sandbox::start(SandboxOptions::ephemeral()).await.unwrap();
    let alice = Client::new(&sandbox, "sandbox-alice");
    let board = alice.board().await;
    let control = reqwest::Client::new();
    let faults = format!("{}/_sandbox/faults", sandbox.miro_api_url());
    let r = control.post(&faults).json(&json!({"seed": 3, "rules": [{"kind": "http_503", "probability": 0.3, "route": "/sticky_notes"}]})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut failed = 0;
    for _ in 0..300 {
        let s = alice
            .send(
                "POST",
                &format!("/v2/boards/{board}/sticky_notes"),
                Some(json!({})),
            )
            .await
            .status();
        if s == 503 {
            failed += 1;
        } else {
            assert_eq!(s, 201);
        }
        assert_eq!(
            alice
                .send("GET", &format!("/v2/boards/{board}"), None)
                .await
                .status(),
            200,
            "other routes untouched"
        );
    }
    assert!(
        (60..=120).contains(&failed),
        "{failed} of 300 failed at p=0.3"
    );
    let report: Value = crate::common::get_json(&faults).await;
    assert_eq!(report["injected"]["http_503"], failed);
    let log: Vec<Value> =
        crate::common::get_json(&format!("{}/_sandbox/requests", sandbox.miro_api_url())).await;
    assert_eq!(
        log.iter().filter(|r| r["fault"].is_string()).count(),
        failed as usize
    );
    let state: Value =
        crate::common::get_json(&format!("{}/_sandbox/state", sandbox.miro_api_url())).await;
    assert_eq!(
        state["boards"][0]["items"].as_array().unwrap().len(),
        300 - failed as usize,
        "a 503 changes nothing"
    );
}

#[tokio::test]
async fn the_shipped_seed_makes_the_boards_that_mappings_sandbox_toml_names() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/mappings/sandbox-seed.json"
    ))
    .unwrap();
    let seed: boardsync::sandbox::Seed = serde_json::from_str(&text).unwrap();
    let sandbox = Sandbox::start(SandboxOptions {
        seed: Some(seed),
        ..SandboxOptions::ephemeral()
    })
    .await
    .unwrap();
    let config = boardsync::config::Config::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/mappings/sandbox.toml"
    )))
    .unwrap();
    let pair = &config.pairs[0];
    let alice = Client::new(&sandbox, "sandbox-alice");
    let (status, items) = alice
        .json(
            "GET",
            &format!("/v2/boards/{}/items?limit=10", pair.miro_board),
            None,
        )
        .await;
    assert_eq!(status, 200, "{items}");
    assert_eq!(items["total"], 3);
    let monday: Value = crate::common::monday_query(&sandbox.monday_api_url(), "sandbox-alice", &format!("query {{ boards(ids: [{}]) {{ name groups {{ id }} items_page {{ items {{ name }} }} }} }}", pair.monday_board)).await;
    assert_eq!(
        monday["data"]["boards"][0]["items_page"]["items"][0]["name"], "Update the roadmap",
        "{monday}"
    );
    let groups = monday["data"]["boards"][0]["groups"].as_array().unwrap();
    assert!(
        groups
            .iter()
            .any(|g| Some(g["id"].as_str().unwrap()) == pair.monday_group.as_deref())
    );
}
