//! One zstd frame, with or without a prefix (`zstd --patch-from`): encoding.

use std::io::Write;

use super::{DeltaError, Encoded, Encoding, window_log};

/// Long-distance matching from this window log up (8 MiB).
const LDM_FROM_WINDOW_LOG: u32 = 24;

/// One zstd frame of `new`, with `base` as its prefix when given.
pub(super) fn encode(base: Option<&[u8]>, new: &[u8], level: i32) -> Result<Encoded, DeltaError> {
    let encoding = if base.is_some() {
        Encoding::ZstdPatch
    } else {
        Encoding::Zstd
    };
    let err = |source| DeltaError::Encode { encoding, source };
    let wlog = window_log(base.map_or(0, |b| b.len() as u64), new.len() as u64);
    let out = Vec::with_capacity(new.len() / 8);
    let mut enc = match base {
        Some(b) => zstd::stream::write::Encoder::with_ref_prefix(out, level, b),
        None => zstd::stream::write::Encoder::new(out, level),
    }
    .map_err(err)?;
    enc.include_checksum(true).map_err(err)?;
    enc.include_contentsize(true).map_err(err)?;
    enc.set_pledged_src_size(Some(new.len() as u64))
        .map_err(err)?;
    enc.window_log(wlog).map_err(err)?;
    if wlog >= LDM_FROM_WINDOW_LOG {
        enc.long_distance_matching(true).map_err(err)?;
    }
    enc.write_all(new).map_err(err)?;
    let bytes = enc.finish().map_err(err)?;
    Ok(Encoded { encoding, bytes })
}
