//! The command line's shape: the `boardsync` command, its subcommands and their flags, as clap
//! reads them. What each subcommand does is in the sibling files.

use crate::app::Role;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "boardsync",
    version,
    about = "Two-way sync between Miro boards and monday.com boards",
    long_about = "boardsync keeps Miro boards and monday.com boards in step, both ways: sticky notes and \
cards on Miro, items and columns on monday. You describe which boards go together and which fields \
map to which columns in a mappings file (TOML; see docs/mappings.md), check it with `boardsync check`, \
and run the daemon with `boardsync run`.",
    after_help = "Times on the command line are RFC 3339, e.g. 2026-11-24T09:30:00Z."
)]
pub(crate) struct Cli {
    /// The mappings file: daemon settings and board pairs (TOML).
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "BOARDSYNC_CONFIG",
        value_name = "FILE"
    )]
    pub(super) config: Option<PathBuf>,

    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Debug, Subcommand)]
pub(super) enum Command {
    /// Run the sync daemon with the mappings file given by --config.
    ///
    /// It opens the store (DATABASE_URL or [daemon] database_url), serves the webhook receivers,
    /// /healthz and /readyz on [daemon] listen (or BOARDSYNC_LISTEN), and stops cleanly on Ctrl-C
    /// or SIGTERM. Logs go to standard error; RUST_LOG filters them and BOARDSYNC_LOG_FORMAT=json
    /// makes them JSON.
    Run {
        /// Which parts to run: `ingest` (receivers and inbox), `worker` (everything after the
        /// inbox), or `all`.
        #[arg(long, value_enum, default_value_t = Role::All)]
        role: Role,
    },
    /// Check a mappings file without running anything.
    ///
    /// Prints a summary of the pairs and fields when the file is valid (exit 0), or every problem
    /// as FILE:LINE:COL: message (exit 2). Secrets are never printed. With --online it also asks
    /// both APIs whether the boards, groups, frames, columns and status labels the file names
    /// exist and fit (exit 2 when one does not).
    Check {
        /// The file to check; defaults to --config.
        file: Option<PathBuf>,
        /// Also check the mapping against the live boards (reads only; writes nothing).
        #[arg(long)]
        online: bool,
    },
    /// Run local stand-ins for the Miro REST API and the monday GraphQL API.
    ///
    /// Nothing leaves this machine and no credentials are needed: any token of the form
    /// sandbox-NAME is the user NAME (sandbox-app-NAME an app token of that user). It prints the
    /// api_url values to paste into a mappings file; mappings/sandbox.toml is ready-made for the
    /// default addresses. See docs/sandbox.md for its control API and what it does not imitate.
    Sandbox(SandboxArgs),
    /// See boardsync work in one command: no credentials, no servers.
    ///
    /// Starts the sandbox in-process with a Miro board and a monday board, runs the daemon
    /// against them on an SQLite file in a temp dir (DATABASE_URL is not used), and plays a small
    /// team editing both boards. Prints the dashboard URL, then one line per synced change.
    Demo {
        /// Where the daemon listens; a free port is taken when this one is busy.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Stop after this long (e.g. 30s); without it, run until Ctrl-C.
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        duration: Option<std::time::Duration>,
        /// The simulated team's random seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Show, make or remove the webhooks the mappings file needs.
    ///
    /// `sync` makes the missing ones (on monday one per board and event, and with [miro]
    /// webhooks = true one Miro board subscription per board, pointing at [daemon] public_url),
    /// `prune` deletes those boardsync made that the file no longer needs, `list` shows every
    /// webhook on the mapped boards and whether boardsync made it. Running `sync` twice changes
    /// nothing the second time.
    Subscriptions {
        #[arg(value_enum)]
        action: SubscriptionAction,
    },
    /// Requeue dead writes (outbox rows that failed for good) so the daemon tries them again.
    Replay {
        /// Only this pair's rows (its name or slug).
        #[arg(long)]
        pair: Option<String>,
        /// Only rows that died at or after this time (RFC 3339).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
    },
    /// Link the items already on both boards of a pair, and create what is missing.
    ///
    /// Items are matched by the pair's `match_by` field (the title unless set), ignoring case
    /// and spacing, and linked one-to-one; where the two disagree on a field, the pair's
    /// conflict policy picks the value both get. Items with no match are created on the other
    /// side, and keys that match several items on a side are reported and left alone. The
    /// daemon does the writes; running it twice does nothing the second time.
    Backfill {
        /// The pair's name or slug.
        #[arg(long)]
        pair: String,
        /// Read both boards and say what would be done, changing nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Read a pair's monday board once and queue what its webhooks missed.
    ///
    /// monday stops retrying a webhook after 30 minutes, so an edit made while the daemon was
    /// unreachable longer can be missed; the daemon reconciles every [poller] reconcile_interval
    /// (and at start), and this runs one round now. A linked item whose mapped fields differ from
    /// what was last synced, and an item created since the previous round, are queued as changes
    /// for the daemon (or the next `boardsync run`) to apply. The first round of a pair only
    /// records its time.
    Reconcile {
        /// The pair's name or slug.
        #[arg(long)]
        pair: String,
    },
    /// Pause a pair: its changes are still received and kept, but not applied, until resumed.
    ///
    /// Takes effect within a second in every running daemon on the same store (the dashboard's
    /// Pause button does the same).
    Pause {
        /// The pair's name or slug.
        #[arg(long)]
        pair: String,
    },
    /// Resume a paused pair: what arrived meanwhile is applied, in order.
    Resume {
        /// The pair's name or slug.
        #[arg(long)]
        pair: String,
    },
    /// Manage links between Miro items and monday items.
    Links {
        #[command(subcommand)]
        action: LinksAction,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(super) enum SubscriptionAction {
    List,
    Sync,
    Prune,
}

#[derive(Debug, Subcommand)]
pub(super) enum LinksAction {
    /// Let a quarantined link (one the loop breaker stopped) sync again.
    Release {
        /// The pair's name or slug.
        #[arg(long)]
        pair: String,
        /// The Miro or monday item id of the link.
        item_id: String,
    },
}

#[derive(Debug, clap::Args)]
pub(super) struct SandboxArgs {
    /// Where the Miro stand-in listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
    pub(super) miro_listen: SocketAddr,
    /// Where the monday stand-in listens (its API is at /v2).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8082")]
    pub(super) monday_listen: SocketAddr,
    /// A JSON file of users, boards and items to start with (docs/sandbox.md).
    #[arg(long, value_name = "FILE")]
    pub(super) seed: Option<PathBuf>,
    /// Seconds between monday's retries of a failed webhook delivery (monday: 60).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub(super) webhook_retry_interval: u64,
    /// The Miro app client secret and monday app signing secret the sandbox signs with.
    #[arg(long, default_value = crate::sandbox::DEFAULT_SECRET)]
    pub(super) secret: String,
    /// Miro credits per token per minute.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub(super) miro_credits: u64,
    /// monday complexity points per token per minute.
    #[arg(long, value_name = "N", default_value_t = 10_000_000)]
    pub(super) monday_complexity: u64,
    /// monday calls per token per UTC day (default: no cap).
    #[arg(long, value_name = "N")]
    pub(super) monday_daily_cap: Option<u64>,
}
