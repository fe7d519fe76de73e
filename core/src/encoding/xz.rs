//! One .xz stream (FORMAT.md §17.2, `bsdiff-xz`): the decompressor under
//! the bsdiff records of [`Encoding::BsdiffXz`].
//!
//! liblzma's stream decoder checks the stream's structure, its index and
//! its integrity check; without `LZMA_CONCATENATED` it stops at the end of
//! the first stream, so bytes after it are left for the trailing-bytes
//! check. The dictionary bound is liblzma's memory limit: a header that
//! asks for a larger dictionary fails before anything is allocated.

use std::io::{self, BufReader, Read};
use std::prelude::rust_2024::*;

use liblzma::bufread::XzDecoder;
use liblzma::stream::{Stream, TELL_UNSUPPORTED_CHECK};

use super::bsdiff::{BUF, Inner, corrupt};
use super::limit::{Tracked, has_more};
use super::{DeltaError, Encoding, XZ_MAX_DICT};

/// liblzma's own state besides the dictionary (the stream, block and LZMA2
/// decoders and the index: under 100 KiB in liblzma 5.8), with room to
/// spare. A dictionary is 2^n or 3 * 2^(n-1) bytes, so the next size above
/// 16 MiB (24 MiB) is over the limit by far more than this.
const XZ_OVERHEAD: u64 = 1 << 20;

/// The memory limit that admits a dictionary of up to [`XZ_MAX_DICT`].
pub(super) const XZ_MEMLIMIT: u64 = XZ_MAX_DICT as u64 + XZ_OVERHEAD;

/// Opens `patch` as one .xz stream.
pub(super) fn open<R: Read>(patch: R) -> Result<impl Inner, DeltaError> {
    let reader = BufReader::with_capacity(BUF, Tracked::new(patch));
    // A check type this liblzma cannot verify (the reserved IDs) is an
    // error rather than skipped: FORMAT.md §17.2 allows none, CRC32, CRC64
    // and SHA-256 only.
    let stream = Stream::new_stream_decoder(XZ_MEMLIMIT, TELL_UNSUPPORTED_CHECK)
        .map_err(|e| corrupt(Encoding::BsdiffXz, e.to_string()))?;
    Ok(XzDecoder::new_stream(reader, stream))
}

impl<R: Read> Inner for XzDecoder<BufReader<Tracked<R>>> {
    fn source_failed(&self) -> bool {
        self.get_ref().get_ref().failed()
    }

    fn trailing(self) -> io::Result<bool> {
        has_more(&mut self.into_inner())
    }

    fn reason(e: &io::Error) -> String {
        let lzma = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<liblzma::stream::Error>());
        match lzma {
            Some(liblzma::stream::Error::MemLimit) => {
                format!("the LZMA2 dictionary exceeds {XZ_MAX_DICT} bytes")
            }
            Some(liblzma::stream::Error::UnsupportedCheck) => {
                "unsupported integrity check type".into()
            }
            _ => e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::prelude::rust_2024::*;
    use std::vec;

    use liblzma::stream::{Check, Filters, LzmaOptions};

    use super::super::{DeltaError, Encoding, XZ_MAX_DICT, decode_to};

    /// One .xz stream of `raw`: LZMA2 with dictionary `dict`, check `check`.
    fn xz(raw: &[u8], dict: u32, check: Check) -> Vec<u8> {
        let mut opts = LzmaOptions::new_preset(6).unwrap();
        opts.dict_size(dict);
        let mut filters = Filters::new();
        filters.lzma2(&opts);
        let stream = liblzma::stream::Stream::new_stream_encoder(&filters, check).unwrap();
        let mut enc = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
        enc.write_all(raw).unwrap();
        enc.finish().unwrap()
    }

    /// A bsdiff stream (§17.5) by hand: one record mixing 3 diff bytes into
    /// the base and copying `extra`, then seeking back to the start; a
    /// second record mixing 2 bytes of zero diff.
    fn records(extra: &[u8]) -> Vec<u8> {
        let mut raw = Vec::new();
        for w in [3u64, extra.len() as u64, (1 << 63) | 3] {
            raw.extend_from_slice(&w.to_le_bytes());
        }
        raw.extend_from_slice(&[1, 2, 3]);
        raw.extend_from_slice(extra);
        for w in [2u64, 0, 0] {
            raw.extend_from_slice(&w.to_le_bytes());
        }
        raw.extend_from_slice(&[0, 0]);
        raw
    }

    const BASE: &[u8] = b"abcdef";
    const RESULT: &[u8] = b"bdfxyzab";

    fn decode(patch: &[u8], max: u64) -> Result<Vec<u8>, DeltaError> {
        let mut out = Vec::new();
        decode_to(Encoding::BsdiffXz, BASE, patch, &mut out, max)?;
        Ok(out)
    }

    fn is_corrupt(r: &Result<Vec<u8>, DeltaError>) -> bool {
        matches!(
            r,
            Err(DeltaError::Corrupt {
                encoding: Encoding::BsdiffXz,
                ..
            })
        )
    }

    #[test]
    fn round_trips_with_every_allowed_check() {
        for check in [Check::None, Check::Crc32, Check::Crc64, Check::Sha256] {
            let patch = xz(&records(b"xyz"), 4096, check);
            assert_eq!(decode(&patch, 8).unwrap(), RESULT);
        }
    }

    #[test]
    fn truncated_altered_and_extended_streams_are_corrupt() {
        let patch = xz(&records(b"xyz"), 4096, Check::Crc64);
        for cut in [0, 1, 12, patch.len() / 2, patch.len() - 1] {
            assert!(is_corrupt(&decode(&patch[..cut], 8)), "cut at {cut}");
        }
        // A flipped bit anywhere: an error, or (a bit this content does not
        // depend on, such as an unused LZMA property) the right output;
        // never other output (the CRC64 covers it).
        for at in 0..patch.len() {
            let mut altered = patch.clone();
            altered[at] ^= 0x01;
            match decode(&altered, 8) {
                Ok(out) => assert_eq!(out, RESULT, "byte {at}"),
                r => assert!(
                    is_corrupt(&r) || matches!(r, Err(DeltaError::TooLarge { .. })),
                    "byte {at}: {r:?}"
                ),
            }
        }
        // Trailing bytes, stream padding and a second stream are refused.
        for tail in [&[0u8][..], &[0; 4], &patch[..]] {
            let mut extended = patch.clone();
            extended.extend_from_slice(tail);
            let err = decode(&extended, 8).unwrap_err();
            assert!(err.to_string().contains("trailing"), "{err}");
        }
    }

    #[test]
    fn an_unsupported_check_type_is_refused() {
        let mut patch = xz(&records(b"xyz"), 4096, Check::None);
        // Stream flags (header bytes 6..8, footer's last 4..2) with check
        // ID 2 (reserved) and their CRC32s (header 8..12, footer 0..4).
        let flags = [0u8, 2];
        let crc = crc32(&flags);
        let n = patch.len();
        patch[6..8].copy_from_slice(&flags);
        patch[8..12].copy_from_slice(&crc.to_le_bytes());
        patch[n - 4..n - 2].copy_from_slice(&flags);
        let mut footer_crc_input = patch[n - 8..n - 4].to_vec();
        footer_crc_input.extend_from_slice(&flags);
        patch[n - 12..n - 8].copy_from_slice(&crc32(&footer_crc_input).to_le_bytes());
        assert!(is_corrupt(&decode(&patch, 8)));
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = (crc >> 1) ^ (0xedb8_8320 & (crc & 1).wrapping_neg());
            }
        }
        !crc
    }

    #[test]
    fn a_dictionary_over_the_bound_is_refused() {
        let raw = records(b"xyz");
        assert_eq!(
            decode(&xz(&raw, XZ_MAX_DICT, Check::Crc64), 8).unwrap(),
            RESULT
        );
        for dict in [XZ_MAX_DICT + 1, 3 << 23, 64 << 20] {
            let err = decode(&xz(&raw, dict, Check::Crc64), 8).unwrap_err();
            assert!(err.to_string().contains("dictionary"), "{dict}: {err}");
        }
    }

    #[test]
    fn output_past_the_limit_is_refused() {
        // A record declaring 1 GiB of extra bytes, and one whose bytes are
        // there: both stop at the limit.
        let bomb = xz(&records(&vec![0; 1 << 20]), 1 << 20, Check::Crc64);
        assert!(bomb.len() < 4096, "{}", bomb.len());
        let err = decode(&bomb, 1000).unwrap_err();
        assert!(matches!(err, DeltaError::TooLarge { limit: 1000 }), "{err}");
        let mut raw = Vec::new();
        for w in [0u64, 1 << 30, 0] {
            raw.extend_from_slice(&w.to_le_bytes());
        }
        let err = decode(&xz(&raw, 4096, Check::Crc64), 1 << 20).unwrap_err();
        assert!(matches!(err, DeltaError::TooLarge { .. }), "{err}");
        // The exact length is not too much.
        assert_eq!(
            decode(&xz(&records(b"xyz"), 4096, Check::Crc64), 8).unwrap(),
            RESULT
        );
        assert!(matches!(
            decode(&xz(&records(b"xyz"), 4096, Check::Crc64), 7),
            Err(DeltaError::TooLarge { limit: 7 })
        ));
    }
}
