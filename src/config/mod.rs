//! The mappings file: the daemon's settings and the board pairs, as the rest of the program sees
//! them once they have been loaded and checked.
//!
//! Loading (`load.rs`) turns TOML into these types and reports every problem with its file, line
//! and column; the rules a valid file must follow live in `validate.rs`. Nothing outside this
//! module sees TOML, spans or unexpanded `${VAR}` strings.

mod load;
mod units;
mod validate;

pub use load::{ConfigError, Problem};
pub use units::{ByteSize, Duration, Share};

use crate::domain::miro::ItemType;
use crate::domain::{MiroBoardId, MondayBoardId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

/// Where the daemon listens when neither the file nor `BOARDSYNC_LISTEN` says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The embedded store used when neither the file nor `DATABASE_URL` names one.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://boardsync.db";
pub const DEFAULT_MIRO_API_URL: &str = "https://api.miro.com";
pub const DEFAULT_MONDAY_API_URL: &str = "https://api.monday.com/v2";
/// The monday API version boardsync is written against; sent as the `API-Version` header.
pub const DEFAULT_MONDAY_API_VERSION: &str = "2026-10";

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
    /// Reads, expands and validates the file at `path`, taking `${VAR}`s and the documented
    /// overrides (`BOARDSYNC_LISTEN`, `DATABASE_URL`, `REDIS_URL`, `BOARDSYNC_DASHBOARD_TOKEN`)
    /// from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::single(path, format!("cannot read the mappings file: {e}"))
        })?;
        Config::parse(path, &text, &|name| std::env::var(name).ok())
    }

    /// Like [`Config::load`], with the text in hand and the environment given as a lookup, so
    /// tests need not touch the process environment.
    pub fn parse(
        path: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        load::parse(path, text, env)
    }

    pub fn pair(&self, name_or_slug: &str) -> Option<&PairConfig> {
        self.pairs
            .iter()
            .find(|p| p.name == name_or_slug || p.slug == name_or_slug)
    }
}

/// A string that must not be shown: tokens, secrets, URLs that may hold a password.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for the one place that needs it (a header, a signature, a connection).
    pub fn expose(&self) -> &str {
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

/// How a field conflict is settled when both sides changed it since the last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// The change with the later source timestamp wins.
    #[default]
    Newest,
    /// Miro always wins.
    Miro,
    /// monday always wins.
    Monday,
}

/// What a delete on one side does to the linked item on the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletePolicy {
    /// Archive the monday item; on Miro (which has no archive) unlink it and tag it `archived`.
    #[default]
    Archive,
    Delete,
    /// Only unlink.
    Ignore,
}

impl ConflictPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictPolicy::Newest => "newest",
            ConflictPolicy::Miro => "miro",
            ConflictPolicy::Monday => "monday",
        }
    }
}

impl DeletePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            DeletePolicy::Archive => "archive",
            DeletePolicy::Delete => "delete",
            DeletePolicy::Ignore => "ignore",
        }
    }
}

/// Which way a field flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Both,
    MiroToMonday,
    MondayToMiro,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Both => "both",
            Direction::MiroToMonday => "miro_to_monday",
            Direction::MondayToMiro => "monday_to_miro",
        }
    }

    pub fn to_monday(self) -> bool {
        self != Direction::MondayToMiro
    }

    pub fn to_miro(self) -> bool {
        self != Direction::MiroToMonday
    }
}

/// One `[[pair]]`: a Miro board kept in step with a monday board.
#[derive(Debug, Clone)]
pub struct PairConfig {
    pub name: String,
    /// The name as a URL slug; unique among pairs.
    pub slug: String,
    pub miro_board: MiroBoardId,
    pub monday_board: MondayBoardId,
    /// The Miro item types that sync.
    pub miro_items: Vec<ItemType>,
    /// The type that items born on monday become on Miro.
    pub miro_new_item: ItemType,
    /// The group that items born on Miro land in; `None` is the board's top group.
    pub monday_group: Option<String>,
    /// The frame that items born on monday land in; `None` is the board itself.
    pub miro_frame: Option<String>,
    pub conflict: ConflictPolicy,
    pub on_delete: DeletePolicy,
    /// Link (and create) the items already on both boards when the pair is first seen.
    pub sync_existing: bool,
    /// The field existing items are matched by (`sync_existing`, `backfill`); `None` is the one
    /// mapped to the monday item name.
    pub match_by: Option<String>,
    pub fields: Vec<FieldMapping>,
    pub miro_filter: MiroFilter,
    pub monday_filter: MondayFilter,
}

/// Only Miro items that pass this filter belong to the pair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MiroFilter {
    pub frame: Option<String>,
    pub tag: Option<String>,
}

/// Only monday items in these groups belong to the pair; empty means every group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MondayFilter {
    pub groups: Vec<String>,
}

/// One entry of `[pair.fields]`.
#[derive(Debug, Clone)]
pub struct FieldMapping {
    /// The key in `[pair.fields]`, e.g. `status`.
    pub name: String,
    pub miro: MiroSide,
    /// `name` (the item name) or a monday column id.
    pub monday: String,
    pub direction: Direction,
    /// Miro value → monday label, in file order. Empty: values are copied as they are.
    pub values: Vec<(String, String)>,
    /// How monday updates appear on Miro; set on the comments field only (see
    /// [`FieldMapping::is_comments`]).
    pub miro_as: Option<MiroAs>,
}

/// The Miro side of the comments field: Miro comments have no API, they are read off the
/// content-logs feed.
pub const MIRO_COMMENTS: &str = "comments";
/// The monday side of the comments field: an item's updates, which are not a column.
pub const MONDAY_UPDATES: &str = "updates";

/// How a monday update appears on Miro, which has no API to write comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MiroAs {
    /// A text item beside the linked item, holding "author: text".
    #[default]
    Text,
    /// A field "monday update" in the linked app card's `data.fields`, holding the latest update.
    AppCardField,
}

impl MiroAs {
    pub fn as_str(self) -> &'static str {
        match self {
            MiroAs::Text => "text",
            MiroAs::AppCardField => "app_card_field",
        }
    }
}

/// The Miro side of a field: one path for every synced type, or one per type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MiroSide {
    All(String),
    PerType(BTreeMap<ItemType, String>),
}

impl MiroSide {
    /// The field path on items of `item_type`, if this field applies to them.
    pub fn path_for(&self, item_type: ItemType) -> Option<&str> {
        match self {
            MiroSide::All(path) => Some(path),
            MiroSide::PerType(paths) => paths.get(&item_type).map(String::as_str),
        }
    }
}

impl fmt::Display for MiroSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MiroSide::All(path) => f.write_str(path),
            MiroSide::PerType(paths) => {
                let parts: Vec<String> = paths.iter().map(|(t, p)| format!("{t}: {p}")).collect();
                write!(f, "{{{}}}", parts.join(", "))
            }
        }
    }
}

impl FieldMapping {
    /// Whether this field maps Miro comments to monday updates (`miro = "comments"`,
    /// `monday = "updates"`): those sync as comments are added, not as values.
    pub fn is_comments(&self) -> bool {
        self.monday == MONDAY_UPDATES
    }

    /// The monday label for a Miro value, through the value map (or the value itself without one).
    pub fn to_monday_value<'a>(&'a self, miro_value: &'a str) -> Option<&'a str> {
        if self.values.is_empty() {
            return Some(miro_value);
        }
        self.values
            .iter()
            .find(|(m, _)| m == miro_value)
            .map(|(_, label)| label.as_str())
    }

    /// The Miro value for a monday label: the first entry of the value map naming that label.
    pub fn to_miro_value<'a>(&'a self, monday_value: &'a str) -> Option<&'a str> {
        if self.values.is_empty() {
            return Some(monday_value);
        }
        self.values
            .iter()
            .find(|(_, label)| label == monday_value)
            .map(|(m, _)| m.as_str())
    }
}

#[cfg(test)]
mod tests;
