//! The dispatcher notes the version (`modifiedAt`) and paths of its last writes to each Miro item,
//! so that the processor can tell a scan that reads one back from a person's edit.

use crate::clients::miro::MiroItem;
use crate::config::PairConfig;
use crate::domain::miro::ItemType;
use crate::mapping::plan::LinkFields;
use crate::runtime::Engine;
use crate::store::keys;
use serde_json::Value;
use std::collections::BTreeMap;

/// After boardsync's own write, the item as Miro answered it. When every mapped field shows what
/// the link holds as synced, and no change of the item is waiting to be processed, nobody else's
/// edit can be hiding in it: its `modifiedAt` becomes the scan's snapshot, and the scan passes
/// over boardsync's own write instead of reading it back (one call per item, for its style) and
/// queueing an echo ahead of the next real change. A field this very write set counts as
/// boardsync's too when the link has moved on since (the write of an older edit, landing just
/// before the write of the newer one): read back, that older value would look like a person's
/// edit made after the newer one. In every other case the scan sees the write as before, which
/// is what brings the two sides back together after edits that crossed. Best effort: a failure
/// leaves it to the scan.
pub(super) async fn note_own_write(
    engine: &Engine,
    pair: &PairConfig,
    link_id: Option<i64>,
    item_type: ItemType,
    item: &MiroItem,
    written: &BTreeMap<String, Value>,
) {
    let (Some(link_id), Some(version)) = (link_id, item.modified_at.as_deref()) else {
        return;
    };
    if !written.is_empty() {
        // Whatever else holds, the fields this write set are boardsync's in this version: the
        // processor tells the planner so, should a scan read the version back.
        let key = keys::own_writes(&pair.slug, &item.id);
        let noted = async {
            let mut writes = engine
                .store
                .cursor(&key)
                .await?
                .map(|text| crate::mapping::values::OwnWrites::parse(&text))
                .unwrap_or_default();
            writes.push(version, written.keys().cloned().collect());
            let text = serde_json::to_string(&writes).expect("own writes serialise");
            engine
                .store
                .record_cursor(&key, &text, engine.clock.now_ms())
                .await
        }
        .await;
        if let Err(e) = noted {
            tracing::debug!(error = %e, "cannot note the fields of boardsync's own write");
        }
    }
    let Ok(Some(link)) = engine.store.link_by_id(link_id).await else {
        return;
    };
    let Ok(state) = serde_json::from_value::<LinkFields>(link.fields.clone()) else {
        return;
    };
    let have = item.fields();
    let as_synced = pair.fields.iter().all(|field| {
        let Some(path) = field.miro.path_for(item_type) else {
            return true;
        };
        if crate::mapping::values::polled_apart(path) {
            // Not in the item's body; the scan does not read it either.
            return true;
        }
        let shown = have
            .get(path)
            .and_then(|v| crate::mapping::values::from_miro(field, path, v));
        let own = written
            .get(path)
            .and_then(|v| crate::mapping::values::from_miro(field, path, v));
        shown.is_some() && shown == own
            || shown == state.fields.get(&field.name).and_then(|s| s.value.clone())
    });
    if !as_synced {
        return;
    }
    let now = engine.clock.now_ms();
    let stored = engine
        .store
        .note_own_write(
            &pair.slug,
            &item.id,
            version,
            link_id,
            &link.fields.to_string(),
            now,
        )
        .await;
    if let Err(e) = stored {
        tracing::debug!(error = %e, "cannot note boardsync's own write; the scan will read it");
    }
}
