//! The receivers, from outside: signed requests over real HTTP to a daemon on a real store
//! (SQLite, Postgres) with and without Redis, and the inbox read back from that store.

use crate::common::TestDb;
use base64::Engine;
use boardsync::app::{App, Role};
use boardsync::config::Config;
use boardsync::store::Store;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::path::Path;
use tokio_util::sync::CancellationToken;

const MIRO_SECRET: &str = "miro-client-secret";
pub(crate) const MONDAY_SECRET: &str = "monday-signing-secret";
const PATH_SECRET: &str = "p4th-s3cret";
pub(crate) const PUBLIC_URL: &str = "https://boardsync.example.com";

pub(crate) struct Daemon {
    pub(crate) base: String,
    prefix: String,
    store: Store,
    stop: CancellationToken,
    http: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
}

enum Db {
    Sqlite,
    Postgres(TestDb),
}

impl Daemon {
    async fn start(db: &Db, redis: bool, pending_ttl: &str) -> Daemon {
        let redis = redis.then_some("redis://127.0.0.1:6379");
        Daemon::start_with(db, redis, pending_ttl).await
    }

    /// A daemon whose `redis_url` is `redis` (None: no Redis).
    async fn start_with(db: &Db, redis: Option<&str>, pending_ttl: &str) -> Daemon {
        Daemon::start_configured(db, redis, pending_ttl, "").await
    }

    /// A daemon on SQLite without Redis, with `daemon_lines` added to its `[daemon]` table.
    pub(crate) async fn start_sqlite_with(daemon_lines: &str) -> Daemon {
        Daemon::start_configured(&Db::Sqlite, None, "30s", daemon_lines).await
    }

    async fn start_configured(
        db: &Db,
        redis: Option<&str>,
        pending_ttl: &str,
        daemon_lines: &str,
    ) -> Daemon {
        let (url, dir) = match db {
            Db::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                (
                    format!("sqlite://{}", dir.path().join("inbox.db").display()),
                    Some(dir),
                )
            }
            Db::Postgres(t) => (t.url.clone(), None),
        };
        let redis_line = redis.map_or(String::new(), |url| format!("redis_url = \"{url}\""));
        let prefix = format!("boardsync-test-{}", uuid::Uuid::new_v4().simple());
        let text = format!(
            "[daemon]\nlisten = \"127.0.0.1:0\"\npublic_url = \"{PUBLIC_URL}\"\ndatabase_url = \"{url}\"\n{redis_line}\n{daemon_lines}\n\
             [ingress]\nredis_prefix = \"{prefix}\"\npending_ttl = \"{pending_ttl}\"\n\
             [miro]\ntoken = \"t\"\nclient_secret = \"{MIRO_SECRET}\"\n\
             [monday]\ntoken = \"t\"\nsigning_secret = \"{MONDAY_SECRET}\"\nwebhook_secret = \"{PATH_SECRET}\"\n\
             [[pair]]\nname = \"p\"\nmiro_board = \"uXjVREDACTED=\"\nmonday_board = 7786783342\nfields.title = {{ miro = \"data.content\", monday = \"name\" }}\n"
        );
        let config = Config::parse(Path::new("test.toml"), &text, &|_| None).unwrap();
        let app = App::build(config, Role::Ingest).await.unwrap();
        let base = format!("http://{}", app.local_addr());
        let store = app.state().store.clone();
        let stop = CancellationToken::new();
        tokio::spawn(app.run(stop.clone()));
        Daemon {
            base,
            prefix,
            store,
            stop,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    async fn post(&self, path: &str, headers: &[(&str, String)], body: &[u8]) -> u16 {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        req.send().await.unwrap().status().as_u16()
    }

    async fn miro(&self, body: &[u8]) -> u16 {
        self.post(
            "/webhooks/miro",
            &[("X-Miro-Hmac-SHA256", miro_signature(MIRO_SECRET, body))],
            body,
        )
        .await
    }

    pub(crate) async fn monday(&self, body: &[u8]) -> u16 {
        self.post(
            "/webhooks/monday",
            &[(
                "Authorization",
                crate::common::monday_jwt(
                    MONDAY_SECRET,
                    &format!("{PUBLIC_URL}/webhooks/monday"),
                    300,
                ),
            )],
            body,
        )
        .await
    }

    /// `boardsync_webhooks_received_total` for a source and outcome.
    pub(crate) async fn received(&self, source: &str, outcome: &str) -> u64 {
        let text = crate::common::get_text(&format!("{}/metrics", self.base)).await;
        let needle = format!(
            "boardsync_webhooks_received_total{{outcome=\"{outcome}\",source=\"{source}\"}} "
        );
        text.lines()
            .find_map(|l| l.strip_prefix(&needle))
            .map_or(0, |n| n.trim().parse().unwrap())
    }

    pub(crate) async fn stored(&self, outcome: Option<&str>) -> i64 {
        self.store.count_inbox(outcome).await.unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn miro_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn reference() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("BOARDSYNC_REFERENCE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/reference")
        });
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: no reference samples at {}", dir.display());
        None
    }
}

/// The reconstructed real Miro delivery, made fresh: now as its time, a note id of our choosing.
fn miro_body(item: &str, content: &str) -> Vec<u8> {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    // Written as text so the int64 numbers stay numbers, exactly as Miro sent them.
    format!(
        r#"{{"eventType":"board_subscription","event":{{"boardId":"uXjVREDACTED=","item":{{"id":"{item}","type":"sticky_note","createdAt":"{now}","createdBy":{{"id":"3458764500000000002","type":"user"}},"data":{{"content":"{content}","shape":"square"}},"geometry":{{"width":1151.0150807434377,"height":1318.7509467814261}},"modifiedAt":"{now}","modifiedBy":{{"id":"3458764500000000002","type":"user"}},"position":{{"x":5471.50754037172,"y":1260.62452660929,"origin":"center","relativeTo":"canvas_center"}},"style":{{"fillColor":"light_yellow","textAlign":"CENTER","textAlignVertical":"middle"}}}},"type":"update"}},"eventTime":"{now}","appId":3458764500000000003,"users":[3458764500000000002]}}"#
    )
    .into_bytes()
}

#[tokio::test]
async fn a_signed_miro_delivery_is_stored_with_its_int64_ids_intact_then_answered() {
    let d = Daemon::start(&Db::Sqlite, false, "30s").await;
    let body = miro_body("3458764500000000001", "<p>sticky 12345</p>");
    assert_eq!(d.miro(&body).await, 200);
    let entry = d
        .store
        .pending_inbox(10)
        .await
        .unwrap()
        .pop()
        .expect("stored before the answer");
    assert_eq!(entry.source, "miro");
    assert_eq!(entry.pair.as_deref(), Some("p"));
    assert_eq!(entry.item_id.as_deref(), Some("3458764500000000001"));
    let change: Value = serde_json::from_str(&entry.change).unwrap();
    assert_eq!(change["item_id"], "3458764500000000001");
    assert_eq!(change["author"], "3458764500000000002");
    assert_eq!(change["kind"], "updated");
    assert_eq!(change["fields"]["data.content"], "<p>sticky 12345</p>");
    assert_eq!(change["fields"]["style.fillColor"], "light_yellow");
    assert_eq!(d.received("miro", "accepted").await, 1);
}

#[tokio::test]
async fn the_third_party_miro_shape_with_a_hex_signature_is_accepted() {
    let d = Daemon::start(&Db::Sqlite, false, "30s").await;
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let body = serde_json::to_vec(&json!({"event": "board_subscription_changed", "type": "update", "boardId": "uXjVN1234567890", "item": {"id": "3458764500000001", "type": "sticky_note"}, "changes": [{"property": "data.content", "previousValue": "Old text", "newValue": "Updated text"}], "createdAt": now, "createdBy": {"id": "user-123", "type": "user"}})).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(MIRO_SECRET.as_bytes()).unwrap();
    mac.update(&body);
    let hex = hex::encode(mac.finalize().into_bytes());
    assert_eq!(
        d.post("/webhooks/miro", &[("X-Miro-Signature", hex)], &body)
            .await,
        200
    );
    let entry = d.store.pending_inbox(1).await.unwrap().pop().unwrap();
    let change: Value = serde_json::from_str(&entry.change).unwrap();
    assert_eq!(change["fields"]["data.content"], "Updated text");
}

#[tokio::test]
async fn unsigned_tampered_and_wrongly_keyed_miro_requests_get_401_and_store_nothing() {
    let d = Daemon::start(&Db::Sqlite, false, "30s").await;
    let body = miro_body("3458764500000000001", "<p>x</p>");
    assert_eq!(d.post("/webhooks/miro", &[], &body).await, 401);
    let mut tampered = body.clone();
    let n = tampered.len() - 5;
    tampered[n] = b'9';
    assert_eq!(
        d.post(
            "/webhooks/miro",
            &[("X-Miro-Hmac-SHA256", miro_signature(MIRO_SECRET, &body))],
            &tampered
        )
        .await,
        401
    );
    assert_eq!(
        d.post(
            "/webhooks/miro",
            &[(
                "X-Miro-Hmac-SHA256",
                miro_signature("another-secret", &body)
            )],
            &body
        )
        .await,
        401
    );
    assert_eq!(
        d.post(
            "/webhooks/miro",
            &[("X-Miro-Hmac-SHA256", "not base64!".into())],
            &body
        )
        .await,
        401
    );
    assert_eq!(d.stored(None).await, 0);
    assert_eq!(d.received("miro", "unauthorized").await, 4);
}

#[tokio::test]
async fn challenges_are_echoed_before_any_signature_check() {
    let d = Daemon::start(&Db::Sqlite, false, "30s").await;
    for path in [
        "/webhooks/miro",
        "/webhooks/monday",
        "/webhooks/monday/anything",
    ] {
        let r = d
            .http
            .post(format!("{}{path}", d.base))
            .json(&json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
        );
        // A megabyte "challenge" is not echoed: unsigned, it is refused.
        let r = d
            .http
            .post(format!("{}{path}", d.base))
            .json(&json!({ "challenge": "x".repeat(1 << 19) }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert!(r.text().await.unwrap().len() < 200);
    }
    assert_eq!(d.stored(None).await, 0);
}

#[tokio::test]
async fn oversized_and_unparsable_bodies_are_refused_plainly() {
    let d = Daemon::start(&Db::Sqlite, false, "30s").await;
    let big = vec![b' '; 2 << 20];
    assert_eq!(d.miro(&big).await, 413);
    assert_eq!(d.miro(b"{not json").await, 400, "signed but not JSON");
    assert_eq!(
        d.monday(b"{\"event\": {\"type\": \"create_pulse\"}}").await,
        400,
        "no triggerUuid"
    );
    assert_eq!(
        (
            d.received("miro", "too_large").await,
            d.received("miro", "malformed").await
        ),
        (1, 1)
    );
    assert_eq!(d.stored(None).await, 0);
}

#[tokio::test]
async fn monday_jwts_must_be_signed_unexpired_and_for_this_url() {
    let d = Daemon::start(&Db::Sqlite, false, "30s").await;
    let body = crate::common::monday_delivery(&uuid::Uuid::new_v4().simple().to_string());
    let url = format!("{PUBLIC_URL}/webhooks/monday");
    for (token, expected) in [
        (crate::common::monday_jwt("wrong-secret", &url, 300), 401),
        (crate::common::monday_jwt(MONDAY_SECRET, &url, -120), 401),
        (
            crate::common::monday_jwt(
                MONDAY_SECRET,
                "https://elsewhere.example.com/webhooks/monday",
                300,
            ),
            401,
        ),
        ("not-a-jwt".to_owned(), 401),
    ] {
        assert_eq!(
            d.post("/webhooks/monday", &[("Authorization", token)], &body)
                .await,
            expected
        );
    }
    assert_eq!(
        d.post("/webhooks/monday", &[], &body).await,
        401,
        "no JWT at all"
    );
    assert_eq!(d.stored(None).await, 0);
    assert_eq!(
        d.post(
            "/webhooks/monday",
            &[(
                "Authorization",
                format!(
                    "Bearer {}",
                    crate::common::monday_jwt(MONDAY_SECRET, &url, 300)
                )
            )],
            &body
        )
        .await,
        200
    );
    assert_eq!(d.stored(None).await, 1);
}

#[tokio::test]
async fn the_secret_path_authenticates_personal_token_webhooks() {
    let d = Daemon::start(&Db::Sqlite, false, "30s").await;
    let body = crate::common::monday_delivery(&uuid::Uuid::new_v4().simple().to_string());
    assert_eq!(d.post("/webhooks/monday/wrong", &[], &body).await, 401);
    assert_eq!(
        d.post(&format!("/webhooks/monday/{PATH_SECRET}"), &[], &body)
            .await,
        200
    );
    assert_eq!(d.stored(None).await, 1);
}

#[tokio::test]
async fn every_real_monday_sample_is_accepted_and_unsynced_types_are_stored_as_ignored() {
    let Some(refs) = reference() else { return };
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(refs.join("monday/webhook-samples.json")).unwrap(),
    )
    .unwrap();
    let d = Daemon::start(&Db::Sqlite, false, "30s").await;
    let mut sent = 0;
    for sample in file["samples"].as_array().unwrap() {
        let mut body = sample["body"].clone();
        if body.get("challenge").is_some() {
            continue;
        }
        // Fresh, so that none is stale; a trigger of its own, so that none is a duplicate.
        body["event"]["triggerTime"] = json!(chrono::Utc::now().to_rfc3339());
        body["event"]["triggerUuid"] = json!(uuid::Uuid::new_v4().simple().to_string());
        assert_eq!(
            d.monday(&serde_json::to_vec(&body).unwrap()).await,
            200,
            "{}",
            sample["name"]
        );
        sent += 1;
    }
    assert_eq!(d.stored(None).await, sent);
    let ignored = d.stored(Some("ignored")).await;
    assert!(
        ignored >= 5,
        "subitem events and types boardsync does not sync are stored as ignored: {ignored}"
    );
    let pending = d.store.pending_inbox(100).await.unwrap();
    assert_eq!(pending.len() as i64, sent - ignored);
    let kinds: Vec<String> = pending.iter().map(|e| e.kind.clone()).collect();
    for k in [
        "created",
        "updated",
        "deleted",
        "archived",
        "restored",
        "moved",
        "commented",
    ] {
        assert!(kinds.iter().any(|x| x == k), "no {k} among {kinds:?}");
    }
    let status = pending
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.change).unwrap())
        .find(|c| c["column_types"]["status_mkmwnxnk"] == "color")
        .expect("the status change");
    assert_eq!(
        status["fields"]["status_mkmwnxnk"]["label"]["text"],
        "Working on it"
    );
    assert_eq!(status["author"], "67214742");
}

#[tokio::test]
async fn an_event_older_than_the_dedupe_ttl_is_recorded_as_stale_and_answered_200() {
    let d = Daemon::start(&Db::Sqlite, false, "30s").await;
    let mut body: Value = serde_json::from_slice(&crate::common::monday_delivery(
        "0123456789abcdef0123456789abcdef",
    ))
    .unwrap();
    body["event"]["triggerTime"] =
        json!((chrono::Utc::now() - chrono::Duration::days(8)).to_rfc3339());
    assert_eq!(d.monday(&serde_json::to_vec(&body).unwrap()).await, 200);
    assert_eq!(d.stored(Some("stale")).await, 1);
    assert_eq!(d.store.inbox_backlog().await.unwrap(), 0, "no effect");
    assert_eq!(d.received("monday", "stale").await, 1);
}

/// monday's retry pattern: one delivery, 30 times, at once and then one after another.
async fn thirty_copies_make_one_row(db: Db, redis: bool) {
    let d = Daemon::start(&db, redis, "30s").await;
    let url = format!("{}/webhooks/monday", d.base);
    for round in 0..2 {
        let body = crate::common::monday_delivery(&uuid::Uuid::new_v4().simple().to_string());
        if round == 0 {
            let mut copies = tokio::task::JoinSet::new();
            for _ in 0..30 {
                let (http, url, body) = (d.http.clone(), url.clone(), body.clone());
                let token = crate::common::monday_jwt(
                    MONDAY_SECRET,
                    &format!("{PUBLIC_URL}/webhooks/monday"),
                    300,
                );
                copies.spawn(async move {
                    http.post(url)
                        .header("Authorization", token)
                        .body(body)
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                });
            }
            while let Some(status) = copies.join_next().await {
                assert_eq!(status.unwrap(), 200);
            }
        } else {
            for _ in 0..30 {
                assert_eq!(d.monday(&body).await, 200);
            }
        }
        assert_eq!(
            d.stored(None).await,
            round + 1,
            "round {round}: exactly one row"
        );
    }
    assert_eq!(d.received("monday", "accepted").await, 2);
    assert_eq!(d.received("monday", "duplicate").await, 58);
    drop(d);
    if let Db::Postgres(t) = db {
        t.drop_now().await;
    }
}

#[tokio::test]
async fn thirty_copies_make_one_row_on_sqlite_without_redis() {
    thirty_copies_make_one_row(Db::Sqlite, false).await;
}

#[tokio::test]
async fn thirty_copies_make_one_row_on_sqlite_with_redis() {
    thirty_copies_make_one_row(Db::Sqlite, true).await;
}

#[tokio::test]
async fn thirty_copies_make_one_row_on_postgres_without_redis() {
    thirty_copies_make_one_row(Db::Postgres(TestDb::create().await), false).await;
}

#[tokio::test]
async fn thirty_copies_make_one_row_on_postgres_with_redis() {
    thirty_copies_make_one_row(Db::Postgres(TestDb::create().await), true).await;
}

#[tokio::test]
async fn with_the_store_down_deliveries_get_503_and_the_retry_is_stored_once_after_recovery() {
    let db = TestDb::create().await;
    let d = Daemon::start(
        &Db::Postgres(TestDb {
            name: db.name.clone(),
            url: db.url.clone(),
        }),
        true,
        "30s",
    )
    .await;
    let body = crate::common::monday_delivery(&uuid::Uuid::new_v4().simple().to_string());
    crate::common::admin(&format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS false",
        db.name
    ))
    .await;
    crate::common::admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
        db.name
    ))
    .await;
    assert_eq!(
        d.monday(&body).await,
        503,
        "nothing stored, so the sender must retry"
    );
    assert_eq!(d.received("monday", "unavailable").await, 1);
    crate::common::admin(&format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS true",
        db.name
    ))
    .await;
    let status = crate::common::wait_for(
        "the store to come back",
        std::time::Duration::from_secs(15),
        || async {
            let s = d.monday(&body).await;
            (s != 503).then_some(s)
        },
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(d.monday(&body).await, 200);
    assert_eq!(d.stored(None).await, 1, "stored once");
    assert_eq!(d.received("monday", "accepted").await, 1);
    drop(d);
    db.drop_now().await;
}

#[tokio::test]
async fn a_hung_inbox_gets_503_with_retry_after_within_the_store_timeout_and_readyz_says_so() {
    use sqlx::Connection;
    let db = TestDb::create().await;
    let d = Daemon::start(
        &Db::Postgres(TestDb {
            name: db.name.clone(),
            url: db.url.clone(),
        }),
        false,
        "30s",
    )
    .await;
    // Another client holds the inbox locked: inserts wait for it, other writes do not.
    let mut locker = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    sqlx::query("LOCK TABLE inbox IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();
    let body = crate::common::monday_delivery(&uuid::Uuid::new_v4().simple().to_string());
    let jwt =
        crate::common::monday_jwt(MONDAY_SECRET, &format!("{PUBLIC_URL}/webhooks/monday"), 300);
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        d.http
            .post(format!("{}/webhooks/monday", d.base))
            .header("Authorization", &jwt)
            .body(body.to_vec())
            .send(),
    )
    .await
    .expect("answered within the store timeout, not held for the lock")
    .unwrap();
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.headers()["retry-after"], "5");
    assert!(
        answer
            .text()
            .await
            .unwrap()
            .contains("did not answer in time")
    );
    let ready = reqwest::get(format!("{}/readyz", d.base)).await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(
        ready
            .text()
            .await
            .unwrap()
            .contains("the inbox did not answer in time")
    );

    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    // monday's retry: stored once, though the first attempt may have committed after its 503.
    let status = crate::common::wait_for(
        "a delivery stored again",
        std::time::Duration::from_secs(15),
        || async {
            let s = d.monday(&body).await;
            (s == 200).then_some(s)
        },
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(d.stored(None).await, 1, "stored once");
    let ready = reqwest::get(format!("{}/readyz", d.base)).await.unwrap();
    assert_eq!(ready.status(), 200);
    locker.close().await.unwrap();
    drop(d);
    db.drop_now().await;
}

#[tokio::test]
async fn a_daemon_whose_redis_is_down_at_start_runs_without_it_and_uses_it_once_it_answers() {
    // Nothing listens on this port yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = Daemon::start_with(
        &Db::Sqlite,
        Some(&format!("redis://127.0.0.1:{port}")),
        "30s",
    )
    .await;
    let first = uuid::Uuid::new_v4().simple().to_string();
    assert_eq!(d.monday(&crate::common::monday_delivery(&first)).await, 200);
    assert_eq!(d.monday(&crate::common::monday_delivery(&first)).await, 200);
    assert_eq!(d.stored(None).await, 1, "the store decided the duplicate");

    // Redis comes up on that port (a relay to the local one).
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut server = tokio::net::TcpStream::connect("127.0.0.1:6379")
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    let redis = redis::Client::open("redis://127.0.0.1:6379")
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    crate::common::wait_for(
        "a delivery deduplicated in Redis",
        std::time::Duration::from_secs(30),
        || async {
            let trigger = uuid::Uuid::new_v4().simple().to_string();
            assert_eq!(
                d.monday(&crate::common::monday_delivery(&trigger)).await,
                200
            );
            let key = format!("{}:dedupe:monday:{trigger}", d.prefix);
            let mut redis = redis.clone();
            let state: Option<String> = redis::AsyncCommands::get(&mut redis, &key).await.unwrap();
            (state.as_deref() == Some("done")).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_daemon_starting_before_its_database_answers_keeps_trying_and_starts_when_it_does() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let db = TestDb::create().await;
    // A port where the database is not up yet: connections are taken and dropped, and counted,
    // until `up`; then they are relayed to the real server.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (up, refused) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (gate, count) = (up.clone(), refused.clone());
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            if !gate.load(Ordering::SeqCst) {
                count.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            tokio::spawn(async move {
                let mut server = tokio::net::TcpStream::connect("127.0.0.1:5432")
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    let url = db
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{port}"));
    assert_ne!(url, db.url);
    let text = format!(
        "[daemon]\nlisten = \"127.0.0.1:0\"\ndatabase_url = \"{url}\"\n[miro]\ntoken = \"t\"\n[monday]\ntoken = \"t\"\n"
    );
    let config = Config::parse(Path::new("test.toml"), &text, &|_| None).unwrap();
    let starting = tokio::spawn(App::build(config, Role::Ingest));
    crate::common::wait_for(
        "two attempts on the database",
        std::time::Duration::from_secs(20),
        || async { (refused.load(Ordering::SeqCst) >= 2).then_some(()) },
    )
    .await;
    assert!(!starting.is_finished(), "still trying");
    up.store(true, Ordering::SeqCst);
    let app = tokio::time::timeout(std::time::Duration::from_secs(30), starting)
        .await
        .expect("started within the store start timeout")
        .unwrap()
        .expect("started once the database answered");
    drop(app);
    db.drop_now().await;
}

#[tokio::test]
async fn a_mistyped_database_fails_the_start_at_once() {
    let text = "[daemon]\ndatabase_url = \"postgres://postgres@127.0.0.1:5432/no_such_database_here\"\n[miro]\ntoken = \"t\"\n[monday]\ntoken = \"t\"\n";
    let config = Config::parse(Path::new("test.toml"), text, &|_| None).unwrap();
    let started = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        App::build(config, Role::Ingest),
    )
    .await
    .expect("no retries for a database that does not exist");
    let error = format!("{:#}", started.err().expect("the start fails"));
    assert!(error.contains("no_such_database_here"), "{error}");
}

#[tokio::test]
async fn a_crash_between_the_redis_key_and_the_commit_loses_nothing() {
    // A pending TTL far longer than the wait below: the redelivery must not wait it out.
    let d = Daemon::start(&Db::Sqlite, true, "60s").await;
    let trigger = uuid::Uuid::new_v4().simple().to_string();
    // What a replica that died after `SET pending` and before its commit leaves behind.
    let config = Config::parse(
        Path::new("t.toml"),
        "[miro]\ntoken = \"t\"\n[monday]\ntoken = \"t\"\n",
        &|_| None,
    )
    .unwrap();
    let prefix = d.prefix.clone();
    let redis = boardsync::ingress::dedupe::RedisDedupe::connect(
        "redis://127.0.0.1:6379",
        &prefix,
        std::time::Duration::from_secs(60),
        config.ingress.dedupe_ttl.0,
        config.ingress.redis_timeout.0,
    )
    .await
    .unwrap();
    redis
        .leave_pending(&format!("monday:{trigger}"))
        .await
        .unwrap();
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        d.monday(&crate::common::monday_delivery(&trigger)),
    )
    .await
    .expect("the redelivery is answered without waiting out the dead claim");
    assert_eq!(answer, 200, "the store decides, and stores it");
    assert_eq!(d.stored(None).await, 1);
    assert_eq!(d.received("monday", "accepted").await, 1);
}

#[tokio::test]
async fn a_worker_serves_no_receivers_but_still_health_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[daemon]\nlisten = \"127.0.0.1:0\"\ndatabase_url = \"sqlite://{}\"\n[miro]\ntoken = \"t\"\n[monday]\ntoken = \"t\"\n",
        dir.path().join("w.db").display()
    );
    let config = Config::parse(Path::new("w.toml"), &text, &|_| None).unwrap();
    let app = App::build(config, Role::Worker).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    let stop = CancellationToken::new();
    tokio::spawn(app.run(stop.clone()));
    let http = reqwest::Client::new();
    assert_eq!(
        http.post(format!("{base}/webhooks/monday"))
            .body("{}")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            http.get(format!("{base}{path}"))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "{path}"
        );
    }
    stop.cancel();
}

#[tokio::test]
async fn metrics_are_valid_prometheus_text_with_the_ack_histogram() {
    let d = Daemon::start(&Db::Sqlite, false, "30s").await;
    assert_eq!(
        d.monday(&crate::common::monday_delivery(
            &uuid::Uuid::new_v4().simple().to_string()
        ))
        .await,
        200
    );
    let r = d
        .http
        .get(format!("{}/metrics", d.base))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().await.unwrap();
    assert!(text.contains("# TYPE boardsync_webhooks_received_total counter"));
    assert!(text.contains("# TYPE boardsync_webhook_ack_seconds histogram"));
    assert!(
        text.contains("boardsync_webhook_ack_seconds_count{source=\"monday\"} 1"),
        "{text}"
    );
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let value = line.rsplit(' ').next().unwrap();
        assert!(
            value.parse::<f64>().is_ok(),
            "every sample line ends in a number: {line}"
        );
    }
}
