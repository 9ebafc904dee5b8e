//! The `Checker`, which walks a raw mappings file and builds its `Config`, recording every problem
//! it meets on the way; the rules it applies are in the sibling files.

use crate::config::pair::PairConfig;
use crate::config::raw::RawFile;
use crate::config::report::Report;
use crate::config::settings::{
    Config, DEFAULT_MIRO_API_URL, DEFAULT_MONDAY_API_URL, DEFAULT_MONDAY_API_VERSION,
    IngressSettings, MiroSettings, MondaySettings, Secret, SyncSettings,
};
use crate::config::units::{ByteSize, Duration};
use std::path::Path;
use toml::Spanned;

pub(crate) struct Checker<'r, 'a> {
    pub(super) report: &'r mut Report<'a>,
    pub(super) env: &'r dyn Fn(&str) -> Option<String>,
}

impl<'r, 'a> Checker<'r, 'a> {
    pub(crate) fn new(report: &'r mut Report<'a>, env: &'r dyn Fn(&str) -> Option<String>) -> Self {
        Checker { report, env }
    }

    /// Builds the config, recording every problem on the way. The result is only used when no
    /// problem was recorded.
    pub(crate) fn check(mut self, file: &Path, raw: RawFile) -> Option<Config> {
        // Where the file wrote the listen address, unless the environment overrides it.
        let listen_at = raw
            .daemon
            .listen
            .as_ref()
            .filter(|_| (self.env)("BOARDSYNC_LISTEN").is_none())
            .map(Spanned::span);
        let daemon = self.daemon(raw.daemon);
        let dashboard = self.dashboard(raw.dashboard, daemon.listen, listen_at);
        let miro = raw.miro.map(|m| MiroSettings {
            api_url: self.http_url(m.api_url.as_ref(), "api_url", DEFAULT_MIRO_API_URL),
            token: Secret::new(m.token),
            client_secret: m.client_secret.map(Secret::new),
            org_id: m.org_id,
            webhooks: m.webhooks,
        });
        let monday = raw.monday.map(|m| MondaySettings {
            api_url: self.http_url(m.api_url.as_ref(), "api_url", DEFAULT_MONDAY_API_URL),
            token: Secret::new(m.token),
            signing_secret: m.signing_secret.map(Secret::new),
            webhook_secret: m.webhook_secret.map(Secret::new),
            api_version: m
                .api_version
                .unwrap_or_else(|| DEFAULT_MONDAY_API_VERSION.to_owned()),
        });
        let ingress = IngressSettings {
            body_limit: raw.ingress.body_limit.unwrap_or(ByteSize(1 << 20)),
            dedupe_ttl: raw
                .ingress
                .dedupe_ttl
                .unwrap_or(Duration::from_secs(7 * 86_400)),
            keep_raw: raw
                .ingress
                .keep_raw
                .unwrap_or(Duration::from_secs(7 * 86_400)),
            pending_ttl: raw.ingress.pending_ttl.unwrap_or(Duration::from_secs(30)),
            redis_prefix: raw
                .ingress
                .redis_prefix
                .unwrap_or_else(|| "boardsync".to_owned()),
            redis_timeout: raw
                .ingress
                .redis_timeout
                .unwrap_or(Duration(std::time::Duration::from_millis(250))),
        };
        let sync = SyncSettings {
            max_loop_returns: raw.sync.max_loop_returns.unwrap_or(30).max(1),
            max_attempts: raw.sync.max_attempts.unwrap_or(10).max(1),
            retention: raw
                .sync
                .retention
                .unwrap_or(Duration::from_secs(30 * 86_400)),
        };
        let poller = self.poller(&raw.poller);
        let pairs: Vec<PairConfig> = raw.pairs.iter().filter_map(|p| self.pair(p)).collect();
        self.pairs_apart(&raw.pairs);
        Some(Config {
            source: file.to_owned(),
            daemon,
            miro: miro?,
            monday: monday?,
            ingress,
            sync,
            poller,
            dashboard,
            pairs,
        })
    }
}
