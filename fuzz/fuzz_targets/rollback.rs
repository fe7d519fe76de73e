#![no_main]
//! The rollback-authorisation parser and verifier: parsed documents
//! re-encode to the input, and only the exact authorisation the fixture's
//! rollback key signed verifies.

use libfuzzer_sys::fuzz_target;
use otaseal::format::rollback::RollbackAuthorisation;
use otaseal::policy::{RollbackTrust, verify_rollback};
use otaseal_fuzz::fixture;

fuzz_target!(|data: &[u8]| {
    if let Ok((a, signed_len)) = RollbackAuthorisation::parse(data) {
        assert_eq!(a.to_bytes(), data);
        assert_eq!(&a.signed_bytes()[..], &data[..signed_len]);
    }
    let f = fixture();
    if verify_rollback(data, &RollbackTrust::Key(f.rollback_key)).is_ok() {
        assert_eq!(data, &f.rollback[..]);
    }
});
