//! The store: every SQL statement boardsync runs lives under this module.
//!
//! One interface, two backends: SQLite in a file (WAL mode) so a single machine needs no server,
//! and Postgres so several replicas can share one. Both go through sqlx's `Any` driver with the
//! same SQL text: `$1` placeholders, `ON CONFLICT`, `RETURNING` and upserts mean the same on both.
//! Where they must differ (claiming outbox rows under concurrency), the statement says so.
//!
//! Times are Unix milliseconds passed in by the caller, so tests can drive a clock of their own.

mod dashboard;
mod db;
mod inbox;
pub mod keys;
mod links;
mod outbox;
mod state;
mod sync;
mod tx;

pub use dashboard::HistoryRow;
pub use db::{Backend, Store};
pub(crate) use db::{StoreError, redact};
pub use inbox::{InboxEntry, InboxInsert, NewInboxEntry};
pub(crate) use links::stored as stored_id;
pub use links::{ItemLink, LinkState};
pub(crate) use outbox::OutboxEntry;
pub use outbox::{NewOutboxEntry, OutboxStatus};
pub(crate) use state::Pruned;
pub use state::{HistoryEntry, Snapshot};
pub(crate) use sync::{ConflictRecord, LinkWrite, NewConflict, ProcessedChange};
