//! The commands that act on what a running daemon does, through the store it shares: webhooks
//! (`subscriptions`), `replay`, `backfill`, `reconcile`, `pause`/`resume` and `links release`.

use super::args::SubscriptionAction;
use super::common::{fail, load, plural, runtime};
use std::path::Path;
use std::process::ExitCode;

/// How long a command waits for a running daemon's write to the same SQLite file.
const COMMAND_BUSY_MS: u32 = 60_000;

/// Runs `action` with an engine on the file's store and APIs: for the commands that act on what
/// a running daemon does through the shared store.
pub(super) fn with_engine<F, Fut>(path: &Path, action: F) -> ExitCode
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

pub(super) async fn subscriptions(
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

pub(super) async fn replay(
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

pub(super) async fn backfill(
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

pub(super) async fn reconcile(engine: crate::runtime::Engine, pair: String) -> anyhow::Result<()> {
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

pub(super) async fn pause(
    engine: crate::runtime::Engine,
    pair: String,
    pause: bool,
) -> anyhow::Result<()> {
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

pub(super) async fn release(
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
