#![no_main]
//! The HTTP `Content-Range` parser (server-controlled input): never panics,
//! and what it accepts is a non-empty range inside the declared total.

use libfuzzer_sys::fuzz_target;
use otaseal::fetch::parse_content_range;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((start, end, total)) = parse_content_range(text) {
        assert!(start < end);
        if let Some(t) = total {
            assert!(end <= t);
        }
    }
});
