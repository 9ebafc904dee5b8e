//! The sandbox: local stand-ins for the Miro REST API and the monday GraphQL API, faithful to
//! what both publish, so the demo, the end-to-end tests and the benchmarks never touch the real
//! services. State lives in memory.
//!
//! Each API is served on a port of its own, with a control API under `/_sandbox/` beside it (see
//! docs/sandbox.md). The two share one clock, which tests can move forward, and one table of
//! users: any token `sandbox-NAME` is the user NAME, and `sandbox-app-NAME` an app (OAuth) token
//! of that user.
//!
//! The sandbox must never pretend more than the real APIs do: where a behaviour is not documented
//! it follows the reference notes, and docs/sandbox.md lists what it does not imitate.

pub(crate) mod control;
pub(crate) mod faults;
pub(crate) mod miro;
pub(crate) mod monday;
pub mod users;

use crate::clock::Clock;
use anyhow::Context;
use control::RequestLog;
use faults::Faults;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use users::Users;

/// The secret the sandbox signs with when none is given: the Miro client secret and the monday
/// signing secret alike.
pub const DEFAULT_SECRET: &str = "sandbox-secret";

/// How the sandbox is started; the `boardsync sandbox` flags map onto these one to one.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub miro_listen: SocketAddr,
    pub monday_listen: SocketAddr,
    /// The Miro app's client secret and the monday app's signing secret.
    pub secret: String,
    /// Miro credits per token per minute.
    pub miro_credits: u64,
    /// monday complexity points per token per minute.
    pub monday_complexity: u64,
    /// monday API calls per token per UTC day; `None` is no cap.
    pub monday_daily_cap: Option<u64>,
    /// How often monday retries a failed webhook delivery (60 s, as monday does).
    pub webhook_retry_interval: Duration,
    pub seed: Option<Seed>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            miro_listen: "127.0.0.1:8081".parse().expect("static address"),
            monday_listen: "127.0.0.1:8082".parse().expect("static address"),
            secret: DEFAULT_SECRET.to_owned(),
            miro_credits: 100_000,
            monday_complexity: 10_000_000,
            monday_daily_cap: None,
            webhook_retry_interval: Duration::from_secs(60),
            seed: None,
        }
    }
}

impl SandboxOptions {
    /// Both APIs on free loopback ports: what tests and the demo use.
    pub fn ephemeral() -> SandboxOptions {
        SandboxOptions {
            miro_listen: "127.0.0.1:0".parse().expect("static address"),
            monday_listen: "127.0.0.1:0".parse().expect("static address"),
            ..SandboxOptions::default()
        }
    }
}

/// What the sandbox starts with (`--seed FILE`): extra users, and boards with their items. The
/// `miro` and `monday` parts are read by each API; docs/sandbox.md gives their shape.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub users: Vec<users::SeedUser>,
    #[serde(default)]
    pub miro: Option<serde_json::Value>,
    #[serde(default)]
    pub monday: Option<serde_json::Value>,
}

/// What both APIs share.
#[derive(Clone)]
pub(crate) struct Shared {
    pub clock: Clock,
    pub users: Arc<Users>,
    pub secret: Arc<str>,
    /// For webhook deliveries.
    pub http: reqwest::Client,
    /// Background work (webhook deliveries and retries) stops when this is cancelled.
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
}

impl Shared {
    /// POSTs `{"challenge": "<challenge>"}` to `url`, as both services do before they create a
    /// subscription; true when the answer is 200 with the same challenge.
    pub(crate) async fn challenge_echoed(&self, url: &str, challenge: &str) -> bool {
        let body = serde_json::json!({ "challenge": challenge });
        match self.http.post(url).json(&body).send().await {
            Ok(r) if r.status().as_u16() == 200 => r
                .json::<serde_json::Value>()
                .await
                .is_ok_and(|v| v["challenge"] == body["challenge"]),
            _ => false,
        }
    }
}

/// Per-API pieces of the control API: faults and the request log are kept per port.
#[derive(Clone, Default)]
pub(crate) struct Instruments {
    pub faults: Faults,
    pub requests: RequestLog,
}

/// A running sandbox.
pub struct Sandbox {
    miro_addr: SocketAddr,
    monday_addr: SocketAddr,
    shared: Shared,
}

impl Sandbox {
    /// Binds both listeners and starts serving.
    pub async fn start(options: SandboxOptions) -> anyhow::Result<Sandbox> {
        let users = Users::new(options.seed.as_ref().map_or(&[][..], |s| &s.users));
        let shared = Shared {
            clock: Clock::default(),
            users: Arc::new(users),
            secret: options.secret.clone().into(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .context("building the webhook client")?,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        let miro_listener = TcpListener::bind(options.miro_listen)
            .await
            .with_context(|| format!("cannot listen on {} for Miro", options.miro_listen))?;
        let monday_listener = TcpListener::bind(options.monday_listen)
            .await
            .with_context(|| format!("cannot listen on {} for monday", options.monday_listen))?;
        let miro_addr = miro_listener.local_addr()?;
        let monday_addr = monday_listener.local_addr()?;

        let miro = miro::router(shared.clone(), &options)?;
        let monday = monday::router(shared.clone(), &options)?;
        for (listener, router) in [(miro_listener, miro), (monday_listener, monday)] {
            let stop = shared.shutdown.clone();
            shared.tasks.spawn(async move {
                let served = axum::serve(listener, router)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "sandbox server failed");
                }
            });
        }
        Ok(Sandbox {
            miro_addr,
            monday_addr,
            shared,
        })
    }

    /// The value for `[miro] api_url`.
    pub fn miro_api_url(&self) -> String {
        format!("http://{}", self.miro_addr)
    }

    /// The value for `[monday] api_url`.
    pub fn monday_api_url(&self) -> String {
        format!("http://{}/v2", self.monday_addr)
    }

    /// A mappings file for a daemon at `addr` against this sandbox, with boardsync's own app
    /// tokens and the sandbox's secrets, scanning Miro every `interval`, followed by `pairs`.
    pub fn mappings(
        &self,
        addr: SocketAddr,
        database_url: &str,
        interval: &str,
        pairs: &str,
    ) -> String {
        format!(
            r#"[daemon]
listen = "{addr}"
public_url = "http://{addr}"
database_url = "{database_url}"

[miro]
token = "sandbox-app-boardsync"
client_secret = "{secret}"
api_url = "{miro}"

[monday]
token = "sandbox-app-boardsync"
signing_secret = "{secret}"
api_url = "{monday}"

[poller]
interval = "{interval}"

{pairs}"#,
            secret = self.shared.secret,
            miro = self.miro_api_url(),
            monday = self.monday_api_url(),
        )
    }

    pub(crate) fn miro_addr(&self) -> SocketAddr {
        self.miro_addr
    }

    pub fn monday_addr(&self) -> SocketAddr {
        self.monday_addr
    }

    /// The shared clock, for tests that run the sandbox in-process.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// Stops serving and waits (briefly) for background deliveries to end.
    pub async fn stop(self) {
        self.shared.shutdown.cancel();
        self.shared.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.shared.tasks.wait()).await;
    }
}
