//! boardsync keeps Miro boards and monday.com boards in step, both ways.
//!
//! Changes come in through webhook receivers and pollers, become one normalised change each, and
//! are stored in a durable inbox after dedupe. A processor applies the user's mapping (which item
//! types, fields, values and directions), suppresses echoes of boardsync's own writes and settles
//! conflicts, then writes link state and outbox rows in one transaction. A dispatcher drains the
//! outbox into the Miro REST API and the monday GraphQL API, within both rate limits, retrying what
//! can be retried and keeping what cannot as dead letters. A dashboard shows it all.
//!
//! ```text
//! receivers / pollers ─> normalise ─> dedupe ─> inbox ─> processor ─> outbox ─> dispatcher ─> APIs
//!                          store (SQLite | Postgres) <── dashboard, /metrics
//! ```
//!
//! Modules (how a change travels through them: `docs/architecture.md`):
//! - [`config`] — the mappings file, loaded and checked with line and column for every problem;
//! - [`domain`] — ids, the normalised change, and the vocabulary the parts share;
//! - [`ingress`] — the webhook receivers: verify, parse, dedupe, store, then answer;
//! - [`pollers`] — what finds changes by reading an API on a schedule: the Miro board scan, tags,
//!   connectors, the content log, the monday reconciler, backfill;
//! - [`mapping`] — the mapping layer, pure: value conversion and the planner;
//! - [`sync`] — the engine: the processor (inbox → links + outbox), the dispatcher (outbox →
//!   APIs), subscriptions;
//! - [`runtime`] — what the pollers and the engine share: the `Engine` and leases;
//! - [`clients`] — the Miro REST client and the monday GraphQL client;
//! - [`dashboard`] — the status pages, `/api/status`, the live stream, `/metrics`, health checks;
//! - [`metrics`] — the Prometheus metrics served at `/metrics`;
//! - [`sandbox`] — local stand-ins for the Miro and monday APIs;
//! - [`store`] — every SQL statement, on SQLite and Postgres alike;
//! - [`app`] — the daemon: its HTTP server, background tasks and shutdown;
//! - [`supervisor`] — runs every background task, restarts one that fails, reports their states;
//! - [`cli`] — the command line;
//! - [`telemetry`] — logging.

pub mod app;
pub mod cli;
pub(crate) mod clients;
pub mod clock;
pub mod config;
pub mod dashboard;
pub(crate) mod demo;
pub mod domain;
pub mod ingress;
pub mod mapping;
pub mod metrics;
pub mod pollers;
pub mod runtime;
pub mod sandbox;
pub(crate) mod server;
pub mod store;
pub mod supervisor;
pub mod sync;
pub mod telemetry;
