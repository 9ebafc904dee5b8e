//! The sync engine: the processor (inbox → link state + outbox) and the dispatcher (outbox →
//! Miro REST and monday GraphQL calls), with the monday webhook subscriptions the receivers
//! depend on, the online check of a mappings file and the store's retention.
//!
//! ```text
//! inbox ─> processor ─(mapping::plan: pure)─> links + outbox ─> dispatcher ─> Miro / monday
//!   ^                                                                             │
//!   └── pollers (Miro), webhooks + reconciler (monday) ── own writes come back as echoes
//! ```

pub(crate) mod check;
pub mod dispatcher;
pub mod processor;
pub(crate) mod retention;
pub mod subscriptions;
