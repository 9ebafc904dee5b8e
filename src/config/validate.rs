//! The rules a mappings file must follow beyond its shape: names, boards, item types, fields,
//! value maps, filters and URLs. Every rule reports at the line and column of what breaks it, and
//! all of them run, so one `boardsync check` shows every problem at once.

use super::load::{BoardNumber, RawDashboard, RawField, RawFile, RawMiroSide, RawPair, Report};
use super::units::{ByteSize, Duration};
use super::*;
use crate::domain::miro::{FieldValues, ItemType, field_values};
use crate::domain::slug;
use std::collections::{BTreeMap, HashMap};
use toml::Spanned;

pub(super) struct Checker<'r, 'a> {
    report: &'r mut Report<'a>,
    env: &'r dyn Fn(&str) -> Option<String>,
}

impl<'r, 'a> Checker<'r, 'a> {
    pub(super) fn new(report: &'r mut Report<'a>, env: &'r dyn Fn(&str) -> Option<String>) -> Self {
        Checker { report, env }
    }

    /// Builds the config, recording every problem on the way. The result is only used when no
    /// problem was recorded.
    pub(super) fn check(mut self, file: &Path, raw: RawFile) -> Option<Config> {
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

    /// `[dashboard]`, with `BOARDSYNC_DASHBOARD_TOKEN` over the file's `token`. A daemon listening
    /// beyond loopback must have a token: without one, anyone who reaches the port could read
    /// the boards' state and pause pairs or replay dead letters.
    fn dashboard(
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

    fn poller(&mut self, raw: &super::load::RawPoller) -> PollerSettings {
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

    fn daemon(&mut self, raw: super::load::RawDaemon) -> DaemonSettings {
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
            manage_subscriptions: raw.manage_subscriptions.unwrap_or(true),
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
    fn http_url(&mut self, value: Option<&Spanned<String>>, key: &str, default: &str) -> Url {
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

    fn pair(&mut self, raw: &RawPair) -> Option<PairConfig> {
        let name = raw.name.get_ref().trim().to_owned();
        let slug = slug(&name);
        if slug.is_empty() {
            self.report.at(
                raw.name.span(),
                "a pair name needs at least one letter or digit (it becomes the pair's URL slug)",
            );
        }
        let miro_board = raw.miro_board.get_ref().trim();
        if miro_board.is_empty() {
            self.report
                .at(raw.miro_board.span(), "`miro_board` must not be empty");
        }
        let monday_board = match raw.monday_board.get_ref() {
            BoardNumber::Number(n) if *n > 0 => n.to_string(),
            BoardNumber::Text(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.clone()
            }
            _ => {
                self.report.at(
                    raw.monday_board.span(),
                    "`monday_board` must be a board id: a positive integer or a string of digits",
                );
                String::new()
            }
        };

        let miro_items = self.item_types(raw);
        let miro_new_item = match &raw.miro_new_item {
            Some(t) if !miro_items.contains(t.get_ref()) => {
                self.report.at(
                    t.span(),
                    format!(
                        "`miro_new_item` is {}, which is not in this pair's `miro_items`; items born on monday would never sync back",
                        t.get_ref()
                    ),
                );
                *t.get_ref()
            }
            Some(t) => *t.get_ref(),
            None => miro_items.first().copied().unwrap_or(ItemType::StickyNote),
        };

        let fields = self.fields(raw, &miro_items);
        let miro_filter = raw
            .miro_filter
            .as_ref()
            .map(|f| MiroFilter {
                frame: f.get_ref().frame.clone(),
                tag: f.get_ref().tag.clone(),
            })
            .unwrap_or_default();
        let monday_filter = raw
            .monday_filter
            .as_ref()
            .map(|f| MondayFilter {
                groups: f.get_ref().groups.clone(),
            })
            .unwrap_or_default();
        self.landing_places_pass_filters(raw, &miro_filter, &monday_filter);
        let match_by = self.match_by(raw, &fields);

        Some(PairConfig {
            name,
            slug,
            miro_board: MiroBoardId(miro_board.to_owned()),
            monday_board: MondayBoardId(monday_board),
            miro_items,
            miro_new_item,
            monday_group: raw.monday_group.as_ref().map(|g| g.get_ref().clone()),
            miro_frame: raw.miro_frame.as_ref().map(|f| f.get_ref().clone()),
            conflict: raw.conflict,
            on_delete: raw.on_delete,
            sync_existing: raw.sync_existing,
            match_by,
            fields,
            miro_filter,
            monday_filter,
        })
    }

    /// The field existing items are matched by: `match_by`, or the one mapped to the item name.
    fn match_by(&mut self, raw: &RawPair, fields: &[FieldMapping]) -> Option<String> {
        let Some(m) = &raw.match_by else {
            if raw.sync_existing && !fields.iter().any(|f| f.monday == "name") {
                self.report.at(
                    raw.name.span(),
                    "`sync_existing` matches existing items by the field mapped to the monday item name, and this pair maps none; set `match_by` to the field to match by",
                );
            }
            return None;
        };
        if !fields.iter().any(|f| &f.name == m.get_ref()) {
            let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            self.report.at(
                m.span(),
                format!(
                    "`match_by` is `{}`, which is not a field of this pair (its fields: {})",
                    m.get_ref(),
                    names.join(", ")
                ),
            );
        }
        Some(m.get_ref().clone())
    }

    fn item_types(&mut self, raw: &RawPair) -> Vec<ItemType> {
        let Some(items) = &raw.miro_items else {
            return vec![ItemType::StickyNote];
        };
        if items.get_ref().is_empty() {
            self.report.at(
                items.span(),
                "`miro_items` must name at least one item type, such as \"sticky_note\"",
            );
        }
        let mut types = Vec::new();
        for t in items.get_ref() {
            if types.contains(t.get_ref()) {
                self.report
                    .at(t.span(), format!("{} is listed twice", t.get_ref()));
            } else {
                types.push(*t.get_ref());
            }
        }
        types
    }

    fn fields(&mut self, raw: &RawPair, types: &[ItemType]) -> Vec<FieldMapping> {
        if raw.fields.get_ref().is_empty() {
            self.report.at(
                raw.fields.span(),
                "`[pair.fields]` must map at least one field, e.g. title = { miro = \"data.content\", monday = \"name\" }",
            );
        }
        let mut fields = Vec::new();
        let mut monday_columns: HashMap<String, String> = HashMap::new();
        let mut miro_paths: HashMap<(ItemType, String), String> = HashMap::new();
        // Fields in file order, so "mapped twice" points at the later one.
        let mut entries: Vec<_> = raw.fields.get_ref().iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        for (key, field) in entries {
            let name = key.get_ref().clone();
            let f = field.get_ref();
            let miro = self.miro_side(f, types);
            let monday = f.monday.get_ref().trim().to_owned();
            // A value may be read by several fields, but written by one only: two fields writing
            // one column (or one Miro field) would overwrite each other on every change.
            if monday.is_empty() {
                self.report
                    .at(f.monday.span(), "`monday` must name `name` or a column id");
            } else if f.direction.to_monday()
                && let Some(first) = monday_columns.insert(monday.clone(), name.clone())
            {
                self.report.at(
                    f.monday.span(),
                    format!("monday column `{monday}` is already written by field `{first}`; map it once, or make one of them direction = \"monday_to_miro\""),
                );
            }
            for t in types {
                let Some(path) = miro.path_for(*t) else {
                    continue;
                };
                if !f.direction.to_miro() {
                    continue;
                }
                if let Some(first) = miro_paths.insert((*t, path.to_owned()), name.clone()) {
                    self.report.at(
                        f.miro.span(),
                        format!("Miro {t} field `{path}` is already written by field `{first}`; map it once, or make one of them direction = \"miro_to_monday\""),
                    );
                }
            }
            let values = self.value_map(f, &miro, &monday, types);
            let miro_as = self.comments(f, &miro, &monday, types);
            fields.push(FieldMapping {
                name,
                miro,
                monday,
                direction: f.direction,
                values,
                miro_as,
            });
        }
        fields
    }

    fn miro_side(&mut self, f: &RawField, types: &[ItemType]) -> MiroSide {
        let span = f.miro.span();
        match f.miro.get_ref() {
            RawMiroSide::One(path) => {
                for t in types {
                    if !t.has_field(path) {
                        self.report.at(
                            span.clone(),
                            format!(
                                "`{path}` is not a field of {t} items (they have {}); map it per type, e.g. miro = {{ {t} = \"{}\" }}",
                                t.fields().join(", "),
                                t.fields()[0]
                            ),
                        );
                    }
                }
                MiroSide::All(path.clone())
            }
            RawMiroSide::PerType(paths) => {
                let mut by_type = BTreeMap::new();
                if paths.is_empty() {
                    self.report
                        .at(span.clone(), "the per-type table of `miro` is empty");
                }
                for (type_name, path) in paths {
                    let Some(t) = ItemType::parse(type_name) else {
                        let known: Vec<&str> = ItemType::ALL.iter().map(|t| t.as_str()).collect();
                        self.report.at(
                            span.clone(),
                            format!(
                                "unknown Miro item type `{type_name}`, expected one of {}",
                                known.join(", ")
                            ),
                        );
                        continue;
                    };
                    if !types.contains(&t) {
                        self.report.at(
                            span.clone(),
                            format!("{t} is not in this pair's `miro_items`"),
                        );
                    } else if !t.has_field(path) {
                        self.report.at(
                            span.clone(),
                            format!(
                                "`{path}` is not a field of {t} items (they have {})",
                                t.fields().join(", ")
                            ),
                        );
                    }
                    by_type.insert(t, path.clone());
                }
                MiroSide::PerType(by_type)
            }
        }
    }

    /// Miro comments and monday updates go together and with nothing else; `miro_as` belongs to
    /// them, and its app-card form to pairs that sync app cards. The comments field's `miro_as`
    /// (`text` unless set), or `None` for other fields.
    fn comments(
        &mut self,
        f: &RawField,
        miro: &MiroSide,
        monday: &str,
        types: &[ItemType],
    ) -> Option<MiroAs> {
        let paths: Vec<&str> = types.iter().filter_map(|t| miro.path_for(*t)).collect();
        let miro_comments = !paths.is_empty() && paths.iter().all(|p| *p == MIRO_COMMENTS);
        let is_updates = monday == MONDAY_UPDATES;
        if is_updates && !miro_comments {
            self.report.at(
                f.monday.span(),
                format!("monday `{MONDAY_UPDATES}` (the item's updates) syncs only with miro = \"{MIRO_COMMENTS}\""),
            );
        } else if !is_updates && paths.contains(&MIRO_COMMENTS) {
            self.report.at(
                f.miro.span(),
                format!("Miro `{MIRO_COMMENTS}` sync only with monday = \"{MONDAY_UPDATES}\" (the item's updates)"),
            );
        }
        let Some(miro_as) = &f.miro_as else {
            return is_updates.then_some(MiroAs::Text);
        };
        if !is_updates {
            self.report.at(
                miro_as.span(),
                format!("`miro_as` applies only to the comments field (miro = \"{MIRO_COMMENTS}\", monday = \"{MONDAY_UPDATES}\")"),
            );
        } else if *miro_as.get_ref() == MiroAs::AppCardField && !types.contains(&ItemType::AppCard)
        {
            self.report.at(
                miro_as.span(),
                "`miro_as = \"app_card_field\"` needs app_card among the pair's `miro_items`",
            );
        }
        Some(*miro_as.get_ref())
    }

    fn value_map(
        &mut self,
        f: &RawField,
        miro: &MiroSide,
        monday: &str,
        types: &[ItemType],
    ) -> Vec<(String, String)> {
        let Some(values) = &f.values else {
            return Vec::new();
        };
        let kinds: Vec<(ItemType, &str, FieldValues)> = types
            .iter()
            .filter_map(|t| miro.path_for(*t).map(|p| (*t, p, field_values(*t, p))))
            .collect();
        if monday == "name" {
            self.report.at(
                values.span(),
                "a value map cannot apply to the item name; map a status or text column instead",
            );
        }
        if let Some((t, path, _)) = kinds.iter().find(|(_, _, k)| *k == FieldValues::Free) {
            self.report.at(
                values.span(),
                format!(
                    "a value map needs a Miro field with a fixed set of values (such as style.fillColor); `{path}` of {t} items is free text"
                ),
            );
            return Vec::new();
        }
        let mut entries: Vec<_> = values.get_ref().iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        let mut by_label: HashMap<&str, &str> = HashMap::new();
        let mut out = Vec::new();
        for (miro_value, label) in entries {
            for (t, path, kind) in &kinds {
                match kind {
                    FieldValues::OneOf(allowed)
                        if !allowed.contains(&miro_value.get_ref().as_str()) =>
                    {
                        self.report.at(
                            miro_value.span(),
                            format!(
                                "`{}` is not a {t} {path} value; expected one of {}",
                                miro_value.get_ref(),
                                allowed.join(", ")
                            ),
                        );
                    }
                    FieldValues::HexColor if !is_hex_color(miro_value.get_ref()) => {
                        self.report.at(
                            miro_value.span(),
                            format!(
                                "`{}` is not a colour for {t} {path}; write it as \"#rrggbb\"",
                                miro_value.get_ref()
                            ),
                        );
                    }
                    _ => {}
                }
            }
            if label.get_ref().trim().is_empty() {
                self.report.at(
                    label.span(),
                    "a value map entry needs a non-empty monday label",
                );
            }
            if f.direction.to_miro()
                && let Some(first) = by_label.insert(label.get_ref(), miro_value.get_ref())
            {
                self.report.at(
                    miro_value.span(),
                    format!(
                        "`{first}` and `{}` both map to \"{}\", so a change on monday cannot choose between them; set direction = \"miro_to_monday\" or give each its own label",
                        miro_value.get_ref(),
                        label.get_ref()
                    ),
                );
            }
            out.push((miro_value.get_ref().clone(), label.get_ref().clone()));
        }
        out
    }

    /// Items created on one side must land where the other side's filter will see them, or they
    /// would never sync back.
    fn landing_places_pass_filters(
        &mut self,
        raw: &RawPair,
        miro_filter: &MiroFilter,
        monday_filter: &MondayFilter,
    ) {
        if let (Some(filter_frame), Some(frame)) = (&miro_filter.frame, &raw.miro_frame)
            && filter_frame != frame.get_ref()
        {
            self.report.at(
                frame.span(),
                format!(
                    "`miro_frame` is {}, but `miro_filter` only takes items in frame {filter_frame}; items born on monday would never sync back",
                    frame.get_ref()
                ),
            );
        }
        if let Some(group) = &raw.monday_group
            && !monday_filter.groups.is_empty()
            && !monday_filter.groups.contains(group.get_ref())
        {
            self.report.at(
                group.span(),
                format!(
                    "`monday_group` {} is not among `monday_filter.groups`; items born on Miro would never sync back",
                    group.get_ref()
                ),
            );
        }
    }

    /// Names must be unique, and a board may be in two pairs only if their filters tell the two
    /// pairs' items apart.
    fn pairs_apart(&mut self, pairs: &[RawPair]) {
        for (i, later) in pairs.iter().enumerate() {
            for earlier in &pairs[..i] {
                let (a, b) = (earlier.name.get_ref().trim(), later.name.get_ref().trim());
                if slug(a) == slug(b) && !slug(a).is_empty() {
                    let line = self.report.line_of(earlier.name.span().start);
                    self.report.at(
                        later.name.span(),
                        format!(
                            "pair name \"{b}\" is the same as \"{a}\" on line {line} once made a URL slug ({})",
                            slug(b)
                        ),
                    );
                }
                if earlier.miro_board.get_ref().trim() == later.miro_board.get_ref().trim()
                    && !miro_filters_disjoint(earlier, later)
                {
                    self.report.at(
                        later.miro_board.span(),
                        format!(
                            "Miro board {} is also in pair \"{a}\", and `miro_filter` does not tell the two apart (give each pair a different frame or tag)",
                            later.miro_board.get_ref().trim()
                        ),
                    );
                }
                if board_number(earlier) == board_number(later)
                    && board_number(later).is_some()
                    && !monday_filters_disjoint(earlier, later)
                {
                    self.report.at(
                        later.monday_board.span(),
                        format!(
                            "monday board {} is also in pair \"{a}\", and `monday_filter` does not tell the two apart (give each pair groups of its own)",
                            board_number(later).unwrap_or_default()
                        ),
                    );
                }
            }
        }
    }
}

fn is_hex_color(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn board_number(p: &RawPair) -> Option<String> {
    match p.monday_board.get_ref() {
        BoardNumber::Number(n) => Some(n.to_string()),
        BoardNumber::Text(s) => Some(s.trim().to_owned()),
    }
}

fn miro_filters_disjoint(a: &RawPair, b: &RawPair) -> bool {
    let (Some(fa), Some(fb)) = (&a.miro_filter, &b.miro_filter) else {
        return false;
    };
    let (fa, fb) = (fa.get_ref(), fb.get_ref());
    let differ =
        |x: &Option<String>, y: &Option<String>| matches!((x, y), (Some(x), Some(y)) if x != y);
    differ(&fa.frame, &fb.frame) || differ(&fa.tag, &fb.tag)
}

fn monday_filters_disjoint(a: &RawPair, b: &RawPair) -> bool {
    let (Some(fa), Some(fb)) = (&a.monday_filter, &b.monday_filter) else {
        return false;
    };
    let (ga, gb) = (&fa.get_ref().groups, &fb.get_ref().groups);
    !ga.is_empty() && !gb.is_empty() && !ga.iter().any(|g| gb.contains(g))
}
