//! bsdiff patches (FORMAT.md §17.5) inside one .xz stream
//! ([`Encoding::BsdiffXz`]): encoding.
//!
//! LZMA2's literal coder (with the previous byte and the position as
//! context) packs the sparse diff bytes of machine code tighter than zstd's
//! (FORMAT.md §17.2): on firmware images the same bsdiff stream is about
//! 15 % smaller here. On text-like data it is the other way round, so
//! [`super::encode`] keeps whichever is smaller.

use std::io::Write;

use liblzma::stream::{Check, Filters, LzmaOptions, PRESET_EXTREME, Stream};

use super::{DeltaError, Encoded, Encoding, XZ_MAX_DICT};

const ENCODING: Encoding = Encoding::BsdiffXz;

/// The xz preset: 9 with `--extreme` (`xz -9e`).
const PRESET: u32 = 9 | PRESET_EXTREME;

/// The LZMA2 dictionary for `len` bytes of input: the smallest power of two
/// holding them (a larger one only costs the decoder memory), at least
/// liblzma's minimum of 4 KiB, at most [`XZ_MAX_DICT`].
pub(super) fn dict_size(len: usize) -> u32 {
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    len.checked_next_power_of_two()
        .unwrap_or(XZ_MAX_DICT)
        .clamp(4096, XZ_MAX_DICT)
}

/// A raw bsdiff stream (`bsdelta::raw`) as one .xz stream: one block, one
/// LZMA2 filter, CRC64.
pub(super) fn compress(raw: &[u8]) -> Result<Encoded, DeltaError> {
    compress_with_dict(raw, dict_size(raw.len()))
}

/// [`compress`] with an explicit dictionary size: tests make streams a
/// device must refuse with it.
pub(super) fn compress_with_dict(raw: &[u8], dict: u32) -> Result<Encoded, DeltaError> {
    let err = |e: liblzma::stream::Error| DeltaError::Encode {
        encoding: ENCODING,
        source: e.into(),
    };
    let mut opts = LzmaOptions::new_preset(PRESET).map_err(err)?;
    opts.dict_size(dict);
    let mut filters = Filters::new();
    filters.lzma2(&opts);
    let stream = Stream::new_stream_encoder(&filters, Check::Crc64).map_err(err)?;
    let mut enc = liblzma::write::XzEncoder::new_stream(Vec::with_capacity(raw.len() / 8), stream);
    let io_err = |source| DeltaError::Encode {
        encoding: ENCODING,
        source,
    };
    enc.write_all(raw).map_err(io_err)?;
    let bytes = enc.finish().map_err(io_err)?;
    Ok(Encoded {
        encoding: ENCODING,
        bytes,
    })
}
