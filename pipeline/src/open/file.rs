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
use std::ops::Range;
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
