//! The shape of the mappings file as written, before any rule is checked: what TOML is read
//! into. Fields that later checks must point at are `Spanned`.

use super::pair::{ConflictPolicy, DeletePolicy, Direction, MiroAs};
use super::units::{ByteSize, Duration, Share};
use crate::domain::miro::ItemType;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDaemon {
    pub listen: Option<Spanned<String>>,
    pub public_url: Option<Spanned<String>>,
    pub database_url: Option<Spanned<String>>,
    pub redis_url: Option<Spanned<String>>,
    pub shutdown_timeout: Option<Duration>,
    pub store_timeout: Option<Duration>,
    pub store_start_timeout: Option<Duration>,
    pub header_read_timeout: Option<Spanned<Duration>>,
    pub body_read_timeout: Option<Spanned<Duration>>,
    pub max_connections: Option<Spanned<i64>>,
    pub manage_subscriptions: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMiro {
    pub token: String,
    pub client_secret: Option<String>,
    pub api_url: Option<Spanned<String>>,
    pub org_id: Option<String>,
    #[serde(default)]
    pub webhooks: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMonday {
    pub token: String,
    pub signing_secret: Option<String>,
    pub webhook_secret: Option<String>,
    pub api_url: Option<Spanned<String>>,
    pub api_version: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIngress {
    pub body_limit: Option<ByteSize>,
    pub dedupe_ttl: Option<Duration>,
    pub keep_raw: Option<Duration>,
    pub pending_ttl: Option<Duration>,
    pub redis_prefix: Option<String>,
    pub redis_timeout: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPair {
    pub name: Spanned<String>,
    pub miro_board: Spanned<String>,
    pub monday_board: Spanned<BoardNumber>,
    pub miro_items: Option<Spanned<Vec<Spanned<ItemType>>>>,
    pub miro_new_item: Option<Spanned<ItemType>>,
    pub monday_group: Option<Spanned<String>>,
    pub miro_frame: Option<Spanned<String>>,
    #[serde(default)]
    pub conflict: ConflictPolicy,
    #[serde(default)]
    pub on_delete: DeletePolicy,
    #[serde(default)]
    pub sync_existing: bool,
    pub match_by: Option<Spanned<String>>,
    pub fields: Spanned<BTreeMap<Spanned<String>, Spanned<RawField>>>,
    pub miro_filter: Option<Spanned<RawMiroFilter>>,
    pub monday_filter: Option<Spanned<RawMondayFilter>>,
}

/// monday board ids are written as integers or as strings of digits.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a monday board id: an integer, or a string of digits"
)]
pub(crate) enum BoardNumber {
    Number(i64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawField {
    pub miro: Spanned<RawMiroSide>,
    pub monday: Spanned<String>,
    #[serde(default)]
    pub direction: Direction,
    pub values: Option<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
    /// Comments only: how monday updates appear on Miro.
    pub miro_as: Option<Spanned<MiroAs>>,
}

#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a Miro field path such as \"data.content\", or a table of item type to path such as { sticky_note = \"data.content\", card = \"data.title\" }"
)]
pub(crate) enum RawMiroSide {
    One(String),
    // Spans do not survive serde's untagged buffering, so problems in a per-type table are
    // reported at the `miro` value as a whole.
    PerType(BTreeMap<String, String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMiroFilter {
    pub frame: Option<String>,
    pub tag: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDashboard {
    pub token: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSync {
    /// Called `max_writes_per_item` before the loop breaker counted returns rather than writes.
    #[serde(alias = "max_writes_per_item")]
    pub max_loop_returns: Option<u32>,
    pub max_attempts: Option<u32>,
    pub retention: Option<Duration>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPoller {
    pub interval: Option<Spanned<Duration>>,
    pub min_interval: Option<Spanned<Duration>>,
    pub max_interval: Option<Spanned<Duration>>,
    pub credit_share: Option<Spanned<Share>>,
    pub reconcile_interval: Option<Spanned<Duration>>,
    pub content_log_interval: Option<Spanned<Duration>>,
    pub lease: Option<Spanned<Duration>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMondayFilter {
    pub groups: Vec<String>,
}

/// The whole file, each section read on its own.
#[derive(Default)]
pub(crate) struct RawFile {
    pub daemon: RawDaemon,
    pub miro: Option<RawMiro>,
    pub monday: Option<RawMonday>,
    pub ingress: RawIngress,
    pub sync: RawSync,
    pub poller: RawPoller,
    pub dashboard: RawDashboard,
    pub pairs: Vec<RawPair>,
}
