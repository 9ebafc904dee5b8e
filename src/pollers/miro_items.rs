//! Miro items as the pollers see them: an item read from a listing or the content log becomes a
//! change (read again through its type's endpoint when a mapped field is under `style`, which
//! listings leave out), and the notes boardsync itself made for monday updates are told apart.

use crate::clients::miro::{MiroClient, MiroItem};
use crate::config::PairConfig;
use crate::domain::change::{Change, ChangeKind, ItemRef, Via, micros};
use crate::domain::miro::ItemType;
use crate::domain::{MiroBoardId, MiroItemId};
use crate::runtime::Engine;
use crate::store::keys;
use std::collections::HashSet;

/// The change the scan makes of an item it found changed (`Updated` when it `known` it, else
/// `Created`), read through its type's endpoint first when a mapped field is under `style` and the
/// item came without it; `None` when the item is gone meanwhile.
pub(crate) async fn item_change(
    miro: &MiroClient,
    pair: &PairConfig,
    item: MiroItem,
    item_type: ItemType,
    known: bool,
) -> Result<Option<Change>, crate::clients::ApiError> {
    let board = &pair.miro_board;
    let full = if item.style.is_null() && needs_style(pair) {
        match miro.get_item(board, item_type, &item.id).await {
            Ok(full) => full,
            Err(crate::clients::ApiError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        }
    } else {
        item
    };
    let kind = if known {
        ChangeKind::Updated
    } else {
        ChangeKind::Created
    };
    Ok(Some(miro_change(board, &full, item_type, kind)))
}

/// A Miro item as it is now, as a change found by polling (its source time: `modifiedAt`).
pub(crate) fn miro_change(
    board: &MiroBoardId,
    item: &MiroItem,
    item_type: ItemType,
    kind: ChangeKind,
) -> Change {
    Change {
        item_type: Some(item_type.as_str().into()),
        fields: item.fields(),
        author: item.modified_by(),
        source_us: item
            .modified_at
            .as_ref()
            .and_then(|t| micros(&serde_json::Value::String(t.clone()))),
        ..Change::new(
            ItemRef::miro(board.clone(), item.id.clone()),
            Via::Poll,
            kind,
        )
    }
}

/// Whether a mapped field is under `style`, which Miro's listing leaves out: each changed item is
/// then read through its type's endpoint.
pub(crate) fn needs_style(pair: &PairConfig) -> bool {
    pair.fields.iter().any(|f| match &f.miro {
        crate::config::MiroSide::All(p) => p.starts_with("style."),
        crate::config::MiroSide::PerType(m) => m.values().any(|p| p.starts_with("style.")),
    })
}

/// The ids of the text items boardsync made on the pair's board for monday updates: they are
/// boardsync's own, never items to sync. Read only when the pair syncs text items.
pub(crate) async fn own_notes(
    engine: &Engine,
    pair: &PairConfig,
) -> Result<HashSet<MiroItemId>, crate::store::StoreError> {
    if !pair.miro_items.contains(&ItemType::Text) {
        return Ok(HashSet::new());
    }
    let prefix = keys::comment_note_prefix(&pair.slug);
    Ok(engine
        .store
        .cursors_with_prefix(&prefix)
        .await?
        .into_iter()
        .map(|(name, _)| MiroItemId::from(&name[prefix.len()..]))
        .collect())
}
