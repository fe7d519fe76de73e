#![no_main]
//! The partial-download record parser, on the input as a whole file and as a
//! body with the correct checksum appended (to reach the checks behind it):
//! never panics; parsed records re-encode to the input.

use libfuzzer_sys::fuzz_target;
use otaseal::format::fetch_record::{CHECKSUM_CONTEXT, FetchRecord};
use otaseal_fuzz::with_checksum;

fuzz_target!(|data: &[u8]| {
    let sealed = with_checksum(data, CHECKSUM_CONTEXT);
    for input in [data, &sealed[..]] {
        if let Ok(r) = FetchRecord::parse(input) {
            assert_eq!(r.to_bytes(), input);
        }
    }
});
