#![no_main]
//! The partial-download record parser: never panics; parsed records
//! re-encode to the input.

use libfuzzer_sys::fuzz_target;
use otaseal::format::fetch_record::FetchRecord;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = FetchRecord::parse(data) {
        assert_eq!(r.to_bytes(), data);
    }
});
