//! Opening bundles that live in files: the manifest read under its format's
//! size cap, payloads mapped or read by [`files::read_input`] (never more
//! than the manifest's length plus one byte), and plaintext written through
//! [`AtomicFile`], so it appears only once every chunk has verified and
//! decrypted. `otaseal open`, `verify`, `install-check`, `fetch
//! --decrypt-to` and the demo all go through here.

use super::{TrustAnchor, VerifiedManifest, verify_manifest};
use crate::error::Result;
use crate::files::{self, AtomicFile};
use crate::format::manifest::MAX_LEN;
use crate::keys::RecipientSecretKey;
use core::ops::Range;
use std::path::Path;

/// Reads the manifest file `path` (at most [`MAX_LEN`] bytes: a FIFO or
/// `/dev/zero` given as a manifest costs no more) and verifies it against
/// `trust` ([`verify_manifest`]).
pub fn verify_manifest_file(path: &Path, trust: &TrustAnchor) -> Result<VerifiedManifest> {
    let bytes = files::read_capped(path, "manifest", MAX_LEN)?;
    verify_manifest(&bytes, trust)
}

impl VerifiedManifest {
    /// Verifies every chunk of the payload file `payload`
    /// ([`verify_payload`](Self::verify_payload)).
    pub fn verify_payload_file(&self, payload: &Path) -> Result<()> {
        self.verify_payload(&files::read_input(payload, self.payload_len())?)
    }

    /// Verifies the chunks of the payload file `payload` that overlap
    /// `range` ([`verify_range`](Self::verify_range)); returns them.
    pub fn verify_range_file(&self, payload: &Path, range: Range<u64>) -> Result<Range<u32>> {
        self.verify_range(&files::read_input(payload, self.payload_len())?, range)
    }

    /// Verifies the whole payload file `payload`, then decrypts it with
    /// `device`'s key into `out` (mode 0600), which appears only once every
    /// chunk has verified and decrypted; on any failure nothing is left at
    /// `out`. The whole payload is verified before the data key is even
    /// unwrapped, so a damaged payload is reported as such (not as a key
    /// problem) and no plaintext of it is ever written, not even to the
    /// temporary; each chunk is verified again as it is decrypted.
    pub fn decrypt_file(
        &self,
        payload: &Path,
        device: &RecipientSecretKey,
        out: &Path,
    ) -> Result<()> {
        let payload = files::read_input(payload, self.payload_len())?;
        self.verify_payload(&payload)?;
        let opener = self.opener(device)?;
        let mut file = AtomicFile::create(out)?;
        opener.decrypt_chunks(&payload, |plain| file.write_all(plain))?;
        file.commit(0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::format::ChunkSize;
    use crate::keys::{self, KemId, SigningKey};
    use crate::prelude::*;
    use crate::seal::{SealOptions, seal};

    #[test]
    fn payload_files_verify_and_open_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut rng = keys::os_rng();
        let signer = SigningKey::generate(&mut rng);
        let device = RecipientSecretKey::generate(KemId::X25519, &mut rng);
        let mut opts = SealOptions::new(
            "com.example.app".parse().unwrap(),
            "stable".parse().unwrap(),
            "1".parse().unwrap(),
            1,
        );
        opts.chunk_size = ChunkSize::from_log2(14).unwrap();
        // Over the mapping threshold, so the payload is mapped.
        let plain: Vec<u8> = (0..files::MMAP_THRESHOLD + 1000)
            .map(|i| (i * 13) as u8)
            .collect();
        let sealed = seal(&plain, &opts, &[device.public_key().clone()], &signer).unwrap();
        let (manifest, payload) = (d.join("b.manifest"), d.join("b.payload"));
        std::fs::write(&manifest, &sealed.manifest_bytes).unwrap();
        std::fs::write(&payload, &sealed.payload).unwrap();
        let trust = TrustAnchor::SigningKey(signer.verifying_key());

        let v = verify_manifest_file(&manifest, &trust).unwrap();
        v.verify_payload_file(&payload).unwrap();
        let out = d.join("out");
        v.decrypt_file(&payload, &device, &out).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), plain);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        // One flipped byte in chunk 3: the whole payload fails, a range
        // before it still verifies, and decrypting leaves no file at all.
        let mut bad = sealed.payload.clone();
        bad[3 * 16_384 + 7] ^= 1;
        let tampered = d.join("tampered.payload");
        std::fs::write(&tampered, &bad).unwrap();
        assert!(matches!(
            v.verify_payload_file(&tampered),
            Err(Error::ChunkHashMismatch { index: 3 })
        ));
        assert_eq!(v.verify_range_file(&tampered, 0..3 * 16_384).unwrap(), 0..3);
        let entries = std::fs::read_dir(d).unwrap().count();
        assert!(matches!(
            v.decrypt_file(&tampered, &device, &d.join("out2")),
            Err(Error::ChunkHashMismatch { index: 3 })
        ));
        assert_eq!(std::fs::read_dir(d).unwrap().count(), entries);

        // A truncated payload is refused by length before any chunk.
        std::fs::write(&tampered, &sealed.payload[..plain.len() - 1]).unwrap();
        assert!(matches!(
            v.decrypt_file(&tampered, &device, &d.join("out2")),
            Err(Error::PayloadLength { .. })
        ));
        assert!(!d.join("out2").exists());
    }
}
