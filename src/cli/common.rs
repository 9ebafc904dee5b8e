//! What every subcommand shares: the exit codes, loading the mappings file, starting the async
//! runtime, and saying a failure in one line.

use crate::config::Config;
use std::path::Path;
use std::process::ExitCode;

/// Exit code for a mappings file that does not pass its checks.
pub(super) const EXIT_INVALID: u8 = 2;
/// Exit code for a failure to start or run.
const EXIT_FAILED: u8 = 1;

/// Loads the file, or prints every problem in it.
pub(super) fn load(path: &Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|err| {
        eprintln!("{err}");
        let n = err.problems.len();
        eprintln!(
            "{}: {n} problem{}",
            path.display(),
            if n == 1 { "" } else { "s" }
        );
        ExitCode::from(EXIT_INVALID)
    })
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(&anyhow::Error::new(e).context("cannot start the async runtime")))
}

/// One line a person can act on: the error and its causes, joined, each said once (some errors
/// repeat their cause in their own message).
pub(super) fn fail(e: &anyhow::Error) -> ExitCode {
    let mut line = String::new();
    for cause in e.chain() {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&cause);
        }
    }
    eprintln!("boardsync: error: {line}");
    ExitCode::from(EXIT_FAILED)
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
