//! `cargo +nightly fuzz run mappings_file`: see `fuzz/checks.rs` for what it asserts.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::mappings_file(data));
