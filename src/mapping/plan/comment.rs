//! Comments: a Miro comment becomes a monday update and a monday update a note on Miro, each once.

use super::guards::{loop_detected, quarantine};
use super::outcome::{Context, LinkChange, Outcome, Plan, Write};
use super::scope::title_field;
use super::state::{LinkFields, LinkView};
use crate::config::MiroAs;
use crate::domain::change::{Change, ItemRef};
use crate::domain::miro::ItemType;
use crate::domain::{MiroBoardId, MiroItemId, Side, miro_item_url};
use crate::mapping::values;
use serde_json::Value;

/// A comment added on Miro, or an update posted on monday, about a linked item: posted on the
/// other side once, as it is added. Neither side can hold the other's thread (Miro has no API to
/// write comments), so each becomes a post of its own there: a monday update, or on Miro a text
/// item or an app-card field. A post by boardsync's own user is its own post coming back.
pub(super) fn plan_comment(
    change: &Change,
    own: bool,
    link: &LinkView,
    mut fields: LinkFields,
    cx: &Context<'_>,
) -> Plan {
    let from = change.side();
    let Some(field) = cx
        .pair
        .fields
        .iter()
        .find(|f| f.is_comments() && f.miro.path_for(link.miro_type).is_some())
    else {
        return Plan::nothing(
            Outcome::Ignored,
            format!("the pair does not map comments of {} items", link.miro_type),
            fields,
        );
    };
    if own {
        let what = match from {
            Side::Miro => "a comment boardsync made",
            Side::Monday => "an update boardsync posted",
        };
        return Plan::nothing(Outcome::Echo, what, fields);
    }
    let allowed = match from {
        Side::Miro => field.direction.to_monday(),
        Side::Monday => field.direction.to_miro(),
    };
    if !allowed {
        return Plan::nothing(
            Outcome::Ignored,
            format!(
                "field `{}` has direction = \"{}\"",
                field.name,
                field.direction.as_str()
            ),
            fields,
        );
    }
    let text = |key: &str| {
        change
            .fields
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let write = match &change.item {
        ItemRef::Miro { board, item_id } => {
            let comment = text("comment.text");
            if comment.is_empty() {
                return Plan::nothing(Outcome::Ignored, "an empty comment", fields);
            }
            let author = Some(text("comment.author")).filter(|a| !a.is_empty());
            Write::CommentMonday {
                body: update_body(
                    &comment,
                    author.as_deref().unwrap_or("someone"),
                    board,
                    // The change is the Miro item's own (its link was found by it).
                    item_id,
                ),
            }
        }
        ItemRef::Monday { .. } => {
            let update = values::html_to_text(&text("update.body"));
            if update.trim().is_empty() {
                return Plan::nothing(Outcome::Ignored, "an empty update", fields);
            }
            let miro_as = match link.miro_type {
                ItemType::AppCard => field.miro_as.unwrap_or_default(),
                // Only app cards have fields to write to.
                _ => MiroAs::Text,
            };
            Write::CommentMiro {
                author_id: change.author.clone(),
                text: update.trim().to_owned(),
                miro_as,
            }
        }
    };
    let title = title_field(cx.pair)
        .and_then(|name| fields.fields.get(name))
        .and_then(|s| s.value.clone());
    // Comments have no value to come back to; each one posted counts, so that a comment loop
    // through another integration (each turn a new text) is stopped like any other.
    if loop_detected(&mut fields, 1, cx) {
        return quarantine(fields, Vec::new(), title, cx);
    }
    Plan {
        outcome: Outcome::Applied,
        detail: Some(match from {
            Side::Miro => "comment posted as a monday update".into(),
            Side::Monday => "update posted on Miro".into(),
        }),
        fields,
        link: LinkChange::Keep,
        writes: vec![write],
        conflicts: Vec::new(),
        title,
        read_item: false,
    }
}

/// The body of the monday update a Miro comment becomes: the comment's text, then who wrote it,
/// with a link back to the item on Miro.
pub(crate) fn update_body(
    text: &str,
    author: &str,
    board: &MiroBoardId,
    item: &MiroItemId,
) -> String {
    let url = miro_item_url(board, item);
    format!(
        "{}<p>— {} on <a href=\"{}\">Miro</a></p>",
        values::text_to_html(text),
        html_escape::encode_text(author),
        html_escape::encode_double_quoted_attribute(&url)
    )
}
