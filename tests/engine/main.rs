//! The sync engine end to end: the daemon (or its parts) against the sandbox on both stores:
//! convergence, the right value, tags, connectors, comments, the reconciler, backfill, the
//! dispatcher, the pollers, two pairs, supervised workers and the metrics they move.

#[path = "../common/mod.rs"]
mod common;
mod relations;

mod backfill;
mod comments;
mod connectors;
mod dispatcher;
mod many_pairs;
mod metrics;
mod pollers;
mod reconcile;
mod replicas;
mod right_value;
mod sync;
mod tags;
mod two_pairs;
mod workers;
