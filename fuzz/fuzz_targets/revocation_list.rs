#![no_main]
//! Revocation lists: parsing never panics, parsed lists re-encode to the
//! input, and only the list the fixture root signed verifies under it.

use libfuzzer_sys::fuzz_target;
use otaseal::format::revocation::RevocationList;
use otaseal::keys::trust::verify_revocation_list;
use otaseal_fuzz::fixture;

fuzz_target!(|data: &[u8]| {
    if let Ok((l, signed_len)) = RevocationList::parse(data) {
        assert_eq!(l.to_bytes(), data);
        assert_eq!(&l.signed_bytes()[..], &data[..signed_len]);
    }
    let f = fixture();
    if verify_revocation_list(data, &f.root).is_ok() {
        assert_eq!(data, &f.revocations[..]);
    }
});
