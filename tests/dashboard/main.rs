//! The dashboard: its pages over HTTP, access control, and a headless browser.

#[path = "../common/mod.rs"]
mod common;

mod browser;
mod dashboard;
mod dashboard_access;
