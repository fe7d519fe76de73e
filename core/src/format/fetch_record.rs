//! The fetch record (`docs/FORMAT.md` §13): which chunks of a partial
//! download have been verified and written, so a killed download resumes.
//!
//! The record is a hint, never trusted: on resume every chunk it lists is
//! read back from the partial file and verified again before it counts. It
//! names the bundle (id, root, geometry) so a record for another bundle is
//! never applied, and ends with a BLAKE3 checksum so a torn or damaged record
//! is detected (and the download restarts from what verifies).

use super::{
    ChunkSize, FormatError, Manifest, Reader, Writer, append_checksum, kind, read_header_and_flags,
    strip_checksum, write_header_and_flags,
};
use crate::prelude::*;
use subtle::ConstantTimeEq;

/// Length of the trailing checksum.
pub use super::CHECKSUM_LEN;
/// BLAKE3 `derive_key` context of the checksum.
pub const CHECKSUM_CONTEXT: &str = "otaseal v1 fetch record checksum";

/// A decoded fetch record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchRecord {
    pub bundle_id: [u8; 16],
    /// BLAKE3 root of the payload (the manifest's `root`).
    pub root: [u8; 32],
    pub payload_len: u64,
    pub chunk_size: ChunkSize,
    /// One flag per chunk: written to the partial file after verifying.
    pub have: Vec<bool>,
}

impl FetchRecord {
    pub fn new(
        bundle_id: [u8; 16],
        root: [u8; 32],
        payload_len: u64,
        chunk_size: ChunkSize,
        have: Vec<bool>,
    ) -> Result<Self, FormatError> {
        if have.len() as u64 != chunk_size.chunk_count(payload_len) {
            return Err(FormatError::invalid(
                "chunk_count",
                "does not fit the payload length",
            ));
        }
        Ok(Self {
            bundle_id,
            root,
            payload_len,
            chunk_size,
            have,
        })
    }

    /// The record of `have` for the bundle `manifest` describes.
    pub fn of_manifest(manifest: &Manifest, have: Vec<bool>) -> Result<Self, FormatError> {
        Self::new(
            manifest.bundle_id,
            manifest.root,
            manifest.plaintext_len,
            manifest.chunk_size,
            have,
        )
    }

    /// Whether this record is of the bundle `manifest` describes (its id,
    /// root and geometry); if not, the first field that differs. A record
    /// of another bundle must never be applied to this one.
    pub fn check_bundle(&self, manifest: &Manifest) -> Result<(), &'static str> {
        if self.bundle_id != manifest.bundle_id {
            return Err("bundle id");
        }
        if !bool::from(self.root.ct_eq(&manifest.root)) {
            return Err("root");
        }
        if self.payload_len != manifest.plaintext_len || self.chunk_size != manifest.chunk_size {
            return Err("geometry");
        }
        Ok(())
    }

    /// The exact length of the record of a bundle with `chunk_count`
    /// chunks; a reader needs to read no more than this (FORMAT.md §13.1).
    pub fn encoded_len(chunk_count: u32) -> u64 {
        // header 12 + bundle_id 16 + root 32 + payload_len 8 + log2 1 + count 4
        73 + u64::from(chunk_count).div_ceil(8) + CHECKSUM_LEN as u64
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(112 + self.have.len() / 8);
        write_header_and_flags(&mut w, kind::FETCH_RECORD);
        w.put(&self.bundle_id);
        w.put(&self.root);
        w.u64(self.payload_len);
        w.u8(self.chunk_size.log2());
        w.u32(u32::try_from(self.have.len()).expect("chunk count fits in u32"));
        let mut bitmap = vec![0u8; self.have.len().div_ceil(8)];
        for (i, _) in self.have.iter().enumerate().filter(|(_, h)| **h) {
            bitmap[i / 8] |= 1 << (i % 8);
        }
        w.put(&bitmap);
        append_checksum(w.buf, CHECKSUM_CONTEXT)
    }

    /// Decodes a record.
    ///
    /// Rejects (FORMAT.md §13.2): a checksum mismatch, bad magic, another
    /// kind, any version but 1, non-zero flags, a chunk size outside
    /// 16 KiB..16 MiB, a chunk count that does not fit the payload length, a
    /// bitmap shorter than `ceil(count / 8)`, set bits past the last chunk, and
    /// trailing bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let body = strip_checksum(bytes, CHECKSUM_CONTEXT)?;
        let mut r = Reader::new(body);
        read_header_and_flags(&mut r, kind::FETCH_RECORD, "fetch record")?;
        let bundle_id = r.array("bundle_id")?;
        let root = r.array("root")?;
        let payload_len = r.u64("payload_len")?;
        let chunk_size = ChunkSize::from_log2(r.u8("chunk_size_log2")?)?;
        let count = r.u32("chunk_count")?;
        if u64::from(count) != chunk_size.chunk_count(payload_len) {
            return Err(FormatError::invalid(
                "chunk_count",
                "does not fit the payload length",
            ));
        }
        let count = count as usize;
        let bitmap = r.take(count.div_ceil(8), "bitmap")?;
        r.finish()?;
        if !count.is_multiple_of(8) && bitmap[count / 8] >> (count % 8) != 0 {
            return Err(FormatError::invalid(
                "bitmap",
                "bits set past the last chunk",
            ));
        }
        let have = (0..count)
            .map(|i| bitmap[i / 8] & (1 << (i % 8)) != 0)
            .collect();
        Ok(Self {
            bundle_id,
            root,
            payload_len,
            chunk_size,
            have,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FetchRecord {
        let cs = ChunkSize::from_log2(14).unwrap();
        let len = 11 * 16384 + 5;
        let have = (0..12).map(|i| i % 3 == 0 || i == 11).collect();
        FetchRecord::new([1; 16], [2; 32], len, cs, have).unwrap()
    }

    fn reseal(body: &[u8]) -> Vec<u8> {
        append_checksum(body.to_vec(), CHECKSUM_CONTEXT)
    }

    #[test]
    fn round_trip_and_corruption() {
        let r = sample();
        let bytes = r.to_bytes();
        assert_eq!(FetchRecord::parse(&bytes).unwrap(), r);
        assert_eq!(bytes.len() as u64, FetchRecord::encoded_len(12));
        for len in 0..bytes.len() {
            assert!(FetchRecord::parse(&bytes[..len]).is_err());
        }
        for i in 0..bytes.len() * 8 {
            let mut bad = bytes.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(FetchRecord::parse(&bad).is_err(), "bit {i}");
        }
    }

    #[test]
    fn rejects_stray_bits_and_bad_counts() {
        let bytes = sample().to_bytes();
        let mut body = bytes[..bytes.len() - CHECKSUM_LEN].to_vec();
        let last = body.len() - 1;
        body[last] |= 0x80; // chunk 15 of 12
        assert!(matches!(
            FetchRecord::parse(&reseal(&body)),
            Err(FormatError::InvalidField {
                field: "bitmap",
                ..
            })
        ));
        let cs = ChunkSize::from_log2(14).unwrap();
        assert!(FetchRecord::new([0; 16], [0; 32], 16385, cs, vec![false]).is_err());
        let mut trailing = bytes[..bytes.len() - CHECKSUM_LEN].to_vec();
        trailing.push(0);
        assert!(matches!(
            FetchRecord::parse(&reseal(&trailing)),
            Err(FormatError::TrailingBytes { .. })
        ));
    }
}
