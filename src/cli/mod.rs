//! The command line. Each subcommand is a small function; the daemon itself lives in `app`.
//!
//! This file parses the command line and sends each subcommand to its function: `check.rs` for
//! `check`, `run.rs` for `run`, `sandbox` and `demo`, `admin.rs` for the commands that act
//! through the store. The flags are in `args.rs`, what all share in `common.rs`; none of them
//! imports this file.

mod admin;
mod args;
mod check;
mod common;
mod run;

pub(crate) use args::Cli;

use admin::{backfill, pause, reconcile, release, replay, subscriptions, with_engine};
use args::{Command, LinksAction};
use check::check;
use clap::Parser;
use common::EXIT_INVALID;
use run::{demo, run, sandbox};
use std::process::ExitCode;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { file, online } => match file.or(cli.config) {
            Some(path) => check(&path, online),
            None => missing_config("check"),
        },
        Command::Run { role } => match cli.config {
            Some(path) => run(&path, role),
            None => missing_config("run"),
        },
        Command::Sandbox(args) => sandbox(args),
        Command::Demo {
            listen,
            duration,
            seed,
        } => demo(crate::demo::DemoOptions {
            listen,
            duration,
            seed,
        }),
        Command::Subscriptions { action } => match cli.config {
            Some(path) => with_engine(&path, |engine| subscriptions(engine, action)),
            None => missing_config("subscriptions"),
        },
        Command::Replay { pair, since } => match cli.config {
            Some(path) => with_engine(&path, |engine| replay(engine, pair, since)),
            None => missing_config("replay"),
        },
        Command::Backfill { pair, dry_run } => match cli.config {
            Some(path) => with_engine(&path, |engine| backfill(engine, pair, dry_run)),
            None => missing_config("backfill"),
        },
        Command::Reconcile { pair } => match cli.config {
            Some(path) => with_engine(&path, |engine| reconcile(engine, pair)),
            None => missing_config("reconcile"),
        },
        Command::Pause { pair } => match cli.config {
            Some(path) => with_engine(&path, |engine| pause(engine, pair, true)),
            None => missing_config("pause"),
        },
        Command::Resume { pair } => match cli.config {
            Some(path) => with_engine(&path, |engine| pause(engine, pair, false)),
            None => missing_config("resume"),
        },
        Command::Links {
            action: LinksAction::Release { pair, item_id },
        } => match cli.config {
            Some(path) => with_engine(&path, |engine| release(engine, pair, item_id)),
            None => missing_config("links release"),
        },
    }
}

fn missing_config(command: &str) -> ExitCode {
    eprintln!(
        "boardsync {command}: no mappings file; pass --config FILE or set BOARDSYNC_CONFIG (mappings/example.toml is a start)"
    );
    ExitCode::from(EXIT_INVALID)
}
