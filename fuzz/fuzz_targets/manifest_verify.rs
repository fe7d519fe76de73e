#![no_main]
//! `open::verify_manifest` under the fixture's trust anchor. Signatures are
//! strict and the encoding canonical, so anything that verifies must be one
//! of the manifests the fixture key signed, byte for byte. Range queries on
//! a verified manifest never panic.

use libfuzzer_sys::fuzz_target;
use otaseal::open::verify_manifest;
use otaseal_fuzz::fixture;

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    if let Ok(v) = verify_manifest(data, &f.trust) {
        assert!(
            f.bundles.iter().any(|b| b.manifest == data),
            "a manifest the key never signed verified"
        );
        let len = v.payload_len();
        let _ = v.chunks_covering(0..len);
        let _ = v.chunks_covering(len / 2..len + 1);
        let _ = v.chunk_range(v.chunk_count());
    }
});
