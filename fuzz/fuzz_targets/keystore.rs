#![no_main]
//! Encrypted key files: `KeystoreFile::parse` and `EncryptedKey::parse`
//! never panic (no unlock: Argon2 is far too slow to fuzz); parsed files
//! re-encode to the input.

use libfuzzer_sys::fuzz_target;
use otaseal::format::keystore::KeystoreFile;
use otaseal::keys::keystore::EncryptedKey;

fuzz_target!(|data: &[u8]| {
    if let Ok(k) = KeystoreFile::parse(data) {
        assert_eq!(k.to_bytes(), data);
    }
    if let Ok(k) = EncryptedKey::parse(data) {
        let _ = (k.alg(), k.role(), k.key_id(), k.kdf_params());
        assert_eq!(k.to_bytes(), data);
    }
});
