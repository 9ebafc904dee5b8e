//! Tags written: on Miro by attaching and detaching (creating a tag the board lacks), on monday by
//! tag ids (`create_or_get_tag`). The tag poll that reads them is `pollers::tags`.

use crate::clients::ApiError;
use crate::clients::miro::{MiroClient, Tag};
use crate::config::PairConfig;
use crate::domain::{MiroBoardId, MiroItemId, MondayBoardId};
use crate::mapping::values::{self};
use crate::runtime::Engine;
use crate::runtime::WriteError;
use serde_json::Value;

/// Miro allows this many tags on a sticky note or a card.
pub(crate) const MAX_TAGS_PER_ITEM: usize = 8;

/// Brings a Miro item's tags to `want` (titles), the pair's filter tag included: detaches the
/// others first (Miro allows [`MAX_TAGS_PER_ITEM`]), then attaches the missing ones, making tags
/// the board lacks. More than Miro allows is a permanent error.
pub(crate) async fn write_miro(
    engine: &Engine,
    pair: &PairConfig,
    item: &MiroItemId,
    logical: &str,
) -> Result<(), WriteError> {
    let mut want = values::tag_titles(logical);
    if let Some(tag) = &pair.miro_filter.tag
        && !want.contains(tag)
    {
        want.push(tag.clone());
    }
    if want.len() > MAX_TAGS_PER_ITEM {
        return Err(WriteError::Unwritable(format!(
            "Miro allows at most {MAX_TAGS_PER_ITEM} tags on an item, and this one would have {}: {}",
            want.len(),
            want.join(", ")
        )));
    }
    set_miro_tags(&engine.miro, &pair.miro_board, item, &want, true).await
}

/// Attaches the tag titled `title` to a Miro item, making it on the board when missing (the
/// `archived` tag, the pair's filter tag on a new item).
pub(crate) async fn attach_miro(
    miro: &MiroClient,
    board: &MiroBoardId,
    item: &MiroItemId,
    title: &str,
) -> Result<(), WriteError> {
    set_miro_tags(miro, board, item, &[title.to_owned()], false).await
}

/// Attaches each of `want` the item lacks; with `replace`, first detaches every tag not in it.
async fn set_miro_tags(
    miro: &MiroClient,
    board: &MiroBoardId,
    item: &MiroItemId,
    want: &[String],
    replace: bool,
) -> Result<(), WriteError> {
    let current = miro.item_tags(board, item).await?;
    let same = |t: &Tag, title: &str| t.title.trim() == title;
    if replace {
        for tag in &current {
            if !want.iter().any(|w| same(tag, w)) {
                miro.detach_tag(board, item, &tag.id).await?;
            }
        }
    }
    let mut board_tags: Option<Vec<Tag>> = None;
    for title in want {
        if current.iter().any(|t| same(t, title)) {
            continue;
        }
        let tag = board_tag(miro, board, &mut board_tags, title).await?;
        miro.attach_tag(board, item, &tag.id).await?;
    }
    Ok(())
}

/// The board's tag titled `title`, made when the board has none (the board's tags are listed
/// once per write). A tag someone made meanwhile is found on a second look.
async fn board_tag(
    miro: &MiroClient,
    board: &MiroBoardId,
    known: &mut Option<Vec<Tag>>,
    title: &str,
) -> Result<Tag, ApiError> {
    if known.is_none() {
        *known = Some(miro.board_tags(board).await?);
    }
    let tags = known.as_mut().expect("listed above");
    if let Some(t) = tags.iter().find(|t| t.title.trim() == title) {
        return Ok(t.clone());
    }
    match miro.create_tag(board, title).await {
        Ok(t) => {
            tags.push(t.clone());
            Ok(t)
        }
        Err(ApiError::Rejected(why)) => {
            let again = miro.board_tags(board).await?;
            let found = again.iter().find(|t| t.title.trim() == title).cloned();
            *known = Some(again);
            found.ok_or(ApiError::Rejected(why))
        }
        Err(e) => Err(e),
    }
}

/// A monday tags column's value for a logical value: each name's tag id (made when the account
/// has no tag by that name).
pub(crate) async fn monday_value(
    engine: &Engine,
    board: &MondayBoardId,
    logical: &str,
) -> Result<Value, WriteError> {
    let mut ids = Vec::new();
    for name in values::tag_titles(logical) {
        ids.push(engine.monday.tag_id(board, &name).await?);
    }
    Ok(values::tags_to_monday(&ids))
}
