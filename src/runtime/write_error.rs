//! What a write to an API can fail with: the API's answer, or the store, read or written while the
//! write was being made (a link looked up, a made item's id recorded). Both are retried; they are
//! counted and shown apart, so a store outage never looks like Miro or monday failing.

use crate::clients::ApiError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The API answered with a failure (or did not answer).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The store failed midway through the write.
    #[error("the store: {0}")]
    Store(#[from] StoreError),
    /// The write cannot be made as it stands (its pair is gone from the mappings file, its payload
    /// is not one this version reads, it would put more tags on an item than Miro allows): no call
    /// is made, and trying again cannot help.
    #[error("cannot be written: {0}")]
    Unwritable(String),
}
