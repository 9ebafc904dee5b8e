//! The planner: what one change means for its pair, as a pure function of the change, the link
//! state and the pair's mapping. No I/O happens here; the processor loads the link, calls
//! [`plan`], and stores what it returns in one transaction. Every rule of the sync (direction,
//! value maps, filters, order, echoes, conflicts, deletes, the loop breaker) lives in this folder.

mod comment;
mod decide;
mod guards;
mod lifecycle;
mod outcome;
mod scope;
mod state;

pub(crate) use decide::plan;
pub use outcome::Write;
pub(crate) use outcome::{Context, LinkChange, Outcome, Plan};
pub(crate) use scope::logical_value;
pub(crate) use state::{FieldState, LinkFields, LinkView};

#[cfg(test)]
pub(crate) mod tests;
