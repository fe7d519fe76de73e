//! One zstd frame, with or without a raw-content prefix (`zstd
//! --patch-from`): decoding.

use std::io::{BufRead, BufReader, Read, Write};
use std::prelude::rust_2024::*;

use super::limit::{Limited, Tracked, has_more};
use super::{DeltaError, Encoding, window_log};

/// Size of the patch reader's buffer: a whole chunk of the default size
/// (256 KiB), so a reader that decrypts chunks can hand each over in place,
/// without a copy (`open::file`'s `PlainReader`).
const IN_BUF: usize = 256 * 1024;

/// Size of the output slices: large enough for fast hashing (the result's
/// keyed digest) and few writes, small enough to stay in cache between the
/// decoder, the hash and the write.
const OUT_BUF: usize = 128 * 1024;

/// Decodes one zstd frame (with `base` as its prefix when given) into `out`.
pub(super) fn decode<W: Write>(
    encoding: Encoding,
    base: Option<&[u8]>,
    patch: impl Read,
    out: &mut Limited<W>,
    max_output_len: u64,
) -> Result<(), DeltaError> {
    let wlog = window_log(base.map_or(0, |b| b.len() as u64), max_output_len);
    let mut reader = BufReader::with_capacity(IN_BUF, Tracked::new(patch));
    // A frame that declares more output than allowed is refused before any
    // is decoded (one without a declared size meets the writer's limit).
    let head = reader.fill_buf().map_err(DeltaError::Read)?;
    if let Ok(Some(declared)) = zstd::zstd_safe::get_frame_content_size(head) {
        if declared > max_output_len {
            return Err(DeltaError::TooLarge {
                limit: max_output_len,
            });
        }
    }
    let dec = match base {
        Some(b) => zstd::stream::read::Decoder::with_ref_prefix(reader, b),
        None => zstd::stream::read::Decoder::with_buffer(reader),
    };
    let corrupt = |reason: String| DeltaError::Corrupt { encoding, reason };
    let mut dec = dec.map_err(|e| corrupt(e.to_string()))?.single_frame();
    dec.window_log_max(wlog)
        .map_err(|e| corrupt(e.to_string()))?;
    let mut buf = vec![0u8; OUT_BUF];
    loop {
        let n = match dec.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if dec.get_ref().get_ref().failed() => return Err(DeltaError::Read(e)),
            Err(e) => return Err(corrupt(e.to_string())),
        };
        out.write_all(&buf[..n]).map_err(DeltaError::Write)?;
    }
    let mut rest = dec.finish();
    match has_more(&mut rest) {
        Ok(false) => Ok(()),
        Ok(true) => Err(corrupt("trailing bytes after the frame".into())),
        Err(e) => Err(DeltaError::Read(e)),
    }
}
