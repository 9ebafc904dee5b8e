//! The commands that run until stopped: the daemon (`run`), the API stand-ins (`sandbox`) and
//! `demo`.

use super::args::SandboxArgs;
use super::common::{EXIT_INVALID, fail, load, runtime};
use crate::app::{App, Role, cancel_on_signal};
use std::path::Path;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

pub(super) fn run(path: &Path, role: Role) -> ExitCode {
    let config = match load(path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    crate::telemetry::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::Error::new(e).context("cannot start the async runtime")),
    };
    let result = runtime.block_on(async {
        let app = App::build(config, role).await?;
        let shutdown = CancellationToken::new();
        cancel_on_signal(shutdown.clone());
        app.run(shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

pub(super) fn sandbox(args: SandboxArgs) -> ExitCode {
    let seed = match &args.seed {
        None => None,
        Some(path) => match read_seed(path) {
            Ok(seed) => Some(seed),
            Err(message) => {
                eprintln!("{message}");
                return ExitCode::from(EXIT_INVALID);
            }
        },
    };
    let options = crate::sandbox::SandboxOptions {
        miro_listen: args.miro_listen,
        monday_listen: args.monday_listen,
        secret: args.secret,
        miro_credits: args.miro_credits,
        monday_complexity: args.monday_complexity,
        monday_daily_cap: args.monday_daily_cap,
        webhook_retry_interval: std::time::Duration::from_secs(args.webhook_retry_interval),
        seed,
    };
    crate::telemetry::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::Error::new(e).context("cannot start the async runtime")),
    };
    let result = runtime.block_on(async {
        let sandbox = crate::sandbox::Sandbox::start(options).await?;
        println!(
            "boardsync sandbox: local stand-ins for Miro and monday; any token sandbox-NAME works"
        );
        println!("paste into a mappings file (or use mappings/sandbox.toml):");
        println!("  [miro]\n  api_url = \"{}\"", sandbox.miro_api_url());
        println!("  [monday]\n  api_url = \"{}\"", sandbox.monday_api_url());
        println!(
            "control API: http://{}/_sandbox/ and http://{}/_sandbox/ (docs/sandbox.md)",
            sandbox.miro_addr(),
            sandbox.monday_addr()
        );
        println!("Ctrl-C stops it.");
        let shutdown = CancellationToken::new();
        cancel_on_signal(shutdown.clone());
        shutdown.cancelled().await;
        sandbox.stop().await;
        anyhow::Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

pub(super) fn demo(options: crate::demo::DemoOptions) -> ExitCode {
    crate::telemetry::init_with_default("warn");
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        cancel_on_signal(shutdown.clone());
        crate::demo::run(options, shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// The seed file, or a `FILE:LINE:COL: message` saying what is wrong with it.
fn read_seed(path: &Path) -> Result<crate::sandbox::Seed, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the seed file: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}:{}:{}: {}",
            path.display(),
            e.line(),
            e.column(),
            e.to_string().split(" at line").next().unwrap_or_default()
        )
    })
}
