//! Reading the mappings file: TOML with spans, `${VAR}` expansion, one typed section at a time, so
//! that a file with several mistakes reports all of them, each as `FILE:LINE:COL: message`.
//! `Config::load` and `Config::parse` are here, beside the reading they start.

use super::raw::RawFile;
use super::report::{ConfigError, Report};
use super::settings::Config;
use super::validate::Checker;
use serde::de::DeserializeOwned;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

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
        parse(path, text, env)
    }
}

const SECTIONS: &str =
    "`daemon`, `miro`, `monday`, `ingress`, `sync`, `poller`, `dashboard`, `pair`";

fn parse(
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
}
