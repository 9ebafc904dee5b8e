//! Who may see the dashboard, from outside: daemons on loopback ports with and without
//! `[dashboard] token`, talked to over real HTTP the way a browser and a monitor would (cookies
//! kept by hand, redirects not followed), and `boardsync run` refusing to listen beyond loopback
//! without a token.

use axum::extract::State;
use axum::routing::{get, post};
use axum_extra::extract::cookie::Cookie;
use boardsync::app::{App, AppState, Role};
use boardsync::config::Config;
use boardsync::dashboard::access::{self, Csrf, CsrfChecked};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "dashboard-t0ken-for-tests";
const DEADLINE: Duration = Duration::from_secs(20);
/// The miro and monday sections every config here needs; no pairs, so nothing calls out.
const APIS: &str = "[miro]\ntoken = \"t\"\n\n[monday]\ntoken = \"t\"\n";

/// A daemon (receivers and dashboard, no sync engine) on a loopback port and a store of its own.
struct Daemon {
    base: String,
    state: AppState,
    stop: CancellationToken,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Daemon {
    async fn start(token: Option<&str>) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", dir.path().join("access.db").display());
        let dashboard = token.map_or(String::new(), |t| format!("[dashboard]\ntoken = \"{t}\"\n"));
        let text = format!(
            "[daemon]\nlisten = \"127.0.0.1:0\"\ndatabase_url = \"{db}\"\n{dashboard}{APIS}"
        );
        let config = Config::parse(Path::new("access.toml"), &text, &|_| None).unwrap();
        let app = App::build(config, Role::Ingest).await.unwrap();
        let base = format!("http://{}", app.local_addr());
        let state = app.state().clone();
        let stop = CancellationToken::new();
        tokio::spawn(app.run(stop.clone()));
        Daemon {
            base,
            state,
            stop,
            http: no_redirects(),
            _dir: dir,
        }
    }

    /// A request to `path` on this daemon.
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// GET `path`, with `cookies` (`name=value; ...`) when given.
    async fn get(&self, path: &str, cookies: Option<&str>) -> Response {
        with_cookies(self.request(reqwest::Method::GET, path), cookies)
            .send()
            .await
            .unwrap()
    }

    /// The status a GET of `path` answers, with `cookies` when given.
    async fn status(&self, path: &str, cookies: Option<&str>) -> StatusCode {
        self.get(path, cookies).await.status()
    }

    async fn get_with_bearer(&self, path: &str, token: &str) -> Response {
        self.request(reqwest::Method::GET, path)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// POSTs the urlencoded `form` to `path`, with `cookies` when given.
    async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        cookies: Option<&str>,
    ) -> Response {
        with_cookies(
            self.request(reqwest::Method::POST, path).form(form),
            cookies,
        )
        .send()
        .await
        .unwrap()
    }

    /// Logs in with the right token; the session cookie as a browser would send it back.
    async fn log_in(&self) -> String {
        let answer = self
            .post_form("/login", &[("token", TOKEN), ("next", "/")], None)
            .await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        let session = set_cookie(&answer, "boardsync_session").expect("a session cookie");
        format!("boardsync_session={}", session.value())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn with_cookies(
    request: reqwest::RequestBuilder,
    cookies: Option<&str>,
) -> reqwest::RequestBuilder {
    match cookies {
        Some(c) => request.header(COOKIE, c),
        None => request,
    }
}

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The cookie `name` the answer sets, if it sets one.
fn set_cookie(answer: &Response, name: &str) -> Option<Cookie<'static>> {
    answer
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| Cookie::parse(v.to_str().ok()?.to_owned()).ok())
        .find(|c| c.name() == name)
}

fn location(answer: &Response) -> &str {
    answer
        .headers()
        .get(LOCATION)
        .expect("a Location header")
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn with_a_token_the_api_and_metrics_answer_401_without_it_and_200_with_the_bearer() {
    let d = Daemon::start(Some(TOKEN)).await;
    for path in ["/api/status", "/metrics"] {
        let refused = d.get(path, None).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert!(
            refused
                .text()
                .await
                .unwrap()
                .contains("Authorization: Bearer"),
            "{path}: the reason says what to send"
        );
        let wrong = d.get_with_bearer(path, "not-the-token").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{path}");
        let admitted = d.get_with_bearer(path, TOKEN).await;
        assert_eq!(admitted.status(), StatusCode::OK, "{path}");
        assert!(!admitted.text().await.unwrap().contains(TOKEN), "{path}");
    }
}

#[tokio::test]
async fn with_a_token_a_page_redirects_to_the_login_form_which_keeps_where_it_was_going() {
    let d = Daemon::start(Some(TOKEN)).await;
    let home = d.get("/", None).await;
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&home), "/login?next=%2F");
    let deep = d.get("/pairs/roadmap?view=all", None).await;
    assert_eq!(
        location(&deep),
        "/login?next=%2Fpairs%2Froadmap%3Fview%3Dall"
    );

    let form = d.get("/login?next=%2Fpairs%2Froadmap", None).await;
    assert_eq!(form.status(), StatusCode::OK);
    assert!(
        form.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = form.text().await.unwrap();
    for part in [
        r#"href="/assets/style.css""#,
        r#"type="password" name="token""#,
        r#"type="hidden" name="next" value="/pairs/roadmap""#,
    ] {
        assert!(html.contains(part), "{part} missing from {html}");
    }
    assert!(!html.contains(TOKEN));
}

#[tokio::test]
async fn a_wrong_token_at_login_gets_the_form_again_with_401_and_no_cookie() {
    let d = Daemon::start(Some(TOKEN)).await;
    let wrong = "dashboard-t0ken-for-test";
    let answer = d
        .post_form("/login", &[("token", wrong), ("next", "/dead")], None)
        .await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&answer, "boardsync_session").is_none());
    let html = answer.text().await.unwrap();
    assert!(html.contains("wrong token"), "{html}");
    assert!(
        !html.contains(wrong),
        "the page repeats what was typed: {html}"
    );
}

#[tokio::test]
async fn the_right_token_sets_an_httponly_cookie_that_is_not_the_token_and_opens_the_pages() {
    let d = Daemon::start(Some(TOKEN)).await;
    let answer = d
        .post_form(
            "/login",
            &[("token", TOKEN), ("next", "/dead?page=2")],
            None,
        )
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&answer), "/dead?page=2");
    let session = set_cookie(&answer, "boardsync_session").expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(
        session.same_site(),
        Some(axum_extra::extract::cookie::SameSite::Strict)
    );
    assert_eq!(session.path(), Some("/"));
    assert_ne!(session.secure(), Some(true), "plain http: not Secure");
    assert!(!session.value().contains(TOKEN), "{}", session.value());

    let cookie = format!("boardsync_session={}", session.value());
    for path in ["/", "/dead", "/api/status", "/metrics"] {
        assert_eq!(
            d.status(path, Some(&cookie)).await,
            StatusCode::OK,
            "{path}"
        );
    }
    let page = d.get("/", Some(&cookie)).await.text().await.unwrap();
    assert!(
        page.contains("action=\"/logout\""),
        "a way to log out: {page}"
    );
    let forged = format!("boardsync_session={}0", session.value());
    assert_eq!(d.status("/", Some(&forged)).await, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn behind_an_https_proxy_the_session_cookie_is_secure_and_a_foreign_next_is_not_followed() {
    let d = Daemon::start(Some(TOKEN)).await;
    let answer = d
        .request(reqwest::Method::POST, "/login")
        .header("X-Forwarded-Proto", "https")
        .form(&[("token", TOKEN), ("next", "//evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&answer), "/");
    let session = set_cookie(&answer, "boardsync_session").unwrap();
    assert_eq!(session.secure(), Some(true));
}

#[tokio::test]
async fn logout_clears_the_session_cookie_and_sends_back_to_the_login_form() {
    let d = Daemon::start(Some(TOKEN)).await;
    let cookie = d.log_in().await;
    let answer = d.post_form("/logout", &[], Some(&cookie)).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&answer), "/login");
    let cleared = set_cookie(&answer, "boardsync_session").expect("the cookie is cleared");
    assert_eq!(cleared.value(), "");
    assert_eq!(cleared.max_age().map(|age| age.whole_seconds()), Some(0));
    assert_eq!(cleared.path(), Some("/"));
    // What the browser sends next: the cleared cookie.
    let after = d.get("/", Some("boardsync_session=")).await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_session_from_one_replica_opens_another_that_shares_the_token() {
    let (a, b) = (
        Daemon::start(Some(TOKEN)).await,
        Daemon::start(Some(TOKEN)).await,
    );
    let cookie = a.log_in().await;
    assert_eq!(b.status("/", Some(&cookie)).await, StatusCode::OK);
    let other = Daemon::start(Some("another-token")).await;
    assert_eq!(
        other.status("/", Some(&cookie)).await,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn health_readiness_assets_and_webhooks_stay_open_with_a_token() {
    let d = Daemon::start(Some(TOKEN)).await;
    assert_eq!(d.status("/healthz", None).await, StatusCode::OK);
    assert_eq!(d.status("/readyz", None).await, StatusCode::OK);
    assert_eq!(d.status("/assets/style.css", None).await, StatusCode::OK);
    assert_eq!(d.status("/login", None).await, StatusCode::OK);
    let challenge = d
        .request(reqwest::Method::POST, "/webhooks/monday")
        .json(&serde_json::json!({ "challenge": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.status(), StatusCode::OK);
    assert_eq!(
        challenge.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({ "challenge": "x" })
    );
}

#[tokio::test]
async fn without_a_token_on_loopback_everything_is_open() {
    let d = Daemon::start(None).await;
    for path in ["/", "/dead", "/conflicts", "/api/status", "/metrics"] {
        assert_eq!(d.status(path, None).await, StatusCode::OK, "{path}");
    }
    let login = d.get("/login?next=%2Fdead", None).await;
    assert_eq!(
        login.status(),
        StatusCode::SEE_OTHER,
        "nothing to log in to"
    );
    assert_eq!(location(&login), "/dead");
}

#[tokio::test]
async fn a_post_without_the_csrf_field_or_with_a_wrong_one_is_refused_with_403() {
    let d = Daemon::start(None).await;
    let page = d.get("/dead", None).await;
    let csrf = set_cookie(&page, "boardsync_csrf").expect("a page view sets the CSRF cookie");
    assert_eq!(csrf.http_only(), Some(true));
    assert_eq!(
        csrf.same_site(),
        Some(axum_extra::extract::cookie::SameSite::Strict)
    );
    let cookie = format!("boardsync_csrf={}", csrf.value());
    assert!(
        set_cookie(&d.get("/dead", Some(&cookie)).await, "boardsync_csrf").is_none(),
        "a browser that has the cookie keeps it"
    );

    for (form, cookies) in [
        (&[][..], Some(cookie.as_str())),
        (&[("csrf", "0123abcd")][..], Some(cookie.as_str())),
        (&[("csrf", csrf.value())][..], Some(cookie.as_str())),
        (&[("csrf", "0123abcd")][..], None),
    ] {
        let answer = d.post_form("/dead/1/retry", form, cookies).await;
        assert_eq!(
            answer.status(),
            StatusCode::FORBIDDEN,
            "{form:?} {cookies:?}"
        );
        let why = answer.text().await.unwrap();
        assert!(why.contains("csrf") || why.contains("CSRF"), "{why}");
    }
    let with_bearer_only = Daemon::start(Some(TOKEN)).await;
    let answer = with_bearer_only
        .request(reqwest::Method::POST, "/dead/1/retry")
        .bearer_auth(TOKEN)
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
}

/// A page and a button wired as the dashboard wires them: the page puts `Csrf` into its form,
/// the button takes `CsrfChecked` last.
async fn page_and_button(state: AppState) -> String {
    async fn page(Csrf(token): Csrf) -> String {
        token
    }
    async fn button(State(_): State<AppState>, _: CsrfChecked) -> &'static str {
        "done"
    }
    let router = axum::Router::new()
        .route("/page", get(page))
        .route("/button", post(button))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::guard,
        ))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

#[tokio::test]
async fn a_form_token_from_a_page_is_taken_by_its_button_and_not_from_another_browser() {
    let d = Daemon::start(None).await;
    let base = page_and_button(d.state.clone()).await;
    let http = no_redirects();
    let visit = |cookie: Option<String>| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let request = with_cookies(http.get(format!("{base}/page")), cookie.as_deref());
            let answer = request.send().await.unwrap();
            let cookie = set_cookie(&answer, "boardsync_csrf")
                .map(|c| format!("boardsync_csrf={}", c.value()));
            (cookie, answer.text().await.unwrap())
        }
    };
    let (mine, token) = visit(None).await;
    let mine = mine.expect("a first visit sets the CSRF cookie");
    let (again, same_token) = visit(Some(mine.clone())).await;
    assert!(again.is_none());
    assert_eq!(token, same_token, "one browser, one token");
    let (theirs, their_token) = visit(None).await;
    assert_ne!(token, their_token);

    let press = |cookie: String, token: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            http.post(format!("{base}/button"))
                .header(COOKIE, cookie)
                .form(&[("csrf", token)])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(press(mine.clone(), token.clone()).await, StatusCode::OK);
    assert_eq!(
        press(theirs.unwrap(), token.clone()).await,
        StatusCode::FORBIDDEN,
        "a token only works with the cookie it was made for"
    );
    assert_eq!(
        press(mine, their_token).await,
        StatusCode::FORBIDDEN,
        "nor another browser's token with mine"
    );
}

/// Writes a mappings file listening on `listen` and starts `boardsync run` on it, with nothing
/// from this process's environment steering the listen address or the token.
fn run_binary(
    dir: &Path,
    listen: &str,
    token: Option<&str>,
) -> (std::process::Child, std::path::PathBuf) {
    let config = dir.join("boardsync.toml");
    std::fs::write(&config, format!("[daemon]\nlisten = \"{listen}\"\n{APIS}")).unwrap();
    let mut command = Command::new(crate::common::bin());
    command
        .args(["run", "--config"])
        .arg(&config)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("store.db").display()),
        )
        .env_remove("BOARDSYNC_LISTEN")
        .env_remove("BOARDSYNC_DASHBOARD_TOKEN")
        .env("BOARDSYNC_LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(t) = token {
        command.env("BOARDSYNC_DASHBOARD_TOKEN", t);
    }
    (command.spawn().unwrap(), config)
}

#[tokio::test]
async fn run_beyond_loopback_without_a_token_exits_naming_the_setting_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, config) = run_binary(dir.path(), "0.0.0.0:0", None);
    let lines = crate::common::stderr_lines(&mut child);
    let status = crate::common::wait_for("the daemon to give up", DEADLINE, || {
        let status = child.try_wait().unwrap();
        async move { status }
    })
    .await;
    let stderr: Vec<String> = lines.iter().collect();
    let stderr = stderr.join("\n");
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:2:10: `listen` is 0.0.0.0:0", config.display())),
        "{stderr}"
    );
    assert!(stderr.contains("[dashboard] token"), "{stderr}");
}

#[tokio::test]
async fn run_beyond_loopback_with_a_token_starts_and_never_logs_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _) = run_binary(dir.path(), "0.0.0.0:0", Some(TOKEN));
    let lines = crate::common::stderr_lines(&mut child);
    let mut seen = Vec::new();
    let port = crate::common::wait_for("the daemon to listen", DEADLINE, || {
        seen.extend(lines.try_iter());
        let port = seen.iter().find_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            (v["fields"]["message"] == "listening").then(|| {
                let addr: std::net::SocketAddr = v["fields"]["addr"].as_str()?.parse().ok()?;
                Some(addr.port())
            })?
        });
        async move { port }
    })
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let http = no_redirects();
    crate::common::wait_for("/healthz", DEADLINE, || async {
        let answer = http.get(format!("{base}/healthz")).send().await.ok()?;
        (answer.status() == StatusCode::OK).then_some(())
    })
    .await;
    let status =
        |request: reqwest::RequestBuilder| async move { request.send().await.unwrap().status() };
    assert_eq!(
        status(http.get(format!("{base}/api/status"))).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(http.get(format!("{base}/api/status")).bearer_auth(TOKEN)).await,
        StatusCode::OK
    );
    for token in ["wrong", TOKEN] {
        let login = http.post(format!("{base}/login")).form(&[("token", token)]);
        assert_ne!(status(login).await, StatusCode::INTERNAL_SERVER_ERROR);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    seen.extend(lines.iter());
    assert!(
        seen.iter().any(|l| l.contains("wrong token")),
        "the refused login is logged: {seen:?}"
    );
    assert!(
        !seen.iter().any(|l| l.contains(TOKEN)),
        "the token reached the log: {seen:?}"
    );
}
