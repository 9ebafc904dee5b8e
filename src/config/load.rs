//! Reading the mappings file: TOML with spans, `${VAR}` expansion, one typed section at a time, so
//! that a file with several mistakes reports all of them, each as `FILE:LINE:COL: message`.

use super::units::{ByteSize, Duration, Share};
use super::validate::Checker;
use super::{Config, ConflictPolicy, DeletePolicy, Direction, MiroAs};
use crate::domain::miro::ItemType;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One thing wrong with a mappings file, with where it is when that is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line and column.
    pub at: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((line, col)) => {
                write!(f, "{}:{line}:{col}: {}", self.file.display(), self.message)
            }
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Every problem found in a mappings file, in the order they appear in it.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl ConfigError {
    pub(crate) fn single(file: &Path, message: String) -> ConfigError {
        ConfigError {
            problems: vec![Problem {
                file: file.to_owned(),
                at: None,
                message,
            }],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Collects problems against the file's text, turning byte offsets into lines and columns.
pub(crate) struct Report<'a> {
    file: &'a Path,
    text: &'a str,
    problems: Vec<(usize, Problem)>,
}

impl<'a> Report<'a> {
    fn new(file: &'a Path, text: &'a str) -> Self {
        Report {
            file,
            text,
            problems: Vec::new(),
        }
    }

    /// The 1-based line of a byte offset.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.text[..offset].matches('\n').count() + 1
    }

    /// A problem at byte `span.start` of the file.
    pub(crate) fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let offset = span.start.min(self.text.len());
        let before = &self.text[..offset];
        let line = self.line_of(offset);
        let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        self.problems.push((
            offset,
            Problem {
                file: self.file.to_owned(),
                at: Some((line, col)),
                message: message.into(),
            },
        ));
    }

    /// A problem that belongs to no place in the file (an environment override, say).
    pub(crate) fn general(&mut self, message: impl Into<String>) {
        self.problems.push((
            usize::MAX,
            Problem {
                file: self.file.to_owned(),
                at: None,
                message: message.into(),
            },
        ));
    }

    fn toml_error(&mut self, err: &toml::de::Error, fallback: Range<usize>) {
        let message = err.message().trim().to_owned();
        self.at(err.span().unwrap_or(fallback), message);
    }

    fn finish(mut self) -> Result<(), ConfigError> {
        if self.problems.is_empty() {
            return Ok(());
        }
        self.problems.sort_by_key(|(offset, _)| *offset);
        self.problems.dedup_by(|a, b| a.1 == b.1);
        Err(ConfigError {
            problems: self.problems.into_iter().map(|(_, p)| p).collect(),
        })
    }
}

// The shape of the file, as written. Fields that later checks must point at are `Spanned`.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDaemon {
    pub listen: Option<Spanned<String>>,
    pub public_url: Option<Spanned<String>>,
    pub database_url: Option<Spanned<String>>,
    pub redis_url: Option<Spanned<String>>,
    pub shutdown_timeout: Option<Duration>,
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

const SECTIONS: &str =
    "`daemon`, `miro`, `monday`, `ingress`, `sync`, `poller`, `dashboard`, `pair`";

pub(super) fn parse(
    file: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let mut report = Report::new(file, text);
    let mut root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(err) => {
            report.toml_error(&err, 0..0);
            return Err(report.finish().expect_err("a syntax error was recorded"));
        }
    };
    let whole = root.span();
    for (span, message) in expand_env_in_table(root.get_mut(), env) {
        report.at(span, message);
    }

    let raw = read_sections(root.into_inner(), whole, &mut report);
    let config = Checker::new(&mut report, env).check(file, raw);
    report.finish()?;
    Ok(config.expect("a file without problems yields a config"))
}

/// Reads each top-level section into its typed form, so a mistake in one does not hide the
/// mistakes in the others.
fn read_sections(root: DeTable<'_>, whole: Range<usize>, report: &mut Report<'_>) -> RawFile {
    let mut raw = RawFile::default();
    let mut saw_miro = false;
    let mut saw_monday = false;
    for (key, value) in root {
        let key_span = key.span();
        match key.get_ref().as_ref() {
            "daemon" => raw.daemon = section(value, report).unwrap_or_default(),
            "miro" => {
                saw_miro = true;
                raw.miro = section(value, report);
            }
            "monday" => {
                saw_monday = true;
                raw.monday = section(value, report);
            }
            "ingress" => raw.ingress = section(value, report).unwrap_or_default(),
            "sync" => raw.sync = section(value, report).unwrap_or_default(),
            "poller" => raw.poller = section(value, report).unwrap_or_default(),
            "dashboard" => raw.dashboard = section(value, report).unwrap_or_default(),
            "pair" => match value.into_inner() {
                DeValue::Array(pairs) => {
                    raw.pairs = pairs
                        .into_iter()
                        .filter_map(|p| section(p, report))
                        .collect()
                }
                _ => report.at(key_span, "`pair` must be written as [[pair]] tables"),
            },
            other => report.at(
                key_span,
                format!("unknown section `{other}`, expected one of {SECTIONS}"),
            ),
        }
    }
    if !saw_miro {
        report.at(whole.start..whole.start, "missing section [miro]");
    }
    if !saw_monday {
        report.at(whole.start..whole.start, "missing section [monday]");
    }
    raw
}

fn section<T: DeserializeOwned>(value: Spanned<DeValue<'_>>, report: &mut Report<'_>) -> Option<T> {
    let span = value.span();
    match T::deserialize(toml::de::ValueDeserializer::from(value)) {
        Ok(v) => Some(v),
        Err(err) => {
            report.toml_error(&err, span);
            None
        }
    }
}

/// Replaces `${NAME}` in every string of the table with the variable's value, returning a problem
/// (with the string's span) for each variable that is not set.
fn expand_env_in_table(
    table: &mut DeTable<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<(Range<usize>, String)> {
    let mut problems = Vec::new();
    for (_, value) in table.iter_mut() {
        expand_env_in_value(value, env, &mut problems);
    }
    problems
}

fn expand_env_in_value(
    value: &mut Spanned<DeValue<'_>>,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<(Range<usize>, String)>,
) {
    let span = value.span();
    match value.get_mut() {
        DeValue::String(s) if s.contains("${") => match expand_env(s, env) {
            Ok(expanded) => *s = expanded.into(),
            Err(messages) => problems.extend(messages.into_iter().map(|m| (span.clone(), m))),
        },
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                expand_env_in_value(item, env, problems);
            }
        }
        DeValue::Table(table) => problems.extend(expand_env_in_table(table, env)),
        _ => {}
    }
}

/// Expands `${NAME}` references; `$` anywhere else stands for itself.
pub(crate) fn expand_env(
    s: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Vec<String>> {
    let mut out = String::with_capacity(s.len());
    let mut errors = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            errors.push("`${` without a closing `}`".to_owned());
            rest = "";
            break;
        };
        let name = &after[..end];
        let valid = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            errors.push(format!(
                "`${{{name}}}` is not a valid environment variable name"
            ));
        } else {
            match env(name) {
                Some(v) => out.push_str(&v),
                None => errors.push(format!("environment variable {name} is not set")),
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("t0k3n".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expansion_replaces_every_reference() {
        assert_eq!(expand_env("a${TOKEN}b${EMPTY}c", &env).unwrap(), "at0k3nbc");
        assert_eq!(expand_env("cost: $5", &env).unwrap(), "cost: $5");
    }

    #[test]
    fn expansion_names_every_missing_variable() {
        let errs = expand_env("${NOPE} and ${NEITHER}", &env).unwrap_err();
        assert_eq!(
            errs,
            vec![
                "environment variable NOPE is not set".to_owned(),
                "environment variable NEITHER is not set".to_owned()
            ]
        );
        assert!(expand_env("${1BAD}", &env).is_err());
        assert!(expand_env("${OPEN", &env).is_err());
    }

    #[test]
    fn problems_print_as_file_line_column_message() {
        let text = "a = 1\nbb = 2\n";
        let mut report = Report::new(Path::new("m.toml"), text);
        report.at(7..8, "wrong");
        let err = report.finish().unwrap_err();
        assert_eq!(err.to_string(), "m.toml:2:2: wrong");
    }
}
