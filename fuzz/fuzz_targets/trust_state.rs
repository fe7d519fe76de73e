#![no_main]
//! The persisted trust state: the document parser and `TrustState::from_bytes`
//! never panic; parsed documents re-encode to the input.

use libfuzzer_sys::fuzz_target;
use otaseal::format::trust_state::TrustStateDoc;
use otaseal::keys::trust::TrustState;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = TrustStateDoc::parse(data) {
        assert_eq!(doc.to_bytes(), data);
    }
    if let Ok(state) = TrustState::from_bytes(data) {
        let _ = state.revocation_sequence();
        let _ = TrustState::from_bytes(&state.to_bytes()).unwrap();
    }
});
