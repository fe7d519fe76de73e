//! bsdiff patches (FORMAT.md §17.5) inside one zstd frame: encoding.

use std::io::Write;

use super::{BSDIFF_WINDOW_LOG, DeltaError, Encoded, Encoding, window_log};

const ENCODING: Encoding = Encoding::Bsdiff;

fn err(source: std::io::Error) -> DeltaError {
    DeltaError::Encode {
        encoding: ENCODING,
        source,
    }
}

/// A bsdiff patch from `base` to `new` (the `bsdiff` crate's suffix-array
/// matcher), compressed at zstd `level`.
pub(super) fn encode(base: &[u8], new: &[u8], level: i32) -> Result<Encoded, DeltaError> {
    compress(&raw(base, new)?, level)
}

/// The uncompressed bsdiff stream (§17.5) from `base` to `new` by the
/// `bsdiff` crate: the expensive part (a suffix sort of the base), which
/// both bsdiff encodings compress.
pub(super) fn raw(base: &[u8], new: &[u8]) -> Result<Vec<u8>, DeltaError> {
    let mut raw = Vec::with_capacity(new.len() + new.len() / 16);
    bsdiff::diff(base, new, &mut raw).map_err(err)?;
    Ok(raw)
}

/// Frames `raw`, records in the layout of FORMAT.md §17.5, as the one zstd
/// frame of an [`Encoding::Bsdiff`] payload at `level`: content size and
/// checksum, and a window of at most [`BSDIFF_WINDOW_LOG`], the most a
/// device must accept. Every zstd-framed bsdiff encoder ends here.
pub(super) fn compress(raw: &[u8], level: i32) -> Result<Encoded, DeltaError> {
    let wlog = window_log(0, raw.len() as u64).min(BSDIFF_WINDOW_LOG);
    let mut enc =
        zstd::stream::write::Encoder::new(Vec::with_capacity(raw.len() / 8), level).map_err(err)?;
    enc.include_checksum(true).map_err(err)?;
    enc.include_contentsize(true).map_err(err)?;
    enc.set_pledged_src_size(Some(raw.len() as u64))
        .map_err(err)?;
    enc.window_log(wlog).map_err(err)?;
    enc.write_all(raw).map_err(err)?;
    let bytes = enc.finish().map_err(err)?;
    Ok(Encoded {
        encoding: ENCODING,
        bytes,
    })
}
