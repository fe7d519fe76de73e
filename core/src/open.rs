//! The device side (FORMAT.md §7): verify a manifest, verify any chunk or
//! byte range of a payload, and decrypt only chunks that verified.
//!
//! Nothing from outside is trusted before it is checked: a [`Manifest`] is
//! only usable through a [`VerifiedManifest`], which exists only after the
//! signature and the table/root binding have been checked; and
//! [`ChunkOpener::decrypt_chunk`] verifies a chunk's hash before decrypting.

use crate::cipher::{Backend, ChunkCipher, chunk_aad, chunk_nonce};
use crate::error::{Error, Result};
use crate::format::Manifest;
use crate::keys::trust::RootTrust;
use crate::keys::{self, RecipientSecretKey, VerifyingKey};
use crate::prelude::*;
use crate::tree;
use core::ops::Range;
use subtle::ConstantTimeEq;

pub mod encoded;
#[cfg(feature = "std")]
mod file;
#[cfg(feature = "encoding")]
pub use file::decode_payload_file;
#[cfg(feature = "std")]
pub use file::{
    decrypt_payload_file, open_payload_file, read_manifest_file, thread_count,
    verify_manifest_file, verify_payload_file, verify_range_file,
};

/// What a verifier trusts to sign manifests.
#[derive(Debug, Clone)]
pub enum TrustAnchor {
    /// Manifests must be signed directly by this key.
    SigningKey(VerifyingKey),
    /// Manifests must carry a certificate chain up to this pinned root,
    /// valid now and when the manifest was created, allowed for its channel,
    /// and not revoked (`keys::trust`, `docs/FORMAT.md` §10.6).
    Root(RootTrust),
}

/// A manifest whose signature and chunk table have been verified.
#[derive(Debug, Clone)]
pub struct VerifiedManifest {
    manifest: Manifest,
    bytes_len: usize,
}

/// Parses `bytes` and verifies the manifest against `trust`:
/// the signer is trusted, the signature covers every byte before it, and the
/// chunk table merges to the signed root.
pub fn verify_manifest(bytes: &[u8], trust: &TrustAnchor) -> Result<VerifiedManifest> {
    let (manifest, signed_len) = Manifest::parse(bytes)?;
    match trust {
        TrustAnchor::SigningKey(key) => key.verify_document(&manifest, &bytes[..signed_len])?,
        TrustAnchor::Root(root) => {
            root.verify_signer(&manifest, &bytes[..signed_len])?;
        }
    }
    if tree::root_from(&manifest.chunks, |c| &c.cv) != manifest.root {
        return Err(Error::TableRootMismatch);
    }
    Ok(VerifiedManifest {
        manifest,
        bytes_len: bytes.len(),
    })
}

impl VerifiedManifest {
    /// [`Error::EncodingMismatch`] for a bundle sealed as an encoding
    /// (FORMAT.md §17): where a caller wants the bundle itself, decrypting
    /// would hand it a patch or a compressed stream as if it were.
    pub fn refuse_encoded(&self) -> Result<()> {
        match self.manifest.encoding {
            None => Ok(()),
            Some(_) => Err(Error::EncodingMismatch(
                "this bundle is sealed as an encoding (compressed or a delta): it is opened by decoding, which checks its result",
            )),
        }
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Refuses the manifest at or after its `expires`, by the verifier's
    /// clock `now`: every verifier checks it, with device state or without
    /// (FORMAT.md §7 step 3), under the one rule of
    /// [`crate::policy::check_fresh`].
    pub fn check_fresh(&self, now: u64) -> Result<()> {
        crate::policy::check_fresh(&self.manifest, now, None)?;
        Ok(())
    }

    /// Size of the encoded manifest in bytes.
    pub fn encoded_len(&self) -> usize {
        self.bytes_len
    }

    pub fn chunk_count(&self) -> u32 {
        self.manifest.chunks.len() as u32
    }

    /// Payload length (equal to the plaintext length).
    pub fn payload_len(&self) -> u64 {
        self.manifest.plaintext_len
    }

    /// Byte range of chunk `index` within the payload.
    pub fn chunk_range(&self, index: u32) -> Result<Range<u64>> {
        if index >= self.chunk_count() {
            return Err(Error::ChunkIndexOutOfRange {
                index: u64::from(index),
                count: self.chunk_count(),
            });
        }
        Ok(self
            .manifest
            .chunk_size
            .chunk_range(self.payload_len(), u64::from(index)))
    }

    /// The chunks that hold the payload bytes `range` (empty for an empty range).
    pub fn chunks_covering(&self, range: Range<u64>) -> Result<Range<u32>> {
        let len = self.payload_len();
        if range.start > range.end || range.end > len {
            return Err(Error::RangeOutOfBounds {
                start: range.start,
                end: range.end,
                len,
            });
        }
        if range.is_empty() {
            return Ok(0..0);
        }
        let log2 = self.manifest.chunk_size.log2();
        // The chunk count fits in u32, so these indexes do too.
        Ok((range.start >> log2) as u32..((range.end - 1) >> log2) as u32 + 1)
    }

    /// Checks one downloaded chunk against the signed table, without any key.
    pub fn verify_chunk(&self, index: u32, chunk: &[u8]) -> Result<()> {
        let range = self.chunk_range(index)?;
        let expected = range.end - range.start;
        if chunk.len() as u64 != expected {
            return Err(Error::ChunkLength {
                index,
                expected,
                found: chunk.len() as u64,
            });
        }
        let cv = tree::piece_cv(chunk, range.start, self.chunk_count() == 1);
        let want = &self.manifest.chunks[index as usize].cv;
        if bool::from(cv.ct_eq(want)) {
            Ok(())
        } else {
            Err(Error::ChunkHashMismatch { index })
        }
    }

    /// Verifies every chunk that overlaps `range` of a payload. `payload` is
    /// the whole payload (typically a memory map); its length is checked first.
    pub fn verify_range(&self, payload: &[u8], range: Range<u64>) -> Result<Range<u32>> {
        self.check_payload_len(payload)?;
        let chunks = self.chunks_covering(range)?;
        for index in chunks.clone() {
            let r = self.chunk_range(index)?;
            self.verify_chunk(index, &payload[r.start as usize..r.end as usize])?;
        }
        Ok(chunks)
    }

    /// Verifies every chunk of a whole payload.
    pub fn verify_payload(&self, payload: &[u8]) -> Result<()> {
        self.check_payload_len(payload)?;
        for index in 0..self.chunk_count() {
            let r = self.chunk_range(index)?;
            self.verify_chunk(index, &payload[r.start as usize..r.end as usize])?;
        }
        Ok(())
    }

    fn check_payload_len(&self, payload: &[u8]) -> Result<()> {
        let found = payload.len() as u64;
        if found == self.payload_len() {
            Ok(())
        } else {
            Err(Error::PayloadLength {
                expected: self.payload_len(),
                found,
            })
        }
    }

    /// Unwraps the data key with this device's key, for decrypting chunks.
    pub fn opener(&self, device: &RecipientSecretKey) -> Result<ChunkOpener<'_>> {
        self.opener_with_backend(device, Backend::default())
    }

    pub fn opener_with_backend(
        &self,
        device: &RecipientSecretKey,
        backend: Backend,
    ) -> Result<ChunkOpener<'_>> {
        Ok(ChunkOpener {
            verified: self,
            key: ChunkKey::new(self, device, backend)?,
        })
    }
}

/// The data key of one bundle, unwrapped and ready to open its chunks. It
/// does not borrow the manifest, so a holder that owns the manifest too
/// (`crate::session::Session`) can keep both; it is only ever used with
/// the [`VerifiedManifest`] it was unwrapped from.
pub(crate) struct ChunkKey {
    cipher: ChunkCipher,
    aad: [u8; 41],
    /// The key of the bundle's plaintext digests (FORMAT.md §17.3).
    pub(crate) digest_key: zeroize::Zeroizing<[u8; 32]>,
}

impl ChunkKey {
    pub(crate) fn new(
        verified: &VerifiedManifest,
        device: &RecipientSecretKey,
        backend: Backend,
    ) -> Result<Self> {
        let m = &verified.manifest;
        let key = keys::unwrap_data_key(&m.recipients, device, &m.bundle_id)?;
        Ok(Self {
            cipher: ChunkCipher::new(backend, &key),
            aad: chunk_aad(&m.bundle_id, m.plaintext_len, m.chunk_size),
            digest_key: zeroize::Zeroizing::new(crate::format::encoding::digest_key(key.expose())),
        })
    }

    /// [`ChunkOpener::decrypt_chunk`] with the manifest passed in.
    pub(crate) fn decrypt_chunk(
        &self,
        verified: &VerifiedManifest,
        index: u32,
        ciphertext: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        verified.verify_chunk(index, ciphertext)?;
        if out.len() != ciphertext.len() {
            return Err(Error::ChunkLength {
                index,
                expected: ciphertext.len() as u64,
                found: out.len() as u64,
            });
        }
        out.copy_from_slice(ciphertext);
        self.open_verified_in_place(verified, index, out)
    }

    /// Decrypts chunk `index` in place in `buf`, which the caller has just
    /// verified against the table and which no one else can change.
    pub(crate) fn open_verified_in_place(
        &self,
        verified: &VerifiedManifest,
        index: u32,
        buf: &mut [u8],
    ) -> Result<()> {
        let last = index + 1 == verified.chunk_count();
        let tag = &verified.manifest.chunks[index as usize].tag;
        self.cipher
            .open_in_place(chunk_nonce(index, last), &self.aad, buf, tag)
            .map_err(|_| {
                buf.fill(0);
                Error::ChunkTagMismatch { index }
            })
    }
}

impl core::fmt::Debug for ChunkKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChunkKey").finish_non_exhaustive()
    }
}

/// Decrypts chunks of one verified bundle.
pub struct ChunkOpener<'m> {
    verified: &'m VerifiedManifest,
    key: ChunkKey,
}

impl core::fmt::Debug for ChunkOpener<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChunkOpener").finish_non_exhaustive()
    }
}

impl ChunkOpener<'_> {
    /// Verifies chunk `index` against the manifest and only then decrypts it
    /// into `out` (which must be the chunk's length). On error `out` holds no
    /// plaintext.
    pub fn decrypt_chunk(&self, index: u32, ciphertext: &[u8], out: &mut [u8]) -> Result<()> {
        self.key
            .decrypt_chunk(self.verified, index, ciphertext, out)
    }

    /// Verifies and decrypts a whole payload into a new buffer (for an
    /// encoded bundle, the encoded bytes: see [`open`]).
    pub fn decrypt_payload(&self, payload: &[u8]) -> Result<Vec<u8>> {
        self.verified.check_payload_len(payload)?;
        let mut plain = vec![0u8; payload.len()];
        for index in 0..self.verified.chunk_count() {
            let r = self.verified.chunk_range(index)?;
            let (s, e) = (r.start as usize, r.end as usize);
            if let Err(err) = self.decrypt_chunk(index, &payload[s..e], &mut plain[s..e]) {
                plain.fill(0);
                return Err(err);
            }
        }
        Ok(plain)
    }
}

/// Verifies `manifest_bytes` against `trust`, then verifies and decrypts the
/// whole `payload` with `device`'s key. A bundle sealed as an encoding
/// (FORMAT.md §17) is refused: its plaintext is not the bundle
/// (`open_payload_file` decodes and checks it).
pub fn open(
    payload: &[u8],
    manifest_bytes: &[u8],
    trust: &TrustAnchor,
    device: &RecipientSecretKey,
) -> Result<Vec<u8>> {
    let verified = verify_manifest(manifest_bytes, trust)?;
    verified.refuse_encoded()?;
    verified.verify_payload(payload)?;
    verified.opener(device)?.decrypt_payload(payload)
}
