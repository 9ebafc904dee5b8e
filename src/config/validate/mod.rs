//! The rules a mappings file must follow beyond its shape: names, boards, item types, fields,
//! value maps, filters and URLs. Every rule reports at the line and column of what breaks it, and
//! all of them run, so one `boardsync check` shows every problem at once.
//!
//! One `Checker` (`checker.rs`) walks the file; its rules are split by what they look at: the
//! daemon-wide sections (`settings.rs`), each pair and the pairs together (`pairs.rs`), and a
//! pair's fields (`fields.rs`).

mod checker;
mod fields;
mod pairs;
mod settings;

pub(super) use checker::Checker;
