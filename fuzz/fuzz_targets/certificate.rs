#![no_main]
//! Release-key certificates: `Certificate::parse` never panics and what
//! parses re-encodes to the input; chains of arbitrary certificates are
//! rejected or parsed without panicking.

use libfuzzer_sys::fuzz_target;
use otaseal::format::cert::Certificate;

fuzz_target!(|data: &[u8]| {
    if let Ok((c, signed_len)) = Certificate::parse(data) {
        assert_eq!(c.to_bytes(), data);
        assert_eq!(&c.signed_bytes()[..], &data[..signed_len]);
    }
    // A chain: split the input at 0xff bytes into up to 9 certificates.
    let parts: Vec<Vec<u8>> = data
        .split(|b| *b == 0xff)
        .take(9)
        .map(<[u8]>::to_vec)
        .collect();
    let _ = otaseal::keys::trust::parse_chain(&parts);
});
