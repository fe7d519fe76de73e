#![no_main]
//! The `otaseal1:` key-text parser: never panics; what parses re-encodes
//! to a line that parses to the same key, and loads as a key or fails cleanly.

use libfuzzer_sys::fuzz_target;
use otaseal::format::keytext::KeyText;
use otaseal::keys::file::AnyKey;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(k) = KeyText::parse(text) {
        let line = k.encode();
        assert_eq!(KeyText::parse(&line).unwrap(), k);
        let _ = AnyKey::from_text(&k);
    }
});
