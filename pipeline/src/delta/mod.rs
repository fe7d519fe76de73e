//! Delta and compressed payloads (issue 12): encoders for the publisher,
//! bounded streaming decoders for the device.
//!
//! Not wired into sealing or the format yet. A payload is encoded as one of:
//!
//! - [`Encoding::Zstd`]: one zstd frame of the new version, no base.
//! - [`Encoding::ZstdPatch`]: one zstd frame whose *prefix* (a single-use
//!   dictionary, `ZSTD_CCtx_refPrefix`) is the base version the device
//!   already has: the semantics of `zstd --patch-from`, so any zstd library
//!   with prefix support decodes it given the same base.
//! - [`Encoding::Bsdiff`]: a raw bsdiff patch (the format of the `bsdiff`
//!   crate, below) compressed as one zstd frame. Usually smaller for machine
//!   code, where an insertion shifts many addresses by the same amount.
//!
//! Every frame carries its content size and a 32-bit XXH64 checksum of the
//! output, so a wrong base or an altered patch is usually caught when the
//! frame ends; but by then the output has been written. The caller must
//! still check the output (the manifest's digest) and bind the base (its
//! digest) before trusting either.
//!
//! The raw bsdiff stream is a sequence of records, with no header:
//! `mix_len: u64 LE`, `copy_len: u64 LE`, `seek: i64` (sign and magnitude,
//! LE), then `mix_len` bytes each added (mod 256) to the base byte at the
//! current base position, then `copy_len` bytes copied as they are; the base
//! position advances by `mix_len` and then moves by `seek`.
//!
//! [`encode`] tries the candidates of an [`Effort`] and keeps the smallest;
//! [`decode_to`] streams the output into a writer, never writes more than a
//! limit (an error, not a truncation: decompression bombs are refused) and
//! bounds the zstd window, so its memory is that window plus small buffers,
//! with the base borrowed (a mapped file in practice).

mod bsdelta;
mod limit;
mod prefix;
#[cfg(test)]
mod tests;

use std::io::{self, Read, Write};

/// How a payload is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// A zstd frame of the new version alone.
    Zstd,
    /// A zstd frame whose prefix is the base (`zstd --patch-from`).
    ZstdPatch,
    /// A raw bsdiff patch against the base, compressed as a zstd frame.
    Bsdiff,
}

impl Encoding {
    /// Whether decoding needs the base version.
    pub fn needs_base(self) -> bool {
        !matches!(self, Encoding::Zstd)
    }

    /// A short name for reports: `zstd`, `zstd-patch`, `bsdiff`.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Zstd => "zstd",
            Encoding::ZstdPatch => "zstd-patch",
            Encoding::Bsdiff => "bsdiff",
        }
    }
}

/// How hard [`encode`] tries (`--delta-effort fast|best`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Effort {
    /// zstd level [`FAST_LEVEL`] with long-distance matching, a window sized
    /// to the base: the default.
    #[default]
    Fast,
    /// zstd level [`BEST_LEVEL`] with long-distance matching, and bsdiff
    /// (compressed at the same level) when there is a base; the smaller wins.
    Best,
}

/// zstd level of [`Effort::Fast`].
pub const FAST_LEVEL: i32 = 3;
/// zstd level of [`Effort::Best`] (and of the bsdiff stream).
pub const BEST_LEVEL: i32 = 19;

/// Smallest zstd window log used.
pub const MIN_WINDOW_LOG: u32 = 10;
/// Largest zstd window log (`ZSTD_WINDOWLOG_MAX_64`): bases and outputs past 2 GiB still decode, but
/// matches farther back than 2 GiB are not found.
pub const MAX_WINDOW_LOG: u32 = 31;
/// Window log of the zstd frame around a bsdiff stream (16 MiB): its bytes
/// are mostly zeros and literals, so a larger window gains little.
pub const BSDIFF_WINDOW_LOG: u32 = 24;

/// An encoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// How [`Encoded::bytes`] decode.
    pub encoding: Encoding,
    /// The patch or compressed payload.
    pub bytes: Vec<u8>,
}

/// What can go wrong encoding or decoding a delta.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeltaError {
    /// The encoder failed (zstd refused a parameter, or out of memory).
    #[error("{encoding:?} encoder failed: {source}")]
    Encode {
        /// The encoding being produced.
        encoding: Encoding,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The patch is not a valid encoding against this base: truncated,
    /// altered, trailing bytes, a window larger than allowed, a checksum
    /// mismatch (wrong base or altered data), or bsdiff records reaching
    /// outside the base.
    #[error("{encoding:?} patch is corrupt or does not fit the base: {reason}")]
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

/// Encodes `new`, against `base` when given, with the candidates of
/// `effort`, and returns the smallest.
///
/// Without a base: [`Encoding::Zstd`]. With one: [`Effort::Fast`] makes a
/// [`Encoding::ZstdPatch`] at level [`FAST_LEVEL`]; [`Effort::Best`] makes a
/// [`Encoding::ZstdPatch`] at [`BEST_LEVEL`] and a [`Encoding::Bsdiff`]
/// (the two in parallel on the rayon pool) and keeps the smaller.
pub fn encode(base: Option<&[u8]>, new: &[u8], effort: Effort) -> Result<Encoded, DeltaError> {
    let level = match effort {
        Effort::Fast => FAST_LEVEL,
        Effort::Best => BEST_LEVEL,
    };
    let Some(base) = base else {
        return prefix::encode(None, new, level);
    };
    match effort {
        Effort::Fast => prefix::encode(Some(base), new, level),
        Effort::Best => {
            let (z, b) = rayon::join(
                || prefix::encode(Some(base), new, level),
                || bsdelta::encode(base, new, level),
            );
            let (z, b) = (z?, b?);
            Ok(if b.bytes.len() < z.bytes.len() { b } else { z })
        }
    }
}

/// Encodes `new` as exactly `encoding` (against `base` for the patch
/// encodings) at zstd `level`: for measurements and tests.
pub fn encode_as(
    encoding: Encoding,
    base: &[u8],
    new: &[u8],
    level: i32,
) -> Result<Encoded, DeltaError> {
    match encoding {
        Encoding::Zstd => prefix::encode(None, new, level),
        Encoding::ZstdPatch => prefix::encode(Some(base), new, level),
        Encoding::Bsdiff => bsdelta::encode(base, new, level),
    }
}

/// Decodes `patch` (an `encoding` payload made against `base`) into `out`,
/// streaming; returns the number of bytes written.
///
/// Fails with [`DeltaError::TooLarge`] rather than write more than
/// `max_output_len` bytes, and with [`DeltaError::Corrupt`] if the frame
/// needs a larger window than [`window_log`]`(base.len(), max_output_len)`
/// or does not decode. `base` is ignored for [`Encoding::Zstd`]. The patch
/// must be exactly one frame: trailing bytes are an error.
///
/// Memory: the zstd window (at most the output size, since frames carry
/// their content size) plus buffers of about 256 KiB; the base is only read.
pub fn decode_to(
    encoding: Encoding,
    base: &[u8],
    patch: impl Read,
    out: impl Write,
    max_output_len: u64,
) -> Result<u64, DeltaError> {
    let mut out = limit::Limited::new(out, max_output_len);
    let result = match encoding {
        Encoding::Zstd => prefix::decode(encoding, None, patch, &mut out, max_output_len),
        Encoding::ZstdPatch => {
            prefix::decode(encoding, Some(base), patch, &mut out, max_output_len)
        }
        Encoding::Bsdiff => bsdelta::decode(base, patch, &mut out),
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
