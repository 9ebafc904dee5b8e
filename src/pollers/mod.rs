//! Everything that finds changes by reading an API on a schedule: the Miro board scan with its
//! pace and credit share ([`schedule`], [`scan`]), the matching of items already on both boards
//! ([`backfill`]), the tag and connector polls, the Miro content-log feed and the monday
//! reconciler. A poller hands what it finds to the inbox (backfill may also link the items it
//! matches, through the store); it never writes to an API, and never imports the sync engine.

pub(crate) mod backfill;
pub mod connectors;
pub(crate) mod contentlog;
pub(crate) mod miro_items;
pub mod reconcile;
pub mod relation;
pub mod scan;
pub(crate) mod schedule;
pub mod tags;
