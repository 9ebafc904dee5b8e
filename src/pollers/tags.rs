//! Tags. Miro keeps an item's tags apart from the item: no tag field on its body, no event, and
//! attaching a tag leaves the item's `modifiedAt` alone, so the board scan never sees them. The
//! tag poll lists the board's tags and each tag's items, inverts that into item → titles, and
//! turns each linked item whose titles changed since its snapshot into a change with one field,
//! `tags`, whose logical value is the titles normalised ([`values::normalise_tags`]). From there a
//! tag change is a field change like any other: the planner compares it with the link's state, so
//! echoes, conflicts and directions need nothing of their own.
//!
//! The same snapshot answers the pair filter `miro_filter.tag` (which items belong to the pair).
//! Tags are written by the dispatcher (`sync::dispatcher::tags`).

use super::relation::{PollReport, RelationPoll, polled_change};
use crate::config::PairConfig;
use crate::domain::change::Change;
use crate::domain::miro::ItemType;
use crate::mapping::values::{self, FILTER_TAG, TAGS};
use crate::runtime::Engine;
use crate::store::StoreError;
use crate::store::keys;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Whether the pair needs the tag poll: it maps tags, or filters by a tag.
pub fn wanted(pair: &PairConfig) -> bool {
    pair.miro_filter.tag.is_some() || values::maps(pair, TAGS)
}

/// Polls the tags of one pair's board once (nothing when the pair has no use for them). Called
/// by the poll loop after each scan of the pair's items.
pub async fn poll_pair(engine: &Engine, pair: &PairConfig) -> anyhow::Result<PollReport> {
    let mut report = PollReport::default();
    if !wanted(pair) {
        return Ok(report);
    }
    let board = &pair.miro_board;
    let miro = engine.miro.polling();
    // Item → its type and titles, from each tag's items (cheaper than each item's tags).
    let mut seen: HashMap<String, (ItemType, Vec<String>)> = HashMap::new();
    for tag in miro.board_tags(board).await? {
        for item in miro.items_with_tag(board, &tag.id).await? {
            let Some(t) = ItemType::parse(&item.item_type).filter(|t| pair.miro_items.contains(t))
            else {
                continue;
            };
            seen.entry(item.id.to_string())
                .or_insert_with(|| (t, Vec::new()))
                .1
                .push(tag.title.clone());
        }
    }
    let mut poll = RelationPoll::start(
        engine,
        pair,
        keys::TAGS_SNAPSHOT,
        keys::tags_cursor(&pair.slug),
    )
    .await?;
    for id in poll.items(seen.keys()) {
        let titles = seen
            .get(&id)
            .map(|(_, t)| values::normalise_tags(t.iter().map(String::as_str)))
            .unwrap_or_default();
        let Some(had) = poll.diff(&id, &titles) else {
            continue;
        };
        let item_type = seen.get(&id).map(|(t, _)| *t);
        match change_for(
            engine,
            pair,
            &id,
            item_type,
            had.as_deref(),
            &titles,
            poll.now,
        )
        .await?
        {
            Some(change) => poll.report(&change, &titles),
            None => report.ignored += 1,
        }
    }
    report.changes = poll.finish().await?;
    Ok(report)
}

/// The change for an item whose titles are now `titles` (were `had`), or `None` when it is left
/// out: an item that is not linked is no twin's, and a tag change does not make it one, except
/// that attaching the pair's filter tag brings an item into the pair (it is then read whole, as
/// a change without the item's fields).
async fn change_for(
    engine: &Engine,
    pair: &PairConfig,
    id: &str,
    seen_type: Option<ItemType>,
    had: Option<&str>,
    titles: &str,
    now: i64,
) -> Result<Option<Change>, StoreError> {
    let link = engine.store.link_by_miro(&pair.slug, &id.into()).await?;
    let carries = |titles: &str| {
        pair.miro_filter
            .tag
            .as_deref()
            .map(|tag| values::tag_titles(titles).iter().any(|t| t == tag))
    };
    let (item_type, incomplete) = match &link {
        Some(l) => (seen_type.or_else(|| ItemType::parse(&l.miro_type)), false),
        None => {
            let entered = carries(titles) == Some(true) && carries(had.unwrap_or("")) != Some(true);
            if !entered {
                return Ok(None);
            }
            (seen_type, true)
        }
    };
    let Some(item_type) = item_type else {
        return Ok(None);
    };
    let mut fields = BTreeMap::new();
    fields.insert(
        TAGS.to_owned(),
        Value::String(values::logical_tags(pair, titles)),
    );
    if let Some(inside) = carries(titles) {
        fields.insert(FILTER_TAG.to_owned(), Value::Bool(inside));
    }
    Ok(Some(polled_change(
        pair, id, item_type, fields, incomplete, now,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Direction, FieldMapping, MiroSide};

    fn pair(filter: Option<&str>) -> PairConfig {
        let extra = filter.map_or(String::new(), |t| {
            format!("miro_filter = {{ tag = \"{t}\" }}")
        });
        crate::mapping::plan::tests::pair_with(
            &format!("{extra}\nmiro_items = [\"sticky_note\", \"shape\"]"),
            r#"title = { miro = "data.content", monday = "name" }"#,
        )
    }

    #[test]
    fn the_filter_tag_is_not_synced_as_one_of_the_items_tags() {
        let p = pair(Some("sprint"));
        assert_eq!(
            values::logical_tags(&p, "bug, sprint, Urgent"),
            "bug, Urgent"
        );
        assert_eq!(values::logical_tags(&p, "sprint"), "");
        assert_eq!(
            values::logical_tags(&pair(None), "bug, sprint"),
            "bug, sprint"
        );
    }

    #[test]
    fn the_tag_poll_runs_only_for_pairs_that_use_tags() {
        let mut p = pair(None);
        assert!(!wanted(&p));
        p.fields.push(FieldMapping {
            name: "tags".into(),
            miro: MiroSide::All("tags".into()),
            monday: "tags".into(),
            direction: Direction::Both,
            values: Vec::new(),
            miro_as: None,
        });
        assert!(wanted(&p));
        assert!(wanted(&pair(Some("sprint"))));
        assert!(!values::maps(&p, values::CONNECTORS));
    }
}
