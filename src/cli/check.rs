//! `boardsync check`: the mappings file's problems, or the summary of a valid one, and with
//! `--online` the live boards checked against it.

use super::common::{EXIT_INVALID, load, plural, runtime};
use crate::config::{Config, Direction, PairConfig};
use std::path::Path;
use std::process::ExitCode;

pub(super) fn check(path: &Path, online: bool) -> ExitCode {
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
        let (miro, monday) = crate::clients::for_config(&config, &crate::clock::Clock::default());
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

/// What `check` prints for a valid file: enough to see that boardsync read it as intended.
pub(crate) fn summary(config: &Config) -> String {
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
