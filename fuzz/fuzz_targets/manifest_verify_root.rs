#![no_main]
//! `open::verify_manifest` under a pinned root (certificate chain, usage,
//! validity, channel, revocation): anything that verifies must be the one
//! manifest the certified release key signed, byte for byte.

use libfuzzer_sys::fuzz_target;
use otaseal::open::verify_manifest;
use otaseal_fuzz::fixture;

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    if verify_manifest(data, &f.root_trust).is_ok() {
        assert_eq!(
            data,
            &f.chained_manifest[..],
            "a manifest nobody signed verified"
        );
    }
});
