//! `cargo +nightly fuzz run monday_webhook`: the monday webhook parser takes any bytes without
//! panicking, and every event it accepts is keyed by its triggerUuid.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(events) = boardsync::ingress::parse_monday(data) {
        for e in events {
            assert!(e.key().len() > "monday:".len());
        }
    }
});
