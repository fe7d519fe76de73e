//! Writers and readers that keep track of what went wrong where.

use std::io::{self, BufRead, Read, Write};
use std::prelude::rust_2024::*;

/// A writer that refuses to go past `limit` bytes.
#[derive(Debug)]
pub(super) struct Limited<W> {
    inner: W,
    limit: u64,
    written: u64,
    tripped: bool,
}

impl<W: Write> Limited<W> {
    pub(super) fn new(inner: W, limit: u64) -> Self {
        Self {
            inner,
            limit,
            written: 0,
            tripped: false,
        }
    }

    /// Bytes written so far.
    pub(super) fn written(&self) -> u64 {
        self.written
    }

    /// Refuses up front a write of `len` more bytes that would cross the
    /// limit (as [`Write::write`] would, once the bytes were there).
    pub(super) fn reserve(&mut self, len: u64) -> bool {
        if len > self.limit - self.written {
            self.tripped = true;
        }
        !self.tripped
    }

    /// Whether a write was refused for crossing the limit.
    pub(super) fn tripped(&self) -> bool {
        self.tripped
    }
}

impl<W: Write> Write for Limited<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.limit - self.written {
            // Nothing of this buffer is written: the output stops at or
            // before the limit.
            self.tripped = true;
            return Err(io::Error::other("output limit reached"));
        }
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that remembers whether its source failed, so a decoder's error
/// can be told apart from the patch's reader's.
#[derive(Debug)]
pub(super) struct Tracked<R> {
    inner: R,
    failed: bool,
}

impl<R: Read> Tracked<R> {
    pub(super) fn new(inner: R) -> Self {
        Self {
            inner,
            failed: false,
        }
    }

    pub(super) fn failed(&self) -> bool {
        self.failed
    }
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.failed = true;
            }
        })
    }
}

/// Whether a buffered reader has bytes left.
pub(super) fn has_more(r: &mut impl BufRead) -> io::Result<bool> {
    Ok(!r.fill_buf()?.is_empty())
}
