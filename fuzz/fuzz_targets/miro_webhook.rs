//! `cargo +nightly fuzz run miro_webhook`: the Miro webhook parser takes any bytes without
//! panicking, and whatever it accepts has an item id and a dedupe key.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(events) = boardsync::ingress::parse_miro(data) {
        for e in events {
            assert!(e.key().starts_with("miro:"));
            assert!(!e.change().expect("Miro events always carry a change").item.item().is_empty());
        }
    }
});
