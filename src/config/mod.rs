//! The mappings file: the daemon's settings and the board pairs, as the rest of the program sees
//! them once they have been loaded and checked.
//!
//! Loading (`load.rs`) reads TOML into the file's raw shape (`raw.rs`) and reports every problem
//! with its file, line and column (`report.rs`); the rules a valid file must follow live in
//! `validate/`. What comes out is a [`Config`] (`settings.rs`) holding its pairs (`pair.rs`).
//! Nothing outside this module sees TOML, spans or unexpanded `${VAR}` strings.
//!
//! This file only names the parts and re-exports what the rest of the program uses; the parts
//! import one another directly, never through here.

mod load;
mod pair;
mod raw;
mod report;
mod settings;
mod units;
mod validate;

pub use pair::PairConfig;
pub(crate) use pair::{ConflictPolicy, DeletePolicy, Direction, FieldMapping, MiroAs, MiroSide};
pub use settings::Config;
pub(crate) use settings::{DashboardSettings, PollerSettings, Secret};
// For tests that build settings by hand (the pollers' among them).
#[cfg(test)]
pub(crate) use units::{Duration, Share};

#[cfg(test)]
mod tests;
