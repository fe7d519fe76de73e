//! Encoded payloads, the device's side (FORMAT.md §17): decoding a
//! compressed bundle or applying a patch to the installed base, as a
//! stream, with bounded output and bounded memory. The encoders are the
//! publisher's (`otaseal::delta`).
//!
//! Decoding alone proves nothing: a zstd-patch against the wrong base decodes
//! to wrong bytes and only fails at the frame's checksum, and a bsdiff patch
//! applied to a wrong base of the same length decodes without any error. The
//! signed lengths and keyed digests, checked before (the base) and after
//! (the result), are what make it safe: see `open::encoded::apply`.
//!
//! Memory: the zstd window (FORMAT.md §17.2: at most base + result, at most
//! 2 GiB; 16 MiB for bsdiff) or the LZMA2 dictionary (at most 16 MiB, for
//! bsdiff-xz) plus buffers of about 384 KiB; the base is only read (a mapped
//! file in practice).

mod bsdiff;
mod limit;
mod xz;
mod zstd_frame;

pub use crate::format::encoding::Encoding;
use std::io::{self, Read, Write};
use std::prelude::rust_2024::*;

/// Smallest zstd window log used.
pub const MIN_WINDOW_LOG: u32 = 10;
/// Largest zstd window log (`ZSTD_WINDOWLOG_MAX_64`): bases and outputs past 2 GiB still decode, but
/// matches farther back than 2 GiB are not found.
pub const MAX_WINDOW_LOG: u32 = 31;
/// Window log of the zstd frame around a bsdiff stream (16 MiB): its bytes
/// are mostly zeros and literals, so a larger window gains little.
pub const BSDIFF_WINDOW_LOG: u32 = 24;
/// Largest LZMA2 dictionary of a `bsdiff-xz` stream (16 MiB, the same span
/// as [`BSDIFF_WINDOW_LOG`]): a stream whose header asks for more is refused.
pub const XZ_MAX_DICT: u32 = 1 << BSDIFF_WINDOW_LOG;

/// What can go wrong encoding or decoding a delta.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeltaError {
    /// The encoder failed (zstd refused a parameter, or out of memory).
    #[error("{encoding} encoder failed: {source}")]
    Encode {
        /// The encoding being produced.
        encoding: Encoding,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The patch is not a valid encoding against this base: truncated,
    /// altered, trailing bytes, a window or dictionary larger than allowed,
    /// an unsupported integrity check type, a checksum
    /// mismatch (wrong base or altered data), or bsdiff records reaching
    /// outside the base.
    #[error("{encoding} patch is corrupt or does not fit the base: {reason}")]
    Corrupt {
        /// The encoding being decoded.
        encoding: Encoding,
        /// What was wrong.
        reason: String,
    },
    /// The output would exceed the limit the caller gave (a decompression
    /// bomb, or a patch for another, larger version). Nothing past the limit
    /// was written.
    #[error("decoded output exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The caller's `max_output_len`.
        limit: u64,
    },
    /// Writing the output failed.
    #[error("writing decoded output: {0}")]
    Write(#[source] io::Error),
    /// Reading the patch failed.
    #[error("reading the patch: {0}")]
    Read(#[source] io::Error),
}

/// The zstd window log for a frame against a base of `base_len` bytes
/// producing `out_len` bytes: the smallest window reaching back from the end
/// of the output to the start of the base, within
/// [`MIN_WINDOW_LOG`]..=[`MAX_WINDOW_LOG`]. The decoder computes the same
/// from the base it has and the output size it expects.
pub fn window_log(base_len: u64, out_len: u64) -> u32 {
    let span = base_len.saturating_add(out_len).max(1);
    let log = 64 - (span - 1).leading_zeros();
    log.clamp(MIN_WINDOW_LOG, MAX_WINDOW_LOG)
}

/// Decodes `patch` (an `encoding` payload made against `base`) into `out`,
/// streaming; returns the number of bytes written.
///
/// Fails with [`DeltaError::TooLarge`] rather than write more than
/// `max_output_len` bytes, and with [`DeltaError::Corrupt`] if the frame
/// needs a larger window than [`window_log`]`(base.len(), max_output_len)`
/// (or, for [`Encoding::BsdiffXz`], a dictionary larger than
/// [`XZ_MAX_DICT`]) or does not decode. `base` is ignored for
/// [`Encoding::Zstd`]. The patch must be exactly one frame (one .xz stream):
/// trailing bytes are an error.
///
/// Memory: the zstd window (at most the output size, since frames carry
/// their content size) or the LZMA2 dictionary, plus buffers of about
/// 384 KiB; the base is only read.
pub fn decode_to(
    encoding: Encoding,
    base: &[u8],
    patch: impl Read,
    out: impl Write,
    max_output_len: u64,
) -> Result<u64, DeltaError> {
    let mut out = limit::Limited::new(out, max_output_len);
    let result = match encoding {
        Encoding::Zstd => zstd_frame::decode(encoding, None, patch, &mut out, max_output_len),
        Encoding::ZstdPatch => {
            zstd_frame::decode(encoding, Some(base), patch, &mut out, max_output_len)
        }
        Encoding::Bsdiff => {
            bsdiff::zstd(patch).and_then(|dec| bsdiff::decode(encoding, base, dec, &mut out))
        }
        Encoding::BsdiffXz => {
            xz::open(patch).and_then(|dec| bsdiff::decode(encoding, base, dec, &mut out))
        }
    };
    match result {
        // A refused write surfaces as a write error (or, inside zstd, as
        // whatever the decoder made of it): the limit is the cause.
        Err(_) if out.tripped() => Err(DeltaError::TooLarge {
            limit: max_output_len,
        }),
        Err(e) => Err(e),
        Ok(()) => Ok(out.written()),
    }
}
