//! A store failure met while writing to an API is retried as a transient API failure.

use crate::clients::ApiError;
use crate::store::StoreError;

/// The store failed midway through a write: retried like a transient API failure.
pub fn store_error(e: StoreError) -> ApiError {
    ApiError::Transient(format!("the store: {e}"))
}
