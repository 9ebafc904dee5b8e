//! The processor: takes inbox entries in order, applies the pair's mapping through the pure
//! planner, and writes link state and outbox rows in one transaction. Before planning it reads
//! what a change lacks (`fetch.rs`) and a tag's or connector's current state (`relations.rs`).

mod fetch;
mod relations;
mod run;

pub(crate) use run::run_as;
pub use run::{process, run};
