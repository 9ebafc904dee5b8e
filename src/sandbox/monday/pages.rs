//! `items_page` and `next_items_page`: a snapshot of the board's item ids taken at the first page,
//! walked with a cursor that lives 60 minutes from that first request (monday's rule), so a
//! client that holds a cursor too long must start over.

use super::schema::{Item, item};
use super::{MondayCtx, app_error};
use async_graphql::{Context, ID, Result, SimpleObject};

/// How long a cursor lives after the first page, in milliseconds.
const CURSOR_TTL_MS: i64 = 60 * 60 * 1000;
/// The largest page monday serves.
const MAX_LIMIT: i32 = 500;

#[derive(SimpleObject)]
pub(crate) struct ItemsResponse {
    pub cursor: Option<String>,
    pub items: Vec<Item>,
}

pub(crate) struct Cursor {
    ids: Vec<u64>,
    next: usize,
    created_ms: i64,
}

fn check_limit(limit: i32) -> Result<usize> {
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit as usize)
    } else {
        Err(app_error(
            "InvalidArgumentException",
            &format!("limit must be between 1 and {MAX_LIMIT}"),
        ))
    }
}

pub(crate) fn first_page(
    ctx: &Context<'_>,
    board: u64,
    cursor: Option<String>,
    limit: i32,
    ids: Option<Vec<ID>>,
) -> Result<ItemsResponse> {
    if let Some(c) = cursor {
        return next_page(ctx, &c, limit);
    }
    let limit = check_limit(limit)?;
    let m = ctx.data_unchecked::<MondayCtx>();
    let snapshot: Vec<u64> = {
        let state = m.state.lock().expect("monday state");
        let b = state
            .boards
            .get(&board)
            .ok_or_else(|| super::schema::not_found("Board"))?;
        b.items
            .values()
            .filter(|i| i.state == "active")
            .filter(|i| {
                ids.as_ref()
                    .is_none_or(|ids| ids.iter().any(|x| x.as_str() == i.id.to_string()))
            })
            .map(|i| i.id)
            .collect()
    };
    let cursor = Cursor {
        ids: snapshot,
        next: 0,
        created_ms: m.shared.clock.now_ms(),
    };
    page(m, cursor, limit)
}

pub(crate) fn next_page(ctx: &Context<'_>, cursor: &str, limit: i32) -> Result<ItemsResponse> {
    let limit = check_limit(limit)?;
    let m = ctx.data_unchecked::<MondayCtx>();
    let Some(c) = m.cursors.lock().expect("cursors").remove(cursor) else {
        return Err(app_error(
            "InvalidCursorException",
            "The cursor is not valid",
        ));
    };
    if m.shared.clock.now_ms() - c.created_ms > CURSOR_TTL_MS {
        return Err(app_error(
            "CursorExpiredError",
            "The cursor has expired: a cursor is valid for 60 minutes after the initial request",
        ));
    }
    page(m, c, limit)
}

fn page(m: &MondayCtx, mut c: Cursor, limit: usize) -> Result<ItemsResponse> {
    let items: Vec<Item> = {
        let state = m.state.lock().expect("monday state");
        let end = (c.next + limit).min(c.ids.len());
        let page: Vec<Item> = c.ids[c.next..end]
            .iter()
            .filter_map(|id| {
                state
                    .item(*id)
                    .filter(|(_, i)| i.state != "deleted")
                    .map(|(_, i)| item(i))
            })
            .collect();
        c.next = end;
        page
    };
    let cursor = (c.next < c.ids.len()).then(|| {
        let token = format!("MSw{}", uuid::Uuid::new_v4().simple());
        m.cursors.lock().expect("cursors").insert(token.clone(), c);
        token
    });
    Ok(ItemsResponse { cursor, items })
}
