//! The daemon's edges and its stand-ins: the webhook receivers, dedupe, start-up and health, the
//! store's contract and faults, the compose file, `check` of a mappings file, and the sandbox's
//! Miro and monday APIs with their conformance to the published references.

#[path = "../common/mod.rs"]
mod common;
mod conformance;

mod check;
mod check_online;
mod compose;
mod connections;
mod daemon;
mod dedupe;
mod fuzz_corpora;
mod ingress;
mod ingress_parsers;
mod ingress_property;
mod sandbox_conformance;
mod sandbox_miro;
mod sandbox_monday;
mod store_contract;
mod store_faults;
