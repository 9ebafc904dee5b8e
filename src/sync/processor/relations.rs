//! Reads the processor makes before planning a change that carries tags or connectors: whether a
//! Miro item carries the pair's filter tag (as the last tag poll saw it), what becomes of a change
//! of an item that is not linked, and which dependency ids of a monday change have a twin.

use crate::config::PairConfig;
use crate::domain::change::{Change, ChangeKind};
use crate::domain::{MiroItemId, Side};
use crate::mapping::values::{self, FILTER_TAG, TAGS};
use crate::runtime::Engine;
use crate::store::StoreError;
use crate::store::keys;
use serde_json::Value;

/// Whether the Miro item carries the pair's filter tag, as the last tag poll saw it; `None` for
/// an item it has not seen with a tag.
async fn carries_filter_tag(
    engine: &Engine,
    pair: &PairConfig,
    item: &MiroItemId,
    tag: &str,
) -> Result<Option<bool>, StoreError> {
    Ok(engine
        .store
        .snapshot(&pair.slug, keys::TAGS_SNAPSHOT, item.as_str())
        .await?
        .map(|s| values::tag_titles(&s.version).iter().any(|t| t == tag)))
}

/// Whether a Miro change's item passes the pair's tag filter (for a board in several pairs, told
/// apart by their tags). Changes of the other side, and pairs without a tag filter, pass.
pub(crate) async fn passes(
    engine: &Engine,
    pair: &PairConfig,
    change: &Change,
) -> Result<bool, StoreError> {
    let Some(tag) = pair.miro_filter.tag.as_deref() else {
        return Ok(true);
    };
    let Some(item) = change.item.miro_item() else {
        return Ok(true);
    };
    if let Some(Value::Bool(inside)) = change.fields.get(FILTER_TAG) {
        return Ok(*inside);
    }
    Ok(carries_filter_tag(engine, pair, item, tag)
        .await?
        .unwrap_or(false))
}

/// Readies a Miro change for the planner, before the processor reads the item: says whether the
/// item carries the pair's filter tag (for the planner's scope), and decides what becomes of a
/// change that carries only tags or connectors. Such a change of a linked item needs nothing
/// more; one of an item that is not linked (the link may have ended since the poll) brings the
/// item into the pair only when it just got the pair's tag (the item is then read whole);
/// otherwise it is ignored, with the reason returned.
pub(crate) async fn prepare(
    engine: &Engine,
    pair: &PairConfig,
    change: &mut Change,
) -> Result<Option<String>, StoreError> {
    let Some(item) = change.item.miro_item().cloned() else {
        return Ok(None);
    };
    if !matches!(
        change.kind,
        ChangeKind::Created | ChangeKind::Updated | ChangeKind::Restored
    ) {
        return Ok(None);
    }
    if let Some(tag) = pair.miro_filter.tag.as_deref()
        && !change.fields.contains_key(FILTER_TAG)
        && let Some(inside) = carries_filter_tag(engine, pair, &item, tag).await?
    {
        change
            .fields
            .insert(FILTER_TAG.to_owned(), Value::Bool(inside));
    }
    let relations_only = change
        .fields
        .keys()
        .all(|k| values::polled_apart(k) || k == FILTER_TAG)
        && change.fields.keys().any(|k| values::polled_apart(k));
    if !relations_only {
        return Ok(None);
    }
    let linked = engine
        .store
        .link_by_miro(&pair.slug, &item)
        .await?
        .is_some();
    if linked {
        change.incomplete = false;
        return Ok(None);
    }
    let entered = change.fields.get(FILTER_TAG) == Some(&Value::Bool(true))
        && change.fields.contains_key(TAGS);
    if entered {
        change.incomplete = true;
        return Ok(None);
    }
    Ok(Some("the item is not linked".to_owned()))
}

/// Keeps, in a monday change's dependency values, only the items that have a twin on Miro: the
/// others cannot be drawn there, and are left alone on monday. Returns how many it left out.
pub(crate) async fn keep_linked(
    engine: &Engine,
    pair: &PairConfig,
    change: &mut Change,
) -> Result<usize, StoreError> {
    let mut ignored = 0;
    if change.side() != Side::Monday {
        return Ok(0);
    }
    for column in values::connector_columns(pair) {
        let Some(ids) = change.fields.get(column).and_then(values::from_monday) else {
            continue;
        };
        let mut kept = Vec::new();
        for id in values::item_ids(&ids) {
            let id = id.to_string();
            if engine
                .store
                .miro_twin(&pair.slug, &id.as_str().into())
                .await?
                .is_some()
            {
                kept.push(id);
            } else {
                ignored += 1;
            }
        }
        let value = values::normalise_ids(kept.iter().map(String::as_str));
        change
            .fields
            .insert(column.to_owned(), Value::String(value));
    }
    Ok(ignored)
}
