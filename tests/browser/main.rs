//! The dashboard in headless Chromium, in a binary of its own. Chromium takes a core to itself.
//! Beside the dashboard tests, on two cores, a `boardsync pause` run next to a daemon on SQLite
//! waited out its minute for the write lock ("database is locked"). That is an open problem,
//! described in docs/reliability.md; the tests do not hide it, they run apart.

#[path = "../common/mod.rs"]
mod common;

mod browser;
