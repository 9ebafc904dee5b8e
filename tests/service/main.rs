//! The daemon's edges: the webhook receivers, dedupe, start-up and health, the store's contract
//! and faults, the compose file, and `check` of a mappings file.

#[path = "../common/mod.rs"]
mod common;

mod check;
mod check_online;
mod compose;
mod daemon;
mod dedupe;
mod ingress;
mod ingress_parsers;
mod ingress_property;
mod store_contract;
mod store_faults;
