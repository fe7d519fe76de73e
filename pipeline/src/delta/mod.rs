//! Delta and compressed payloads, the publisher's side (FORMAT.md §17):
//! encoders. Decoding — what a device does — is `otaseal_core::encoding`.
//!
//! - [`Encoding::Zstd`]: one zstd frame of the new version, no base.
//! - [`Encoding::ZstdPatch`]: one zstd frame whose *prefix* (a single-use
//!   dictionary, `ZSTD_CCtx_refPrefix`) is the base version the device
//!   already has: the semantics of `zstd --patch-from`.
//! - [`Encoding::Bsdiff`]: a bsdiff patch (FORMAT.md §17.5: the `bsdiff`
//!   crate's raw stream, or the same records found by the faster matcher of
//!   `bsmatch`) compressed as one zstd frame. Usually smaller for machine
//!   code, where an insertion shifts many addresses by the same amount.
//! - [`Encoding::BsdiffXz`]: the `bsdiff` crate's stream as one .xz stream
//!   (LZMA2, `xz -9e`, dictionary at most [`XZ_MAX_DICT`]): smaller than
//!   the zstd frame for machine code, and slower to decode.
//!
//! [`encode`] tries the candidates of an [`Effort`] and keeps the smallest.
//! Every frame carries its content size and a checksum; the window is the
//! one the decoder allows ([`window_log`]).

mod bsdelta;
mod bsmatch;
mod prefix;
#[cfg(test)]
mod tests;
mod xz;

pub use otaseal_core::encoding::{
    BSDIFF_WINDOW_LOG, DeltaError, Encoding, MAX_WINDOW_LOG, MIN_WINDOW_LOG, XZ_MAX_DICT,
    decode_to, window_log,
};

/// How hard [`encode`] tries (`--delta-effort fast|best`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Effort {
    /// zstd level [`FAST_LEVEL`] with long-distance matching, a window sized
    /// to the base, and a bsdiff patch of the fast matcher (compressed at
    /// [`FAST_BSDIFF_LEVEL`]) when there is a base; the smaller wins: the
    /// default. The two take about as long, and the winner depends on the
    /// data (zstd on text and archives, bsdiff on machine code), so both
    /// run, in parallel.
    #[default]
    Fast,
    /// zstd level [`BEST_LEVEL`] with long-distance matching, and, when
    /// there is a base, one bsdiff stream compressed both with zstd (level
    /// [`BSDIFF_LEVEL`]) and with xz; the smallest wins.
    Best,
}

/// zstd level of [`Effort::Fast`].
pub const FAST_LEVEL: i32 = 3;
/// zstd level of [`Effort::Fast`]'s bsdiff stream: on the `versions`
/// firmware, level 3 leaves the patch 1.4× bsdiff's, 5 brings it to 1.33×
/// for little more time, and 9 to 1.29× for twice the time.
pub const FAST_BSDIFF_LEVEL: i32 = 5;
/// zstd level of [`Effort::Best`]: the highest ("ultra"; the library needs
/// no flag for it, only the command line does). Against the 24 MiB tar of
/// the `versions` dataset it makes a patch 26 % smaller than level 19 in
/// less time (btultra2 with the whole base in the window). The window stays
/// the one of FORMAT.md §17.2 ([`window_log`]), not the level's own.
pub const BEST_LEVEL: i32 = 22;
/// zstd level of the bsdiff stream in [`Effort::Best`]: levels above 19
/// gain nothing on its mostly-zero bytes within a 16 MiB window, and cost
/// time.
pub const BSDIFF_LEVEL: i32 = 19;

/// An encoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// How [`Encoded::bytes`] decode.
    pub encoding: Encoding,
    /// The patch or compressed payload.
    pub bytes: Vec<u8>,
}

/// Encodes `new`, against `base` when given, with the candidates of
/// `effort`, and returns the smallest.
///
/// Without a base: [`Encoding::Zstd`]. With one: [`Effort::Fast`] makes a
/// [`Encoding::ZstdPatch`] at level [`FAST_LEVEL`] and a fast
/// [`Encoding::Bsdiff`] at [`FAST_BSDIFF_LEVEL`] (in parallel; bsdiff only
/// for a base under 4 GiB) and keeps the smaller; [`Effort::Best`] makes a
/// [`Encoding::ZstdPatch`] at [`BEST_LEVEL`] and, in parallel on the rayon
/// pool, one bsdiff stream, which it compresses as [`Encoding::Bsdiff`] and
/// as [`Encoding::BsdiffXz`]; it keeps the smallest of the three.
pub fn encode(base: Option<&[u8]>, new: &[u8], effort: Effort) -> Result<Encoded, DeltaError> {
    let level = match effort {
        Effort::Fast => FAST_LEVEL,
        Effort::Best => BEST_LEVEL,
    };
    let Some(base) = base else {
        return prefix::encode(None, new, level);
    };
    match effort {
        Effort::Fast => {
            // Both candidates in parallel: the zstd-patch frame wins on text
            // and archives, the fast bsdiff on machine code (scattered words
            // shifted by the same few displacements).
            let (z, b) = rayon::join(
                || prefix::encode(Some(base), new, level),
                || bsmatch::encode(base, new, FAST_BSDIFF_LEVEL),
            );
            let z = z?;
            Ok(match b? {
                Some(b) if b.bytes.len() < z.bytes.len() => b,
                _ => z,
            })
        }
        Effort::Best => {
            let (z, bs) = rayon::join(
                || prefix::encode(Some(base), new, level),
                || -> Result<[Encoded; 2], DeltaError> {
                    // The suffix sort once; the two compressions in parallel.
                    let raw = bsdelta::raw(base, new)?;
                    let (b, x) = rayon::join(
                        || bsdelta::compress(&raw, BSDIFF_LEVEL),
                        || xz::compress(&raw),
                    );
                    Ok([b?, x?])
                },
            );
            // Ties go to the earlier candidate: zstd-patch, then bsdiff.
            let [b, x] = bs?;
            Ok([z?, b, x]
                .into_iter()
                .reduce(|best, c| {
                    if c.bytes.len() < best.bytes.len() {
                        c
                    } else {
                        best
                    }
                })
                .expect("three candidates"))
        }
    }
}

/// Encodes `new` as exactly `encoding` (against `base` for the patch
/// encodings) at zstd `level` (ignored by [`Encoding::BsdiffXz`], which is
/// always `xz -9e`): for measurements and tests.
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
        Encoding::BsdiffXz => xz::compress(&bsdelta::raw(base, new)?),
    }
}
