//! The rules for the daemon-wide sections: `[daemon]`, `[dashboard]`, `[poller]`, and the URLs
//! and addresses they hold, each of which an environment variable may override.

use super::checker::Checker;
use crate::config::raw::{RawDaemon, RawDashboard, RawPoller};
use crate::config::settings::{
    DEFAULT_DATABASE_URL, DEFAULT_LISTEN, DaemonSettings, DashboardSettings, PollerSettings, Secret,
};
use crate::config::units::{Duration, Share};
use std::net::SocketAddr;
use toml::Spanned;
use url::Url;

/// `[daemon] max_connections` when unset: far above what Miro and monday open, and below the
/// open-file limit the daemon asks for at start.
const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// The largest `max_connections` accepted.
const MAX_MAX_CONNECTIONS: usize = 1_000_000;

impl<'r, 'a> Checker<'r, 'a> {
    /// `[dashboard]`, with `BOARDSYNC_DASHBOARD_TOKEN` over the file's `token`. A daemon listening
    /// beyond loopback must have a token: without one, anyone who reaches the port could read
    /// the boards' state and pause pairs or replay dead letters.
    pub(super) fn dashboard(
        &mut self,
        raw: RawDashboard,
        listen: SocketAddr,
        listen_at: Option<std::ops::Range<usize>>,
    ) -> DashboardSettings {
        let token = match (self.env)("BOARDSYNC_DASHBOARD_TOKEN").filter(|t| !t.is_empty()) {
            Some(token) => Some(Secret::new(token)),
            None => raw.token.and_then(|t| {
                if t.get_ref().is_empty() {
                    self.report.at(
                        t.span(),
                        "`token` must not be empty; leave it out to run without one on loopback",
                    );
                    return None;
                }
                Some(Secret::new(t.into_inner()))
            }),
        };
        if token.is_none() && !listen.ip().to_canonical().is_loopback() {
            let why = format!(
                "is {listen}, not a loopback address: the dashboard would be open to anyone who can reach it; set `[dashboard] token` (or BOARDSYNC_DASHBOARD_TOKEN), or listen on 127.0.0.1"
            );
            match listen_at {
                Some(span) => self.report.at(span, format!("`listen` {why}")),
                None => self.report.general(format!("BOARDSYNC_LISTEN {why}")),
            }
        }
        DashboardSettings { token }
    }

    pub(super) fn poller(&mut self, raw: &RawPoller) -> PollerSettings {
        let get = |v: &Option<Spanned<Duration>>, default: u64| {
            v.as_ref()
                .map_or(Duration::from_secs(default), |d| *d.get_ref())
        };
        let interval = get(&raw.interval, 5);
        // An interval set without bounds is kept as it is: `interval = "5m"` scans every five
        // minutes, busy or not. Unset, the scan adapts between 1s and 1m, starting at 5s.
        let fixed = raw.interval.is_some();
        let bound = |v: &Option<Spanned<Duration>>, default: u64| {
            if v.is_none() && fixed {
                interval
            } else {
                get(v, default)
            }
        };
        let poller = PollerSettings {
            interval,
            min_interval: bound(&raw.min_interval, 1),
            max_interval: bound(&raw.max_interval, 60),
            credit_share: raw
                .credit_share
                .as_ref()
                .map_or(Share(0.5), |s| *s.get_ref()),
            reconcile_interval: get(&raw.reconcile_interval, 3600),
            content_log_interval: get(&raw.content_log_interval, 30),
            lease: get(&raw.lease, 15),
        };
        let secs = |d: Duration| d.0.as_secs_f64();
        if let Some(min) = &raw.min_interval
            && secs(poller.min_interval) < 1.0
        {
            self.report.at(
                min.span(),
                "`min_interval` must be at least 1s: Miro counts every listing against the credits",
            );
        }
        if let Some(max) = &raw.max_interval
            && poller.max_interval < poller.min_interval
        {
            self.report.at(
                max.span(),
                "`max_interval` must not be shorter than `min_interval`",
            );
        }
        if let Some(i) = &raw.interval
            && (poller.interval < poller.min_interval || poller.interval > poller.max_interval)
        {
            self.report.at(
                i.span(),
                format!(
                    "`interval` must lie between `min_interval` ({}) and `max_interval` ({})",
                    poller.min_interval, poller.max_interval
                ),
            );
        }
        if let Some(s) = &raw.credit_share
            && poller.credit_share.0 <= 0.0
        {
            self.report.at(
                s.span(),
                "`credit_share` must be above 0, or the pollers could never read Miro",
            );
        }
        if let Some(c) = &raw.content_log_interval
            && secs(poller.content_log_interval) < 10.0
        {
            self.report.at(
                c.span(),
                "`content_log_interval` must be at least 10s: each read of the content logs costs 2,000 credits",
            );
        }
        for (value, key) in [
            (&raw.reconcile_interval, "reconcile_interval"),
            (&raw.lease, "lease"),
        ] {
            if let Some(v) = value
                && secs(*v.get_ref()) < 1.0
            {
                self.report
                    .at(v.span(), format!("`{key}` must be at least 1s"));
            }
        }
        poller
    }

    pub(super) fn daemon(&mut self, raw: RawDaemon) -> DaemonSettings {
        let listen = match (self.env)("BOARDSYNC_LISTEN") {
            Some(value) => value.parse().unwrap_or_else(|_| {
                self.report.general(format!(
                    "BOARDSYNC_LISTEN=`{value}` is not an address such as 127.0.0.1:8080"
                ));
                DEFAULT_LISTEN.parse().expect("default listen address")
            }),
            None => match &raw.listen {
                Some(l) => l.get_ref().parse().unwrap_or_else(|_| {
                    self.report.at(
                        l.span(),
                        format!("`{}` is not an address such as 127.0.0.1:8080", l.get_ref()),
                    );
                    DEFAULT_LISTEN.parse().expect("default listen address")
                }),
                None => DEFAULT_LISTEN.parse().expect("default listen address"),
            },
        };
        let public_url = raw
            .public_url
            .as_ref()
            .map(|u| self.http_url(Some(u), "public_url", ""));

        let database_url = self.url_setting(
            "DATABASE_URL",
            raw.database_url,
            &["sqlite", "postgres", "postgresql"],
            "`database_url` must start with sqlite:// or postgres://",
        );
        let redis_url = self.url_setting(
            "REDIS_URL",
            raw.redis_url,
            &["redis", "rediss"],
            "`redis_url` must start with redis:// or rediss://",
        );
        DaemonSettings {
            listen,
            public_url,
            database_url: database_url
                .unwrap_or_else(|| Secret::new(DEFAULT_DATABASE_URL.to_owned())),
            redis_url,
            shutdown_timeout: raw.shutdown_timeout.unwrap_or(Duration::from_secs(5)),
            store_timeout: raw.store_timeout.unwrap_or(Duration::from_secs(2)),
            store_start_timeout: raw.store_start_timeout.unwrap_or(Duration::from_secs(30)),
            header_read_timeout: self.positive(raw.header_read_timeout, "header_read_timeout", 10),
            body_read_timeout: self.positive(raw.body_read_timeout, "body_read_timeout", 30),
            max_connections: match raw.max_connections {
                None => DEFAULT_MAX_CONNECTIONS,
                Some(n) => match usize::try_from(*n.get_ref()) {
                    Ok(v) if (1..=MAX_MAX_CONNECTIONS).contains(&v) => v,
                    _ => {
                        self.report.at(
                            n.span(),
                            format!(
                                "`max_connections` must be between 1 and {MAX_MAX_CONNECTIONS}"
                            ),
                        );
                        DEFAULT_MAX_CONNECTIONS
                    }
                },
            },
            manage_subscriptions: raw.manage_subscriptions.unwrap_or(true),
        }
    }

    /// A duration that must be longer than zero (`default_secs` when absent).
    fn positive(
        &mut self,
        value: Option<Spanned<Duration>>,
        key: &str,
        default_secs: u64,
    ) -> Duration {
        match value {
            None => Duration::from_secs(default_secs),
            Some(v) if v.get_ref().0.is_zero() => {
                self.report
                    .at(v.span(), format!("`{key}` must be longer than zero"));
                Duration::from_secs(default_secs)
            }
            Some(v) => v.into_inner(),
        }
    }

    /// A URL setting that an environment variable overrides, checked for its scheme.
    fn url_setting(
        &mut self,
        var: &str,
        from_file: Option<Spanned<String>>,
        schemes: &[&str],
        message: &str,
    ) -> Option<Secret> {
        let scheme_ok = |s: &str| {
            s.split_once("://")
                .is_some_and(|(scheme, _)| schemes.contains(&scheme))
        };
        if let Some(value) = (self.env)(var).filter(|v| !v.is_empty()) {
            if !scheme_ok(&value) {
                self.report.general(format!("{var}: {message}"));
            }
            return Some(Secret::new(value));
        }
        let value = from_file?;
        if !scheme_ok(value.get_ref()) {
            self.report.at(value.span(), message);
        }
        Some(Secret::new(value.into_inner()))
    }

    /// An http(s) URL setting, or its default when absent.
    pub(super) fn http_url(
        &mut self,
        value: Option<&Spanned<String>>,
        key: &str,
        default: &str,
    ) -> Url {
        let fallback = || Url::parse("http://invalid.invalid").expect("static URL");
        let Some(value) = value else {
            return Url::parse(default).unwrap_or_else(|_| fallback());
        };
        match Url::parse(value.get_ref()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => url,
            Ok(url) => {
                self.report.at(
                    value.span(),
                    format!(
                        "`{key}` must be an http:// or https:// URL, not {}://",
                        url.scheme()
                    ),
                );
                fallback()
            }
            Err(e) => {
                self.report
                    .at(value.span(), format!("`{key}` is not a URL ({e})"));
                fallback()
            }
        }
    }
}
