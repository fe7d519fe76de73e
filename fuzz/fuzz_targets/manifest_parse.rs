#![no_main]
//! `Manifest::parse` on arbitrary bytes: never panics, and whatever parses
//! re-encodes to exactly the input (the encoding is canonical).

use libfuzzer_sys::fuzz_target;
use otaseal::format::Manifest;

fuzz_target!(|data: &[u8]| {
    if let Ok((m, signed_len)) = Manifest::parse(data) {
        assert_eq!(m.to_bytes(), data);
        assert_eq!(&m.signed_bytes()[..], &data[..signed_len]);
        assert_eq!(m.encoded_len(), data.len());
    }
});
