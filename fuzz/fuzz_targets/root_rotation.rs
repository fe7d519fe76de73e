#![no_main]
//! Root rotation statements: parsing never panics, parsed statements
//! re-encode to the input, and applying arbitrary bytes to a trust state
//! pinned to the fixture root only ever succeeds for the signed statement.

use libfuzzer_sys::fuzz_target;
use otaseal::format::rotation::RotationStatement;
use otaseal::keys::trust::{RotationOutcome, TrustState};
use otaseal_fuzz::fixture;

fuzz_target!(|data: &[u8]| {
    if let Ok((st, signed_len)) = RotationStatement::parse(data) {
        assert_eq!(st.to_bytes(), data);
        assert_eq!(&st.signed_bytes()[..], &data[..signed_len]);
    }
    let f = fixture();
    let mut state = TrustState::new(f.root);
    if let Ok(RotationOutcome::Rotated { .. }) = state.apply_rotation(data) {
        assert_eq!(data, &f.rotation[..]);
    }
});
