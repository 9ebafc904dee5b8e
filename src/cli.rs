//! The command line. Each subcommand is a small function; the daemon itself lives in `app`.

use crate::app::{App, Role, cancel_on_signal};
use crate::config::{Config, Direction, PairConfig};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// Exit code for a mappings file that does not pass its checks.
const EXIT_INVALID: u8 = 2;
/// Exit code for a failure to start or run.
const EXIT_FAILED: u8 = 1;

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
pub struct Cli {
    /// The mappings file: daemon settings and board pairs (TOML).
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "BOARDSYNC_CONFIG",
        value_name = "FILE"
    )]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
enum SubscriptionAction {
    List,
    Sync,
    Prune,
}

#[derive(Debug, Subcommand)]
enum LinksAction {
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
struct SandboxArgs {
    /// Where the Miro stand-in listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
    miro_listen: SocketAddr,
    /// Where the monday stand-in listens (its API is at /v2).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8082")]
    monday_listen: SocketAddr,
    /// A JSON file of users, boards and items to start with (docs/sandbox.md).
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
    /// Seconds between monday's retries of a failed webhook delivery (monday: 60).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    webhook_retry_interval: u64,
    /// The Miro app client secret and monday app signing secret the sandbox signs with.
    #[arg(long, default_value = crate::sandbox::DEFAULT_SECRET)]
    secret: String,
    /// Miro credits per token per minute.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    miro_credits: u64,
    /// monday complexity points per token per minute.
    #[arg(long, value_name = "N", default_value_t = 10_000_000)]
    monday_complexity: u64,
    /// monday calls per token per UTC day (default: no cap).
    #[arg(long, value_name = "N")]
    monday_daily_cap: Option<u64>,
}

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

/// Loads the file, or prints every problem in it.
fn load(path: &Path) -> Result<Config, ExitCode> {
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

fn check(path: &Path, online: bool) -> ExitCode {
    let config = match load(path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    print!("{}", summary(&config));
    if !online {
        return ExitCode::SUCCESS;
    }
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let problems = runtime.block_on(async {
        let (miro, monday) = crate::clients::for_config(&config);
        crate::sync::check::check(&config, &miro, &monday).await
    });
    if problems.is_empty() {
        println!(
            "online: the boards fit the mapping ({} pair{} checked)",
            config.pairs.len(),
            plural(config.pairs.len())
        );
        return ExitCode::SUCCESS;
    }
    for problem in &problems {
        eprintln!("{}: {problem}", path.display());
    }
    eprintln!(
        "{}: {} problem{} on the live boards",
        path.display(),
        problems.len(),
        plural(problems.len())
    );
    ExitCode::from(EXIT_INVALID)
}

fn run(path: &Path, role: Role) -> ExitCode {
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

fn sandbox(args: SandboxArgs) -> ExitCode {
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

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(&anyhow::Error::new(e).context("cannot start the async runtime")))
}

fn demo(options: crate::demo::DemoOptions) -> ExitCode {
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

/// Runs `action` with an engine on the file's store and APIs: for the commands that act on what
/// a running daemon does through the shared store.
/// How long a command waits for a running daemon's write to the same SQLite file.
const COMMAND_BUSY_MS: u32 = 60_000;

fn with_engine<F, Fut>(path: &Path, action: F) -> ExitCode
where
    F: FnOnce(crate::runtime::Engine) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let config = match load(path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    crate::telemetry::init();
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        // A daemon on the same SQLite file may be writing; a command waits its turn.
        let store =
            crate::store::Store::open_waiting(config.daemon.database_url.expose(), COMMAND_BUSY_MS)
                .await?;
        let engine = crate::runtime::Engine::new(
            store.clone(),
            std::sync::Arc::new(config),
            crate::metrics::Metrics::default(),
        );
        let result = action(engine).await;
        store.close().await;
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

async fn subscriptions(
    engine: crate::runtime::Engine,
    action: SubscriptionAction,
) -> anyhow::Result<()> {
    use crate::sync::subscriptions as subs;
    let list = match action {
        SubscriptionAction::List => subs::list(&engine).await?,
        SubscriptionAction::Sync => subs::sync(&engine).await?,
        SubscriptionAction::Prune => subs::prune(&engine).await?,
    };
    if list.is_empty() {
        println!("no webhooks");
    }
    for s in list {
        println!(
            "{:<6} board {:<14} {:<22} webhook {:<10} {}",
            s.api, s.board, s.event, s.id, s.status
        );
    }
    Ok(())
}

async fn replay(
    engine: crate::runtime::Engine,
    pair: Option<String>,
    since: Option<String>,
) -> anyhow::Result<()> {
    let slug = match &pair {
        Some(name) => Some(
            engine
                .config
                .pair(name)
                .map(|p| p.slug.clone())
                .ok_or_else(|| anyhow::anyhow!("no pair named `{name}` in the mappings file"))?,
        ),
        None => None,
    };
    let since = match since {
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(&t)
                .map_err(|e| anyhow::anyhow!("--since `{t}` is not an RFC 3339 time: {e}"))?
                .timestamp_millis(),
        ),
        None => None,
    };
    let n = engine
        .store
        .requeue_dead(slug.as_deref(), since, engine.clock.now_ms())
        .await?;
    println!("requeued {n} dead write{}", if n == 1 { "" } else { "s" });
    Ok(())
}

async fn backfill(
    engine: crate::runtime::Engine,
    pair: String,
    dry_run: bool,
) -> anyhow::Result<()> {
    let config = engine.config.clone();
    let pair = config
        .pair(&pair)
        .ok_or_else(|| anyhow::anyhow!("no pair named `{pair}` in the mappings file"))?;
    let progress = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg:<24} {pos}/{len} items")
            .expect("a valid template"),
    );
    progress.enable_steady_tick(std::time::Duration::from_millis(120));
    let report = crate::pollers::backfill::backfill(&engine, pair, dry_run, &progress).await;
    progress.finish_and_clear();
    let r = report?;
    let (verb, note) = if dry_run {
        ("would ", "dry run: nothing changed")
    } else {
        (
            "",
            "creates are queued: a running daemon makes them, or the next `boardsync run`",
        )
    };
    println!("pair `{}` ({note})", pair.name);
    let lines = [
        (
            format!("{verb}link"),
            r.linked,
            format!(
                "{} with a field brought over from the winning side",
                r.reconciled
            ),
        ),
        (
            format!("{verb}create on monday"),
            r.created_on_monday,
            String::new(),
        ),
        (
            format!("{verb}create on Miro"),
            r.created_on_miro,
            String::new(),
        ),
        ("already linked".to_owned(), r.already_linked, String::new()),
        (
            "skipped".to_owned(),
            r.skipped,
            "no value to match by".to_owned(),
        ),
        (
            "ambiguous".to_owned(),
            r.ambiguous.len(),
            "left alone".to_owned(),
        ),
    ];
    for (label, n, why) in lines {
        let why = if why.is_empty() {
            why
        } else {
            format!("  ({why})")
        };
        println!("  {label:<24}{n:>6}{why}");
    }
    for key in &r.ambiguous {
        println!("    {key}");
    }
    Ok(())
}

async fn reconcile(engine: crate::runtime::Engine, pair: String) -> anyhow::Result<()> {
    let config = engine.config.clone();
    let pair = config
        .pair(&pair)
        .ok_or_else(|| anyhow::anyhow!("no pair named `{pair}` in the mappings file"))?;
    let r = crate::pollers::reconcile::reconcile_pair(&engine, pair).await?;
    if r.first {
        println!(
            "pair `{}`: first round; its time is recorded, and items created on monday after it \
             that no webhook brought are created on Miro by the next round",
            pair.name
        );
        return Ok(());
    }
    println!(
        "pair `{}`: {} item{} read, {} change{} queued ({} new item{}), {} left for the next round",
        pair.name,
        r.items,
        plural(r.items),
        r.changes,
        plural(r.changes),
        r.created,
        plural(r.created),
        r.deferred
    );
    Ok(())
}

/// The slug of the pair named (or slugged) `pair`.
fn slug_of(engine: &crate::runtime::Engine, pair: &str) -> anyhow::Result<String> {
    engine
        .config
        .pair(pair)
        .map(|p| p.slug.clone())
        .ok_or_else(|| anyhow::anyhow!("no pair named `{pair}` in the mappings file"))
}

async fn pause(engine: crate::runtime::Engine, pair: String, pause: bool) -> anyhow::Result<()> {
    let slug = slug_of(&engine, &pair)?;
    if pause {
        engine
            .store
            .pause_pair(&slug, engine.clock.now_ms())
            .await?;
        println!("paused `{pair}`: its changes are kept and applied once it is resumed");
    } else if engine.store.resume_pair(&slug).await? {
        println!("resumed `{pair}`");
    } else {
        println!("`{pair}` was not paused");
    }
    Ok(())
}

async fn release(
    engine: crate::runtime::Engine,
    pair: String,
    item_id: String,
) -> anyhow::Result<()> {
    let slug = slug_of(&engine, &pair)?;
    if engine
        .store
        .release_link(&slug, &item_id, engine.clock.now_ms())
        .await?
    {
        println!("released the link of {item_id}; it syncs again");
        Ok(())
    } else {
        anyhow::bail!("no quarantined link of item {item_id} in pair `{pair}`")
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

/// One line a person can act on: the error and its causes, joined, each said once (some errors
/// repeat their cause in their own message).
fn fail(e: &anyhow::Error) -> ExitCode {
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

/// What `check` prints for a valid file: enough to see that boardsync read it as intended.
pub fn summary(config: &Config) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let fields: usize = config.pairs.iter().map(|p| p.fields.len()).sum();
    let _ = writeln!(
        out,
        "{}: valid; {} pair{}, {fields} field{}",
        config.source.display(),
        config.pairs.len(),
        plural(config.pairs.len()),
        plural(fields)
    );
    let d = &config.daemon;
    let _ = writeln!(
        out,
        "daemon: listen {}; store {}; redis {}; public URL {}",
        d.listen,
        crate::store::redact(d.database_url.expose()),
        if d.redis_url.is_some() {
            "configured"
        } else {
            "off"
        },
        d.public_url.as_ref().map_or(
            "not set (webhooks cannot reach this daemon)".to_owned(),
            |u| { u.to_string() }
        ),
    );
    let _ = writeln!(
        out,
        "miro: {}{}; monday: {} (API {})",
        config.miro.api_url,
        config
            .miro
            .org_id
            .as_ref()
            .map_or(String::new(), |o| format!(", org {o} (content logs)")),
        config.monday.api_url,
        config.monday.api_version
    );
    for pair in &config.pairs {
        pair_summary(&mut out, pair);
    }
    out
}

fn pair_summary(out: &mut String, pair: &PairConfig) {
    use std::fmt::Write;
    let types: Vec<&str> = pair.miro_items.iter().map(|t| t.as_str()).collect();
    let _ = writeln!(out, "\npair \"{}\" (/pairs/{})", pair.name, pair.slug);
    let _ = writeln!(
        out,
        "  miro board {} [{}]  <->  monday board {}",
        pair.miro_board,
        types.join(", "),
        pair.monday_board
    );
    let _ = writeln!(
        out,
        "  born on monday -> {} in {}; born on Miro -> {}; conflicts: {}; deletes: {}{}",
        pair.miro_new_item,
        pair.miro_frame
            .as_ref()
            .map_or("the board".to_owned(), |f| format!("frame {f}")),
        pair.monday_group
            .as_ref()
            .map_or("the top group".to_owned(), |g| format!("group {g}")),
        pair.conflict.as_str(),
        pair.on_delete.as_str(),
        if pair.sync_existing {
            "; links existing items"
        } else {
            ""
        }
    );
    if pair.miro_filter.frame.is_some() || pair.miro_filter.tag.is_some() {
        let _ = writeln!(
            out,
            "  only Miro items{}{}",
            pair.miro_filter
                .frame
                .as_ref()
                .map_or(String::new(), |f| format!(" in frame {f}")),
            pair.miro_filter
                .tag
                .as_ref()
                .map_or(String::new(), |t| format!(" tagged {t}")),
        );
    }
    if !pair.monday_filter.groups.is_empty() {
        let _ = writeln!(
            out,
            "  only monday items in groups {}",
            pair.monday_filter.groups.join(", ")
        );
    }
    let width = pair.fields.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for f in &pair.fields {
        let arrow = match f.direction {
            Direction::Both => "<->",
            Direction::MiroToMonday => "-->",
            Direction::MondayToMiro => "<--",
        };
        let values = if f.values.is_empty() {
            String::new()
        } else {
            format!("  ({} value{})", f.values.len(), plural(f.values.len()))
        };
        let _ = writeln!(
            out,
            "  {:width$}  {}  {arrow}  {}{values}",
            f.name, f.miro, f.monday
        );
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
