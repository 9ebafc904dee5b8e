//! The dashboard in a real browser: headless Chromium driven over WebDriver (chromedriver), against
//! a daemon syncing the sandbox. A change made on a board shows on the open page without a reload,
//! Retry on a dead letter requeues it, and a daemon listening beyond loopback asks for its token
//! before it shows anything.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without them the test
//! says so and passes, except under `CI`, where it fails.

use crate::common::wait_for;
use crate::common::world::{DEADLINE, MONDAY_BOARD, World, world_with};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use thirtyfour::prelude::*;
use thirtyfour::session::http::{Body, HttpClient};

/// The flags this machine's Chromium needs, headless.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
];

/// thirtyfour's WebDriver calls, made with the reqwest the project already builds.
#[derive(Clone)]
struct Http(reqwest::Client);

#[async_trait::async_trait]
impl HttpClient for Http {
    async fn send(
        &self,
        request: http::Request<Body<'_>>,
    ) -> WebDriverResult<http::Response<bytes::Bytes>> {
        let (parts, body) = request.into_parts();
        let mut req = self
            .0
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers);
        if let Body::Json(json) = body {
            req = req.json(json);
        }
        let answer = req
            .send()
            .await
            .map_err(|e| WebDriverError::HttpError(e.to_string()))?;
        let mut response = http::Response::builder().status(answer.status());
        for (name, value) in answer.headers() {
            response = response.header(name, value);
        }
        let body = answer
            .bytes()
            .await
            .map_err(|e| WebDriverError::HttpError(e.to_string()))?;
        response
            .body(body)
            .map_err(|e| WebDriverError::HttpError(e.to_string()))
    }

    async fn new(&self) -> Arc<dyn HttpClient> {
        Arc::new(self.clone())
    }
}

/// chromedriver on a free port, stopped on drop, and a browser session on it.
struct Browser {
    driver: WebDriver,
    chromedriver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// `None` when chromedriver is not installed (and `CI` is not set).
    async fn start() -> Option<Browser> {
        let Some(chromedriver) = ["/usr/bin/chromedriver", "/usr/local/bin/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
        else {
            assert!(
                std::env::var_os("CI").is_none(),
                "chromedriver is missing: install Debian's chromium and chromium-driver"
            );
            eprintln!(
                "skipped: chromedriver is not installed (apt install chromium chromium-driver)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = format!("http://127.0.0.1:{port}");
        wait_for("chromedriver", DEADLINE, || async {
            let ready = reqwest::get(format!("{server}/status")).await.ok()?;
            let v: serde_json::Value = ready.json().await.ok()?;
            (v["value"]["ready"] == true).then_some(())
        })
        .await;
        let profile = tempfile::tempdir().unwrap();
        let mut caps = DesiredCapabilities::chrome();
        if std::path::Path::new("/usr/bin/chromium").exists() {
            caps.set_binary("/usr/bin/chromium").unwrap();
        }
        for flag in CHROMIUM_FLAGS {
            caps.add_arg(flag).unwrap();
        }
        caps.add_arg(&format!("--user-data-dir={}", profile.path().display()))
            .unwrap();
        let driver = WebDriver::builder(server, caps)
            .client(Http(reqwest::Client::new()))
            .connect()
            .await
            .unwrap();
        Some(Browser {
            driver,
            chromedriver: child,
            _profile: profile,
        })
    }

    /// The texts of the elements `css` selects, now.
    async fn texts(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for element in self.driver.find_all(By::Css(css)).await.unwrap() {
            texts.push(element.text().await.unwrap_or_default());
        }
        texts
    }

    /// Waits until an element `css` selects has text containing `text`.
    async fn wait_for_text(&self, css: &str, text: &str) {
        wait_for(&format!("`{text}` in {css}"), DEADLINE, || async {
            self.texts(css)
                .await
                .iter()
                .any(|t| t.contains(text))
                .then_some(())
        })
        .await;
    }

    async fn path(&self) -> String {
        let url = self.driver.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    async fn stop(mut self) {
        let _ = self.driver.clone().quit().await;
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}

async fn create_on_monday(w: &World, name: &str) {
    w.monday(&format!(
        r#"mutation {{ create_item(board_id: {MONDAY_BOARD}, group_id: "topics", item_name: "{name}") {{ id }} }}"#
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_lives_in_a_real_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    // One attempt per write, so a failing write is a dead letter at once.
    let w = world_with(false, "[sync]\nmax_attempts = 1\n", "").await;
    let page = &browser.driver;

    // The overview, live: a change made on monday appears in the open page, which is not
    // reloaded (the marker set in it survives).
    page.goto(format!("{}/", w.base)).await.unwrap();
    wait_for("the live stream to open", DEADLINE, || async {
        page.find(By::Css("body.live")).await.ok().map(|_| ())
    })
    .await;
    page.execute("window.notReloaded = true;", Vec::new())
        .await
        .unwrap();
    create_on_monday(&w, "Seen live").await;
    browser
        .wait_for_text("tbody[data-changes] .title", "Seen live")
        .await;
    browser
        .wait_for_text("[data-pair=sync-test] [data-k='links.active']", "1")
        .await;
    let kept = page
        .execute("return window.notReloaded === true;", Vec::new())
        .await
        .unwrap();
    assert_eq!(kept.json(), &json!(true), "the page was reloaded");

    // A write that fails for good: the open /dead page says so and offers a reload, which shows
    // it; Retry, once Miro answers again, makes it.
    page.goto(format!("{}/dead", w.base)).await.unwrap();
    browser.wait_for_text("main", "No dead letters.").await;
    wait_for("the live stream on /dead", DEADLINE, || async {
        page.find(By::Css("body.live")).await.ok().map(|_| ())
    })
    .await;
    w.set_faults(
        1,
        json!([{"kind": "http_500", "probability": 1.0, "route": "POST /v2/boards"}]),
        json!([]),
    )
    .await;
    create_on_monday(&w, "Retried from the page").await;
    wait_for(
        "the notice that the dead letters changed",
        DEADLINE,
        || async {
            let notice = page
                .find(By::Css("[data-changed=dead_letters]"))
                .await
                .ok()?;
            notice.is_displayed().await.ok()?.then_some(notice)
        },
    )
    .await
    .find(By::Css("a"))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    browser.wait_for_text("td.error", "500").await;
    w.set_faults(1, json!([]), json!([])).await;
    page.find(By::Css("form[action$='/retry'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait_for_text("main", "No dead letters.").await;
    assert_eq!(browser.path().await, "/dead");
    wait_for("the retried write on Miro", DEADLINE, || async {
        w.miro_items()
            .await
            .iter()
            .any(|i| i["data"]["content"] == "<p>Retried from the page</p>")
            .then_some(())
    })
    .await;

    // The same store served beyond loopback: the token is asked for before anything is shown.
    let token = "browser-test-dashboard-token";
    let text = std::fs::read_to_string(&w.config_path).unwrap();
    let listen = text
        .lines()
        .find(|l| l.starts_with("listen = "))
        .unwrap()
        .to_owned();
    let open_path = w.dir.path().join("beyond-loopback.toml");
    std::fs::write(
        &open_path,
        format!(
            "{}\n[dashboard]\ntoken = \"{token}\"\n",
            text.replace(&listen, "listen = \"0.0.0.0:0\"")
        ),
    )
    .unwrap();
    let config = boardsync::config::Config::load(&open_path).unwrap_or_else(|e| panic!("{e}"));
    let open = boardsync::app::App::build(config, boardsync::app::Role::Ingest)
        .await
        .unwrap();
    let port = open.local_addr().port();
    let stop = tokio_util::sync::CancellationToken::new();
    let served = tokio::spawn(open.run(stop.clone()));

    page.goto(format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap();
    assert_eq!(browser.path().await, "/login?next=%2F");
    assert!(page.find(By::Css("[data-pair]")).await.is_err());
    page.find(By::Css("input[name=token]"))
        .await
        .unwrap()
        .send_keys(token)
        .await
        .unwrap();
    page.find(By::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_for_text("[data-pair=sync-test] h2", "Sync test")
        .await;
    assert_eq!(browser.path().await, "/");
    assert!(!page.source().await.unwrap().contains(token));
    // Logging out ends the session: the next page asks for the token again.
    page.find(By::Css("form[action='/logout'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for("the login form again", DEADLINE, || async {
        page.find(By::Css("input[name=token]"))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    page.goto(format!("http://127.0.0.1:{port}/dead"))
        .await
        .unwrap();
    assert_eq!(browser.path().await, "/login?next=%2Fdead");

    stop.cancel();
    served.await.unwrap().unwrap();
    browser.stop().await;
    w.stop().await;
}
