//! The verifier's persisted trust state (`docs/FORMAT.md` §10.5):
//! the pinned root and its version, the roots it superseded, and the newest
//! revocation list accepted. A BLAKE3 checksum at the end turns any
//! corruption into an error: a damaged state is never silently reset.

use super::revocation::RevocationList;
use super::{
    FormatError, Reader, Writer, append_checksum, kind, read_header_and_flags, strip_checksum,
    write_header_and_flags,
};
use super::{KeyId, SigAlg};
use crate::prelude::*;

/// Most superseded roots a state remembers.
pub const MAX_SUPERSEDED: usize = 1024;

/// Largest trust state (FORMAT.md §10.5): header and flags 12, root version
/// 8, an Ed25519 root 1 + 2 + 32, 1,024 superseded entries of 40 bytes after
/// their `u16` count, the largest revocation list after its `u32` length,
/// and the checksum.
pub const MAX_LEN: u64 = 12
    + 8
    + 35
    + 2
    + 40 * MAX_SUPERSEDED as u64
    + 4
    + super::revocation::MAX_LEN
    + super::CHECKSUM_LEN as u64;

/// A root this state has moved past, and the root that replaced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupersededRoot {
    pub version: u64,
    pub key_id: KeyId,
    pub successor: KeyId,
}

/// The decoded trust-state document.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrustStateDoc {
    pub root_version: u64,
    pub root_alg: SigAlg,
    pub root_public_key: Vec<u8>,
    /// Oldest first; versions strictly ascending and below `root_version`.
    pub superseded: Vec<SupersededRoot>,
    /// The encoded newest revocation list, if any has been accepted.
    pub revocations: Option<Vec<u8>>,
}

const CHECKSUM_CONTEXT: &str = "otaseal v1 trust state checksum";

impl TrustStateDoc {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(128 + self.superseded.len() * 40);
        write_header_and_flags(&mut w, kind::TRUST_STATE);
        w.u64(self.root_version);
        w.u8(self.root_alg.code());
        w.bytes16(&self.root_public_key);
        w.u16(u16::try_from(self.superseded.len()).expect("bounded by MAX_SUPERSEDED"));
        for s in &self.superseded {
            w.u64(s.version);
            w.put(&s.key_id.0);
            w.put(&s.successor.0);
        }
        w.bytes32(self.revocations.as_deref().unwrap_or(&[]));
        append_checksum(w.buf, CHECKSUM_CONTEXT)
    }

    /// Decodes a trust state. Rejects (FORMAT.md §10.5.2): a checksum mismatch
    /// (checked first, over everything before it), bad magic, another kind,
    /// any version but 1, non-zero flags, root version 0, an unknown
    /// algorithm or wrong key length, superseded versions not strictly
    /// ascending or not below the root version, more than 1024 of them, an
    /// embedded revocation list that does not decode, trailing bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let body = strip_checksum(bytes, CHECKSUM_CONTEXT)?;
        let mut r = Reader::new(body);
        read_header_and_flags(&mut r, kind::TRUST_STATE, "trust state")?;
        let root_version = r.u64("root_version")?;
        if root_version == 0 {
            return Err(FormatError::invalid("root_version", "must be at least 1"));
        }
        let root_alg = SigAlg::from_code(r.u8("root_alg")?)?;
        let root_public_key = r.bytes16("root_public_key")?.to_vec();
        if root_public_key.len() != root_alg.public_key_len() {
            return Err(FormatError::invalid(
                "root_public_key",
                format!(
                    "{} bytes, {root_alg} needs {}",
                    root_public_key.len(),
                    root_alg.public_key_len()
                ),
            ));
        }
        let count = r.u16("superseded_count")? as usize;
        if count > MAX_SUPERSEDED {
            return Err(FormatError::invalid(
                "superseded_count",
                format!("{count} is more than {MAX_SUPERSEDED}"),
            ));
        }
        let mut superseded: Vec<SupersededRoot> = Vec::with_capacity(count.min(r.remaining() / 40));
        for _ in 0..count {
            let s = SupersededRoot {
                version: r.u64("superseded_version")?,
                key_id: KeyId(r.array("superseded_key_id")?),
                successor: KeyId(r.array("superseded_successor")?),
            };
            if s.version >= root_version
                || superseded.last().is_some_and(|p| p.version >= s.version)
            {
                return Err(FormatError::invalid(
                    "superseded_version",
                    "not strictly ascending below the root version",
                ));
            }
            superseded.push(s);
        }
        let list = r.bytes32("revocation_list")?;
        let revocations = if list.is_empty() {
            None
        } else {
            RevocationList::parse(list)?;
            Some(list.to_vec())
        };
        r.finish()?;
        Ok(Self {
            root_version,
            root_alg,
            root_public_key,
            superseded,
            revocations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TrustStateDoc {
        TrustStateDoc {
            root_version: 3,
            root_alg: SigAlg::Ed25519,
            root_public_key: vec![0x31; 32],
            superseded: vec![
                SupersededRoot {
                    version: 1,
                    key_id: KeyId([1; 16]),
                    successor: KeyId([2; 16]),
                },
                SupersededRoot {
                    version: 2,
                    key_id: KeyId([2; 16]),
                    successor: KeyId([3; 16]),
                },
            ],
            revocations: Some(super::super::revocation::tests::sample().to_bytes()),
        }
    }

    #[test]
    fn round_trip_and_every_corruption_is_detected() {
        let s = sample();
        let bytes = s.to_bytes();
        assert_eq!(TrustStateDoc::parse(&bytes).unwrap(), s);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(TrustStateDoc::parse(&bad).is_err(), "flip at {i} accepted");
        }
        for len in 0..bytes.len() {
            assert!(TrustStateDoc::parse(&bytes[..len]).is_err(), "prefix {len}");
        }
        let mut none = s.clone();
        none.revocations = None;
        assert_eq!(TrustStateDoc::parse(&none.to_bytes()).unwrap(), none);
    }

    #[test]
    fn structural_rejections() {
        let mut s = sample();
        s.superseded[1].version = 3;
        assert!(matches!(
            TrustStateDoc::parse(&s.to_bytes()),
            Err(FormatError::InvalidField {
                field: "superseded_version",
                ..
            })
        ));
        let mut s = sample();
        s.superseded.swap(0, 1);
        assert!(TrustStateDoc::parse(&s.to_bytes()).is_err());
        let mut s = sample();
        s.revocations = Some(vec![1, 2, 3]);
        assert!(TrustStateDoc::parse(&s.to_bytes()).is_err());
    }
}
