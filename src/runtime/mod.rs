//! What the pollers and the sync engine share, so that neither imports the other: the
//! [`Engine`] (store, clients, config, clock, wake-ups, the event channel) and the [`Lease`]
//! that lets one replica at a time run a part.

mod engine;
mod lease;
mod monday_reads;
mod write_error;

pub use engine::Engine;
pub(crate) use engine::SyncEvent;
pub(crate) use lease::Lease;
pub(crate) use monday_reads::linked_item_ids;
pub(crate) use write_error::WriteError;
