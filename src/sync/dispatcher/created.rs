//! What a write leaves behind on the link: the id of a twin the dispatcher created, and a delete
//! of an item that is already gone counted as done.

use crate::clients::ApiError;
use crate::domain::ItemId;
use crate::runtime::{Engine, WriteError};

/// Deleting or archiving what is already gone has done its job.
pub(super) fn already_gone(e: ApiError) -> Result<(), WriteError> {
    match e {
        ApiError::NotFound(_) => Ok(()),
        other => Err(other.into()),
    }
}

/// Records the id a create returned on the link that waited for it.
pub(super) async fn resolve<I: ItemId>(
    engine: &Engine,
    link_id: Option<i64>,
    id: &I,
) -> Result<(), WriteError> {
    match link_id {
        Some(link_id) => engine
            .store
            .resolve_link(link_id, id, engine.clock.now_ms())
            .await
            .map_err(WriteError::from),
        None => Ok(()),
    }
}
