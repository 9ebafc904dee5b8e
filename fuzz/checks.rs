//! What each fuzz target asserts of one input. Shared by the fuzz targets (`cargo +nightly fuzz
//! run NAME`) and by `tests/service/fuzz_corpora.rs`, which replays every saved input on stable
//! Rust in CI, so an input that once failed stays fixed.

use std::path::Path;

/// The Miro webhook parser takes any bytes without panicking, and whatever it accepts has an item
/// id and a dedupe key.
pub fn miro_webhook(data: &[u8]) {
    if let Ok(events) = boardsync::ingress::parse_miro(data) {
        for e in events {
            assert!(e.key().starts_with("miro:"));
            let change = e.change().expect("Miro events always carry a change");
            assert!(!change.item.item().is_empty());
        }
    }
}

/// The monday webhook parser takes any bytes without panicking, and every event it accepts is
/// keyed by its triggerUuid.
pub fn monday_webhook(data: &[u8]) {
    if let Ok(events) = boardsync::ingress::parse_monday(data) {
        for e in events {
            assert!(e.key().len() > "monday:".len());
        }
    }
}

/// The mappings loader takes any text without panicking; a file it refuses gets at least one
/// problem, each naming the file and, when it has a place, a line and column inside the text.
pub fn mappings_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("fuzz.toml");
    // No environment: what the file says is all there is.
    if let Err(e) = boardsync::config::Config::parse(file, text, &|_| None) {
        assert!(!e.problems.is_empty(), "refused without a reason");
        let lines = text.split('\n').count();
        for p in &e.problems {
            assert_eq!(p.file, file);
            assert!(!p.message.is_empty());
            if let Some((line, col)) = p.at {
                assert!(
                    line >= 1 && line <= lines,
                    "{p} is past the end of the text"
                );
                assert!(col >= 1, "{p}");
            }
        }
    }
}
