//! bsdiff patches (the interleaved layout of FORMAT.md §17.5): applying
//! them. The records are decoded here, once, over either compressor the
//! encodings wrap them in: one zstd frame ([`Encoding::Bsdiff`], opened
//! here) or one .xz stream ([`Encoding::BsdiffXz`], `super::xz`).

use std::io::{self, BufReader, Read, Write};
use std::prelude::rust_2024::*;

use super::limit::{Limited, Tracked, has_more};
use super::{BSDIFF_WINDOW_LOG, DeltaError, Encoding};

/// Size of the patch reader's buffer and of the output chunks.
pub(super) const BUF: usize = 64 * 1024;

/// The decompressed bytes of a bsdiff patch: what the two bsdiff encodings
/// differ in.
pub(super) trait Inner: Read {
    /// Whether the patch's own reader failed: its error is a
    /// [`DeltaError::Read`], not a corrupt patch.
    fn source_failed(&self) -> bool;
    /// After the compressed stream ended: whether bytes follow it.
    fn trailing(self) -> io::Result<bool>;
    /// The reason to report for the decompressor's error `e`.
    fn reason(e: &io::Error) -> String {
        e.to_string()
    }
}

/// One zstd frame, its window at most [`BSDIFF_WINDOW_LOG`].
pub(super) fn zstd<R: Read>(patch: R) -> Result<impl Inner, DeltaError> {
    let reader = BufReader::with_capacity(BUF, Tracked::new(patch));
    let corrupt = |e: io::Error| corrupt(Encoding::Bsdiff, e.to_string());
    let mut dec = zstd::stream::read::Decoder::with_buffer(reader)
        .map_err(corrupt)?
        .single_frame();
    dec.window_log_max(BSDIFF_WINDOW_LOG).map_err(corrupt)?;
    Ok(dec)
}

impl<R: Read> Inner for zstd::stream::read::Decoder<'_, BufReader<Tracked<R>>> {
    fn source_failed(&self) -> bool {
        self.get_ref().get_ref().failed()
    }

    fn trailing(self) -> io::Result<bool> {
        has_more(&mut self.finish())
    }
}

pub(super) fn corrupt(encoding: Encoding, reason: impl Into<String>) -> DeltaError {
    DeltaError::Corrupt {
        encoding,
        reason: reason.into(),
    }
}

/// Reads sign-and-magnitude little-endian i64 (bsdiff's `offtin`).
fn offtin(b: [u8; 8]) -> i64 {
    let y = u64::from_le_bytes(b);
    let magnitude = (y & !(1 << 63)) as i64;
    if y & (1 << 63) == 0 {
        magnitude
    } else {
        -magnitude
    }
}

/// Size of the output buffer: records can be a few bytes long (unrelated
/// data makes many), and each write downstream is hashed and written to a
/// file, both of which want large slices.
const OUT_BUF: usize = 128 * 1024;

/// Applies the bsdiff records `dec` yields to `base`, streaming into `out`.
pub(super) fn decode<W: Write>(
    encoding: Encoding,
    base: &[u8],
    dec: impl Inner,
    out: &mut Limited<W>,
) -> Result<(), DeltaError> {
    let corrupt = |reason: &str| corrupt(encoding, reason);
    // Buffered both ways: a record's 24-byte header or a short mix would
    // otherwise be one decompressor call, one hash update and one write.
    let mut dec = BufReader::with_capacity(BUF, dec);
    let mut out = io::BufWriter::with_capacity(OUT_BUF, out);
    if let Err(e) = records(encoding, base, &mut dec, &mut out) {
        // Nothing more reaches `out` after a failure: the buffered bytes go.
        drop(out.into_parts());
        return Err(e);
    }
    out.flush().map_err(DeltaError::Write)?;
    let trailing = if dec.buffer().is_empty() {
        dec.into_inner().trailing()
    } else {
        Ok(true)
    };
    match trailing {
        Ok(false) => Ok(()),
        Ok(true) => Err(corrupt("trailing bytes after the compressed stream")),
        Err(e) => Err(DeltaError::Read(e)),
    }
}

/// Applies records until the decompressed stream ends.
fn records<D: Inner, W: Write>(
    encoding: Encoding,
    base: &[u8],
    dec: &mut BufReader<D>,
    out: &mut io::BufWriter<&mut Limited<W>>,
) -> Result<(), DeltaError> {
    let corrupt = |reason: &str| corrupt(encoding, reason);
    let mut buf = vec![0u8; BUF];
    let mut oldpos: u64 = 0;
    loop {
        let mut ctrl = [0u8; 24];
        let got = read_full(encoding, dec, &mut ctrl)?;
        if got == 0 {
            break;
        }
        if got < ctrl.len() {
            return Err(corrupt("truncated control record"));
        }
        let word = |i: usize| <[u8; 8]>::try_from(&ctrl[8 * i..8 * i + 8]).expect("8 bytes");
        let mix_len = u64::from_le_bytes(word(0));
        let copy_len = u64::from_le_bytes(word(1));
        let seek = offtin(word(2));

        let pending = out.buffer().len() as u64;
        if !out
            .get_mut()
            .reserve(pending.saturating_add(mix_len.saturating_add(copy_len)))
        {
            // Reported as `TooLarge` by the caller.
            return Err(corrupt("record exceeds the output limit"));
        }
        // Mix: patch bytes added to the base's.
        let mix_end = oldpos
            .checked_add(mix_len)
            .filter(|&e| e <= base.len() as u64)
            .ok_or_else(|| corrupt("record reaches past the end of the base"))?;
        let mut at = oldpos as usize;
        let mut left = mix_len;
        while left > 0 {
            let n = left.min(BUF as u64) as usize;
            if read_full(encoding, dec, &mut buf[..n])? < n {
                return Err(corrupt("truncated diff bytes"));
            }
            for (d, &o) in buf[..n].iter_mut().zip(&base[at..at + n]) {
                *d = d.wrapping_add(o);
            }
            out.write_all(&buf[..n]).map_err(DeltaError::Write)?;
            at += n;
            left -= n as u64;
        }
        // Copy: literal bytes.
        let mut left = copy_len;
        while left > 0 {
            let n = left.min(BUF as u64) as usize;
            if read_full(encoding, dec, &mut buf[..n])? < n {
                return Err(corrupt("truncated extra bytes"));
            }
            out.write_all(&buf[..n]).map_err(DeltaError::Write)?;
            left -= n as u64;
        }
        oldpos = i64::try_from(mix_end)
            .ok()
            .and_then(|p| p.checked_add(seek))
            .and_then(|p| u64::try_from(p).ok())
            .ok_or_else(|| corrupt("seek before the start of the base"))?;
    }
    Ok(())
}

/// Reads until `buf` is full or the compressed stream ends; returns the
/// bytes read.
fn read_full<D: Inner>(
    encoding: Encoding,
    dec: &mut BufReader<D>,
    buf: &mut [u8],
) -> Result<usize, DeltaError> {
    let mut got = 0;
    while got < buf.len() {
        match dec.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if dec.get_ref().source_failed() => return Err(DeltaError::Read(e)),
            Err(e) => return Err(corrupt(encoding, D::reason(&e))),
        }
    }
    Ok(got)
}
