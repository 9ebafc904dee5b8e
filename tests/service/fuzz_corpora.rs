//! Every input saved in `fuzz/corpus/` (the seeds, what the fuzzers found worth keeping, and any
//! input that once failed) replayed through the fuzz targets' own checks, on stable Rust: the
//! fuzzers need nightly and run by hand, this runs in CI.

#[path = "../../fuzz/checks.rs"]
mod checks;

use std::path::Path;

/// Runs `check` on each file of `fuzz/corpus/TARGET`; answers how many there were.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{target} fails on {}", path.display());
        replayed += 1;
    }
    replayed
}

#[test]
fn the_miro_webhook_corpus_passes() {
    assert!(replay("miro_webhook", checks::miro_webhook) >= 3);
}

#[test]
fn the_monday_webhook_corpus_passes() {
    assert!(replay("monday_webhook", checks::monday_webhook) >= 6);
}

#[test]
fn the_mappings_file_corpus_passes() {
    assert!(replay("mappings_file", checks::mappings_file) >= 20);
}
