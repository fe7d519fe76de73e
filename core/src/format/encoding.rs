//! The encoding section of a version 2 manifest (`docs/FORMAT.md` §17): what
//! the sealed plaintext is an encoding *of*.
//!
//! A version 1 manifest seals the bundle itself. A version 2 manifest seals
//! an encoding of it — compressed, or a patch against a base version the
//! device already has — and says which, together with the length and a
//! digest of the bundle the decoding must produce and, for a patch, the base
//! it applies to. Everything here is under the manifest's signature. The
//! digests are BLAKE3 *keyed* with a key derived from the bundle's data key
//! ([`digest_key`]), so only a recipient can compute or test them: a
//! digest readable by anyone would let an observer confirm a guess of the
//! plaintext (a known release, a known firmware image).

use super::{FormatError, Reader, VersionLabel, Writer};
use crate::prelude::*;

/// `derive_key` context of the plaintext digest key (FORMAT.md §17.3).
pub const DIGEST_KEY_CONTEXT: &str = "otaseal 2026-12 plaintext digest key";

/// Bytes the encoding section takes at most: encoding, result length and
/// digest, and a base with the longest version label.
pub const MAX_SECTION_LEN: usize = 1 + 8 + 32 + (8 + 1 + 64 + 8 + 32);

/// How the sealed plaintext encodes the bundle (FORMAT.md §17.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// One or more zstd frames (RFC 8878) whose concatenated content is the
    /// bundle.
    Zstd,
    /// One zstd frame whose content is the bundle, compressed with the base
    /// as a raw-content prefix (`zstd --patch-from`, `ZSTD_refPrefix`).
    ZstdPatch,
    /// A bsdiff patch against the base in the interleaved layout of §17.5,
    /// compressed as one zstd frame without a prefix.
    Bsdiff,
    /// The same bsdiff patch compressed as exactly one .xz stream (LZMA2,
    /// dictionary at most 16 MiB) instead: smaller for machine code, whose
    /// sparse diff bytes zstd's entropy coder handles less well.
    BsdiffXz,
}

impl Encoding {
    /// Every encoding this reader knows, in code order. The codes are a
    /// registry (FORMAT.md §17.2): a reader refuses any other.
    pub const ALL: [Encoding; 4] = [
        Encoding::Zstd,
        Encoding::ZstdPatch,
        Encoding::Bsdiff,
        Encoding::BsdiffXz,
    ];

    pub fn code(self) -> u8 {
        match self {
            Self::Zstd => 1,
            Self::ZstdPatch => 2,
            Self::Bsdiff => 3,
            Self::BsdiffXz => 4,
        }
    }

    pub fn from_code(code: u8) -> Result<Self, FormatError> {
        Self::ALL
            .into_iter()
            .find(|e| e.code() == code)
            .ok_or_else(|| FormatError::invalid("encoding", format!("unknown encoding {code}")))
    }

    /// Whether decoding needs a base.
    pub fn needs_base(self) -> bool {
        !matches!(self, Self::Zstd)
    }

    /// The name the command line and the batch index's JSON use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Zstd => "zstd",
            Self::ZstdPatch => "zstd-patch",
            Self::Bsdiff => "bsdiff",
            Self::BsdiffXz => "bsdiff-xz",
        }
    }
}

/// Parses [`Encoding::name`].
impl core::str::FromStr for Encoding {
    type Err = FormatError;

    fn from_str(s: &str) -> Result<Self, FormatError> {
        Self::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| FormatError::invalid("encoding", format!("unknown encoding {s:?}")))
    }
}

impl core::fmt::Display for Encoding {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// The installed version a patch applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseRef {
    /// The release sequence the base was installed as.
    pub sequence: u64,
    /// Its version label (for people and logs; the digest decides).
    pub version: VersionLabel,
    /// Its length in bytes.
    pub len: u64,
    /// Keyed BLAKE3 digest of the base ([`plaintext_digest`]).
    pub digest: [u8; 32],
}

/// A version 2 manifest's encoding section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadEncoding {
    pub encoding: Encoding,
    /// Length of the bundle decoding produces; a decoder that would produce
    /// more stops and fails (a decompression bomb costs nothing).
    pub result_len: u64,
    /// Keyed BLAKE3 digest of that bundle ([`plaintext_digest`]).
    pub result_digest: [u8; 32],
    /// The base, for [`Encoding::needs_base`] encodings; `None` otherwise.
    pub base: Option<BaseRef>,
}

impl PayloadEncoding {
    pub(crate) fn write(&self, w: &mut Writer) {
        w.u8(self.encoding.code());
        w.u64(self.result_len);
        w.put(&self.result_digest);
        if let Some(b) = &self.base {
            w.u64(b.sequence);
            w.bytes8(b.version.as_str().as_bytes());
            w.u64(b.len);
            w.put(&b.digest);
        }
    }

    /// Rejects (FORMAT.md §17.1) an unknown encoding and a zero result
    /// length; the base fields are present exactly when the encoding needs
    /// a base.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, FormatError> {
        let encoding = Encoding::from_code(r.u8("encoding")?)?;
        let result_len = r.u64("result_len")?;
        if result_len == 0 {
            return Err(FormatError::invalid("result_len", "must not be 0"));
        }
        let result_digest = r.array("result_digest")?;
        let base = if encoding.needs_base() {
            Some(BaseRef {
                sequence: r.u64("base_sequence")?,
                version: VersionLabel::from_wire(r.bytes8("base_version")?)?,
                len: r.u64("base_len")?,
                digest: r.array("base_digest")?,
            })
        } else {
            None
        };
        Ok(Self {
            encoding,
            result_len,
            result_digest,
            base,
        })
    }
}

/// The key plaintext digests are keyed with: BLAKE3 `derive_key` of the
/// bundle's 32-byte data key under [`DIGEST_KEY_CONTEXT`].
pub fn digest_key(data_key: &[u8; 32]) -> [u8; 32] {
    blake3::derive_key(DIGEST_KEY_CONTEXT, data_key)
}

/// A keyed digest of plaintext bytes (a base, or a decoded bundle) that
/// only the bundle's recipients can compute.
#[derive(Clone)]
pub struct DigestHasher(blake3::Hasher);

impl DigestHasher {
    pub fn new(digest_key: &[u8; 32]) -> Self {
        Self(blake3::Hasher::new_keyed(digest_key))
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finalize(&self) -> [u8; 32] {
        *self.0.finalize().as_bytes()
    }
}

impl core::fmt::Debug for DigestHasher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("DigestHasher(..)")
    }
}

/// [`DigestHasher`] over `bytes` in one call.
pub fn plaintext_digest(digest_key: &[u8; 32], bytes: &[u8]) -> [u8; 32] {
    let mut h = DigestHasher::new(digest_key);
    h.update(bytes);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(encoding: Encoding) -> PayloadEncoding {
        PayloadEncoding {
            encoding,
            result_len: 1000,
            result_digest: [3; 32],
            base: encoding.needs_base().then(|| BaseRef {
                sequence: 7,
                version: "1.2.3".parse().unwrap(),
                len: 900,
                digest: [4; 32],
            }),
        }
    }

    #[test]
    fn every_encoding_round_trips_and_the_longest_fits_the_bound() {
        for e in Encoding::ALL {
            let p = sample(e);
            let mut w = Writer::with_capacity(MAX_SECTION_LEN);
            p.write(&mut w);
            let mut r = Reader::new(&w.buf);
            assert_eq!(PayloadEncoding::read(&mut r).unwrap(), p);
            r.finish().unwrap();
            assert_eq!(Encoding::from_code(e.code()).unwrap(), e);
            assert_eq!(e.to_string().parse::<Encoding>().unwrap(), e);
        }
        let mut p = sample(Encoding::BsdiffXz);
        p.base.as_mut().unwrap().version = "v".repeat(64).parse().unwrap();
        let mut w = Writer::with_capacity(0);
        p.write(&mut w);
        assert_eq!(w.buf.len(), MAX_SECTION_LEN);
    }

    #[test]
    fn decoder_rejections() {
        let mut w = Writer::with_capacity(64);
        sample(Encoding::Zstd).write(&mut w);
        let good = w.buf;
        for (code, field) in [(0u8, "encoding"), (5, "encoding"), (255, "encoding")] {
            let mut bad = good.clone();
            bad[0] = code;
            let e = PayloadEncoding::read(&mut Reader::new(&bad)).unwrap_err();
            assert!(matches!(e, FormatError::InvalidField { field: f, .. } if f == field));
        }
        assert!("bsdiff-lzma".parse::<Encoding>().is_err());
        let mut zero = good.clone();
        zero[1..9].fill(0);
        assert!(PayloadEncoding::read(&mut Reader::new(&zero)).is_err());
        // A patch encoding without its base fields ends early.
        let mut patch = good.clone();
        patch[0] = Encoding::ZstdPatch.code();
        assert!(matches!(
            PayloadEncoding::read(&mut Reader::new(&patch)),
            Err(FormatError::Truncated { .. })
        ));
    }

    #[test]
    fn digests_are_keyed_by_the_data_key() {
        let k1 = digest_key(&[1; 32]);
        let k2 = digest_key(&[2; 32]);
        assert_ne!(
            plaintext_digest(&k1, b"bundle"),
            plaintext_digest(&k2, b"bundle")
        );
        assert_ne!(
            plaintext_digest(&k1, b"bundle"),
            *blake3::hash(b"bundle").as_bytes()
        );
        let mut h = DigestHasher::new(&k1);
        h.update(b"bun");
        h.update(b"dle");
        assert_eq!(h.finalize(), plaintext_digest(&k1, b"bundle"));
    }
}
