//! The dashboard: its pages over HTTP and its access control.

#[path = "../common/mod.rs"]
mod common;

mod dashboard;
mod dashboard_access;
