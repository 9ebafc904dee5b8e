//! The settings of a loaded mappings file: the whole `Config`, its daemon-wide sections and the
//! defaults they fall back on. The pairs' own types are in `pair.rs`.

use super::pair::PairConfig;
use super::units::{ByteSize, Duration, Share};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use url::Url;

/// Where the daemon listens when neither the file nor `BOARDSYNC_LISTEN` says otherwise.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The embedded store used when neither the file nor `DATABASE_URL` names one.
pub(crate) const DEFAULT_DATABASE_URL: &str = "sqlite://boardsync.db";
pub(crate) const DEFAULT_MIRO_API_URL: &str = "https://api.miro.com";
pub(crate) const DEFAULT_MONDAY_API_URL: &str = "https://api.monday.com/v2";
/// The monday API version boardsync is written against; sent as the `API-Version` header.
pub(crate) const DEFAULT_MONDAY_API_VERSION: &str = "2026-10";

/// A loaded, valid mappings file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, for messages.
    pub source: PathBuf,
    pub daemon: DaemonSettings,
    pub miro: MiroSettings,
    pub monday: MondaySettings,
    pub ingress: IngressSettings,
    pub sync: SyncSettings,
    pub poller: PollerSettings,
    pub dashboard: DashboardSettings,
    pub pairs: Vec<PairConfig>,
}

impl Config {
    pub(crate) fn pair(&self, name_or_slug: &str) -> Option<&PairConfig> {
        self.pairs
            .iter()
            .find(|p| p.name == name_or_slug || p.slug == name_or_slug)
    }
}

/// A string that must not be shown: tokens, secrets, URLs that may hold a password.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub(crate) fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for the one place that needs it (a header, a signature, a connection).
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// `[daemon]`
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    pub listen: SocketAddr,
    /// The base URL at which Miro and monday reach this daemon's receivers.
    pub public_url: Option<Url>,
    /// `sqlite://...` or `postgres://...`; may carry a password, so it is kept secret.
    pub database_url: Secret,
    pub redis_url: Option<Secret>,
    /// How long a stopping daemon waits for work in flight before it exits anyway.
    pub shutdown_timeout: Duration,
    /// How long a delivery waits for the store to commit its event before it is answered 503
    /// (with `Retry-After`), so a hung store never holds the senders' connections.
    pub store_timeout: Duration,
    /// How long a starting daemon keeps trying a database that does not answer (down, still
    /// starting, not accepting connections) before it gives up.
    pub store_start_timeout: Duration,
    /// How long a connection may take to send a request's headers, and may sit idle between
    /// requests, before it is closed.
    pub header_read_timeout: Duration,
    /// How long a receiver waits for a request's whole body before it answers 408.
    pub body_read_timeout: Duration,
    /// The most connections served at once; past it a new connection gets `/healthz` and
    /// `/readyz` answered and everything else a 503, and is closed.
    pub max_connections: usize,
    /// Make the monday webhooks the mapping needs at start (`subscriptions sync`).
    pub manage_subscriptions: bool,
}

/// `[dashboard]`
#[derive(Debug, Clone, Default)]
pub struct DashboardSettings {
    /// What a visitor must present (bearer or login) to see the dashboard, `/api/*` and
    /// `/metrics`; `None` leaves them open, which the loader allows on loopback only.
    pub token: Option<Secret>,
}

/// `[miro]`
#[derive(Debug, Clone)]
pub struct MiroSettings {
    pub token: Secret,
    /// Verifies Miro webhook signatures; without it, Miro webhooks are refused.
    pub client_secret: Option<Secret>,
    pub api_url: Url,
    /// An Enterprise organisation id: enables the content-logs change feed.
    pub org_id: Option<String>,
    /// Whether to create Miro board subscriptions (the legacy webhooks).
    pub webhooks: bool,
}

/// `[monday]`
#[derive(Debug, Clone)]
pub struct MondaySettings {
    pub token: Secret,
    /// The app's signing secret: verifies the JWT on webhooks created with an app token.
    pub signing_secret: Option<Secret>,
    /// A secret path segment for webhooks created with a personal token, which carry no JWT.
    pub webhook_secret: Option<Secret>,
    pub api_url: Url,
    pub api_version: String,
}

/// `[ingress]`
#[derive(Debug, Clone)]
pub struct IngressSettings {
    /// The largest request body the daemon reads; larger ones are answered 413.
    pub body_limit: ByteSize,
    /// How long an event's dedupe key lives; an older event is stale and has no effect.
    pub dedupe_ttl: Duration,
    /// How long raw webhook bodies are kept, for debugging and replay.
    pub keep_raw: Duration,
    /// How long a Redis key stays `pending` while its event is being stored; a copy arriving in
    /// that time waits for it.
    pub pending_ttl: Duration,
    /// The prefix of boardsync's Redis keys, so several deployments can share one Redis.
    pub redis_prefix: String,
    /// How long a delivery waits for Redis before it goes on without it (the store then decides
    /// duplicates alone); Redis is left aside for a few seconds after it failed to answer.
    pub redis_timeout: Duration,
}

/// `[sync]`
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// The loop breaker: when the fields of one linked item come back to values boardsync itself
    /// wrote more than this many times within a minute, the link is quarantined.
    pub max_loop_returns: u32,
    /// Attempts an outbox row gets before it is dead (kept, shown, replayable).
    pub max_attempts: u32,
    /// How long finished outbox rows, processed inbox entries and history are kept.
    pub retention: Duration,
}

/// `[poller]`
#[derive(Debug, Clone)]
pub struct PollerSettings {
    /// How often each pair's Miro board is scanned at first, and after a change while busy.
    pub interval: Duration,
    /// The shortest interval a busy board's scan comes down to.
    pub min_interval: Duration,
    /// The longest interval an idle board's scan goes up to.
    pub max_interval: Duration,
    /// The share of Miro's per-minute credits that all pollers together may use; the rest is
    /// kept for writes.
    pub credit_share: Share,
    /// How often each pair's monday board is paged through to repair what webhooks missed.
    pub reconcile_interval: Duration,
    /// How often the Miro content-logs feed is read (`[miro] org_id`); at least 10 s.
    pub content_log_interval: Duration,
    /// How long a replica holds a board's pollers without renewing; another takes over after it.
    pub lease: Duration,
}
