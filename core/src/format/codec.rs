//! A bounded big-endian reader and a matching writer.
//!
//! Every length read from untrusted bytes is checked against what is left of
//! the input *before* anything is allocated, so a hostile length field costs
//! nothing (the rustls `codec` / bao `decode` discipline).

use super::FormatError;
use crate::prelude::*;

/// Reads fields from untrusted bytes; every read is bounds-checked.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Offset of the next unread byte.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], FormatError> {
        if n > self.remaining() {
            return Err(FormatError::Truncated { field });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], FormatError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, FormatError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, FormatError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, FormatError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, FormatError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// A `u8`-length-prefixed byte string.
    pub(crate) fn bytes8(&mut self, field: &'static str) -> Result<&'a [u8], FormatError> {
        let len = self.u8(field)? as usize;
        self.take(len, field)
    }

    /// A `u16`-length-prefixed byte string.
    pub(crate) fn bytes16(&mut self, field: &'static str) -> Result<&'a [u8], FormatError> {
        let len = self.u16(field)? as usize;
        self.take(len, field)
    }

    /// A `u32`-length-prefixed byte string.
    pub(crate) fn bytes32(&mut self, field: &'static str) -> Result<&'a [u8], FormatError> {
        let len =
            usize::try_from(self.u32(field)?).map_err(|_| FormatError::Truncated { field })?;
        self.take(len, field)
    }

    /// Fails unless every byte has been consumed.
    pub(crate) fn finish(&self) -> Result<(), FormatError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(FormatError::TrailingBytes { extra }),
        }
    }
}

/// Appends fields in the same encoding [`Reader`] reads.
#[derive(Debug, Default)]
pub struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            buf: Vec::with_capacity(n),
        }
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.put(&v.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.put(&v.to_be_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.put(&v.to_be_bytes());
    }

    /// Writes a `u8`-length-prefixed string. Callers pass validated values whose
    /// length the type already bounds, so overflow is a programming error.
    pub(crate) fn bytes8(&mut self, bytes: &[u8]) {
        let len = u8::try_from(bytes.len()).expect("validated length fits in u8");
        self.u8(len);
        self.put(bytes);
    }

    pub(crate) fn bytes16(&mut self, bytes: &[u8]) {
        let len = u16::try_from(bytes.len()).expect("validated length fits in u16");
        self.u16(len);
        self.put(bytes);
    }

    pub(crate) fn bytes32(&mut self, bytes: &[u8]) {
        let len = u32::try_from(bytes.len()).expect("validated length fits in u32");
        self.u32(len);
        self.put(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bounds() {
        let mut w = Writer::default();
        w.u8(7);
        w.u16(0x0102);
        w.u32(0x0304_0506);
        w.u64(u64::MAX);
        w.bytes8(b"abc");
        w.bytes16(b"");
        w.bytes32(b"xyz");
        let mut r = Reader::new(&w.buf);
        assert_eq!(r.u8("a").unwrap(), 7);
        assert_eq!(r.u16("b").unwrap(), 0x0102);
        assert_eq!(r.u32("c").unwrap(), 0x0304_0506);
        assert_eq!(r.u64("d").unwrap(), u64::MAX);
        assert_eq!(r.bytes8("e").unwrap(), b"abc");
        assert_eq!(r.bytes16("f").unwrap(), b"");
        assert_eq!(r.bytes32("g").unwrap(), b"xyz");
        r.finish().unwrap();
    }

    #[test]
    fn hostile_length_is_rejected_without_allocating() {
        let bytes = [0xff, 0xff, 0xff, 0xff, 1, 2];
        let mut r = Reader::new(&bytes);
        assert!(matches!(
            r.bytes32("blob"),
            Err(FormatError::Truncated { field: "blob" })
        ));
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let r = Reader::new(&[1, 2]);
        assert!(matches!(
            r.finish(),
            Err(FormatError::TrailingBytes { extra: 2 })
        ));
    }
}
