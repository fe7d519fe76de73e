//! Sealing one bundle in memory (FORMAT.md §5): the chunk plan, AES-256-GCM
//! per chunk, the BLAKE3 subtree CV of each ciphertext chunk, and manifest
//! assembly and signing. No files, no threads: callers (the CLI, `batch`)
//! decide where bytes live and who runs [`BundleSealer::seal_chunk`].

use crate::cipher::{Backend, ChunkCipher, chunk_aad, chunk_nonce};
use crate::error::{Error, Result};
use crate::format::encoding::{self, BaseRef, Encoding, PayloadEncoding};
use crate::format::manifest::MAX_RECIPIENTS;
use crate::format::{AppId, Channel, ChunkEntry, ChunkSize, Manifest, ManifestBody, VersionLabel};
use crate::keys::{self, DataKey, RecipientPublicKey, Signer};
use crate::prelude::*;
use crate::tree;
use core::ops::Range;

/// What the publisher says about a release; everything else is derived.
#[derive(Debug, Clone)]
pub struct SealOptions {
    pub app_id: AppId,
    pub channel: Channel,
    pub version: VersionLabel,
    /// Monotonic release sequence; devices refuse anything not above theirs.
    pub sequence: u64,
    /// Unix seconds; recorded in the manifest.
    pub created: u64,
    /// Unix seconds after which devices must refuse the manifest. `new`
    /// leaves it unset; `otaseal seal` sets [`Lifetime::DEFAULT`] (90 days)
    /// unless told otherwise: see [`Lifetime::expires`].
    pub expires: Option<u64>,
    pub chunk_size: ChunkSize,
    pub backend: Backend,
}

impl SealOptions {
    pub fn new(app_id: AppId, channel: Channel, version: VersionLabel, sequence: u64) -> Self {
        Self {
            app_id,
            channel,
            version,
            sequence,
            created: crate::clock::Clock::System.now(),
            expires: None,
            chunk_size: ChunkSize::DEFAULT,
            backend: Backend::default(),
        }
    }
}

/// How long a sealed manifest stays valid: the `expires` it gets is its
/// `created` plus this (FORMAT.md §4), or none at all.
///
/// There is no zero lifetime: a manifest that expires the moment it is made
/// is a mistake, not a choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// No `expires` field: devices accept the manifest forever (until a
    /// newer sequence or a revocation replaces it). Open to freeze attacks.
    Never,
    /// `expires = created + seconds`.
    Seconds(core::num::NonZeroU64),
}

impl Lifetime {
    /// 90 days: a fleet that checks for updates at least monthly gets each
    /// release re-sealed (or superseded) well before devices start refusing
    /// it, while a mirror frozen on an old release stops being believed
    /// within a quarter (docs/OPERATIONS.md, "Expiry").
    pub const DEFAULT: Self = Self::Seconds(match core::num::NonZeroU64::new(90 * 86_400) {
        Some(s) => s,
        None => unreachable!(),
    });

    /// `seconds` long; `None` for zero.
    pub fn from_secs(seconds: u64) -> Option<Self> {
        core::num::NonZeroU64::new(seconds).map(Self::Seconds)
    }

    /// The `expires` of a manifest created at `created`.
    pub fn expires(self, created: u64) -> Option<u64> {
        match self {
            Self::Never => None,
            Self::Seconds(s) => Some(created.saturating_add(s.get())),
        }
    }

    /// The lifetime a manifest was sealed with (`expires - created`).
    pub fn of(created: u64, expires: Option<u64>) -> Option<u64> {
        expires.map(|e| e.saturating_sub(created))
    }
}

/// Seals the chunks of one bundle. Shared by reference between worker
/// threads: chunks may be sealed in any order and on any thread.
pub struct BundleSealer {
    /// The manifest as planned: root, chunk table and recipients are
    /// filled in by [`finish`](Self::finish).
    body: ManifestBody,
    key: DataKey,
    cipher: ChunkCipher,
    aad: [u8; 41],
    chunk_count: u32,
}

impl core::fmt::Debug for BundleSealer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BundleSealer")
            .field("bundle_id", &hex::encode(self.body.bundle_id))
            .field("plaintext_len", &self.body.plaintext_len)
            .field("chunk_count", &self.chunk_count)
            .finish_non_exhaustive()
    }
}

impl BundleSealer {
    /// Plans a bundle of `plaintext_len` bytes: draws a fresh data key and
    /// bundle id from `rng` (the OS CSPRNG in production).
    pub fn new(
        opts: &SealOptions,
        plaintext_len: u64,
        rng: &mut impl rand_core::CryptoRng,
    ) -> Result<Self> {
        if let Some(expires) = opts.expires
            && expires <= opts.created
        {
            return Err(Error::InvalidRequest(
                "expiry must be after the creation time".into(),
            ));
        }
        let chunk_count = u32::try_from(opts.chunk_size.chunk_count(plaintext_len))
            .ok()
            .filter(|n| *n <= crate::format::manifest::MAX_CHUNKS)
            .ok_or_else(|| {
                Error::InvalidRequest(format!(
                    "a {plaintext_len}-byte bundle needs more than {} chunks of {} bytes, so its manifest would exceed the {}-byte limit readers apply; use a larger chunk size",
                    crate::format::manifest::MAX_CHUNKS,
                    opts.chunk_size.bytes(),
                    crate::format::manifest::MAX_LEN
                ))
            })?;
        let key = DataKey::generate(rng);
        let mut bundle_id = [0u8; 16];
        rng.fill_bytes(&mut bundle_id);
        let body = ManifestBody {
            bundle_id,
            app_id: opts.app_id.clone(),
            channel: opts.channel.clone(),
            version: opts.version.clone(),
            sequence: opts.sequence,
            created: opts.created,
            expires: opts.expires,
            plaintext_len,
            chunk_size: opts.chunk_size,
            root: [0; 32],
            chunks: Vec::new(),
            recipients: Vec::new(),
            encoding: None,
        };
        Ok(Self {
            aad: chunk_aad(&bundle_id, plaintext_len, opts.chunk_size),
            cipher: ChunkCipher::new(opts.backend, &key),
            key,
            body,
            chunk_count,
        })
    }

    /// Marks the bundle as sealed as an encoding of another (FORMAT.md §17):
    /// the plaintext this sealer encrypts decodes, by `what.encoding` and
    /// against `what.base` if it needs one, to `what.result`. The result's
    /// and the base's lengths and keyed digests go into the signed
    /// manifest, which becomes version 2.
    pub fn encoded_as(&mut self, what: EncodedAs<'_>) -> Result<()> {
        if what.encoding.needs_base() != what.base.is_some() {
            return Err(Error::InvalidRequest(format!(
                "encoding {} {} a base",
                what.encoding,
                if what.encoding.needs_base() {
                    "needs"
                } else {
                    "takes no"
                }
            )));
        }
        if what.result.is_empty() {
            return Err(Error::InvalidRequest(
                "an encoded bundle must decode to at least one byte".into(),
            ));
        }
        let key = encoding::digest_key(self.key.expose());
        self.body.encoding = Some(PayloadEncoding {
            encoding: what.encoding,
            result_len: what.result.len() as u64,
            result_digest: encoding::plaintext_digest(&key, what.result),
            base: what.base.map(|b| BaseRef {
                sequence: b.sequence,
                version: b.version,
                len: b.bytes.len() as u64,
                digest: encoding::plaintext_digest(&key, b.bytes),
            }),
        });
        Ok(())
    }

    pub fn chunk_count(&self) -> u32 {
        self.chunk_count
    }

    pub fn plaintext_len(&self) -> u64 {
        self.body.plaintext_len
    }

    pub fn chunk_size(&self) -> ChunkSize {
        self.body.chunk_size
    }

    /// Byte range of chunk `index` in both the plaintext and the payload
    /// (they are the same length: tags live in the manifest).
    pub fn chunk_range(&self, index: u32) -> Range<u64> {
        self.body
            .chunk_size
            .chunk_range(self.body.plaintext_len, u64::from(index))
    }

    /// Encrypts chunk `index` in place and hashes the ciphertext while it is
    /// still in cache. `buf` holds exactly that chunk's plaintext.
    pub fn seal_chunk(&self, index: u32, buf: &mut [u8]) -> Result<ChunkEntry> {
        let (nonce, offset) = self.check_chunk(index, buf.len())?;
        let tag = self.cipher.seal_in_place(nonce, &self.aad, buf);
        Ok(self.entry(buf, offset, tag))
    }

    /// Like [`seal_chunk`](Self::seal_chunk), but reads the plaintext from
    /// `plaintext` (e.g. a file mapping) and leaves the ciphertext in `out`
    /// (of the same length), saving a copy where the backend encrypts out of place. The entry
    /// describes `out`, whatever happens to `plaintext` meanwhile.
    pub fn seal_chunk_into(
        &self,
        index: u32,
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<ChunkEntry> {
        let (nonce, offset) = self.check_chunk(index, plaintext.len())?;
        if out.len() != plaintext.len() {
            return Err(Error::ChunkLength {
                index,
                expected: plaintext.len() as u64,
                found: out.len() as u64,
            });
        }
        let tag = self.cipher.seal_into(nonce, &self.aad, plaintext, out);
        Ok(self.entry(out, offset, tag))
    }

    /// Checks that chunk `index` exists and is `len` bytes long; returns its
    /// nonce and offset.
    fn check_chunk(&self, index: u32, len: usize) -> Result<([u8; 12], u64)> {
        if index >= self.chunk_count {
            return Err(Error::ChunkIndexOutOfRange {
                index: u64::from(index),
                count: self.chunk_count,
            });
        }
        let range = self.chunk_range(index);
        let expected = range.end - range.start;
        if len as u64 != expected {
            return Err(Error::ChunkLength {
                index,
                expected,
                found: len as u64,
            });
        }
        let last = index + 1 == self.chunk_count;
        Ok((chunk_nonce(index, last), range.start))
    }

    /// The table entry of a sealed chunk: its BLAKE3 subtree CV, hashed
    /// while the ciphertext is still in cache, and its tag.
    fn entry(&self, ciphertext: &[u8], offset: u64, tag: [u8; 16]) -> ChunkEntry {
        let cv = tree::piece_cv(ciphertext, offset, self.chunk_count == 1);
        ChunkEntry { cv, tag }
    }

    /// Assembles and signs the manifest once every chunk is sealed. `chunks`
    /// is the table in chunk order. The data key is wrapped to each recipient
    /// and then dropped (zeroized) with the sealer.
    pub fn finish(
        self,
        chunks: Vec<ChunkEntry>,
        recipients: &[RecipientPublicKey],
        signer: &dyn Signer,
        rng: &mut impl rand_core::CryptoRng,
    ) -> Result<SealedManifest> {
        if chunks.len() != self.chunk_count as usize {
            return Err(Error::ChunkTableIncomplete {
                expected: self.chunk_count,
                found: chunks.len(),
            });
        }
        check_recipients(recipients)?;
        let root = tree::root_from(&chunks, |c| &c.cv);
        let stanzas = recipients
            .iter()
            .map(|r| keys::wrap_data_key(&self.key, r, &self.body.bundle_id, rng))
            .collect::<Result<Vec<_>>>()?;
        let mut body = self.body;
        body.root = root;
        body.chunks = chunks;
        body.recipients = stanzas;
        let (manifest, bytes) = keys::sign_document(body, signer)?;
        Ok(SealedManifest { manifest, bytes })
    }
}

fn check_recipients(recipients: &[RecipientPublicKey]) -> Result<()> {
    if recipients.is_empty() || recipients.len() > MAX_RECIPIENTS {
        return Err(Error::InvalidRequest(format!(
            "a bundle needs 1..={MAX_RECIPIENTS} recipients, got {}",
            recipients.len()
        )));
    }
    for (i, r) in recipients.iter().enumerate() {
        if recipients[..i].iter().any(|o| o.key_id() == r.key_id()) {
            return Err(Error::InvalidRequest(format!(
                "recipient {} given twice",
                r.key_id()
            )));
        }
    }
    Ok(())
}

/// What a bundle sealed as an encoding decodes to ([`BundleSealer::encoded_as`]).
#[derive(Debug, Clone)]
pub struct EncodedAs<'a> {
    pub encoding: Encoding,
    /// The bundle decoding produces.
    pub result: &'a [u8],
    /// The installed version a patch applies to.
    pub base: Option<Base<'a>>,
}

/// A base version, as the publisher has it.
#[derive(Debug, Clone)]
pub struct Base<'a> {
    /// The release sequence it was published as.
    pub sequence: u64,
    pub version: VersionLabel,
    pub bytes: &'a [u8],
}

/// A signed manifest and its exact encoding.
#[derive(Debug, Clone)]
pub struct SealedManifest {
    pub manifest: Manifest,
    pub bytes: Vec<u8>,
}

/// A sealed bundle held in memory.
#[derive(Debug, Clone)]
pub struct SealedBundle {
    /// The encrypted payload file (same length as the plaintext).
    pub payload: Vec<u8>,
    pub manifest: Manifest,
    /// The manifest file's bytes.
    pub manifest_bytes: Vec<u8>,
}

/// Seals `plaintext` with a fresh data key from the OS CSPRNG.
pub fn seal(
    plaintext: &[u8],
    opts: &SealOptions,
    recipients: &[RecipientPublicKey],
    signer: &dyn Signer,
) -> Result<SealedBundle> {
    seal_with_rng(plaintext, opts, recipients, signer, &mut keys::os_rng())
}

/// [`seal`] with an explicit random source. Only tests and test vectors
/// should pass anything but the OS CSPRNG.
pub fn seal_with_rng(
    plaintext: &[u8],
    opts: &SealOptions,
    recipients: &[RecipientPublicKey],
    signer: &dyn Signer,
    rng: &mut impl rand_core::CryptoRng,
) -> Result<SealedBundle> {
    seal_inner(plaintext, None, opts, recipients, signer, rng)
}

/// [`seal_with_rng`] of `encoded`, an encoding of another bundle
/// ([`BundleSealer::encoded_as`]): a version 2 manifest (FORMAT.md §17).
pub fn seal_encoded_with_rng(
    encoded: &[u8],
    what: EncodedAs<'_>,
    opts: &SealOptions,
    recipients: &[RecipientPublicKey],
    signer: &dyn Signer,
    rng: &mut impl rand_core::CryptoRng,
) -> Result<SealedBundle> {
    seal_inner(encoded, Some(what), opts, recipients, signer, rng)
}

fn seal_inner(
    plaintext: &[u8],
    encoded_as: Option<EncodedAs<'_>>,
    opts: &SealOptions,
    recipients: &[RecipientPublicKey],
    signer: &dyn Signer,
    rng: &mut impl rand_core::CryptoRng,
) -> Result<SealedBundle> {
    check_recipients(recipients)?;
    let mut sealer = BundleSealer::new(opts, plaintext.len() as u64, rng)?;
    if let Some(what) = encoded_as {
        sealer.encoded_as(what)?;
    }
    let mut payload = plaintext.to_vec();
    let chunk_len = opts.chunk_size.bytes() as usize;
    let chunks = if payload.is_empty() {
        vec![sealer.seal_chunk(0, &mut [])?]
    } else {
        payload
            .chunks_mut(chunk_len)
            .enumerate()
            .map(|(i, chunk)| sealer.seal_chunk(i as u32, chunk))
            .collect::<Result<Vec<_>>>()?
    };
    let sealed = sealer.finish(chunks, recipients, signer, rng)?;
    Ok(SealedBundle {
        payload,
        manifest: sealed.manifest,
        manifest_bytes: sealed.bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    #[test]
    fn bundles_whose_manifest_would_be_unreadable_are_refused() {
        use crate::format::manifest::MAX_CHUNKS;
        let mut o = SealOptions::new(
            "com.example.app".parse().unwrap(),
            "stable".parse().unwrap(),
            "1".parse().unwrap(),
            1,
        );
        o.chunk_size = ChunkSize::from_log2(14).unwrap();
        let chunk = o.chunk_size.bytes();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        assert!(BundleSealer::new(&o, u64::from(MAX_CHUNKS) * chunk, &mut rng).is_ok());
        assert!(matches!(
            BundleSealer::new(&o, u64::from(MAX_CHUNKS) * chunk + 1, &mut rng),
            Err(Error::InvalidRequest(_))
        ));
    }

    #[test]
    fn lifetimes() {
        let secs = |n| Lifetime::from_secs(n).unwrap();
        assert_eq!(Lifetime::from_secs(0), None);
        assert_eq!(secs(90 * 86_400), Lifetime::DEFAULT);
        assert_eq!(Lifetime::DEFAULT.expires(100), Some(100 + 90 * 86_400));
        assert_eq!(Lifetime::Never.expires(100), None);
        assert_eq!(secs(5).expires(u64::MAX), Some(u64::MAX));
        assert_eq!(Lifetime::of(100, Some(130)), Some(30));
        assert_eq!(Lifetime::of(100, None), None);
    }

    #[test]
    fn sealing_out_of_place_equals_in_place_on_every_backend() {
        let plain: Vec<u8> = (0..40_000u32).map(|i| (i * 7) as u8).collect();
        for &backend in Backend::ALL {
            let mut o = SealOptions::new(
                "com.example.app".parse().unwrap(),
                "stable".parse().unwrap(),
                "1".parse().unwrap(),
                1,
            );
            o.chunk_size = ChunkSize::from_log2(14).unwrap();
            o.backend = backend;
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
            let sealer = BundleSealer::new(&o, plain.len() as u64, &mut rng).unwrap();
            for i in 0..sealer.chunk_count() {
                let r = sealer.chunk_range(i);
                let src = &plain[r.start as usize..r.end as usize];
                let mut in_place = src.to_vec();
                let a = sealer.seal_chunk(i, &mut in_place).unwrap();
                let mut out = vec![0u8; src.len()];
                let b = sealer.seal_chunk_into(i, src, &mut out).unwrap();
                assert_eq!((a.cv, a.tag), (b.cv, b.tag), "{}", backend.name());
                assert_eq!(out, in_place, "{}", backend.name());
                let mut short = vec![0u8; src.len() - 1];
                assert!(matches!(
                    sealer.seal_chunk_into(i, src, &mut short),
                    Err(Error::ChunkLength { .. })
                ));
            }
            assert!(matches!(
                sealer.seal_chunk_into(sealer.chunk_count(), &[], &mut []),
                Err(Error::ChunkIndexOutOfRange { .. })
            ));
        }
    }
}
