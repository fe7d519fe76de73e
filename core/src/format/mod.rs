//! Every byte layout otaseal reads or writes, in one place.
//!
//! `docs/FORMAT.md` is the normative description; the doc comments here quote
//! its rules. This module encodes and decodes and validates *syntax* (lengths,
//! ranges, allowed characters, versions). It never does I/O and never decides
//! whether something is cryptographically valid: that is `open`'s job.

use crate::prelude::*;
pub mod batch_index;
pub mod cert;
mod codec;
pub mod device_state;
pub mod encoding;
pub mod fetch_record;
mod ids;
pub mod keystore;
pub mod keytext;
pub mod manifest;
mod names;
pub mod revocation;
pub mod rollback;
pub mod rotation;
pub mod signed;
pub mod trust_state;

pub(crate) use codec::{Reader, Writer};
pub use ids::{KemId, KeyId, SigAlg};
pub use manifest::{ChunkEntry, Manifest, ManifestBody, RecipientStanza};
pub use names::{AppId, Channel, VersionLabel};
pub use signed::{Body, Signed, SignerId, SignerInfo, SignerSection};

/// First four bytes of every binary otaseal document.
pub const MAGIC: [u8; 4] = *b"OTAS";

/// Document kinds, the four bytes after [`MAGIC`]. Signatures cover the kind,
/// so a signature over one kind of document can never verify as another.
pub mod kind {
    /// A bundle manifest (`docs/FORMAT.md` §4).
    pub const MANIFEST: [u8; 4] = *b"MNFT";
    /// A device state file (`docs/FORMAT.md` §11).
    pub const DEVICE_STATE: [u8; 4] = *b"DVST";
    /// A rollback authorisation (`docs/FORMAT.md` §12).
    pub const ROLLBACK: [u8; 4] = *b"RBAK";
    /// A partial-download record (`docs/FORMAT.md` §13).
    pub const FETCH_RECORD: [u8; 4] = *b"FREC";
    /// A passphrase-encrypted secret key (`docs/FORMAT.md` §14).
    pub const SECRET_KEY: [u8; 4] = *b"SKEY";
    /// A signed batch index (`docs/FORMAT.md` §15).
    pub const BATCH_INDEX: [u8; 4] = *b"BIDX";
    /// A release-key certificate (`docs/FORMAT.md` §10.2).
    pub const CERTIFICATE: [u8; 4] = *b"CERT";
    /// A root-signed revocation list (`docs/FORMAT.md` §10.3).
    pub const REVOCATION_LIST: [u8; 4] = *b"RVKL";
    /// A root rotation statement (`docs/FORMAT.md` §10.4).
    pub const ROOT_ROTATION: [u8; 4] = *b"RROT";
    /// A verifier's persisted trust state (`docs/FORMAT.md` §10.5).
    pub const TRUST_STATE: [u8; 4] = *b"TRST";
}

/// The format version this build writes and the only one it reads.
pub const FORMAT_VERSION: u16 = 1;

/// Why bytes could not be decoded. Each variant names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    #[error("input ends inside field `{field}`")]
    Truncated { field: &'static str },
    #[error("{extra} unexpected bytes after the end of the document")]
    TrailingBytes { extra: usize },
    #[error("not an otaseal document (bad magic)")]
    BadMagic,
    #[error("expected a {expected} document, found kind {found:?}")]
    WrongKind {
        expected: &'static str,
        found: String,
    },
    #[error("unsupported format version {found} (this build reads version {FORMAT_VERSION})")]
    UnsupportedVersion { found: u16 },
    #[error("invalid field `{field}`: {reason}")]
    InvalidField { field: &'static str, reason: String },
}

impl FormatError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            reason: reason.into(),
        }
    }
}

/// Writes the common document header: magic, kind, version 1.
pub(crate) fn write_header(w: &mut Writer, kind: [u8; 4]) {
    write_versioned_header(w, kind, FORMAT_VERSION);
}

/// Writes magic, kind and `version`.
pub(crate) fn write_versioned_header(w: &mut Writer, kind: [u8; 4], version: u16) {
    w.put(&MAGIC);
    w.put(&kind);
    w.u16(version);
}

/// Reads and checks the common document header (version 1).
pub(crate) fn read_header(
    r: &mut Reader<'_>,
    expected: [u8; 4],
    expected_name: &'static str,
) -> Result<(), FormatError> {
    read_versioned_header(r, expected, expected_name, |v| v == FORMAT_VERSION).map(drop)
}

/// Reads and checks the magic and the kind, then the version, which `reads`
/// must accept; returns the version.
pub(crate) fn read_versioned_header(
    r: &mut Reader<'_>,
    expected: [u8; 4],
    expected_name: &'static str,
    reads: impl Fn(u16) -> bool,
) -> Result<u16, FormatError> {
    if r.array::<4>("magic")? != MAGIC {
        return Err(FormatError::BadMagic);
    }
    let found = r.array::<4>("kind")?;
    if found != expected {
        return Err(FormatError::WrongKind {
            expected: expected_name,
            found: String::from_utf8_lossy(&found).into_owned(),
        });
    }
    match r.u16("version")? {
        v if reads(v) => Ok(v),
        found => Err(FormatError::UnsupportedVersion { found }),
    }
}

/// Writes the header and the reserved `u16` flags (zero in version 1) that
/// open every document but the encrypted key file.
pub(crate) fn write_header_and_flags(w: &mut Writer, kind: [u8; 4]) {
    write_header(w, kind);
    w.u16(0);
}

/// Reads and checks the header and the reserved flags, which MUST be zero.
pub(crate) fn read_header_and_flags(
    r: &mut Reader<'_>,
    expected: [u8; 4],
    expected_name: &'static str,
) -> Result<(), FormatError> {
    read_header(r, expected, expected_name)?;
    read_flags(r)
}

/// Reads the reserved `u16` flags, which MUST be zero.
pub(crate) fn read_flags(r: &mut Reader<'_>) -> Result<(), FormatError> {
    if r.u16("flags")? != 0 {
        return Err(FormatError::invalid("flags", "reserved bits are set"));
    }
    Ok(())
}

/// Length of the BLAKE3 checksum that ends each local state file (trust
/// state, device state, fetch record): `derive_key(context, body)`.
pub const CHECKSUM_LEN: usize = 32;

/// Appends the checksum of `body` under the document's `context`.
pub(crate) fn append_checksum(mut body: Vec<u8>, context: &str) -> Vec<u8> {
    let sum = blake3::derive_key(context, &body);
    body.extend_from_slice(&sum);
    body
}

/// Checks and strips the trailing checksum, before anything else is parsed:
/// a damaged or hand-edited state file is an error, never a silent reset.
pub(crate) fn strip_checksum<'a>(bytes: &'a [u8], context: &str) -> Result<&'a [u8], FormatError> {
    use subtle::ConstantTimeEq;
    let Some(body_len) = bytes.len().checked_sub(CHECKSUM_LEN) else {
        return Err(FormatError::Truncated { field: "checksum" });
    };
    let (body, sum) = bytes.split_at(body_len);
    if bool::from(blake3::derive_key(context, body).ct_eq(sum)) {
        Ok(body)
    } else {
        Err(FormatError::invalid(
            "checksum",
            "does not match the contents (the file is damaged or was edited)",
        ))
    }
}

/// Smallest, default and largest chunk sizes, as powers of two.
pub const MIN_CHUNK_LOG2: u8 = 14;
pub const DEFAULT_CHUNK_LOG2: u8 = 18;
pub const MAX_CHUNK_LOG2: u8 = 24;

/// A payload chunk size: a power of two from 16 KiB to 16 MiB.
///
/// Power-of-two sizes of at least 1 KiB make every chunk a complete BLAKE3
/// subtree of the payload, which is what lets a device check one chunk alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkSize(u8);

impl ChunkSize {
    pub const DEFAULT: Self = Self(DEFAULT_CHUNK_LOG2);

    pub fn from_log2(log2: u8) -> Result<Self, FormatError> {
        if (MIN_CHUNK_LOG2..=MAX_CHUNK_LOG2).contains(&log2) {
            Ok(Self(log2))
        } else {
            Err(FormatError::invalid(
                "chunk_size_log2",
                format!("{log2} is outside {MIN_CHUNK_LOG2}..={MAX_CHUNK_LOG2}"),
            ))
        }
    }

    pub fn from_bytes(bytes: u64) -> Result<Self, FormatError> {
        if !bytes.is_power_of_two() {
            return Err(FormatError::invalid(
                "chunk_size",
                format!("{bytes} is not a power of two"),
            ));
        }
        Self::from_log2(bytes.trailing_zeros() as u8)
    }

    pub fn log2(self) -> u8 {
        self.0
    }

    pub fn bytes(self) -> u64 {
        1 << self.0
    }

    /// Number of chunks for a plaintext of `len` bytes: `max(1, ceil(len / size))`.
    /// An empty bundle still has one (empty) chunk, so it still carries a tag.
    pub fn chunk_count(self, len: u64) -> u64 {
        len.div_ceil(self.bytes()).max(1)
    }

    /// Byte range of chunk `index` in a payload of `len` bytes.
    pub fn chunk_range(self, len: u64, index: u64) -> core::ops::Range<u64> {
        let start = index << self.0;
        start.min(len)..(start + self.bytes()).min(len)
    }
}

impl Default for ChunkSize {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl core::fmt::Display for ChunkSize {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} KiB", self.bytes() / 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_bounds() {
        assert!(ChunkSize::from_log2(13).is_err());
        assert!(ChunkSize::from_log2(25).is_err());
        assert_eq!(ChunkSize::from_bytes(65536).unwrap().log2(), 16);
        assert!(ChunkSize::from_bytes(65535).is_err());
        assert!(ChunkSize::from_bytes(0).is_err());
    }

    #[test]
    fn chunk_count_and_ranges() {
        let c = ChunkSize::from_log2(14).unwrap();
        assert_eq!(c.chunk_count(0), 1);
        assert_eq!(c.chunk_count(1), 1);
        assert_eq!(c.chunk_count(16384), 1);
        assert_eq!(c.chunk_count(16385), 2);
        assert_eq!(c.chunk_range(16385, 1), 16384..16385);
        assert_eq!(c.chunk_range(0, 0), 0..0);
    }

    #[test]
    fn header_rejects_other_kinds_and_versions() {
        let mut w = Writer::default();
        write_header(&mut w, kind::MANIFEST);
        let good = w.buf.clone();
        read_header(&mut Reader::new(&good), kind::MANIFEST, "manifest").unwrap();

        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(
            read_header(&mut Reader::new(&bad), kind::MANIFEST, "manifest"),
            Err(FormatError::BadMagic)
        );
        let mut other = good.clone();
        other[4..8].copy_from_slice(b"CERT");
        assert!(matches!(
            read_header(&mut Reader::new(&other), kind::MANIFEST, "manifest"),
            Err(FormatError::WrongKind { .. })
        ));
        let mut v2 = good;
        v2[9] = 2;
        assert_eq!(
            read_header(&mut Reader::new(&v2), kind::MANIFEST, "manifest"),
            Err(FormatError::UnsupportedVersion { found: 2 })
        );
    }
}
