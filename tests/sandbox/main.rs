//! The sandbox: its Miro and monday stand-ins, and their conformance to the published references.

#[path = "../common/mod.rs"]
mod common;
mod conformance;

mod sandbox_conformance;
mod sandbox_miro;
mod sandbox_monday;
