//! `boardsync check --online`: the mapping against the live boards. Every board, group, frame
//! and column the file names must exist, each column must be of a type the field can be written
//! to (tags to a tags column, connectors to a dependency or board_relation column), and every
//! monday label a value map names must be one of its status column's labels (monday rejects a
//! write of an unknown label). Each problem is one plain sentence naming the pair.
//!
//! The same check runs when the daemon starts; there a problem is logged and shown on
//! `/api/status`, and the daemon goes on serving.

use crate::clients::ApiError;
use crate::clients::miro::MiroClient;
use crate::clients::monday::{Board, MondayClient, board, enum_name};
use crate::config::{Config, FieldMapping, MiroSide, PairConfig};
use crate::mapping::values;
use std::collections::{BTreeSet, HashMap};

/// The monday column types boardsync writes a copied value to.
const TEXT_COLUMNS: [&str; 5] = ["text", "long_text", "status", "date", "numbers"];

/// A monday board as the check needs it.
struct MondayBoard {
    groups: BTreeSet<String>,
    /// Column id → (type, status labels).
    columns: HashMap<String, (String, BTreeSet<String>)>,
}

/// monday board ids asked for in one `boards` query. monday answers 25 boards unless told a
/// `limit`, even when asked by ids, so each query names at most this many and says as much.
const BOARDS_PAGE: usize = 50;

/// Every problem found, in file order; empty when the mapping fits the boards.
pub(crate) async fn check(
    config: &Config,
    miro: &MiroClient,
    monday: &MondayClient,
) -> Vec<String> {
    let pairs: Vec<&PairConfig> = config.pairs.iter().collect();
    check_pairs(&pairs, miro, monday).await.problems
}

/// What checking some pairs found: every problem, in file order, and the pairs that had one or
/// could not be checked, which are all a later round needs to check again.
pub(crate) struct Checked<'a> {
    pub problems: Vec<String>,
    pub failed: Vec<&'a PairConfig>,
}

/// Checks `pairs` against the live boards.
pub(crate) async fn check_pairs<'a>(
    pairs: &[&'a PairConfig],
    miro: &MiroClient,
    monday: &MondayClient,
) -> Checked<'a> {
    let mut problems = Vec::new();
    let mut failed = Vec::new();
    let boards = match monday_boards(pairs, monday).await {
        Ok(b) => Some(b),
        Err(e) => {
            problems.push(format!("cannot read the monday boards: {e}"));
            None
        }
    };
    for pair in pairs {
        let before = problems.len();
        let mut say = |message: String| problems.push(format!("pair `{}`: {message}", pair.name));
        if let Err(e) = check_miro(pair, miro, &mut say).await {
            say(format!("cannot read Miro board {}: {e}", pair.miro_board));
        }
        if let Some(boards) = &boards {
            match boards.get(pair.monday_board.as_str()) {
                Some(board) => check_monday(pair, board, &mut say),
                None => say(format!(
                    "monday board {} does not exist, or the token cannot see it",
                    pair.monday_board
                )),
            }
        }
        if problems.len() > before || boards.is_none() {
            failed.push(*pair);
        }
    }
    Checked { problems, failed }
}

async fn check_miro(
    pair: &PairConfig,
    miro: &MiroClient,
    say: &mut impl FnMut(String),
) -> Result<(), ApiError> {
    let board = &pair.miro_board;
    if !miro.board_exists(board).await? {
        say(format!(
            "Miro board {board} does not exist, or the token cannot see it"
        ));
        return Ok(());
    }
    let frames: BTreeSet<&str> = [&pair.miro_frame, &pair.miro_filter.frame]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    for frame in frames {
        match miro.item(board, &frame.into()).await? {
            None => say(format!("frame {frame} is not on Miro board {board}")),
            Some(item) if item.item_type != "frame" => say(format!(
                "item {frame} on Miro board {board} is a {}, not a frame",
                item.item_type
            )),
            Some(_) => {}
        }
    }
    Ok(())
}

fn check_monday(pair: &PairConfig, board: &MondayBoard, say: &mut impl FnMut(String)) {
    let id = &pair.monday_board;
    for group in pair.monday_group.iter().chain(&pair.monday_filter.groups) {
        if !board.groups.contains(group) {
            let known: Vec<&str> = board.groups.iter().map(String::as_str).collect();
            say(format!(
                "group `{group}` is not on monday board {id} (its groups: {})",
                known.join(", ")
            ));
        }
    }
    for field in &pair.fields {
        // The item name and its updates are not columns.
        if field.monday == "name" || field.is_comments() {
            continue;
        }
        match board.columns.get(&field.monday) {
            None => say(format!(
                "field `{}`: column `{}` is not on monday board {id}",
                field.name, field.monday
            )),
            Some((kind, labels)) => check_column(field, kind, labels, say),
        }
    }
}

fn check_column(
    field: &FieldMapping,
    kind: &str,
    labels: &BTreeSet<String>,
    say: &mut impl FnMut(String),
) {
    let (name, column) = (&field.name, &field.monday);
    let paths: Vec<&str> = match &field.miro {
        MiroSide::All(p) => vec![p.as_str()],
        MiroSide::PerType(m) => m.values().map(String::as_str).collect(),
    };
    if paths.contains(&values::TAGS) {
        if kind != "tags" {
            say(format!(
                "field `{name}` syncs tags, so column `{column}` must be a tags column, but it is {kind}"
            ));
        }
        return;
    }
    if paths.contains(&values::CONNECTORS) {
        if !matches!(kind, "dependency" | "board_relation") {
            say(format!(
                "field `{name}` syncs connectors, so column `{column}` must be a dependency or board_relation column, but it is {kind}"
            ));
        }
        return;
    }
    if !field.values.is_empty() {
        if kind != "status" {
            say(format!(
                "field `{name}` has a value map, so column `{column}` must be a status column, but it is {kind}"
            ));
            return;
        }
        for (_, label) in &field.values {
            if !labels.contains(label) {
                let known: Vec<&str> = labels.iter().map(String::as_str).collect();
                say(format!(
                    "field `{name}`: label `{label}` is not a label of status column `{column}` (its labels: {})",
                    known.join(", ")
                ));
            }
        }
    } else if !TEXT_COLUMNS.contains(&kind) {
        say(format!(
            "field `{name}`: column `{column}` is a {kind} column; boardsync copies values into {} columns",
            TEXT_COLUMNS.join(", ")
        ));
    }
}

/// The monday boards of `pairs`, by id, asked for by id [`BOARDS_PAGE`] at a time.
async fn monday_boards(
    pairs: &[&PairConfig],
    monday: &MondayClient,
) -> Result<HashMap<String, MondayBoard>, ApiError> {
    let ids: BTreeSet<String> = pairs.iter().map(|p| p.monday_board.to_string()).collect();
    let ids: Vec<String> = ids.into_iter().collect();
    let mut boards = HashMap::new();
    for page in ids.chunks(BOARDS_PAGE) {
        let data = monday
            .run::<Board>(
                board::Variables {
                    ids: Some(page.to_vec()),
                    limit: Some(page.len() as i64),
                },
                None,
            )
            .await?;
        boards.extend(data.boards.into_iter().flatten().flatten().map(|b| {
            let groups = b.groups.into_iter().flatten().flatten().map(|g| g.id);
            let columns = b.columns.into_iter().flatten().flatten().map(|c| {
                let labels = status_labels(&c.settings_str);
                (c.id, (enum_name(&c.type_), labels))
            });
            (
                b.id,
                MondayBoard {
                    groups: groups.collect(),
                    columns: columns.collect(),
                },
            )
        }));
    }
    Ok(boards)
}

/// The labels in a status column's `settings_str` (`{"labels": {"0": "Working on it", ...}}`).
fn status_labels(settings: &str) -> BTreeSet<String> {
    serde_json::from_str::<serde_json::Value>(settings)
        .ok()
        .and_then(|v| {
            v["labels"].as_object().map(|labels| {
                labels
                    .values()
                    .filter_map(|l| l.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_need_a_tags_column_and_connectors_a_dependency_or_board_relation_column() {
        let field = |miro: &str| FieldMapping {
            name: "f".into(),
            miro: MiroSide::All(miro.into()),
            monday: "c".into(),
            direction: crate::config::Direction::Both,
            values: Vec::new(),
            miro_as: None,
        };
        let problems = |miro: &str, kind: &str| {
            let mut out = Vec::new();
            check_column(&field(miro), kind, &BTreeSet::new(), &mut |m| out.push(m));
            out
        };
        assert!(problems("tags", "tags").is_empty());
        assert!(problems("tags", "text")[0].contains("must be a tags column, but it is text"));
        assert!(problems("connectors", "dependency").is_empty());
        assert!(problems("connectors", "board_relation").is_empty());
        assert!(problems("connectors", "tags")[0].contains("dependency or board_relation"));
        assert!(problems("data.content", "tags")[0].contains("copies values into"));
    }

    #[test]
    fn status_labels_are_read_from_the_column_settings() {
        let labels = status_labels(r#"{"labels":{"0":"Working on it","1":"Done","5":""}}"#);
        assert!(labels.contains("Done") && labels.contains("Working on it"));
        assert!(status_labels("{}").is_empty());
        assert!(status_labels("not json").is_empty());
    }
}
