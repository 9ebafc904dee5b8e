//! The `boardsync` command: see `boardsync --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    boardsync::cli::main()
}
