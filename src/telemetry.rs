//! Logging: human-readable lines by default, JSON with `BOARDSYNC_LOG_FORMAT=json`, filtered by
//! `RUST_LOG` (default `info`; `warn` for commands whose output is the point, such as the demo).
//! Logs go to standard error, so command output stays clean.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

pub fn init() {
    init_with_default("info");
}

/// Like [`init`], with `level` when `RUST_LOG` is not set.
pub(crate) fn init_with_default(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let json = std::env::var("BOARDSYNC_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // A second init (tests that build several apps in one process) keeps the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
