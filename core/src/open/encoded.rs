//! Installing an encoded bundle (FORMAT.md §17.4): the checks on either side
//! of decoding. Before: the base the device offers is exactly the signed
//! base (length and keyed digest). After: the output is exactly the signed
//! result. Decoding itself is `crate::encoding` (feature `encoding`); the
//! checks are here so that a `no_std` device with its own decoder uses the
//! same ones.

use crate::error::{Error, Result};
use crate::format::encoding::{DigestHasher, Encoding, PayloadEncoding, plaintext_digest};
use crate::prelude::*;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// What an unlocked encoded bundle decodes to, with the key that checks it
/// ([`Session::encoded`](crate::session::Session::encoded)).
pub struct EncodedTarget {
    encoding: PayloadEncoding,
    digest_key: Zeroizing<[u8; 32]>,
}

impl core::fmt::Debug for EncodedTarget {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EncodedTarget")
            .field("encoding", &self.encoding.encoding)
            .field("result_len", &self.encoding.result_len)
            .finish_non_exhaustive()
    }
}

impl EncodedTarget {
    pub(crate) fn new(encoding: PayloadEncoding, digest_key: Zeroizing<[u8; 32]>) -> Self {
        Self {
            encoding,
            digest_key,
        }
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding.encoding
    }

    /// The signed section: result length, base sequence and version.
    pub fn signed(&self) -> &PayloadEncoding {
        &self.encoding
    }

    /// Checks that `base` is the base this patch was made against: its
    /// length, then its keyed digest (constant time). Call before decoding
    /// anything; a bundle that needs no base refuses one. The returned token
    /// is what [`apply`] takes, so a base is hashed once and never decoded
    /// against unchecked.
    pub fn check_base<'a>(&self, base: Option<&'a [u8]>) -> Result<Option<CheckedBase<'a>>> {
        match (&self.encoding.base, base) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(Error::EncodingMismatch(
                "this bundle is compressed, not a delta: it takes no base",
            )),
            (Some(_), None) => Err(Error::EncodingMismatch(
                "this bundle is a delta: give the installed version it applies to as its base",
            )),
            (Some(signed), Some(base)) => {
                if base.len() as u64 != signed.len {
                    return Err(Error::WrongBase {
                        reason: format!(
                            "it is {} bytes; the delta applies to the {}-byte version {} (sequence {})",
                            base.len(),
                            signed.len,
                            signed.version,
                            signed.sequence
                        ),
                    });
                }
                let digest = plaintext_digest(&self.digest_key, base);
                if bool::from(digest.ct_eq(&signed.digest)) {
                    Ok(Some(CheckedBase {
                        bytes: base,
                        signed_digest: signed.digest,
                    }))
                } else {
                    Err(Error::WrongBase {
                        reason: format!(
                            "its digest differs from version {} (sequence {})",
                            signed.version, signed.sequence
                        ),
                    })
                }
            }
        }
    }

    /// A running check of the decoded output against the signed result.
    pub fn result_check(&self) -> ResultCheck {
        ResultCheck {
            hasher: DigestHasher::new(&self.digest_key),
            len: 0,
            expected_len: self.encoding.result_len,
            expected_digest: self.encoding.result_digest,
        }
    }
}

/// A base [`EncodedTarget::check_base`] found to be the signed one.
#[derive(Debug, Clone, Copy)]
pub struct CheckedBase<'a> {
    bytes: &'a [u8],
    /// The signed digest it was checked against: [`apply`] refuses the
    /// token for a bundle that names another base. (Only `apply`, under
    /// the `encoding` feature, reads it.)
    #[cfg_attr(not(feature = "encoding"), allow(dead_code))]
    signed_digest: [u8; 32],
}

impl<'a> CheckedBase<'a> {
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// Feeds on the decoded output as it is produced; [`finish`](Self::finish)
/// says whether it was exactly the signed result.
#[derive(Debug)]
pub struct ResultCheck {
    hasher: DigestHasher,
    len: u64,
    expected_len: u64,
    expected_digest: [u8; 32],
}

impl ResultCheck {
    /// Adds output bytes. Fails as soon as the output passes the signed
    /// length: a decoder feeding this never needs to produce more.
    pub fn update(&mut self, bytes: &[u8]) -> Result<()> {
        self.len = self.len.saturating_add(bytes.len() as u64);
        if self.len > self.expected_len {
            return Err(Error::BadDelta {
                reason: format!(
                    "the output passes its signed length of {} bytes",
                    self.expected_len
                ),
            });
        }
        self.hasher.update(bytes);
        Ok(())
    }

    /// The signed length, for decoders that take an output limit.
    pub fn expected_len(&self) -> u64 {
        self.expected_len
    }

    /// Whether the output was exactly the signed result: its length, then
    /// its keyed digest (constant time).
    pub fn finish(&self) -> Result<()> {
        if self.len != self.expected_len {
            return Err(Error::BadDelta {
                reason: format!(
                    "the output is {} bytes, the signed result {}",
                    self.len, self.expected_len
                ),
            });
        }
        if bool::from(self.hasher.finalize().ct_eq(&self.expected_digest)) {
            Ok(())
        } else {
            Err(Error::BadDelta {
                reason: "the output's digest differs from the signed result's".into(),
            })
        }
    }
}

/// Decodes `plaintext` (the bundle's verified, decrypted payload, in
/// order) against `base` into `out`, with every check of FORMAT.md §17.4:
/// the base checked first ([`EncodedTarget::check_base`], whose token this
/// takes), then a decoder whose output stops at the signed length, then the
/// result's length and digest. The caller gives the output its final name
/// only when this returns `Ok`.
#[cfg(feature = "encoding")]
pub fn apply(
    target: &EncodedTarget,
    base: Option<CheckedBase<'_>>,
    plaintext: impl std::io::Read,
    out: impl std::io::Write,
) -> Result<u64> {
    use crate::encoding::{DeltaError, decode_to};

    let signed = target.encoding.base.as_ref().map(|b| b.digest);
    if signed != base.map(|b| b.signed_digest) {
        return Err(Error::EncodingMismatch(
            "the base was checked against another bundle's signed base",
        ));
    }
    let base = base.map(|b| b.bytes);
    let mut check = target.result_check();
    let mut sink = Checked {
        out,
        check: &mut check,
        failed: None,
    };
    let written = decode_to(
        target.encoding(),
        base.unwrap_or(&[]),
        plaintext,
        &mut sink,
        target.signed().result_len,
    );
    let failed = sink.failed.take();
    match written {
        Ok(n) => {
            check.finish()?;
            Ok(n)
        }
        Err(_) if failed.is_some() => Err(failed.expect("checked")),
        Err(DeltaError::Write(e)) => Err(Error::BadDelta {
            reason: format!("writing the output: {e}"),
        }),
        Err(DeltaError::Read(e)) => Err(Error::BadDelta {
            reason: format!("reading the payload: {e}"),
        }),
        Err(e) => Err(Error::BadDelta {
            reason: e.to_string(),
        }),
    }
}

/// The output writer of [`apply`]: checks every byte on its way out.
#[cfg(feature = "encoding")]
struct Checked<'a, W> {
    out: W,
    check: &'a mut ResultCheck,
    failed: Option<Error>,
}

#[cfg(feature = "encoding")]
impl<W: std::io::Write> std::io::Write for Checked<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Err(e) = self.check.update(buf) {
            self.failed = Some(e);
            return Err(std::io::Error::other("output refused"));
        }
        self.out.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Installs an encoded bundle from its stored chunks in one pass, in order
/// (FORMAT.md §17.4, after the base was checked): `load(index, offset, buf)`
/// fills `buf` with chunk `index`'s ciphertext (payload bytes from
/// `offset`, exactly the chunk's length); the session verifies each chunk
/// (hashed once) and decrypts it before the decoder sees a byte of it;
/// [`apply`] decodes into `out` and checks the result. Chunks the session
/// verified earlier (fed before, or checked on several threads) are hashed
/// again as loaded, so a stored copy that changed since is caught. On
/// success every chunk was read and decrypted ([`Session::check_finished`]
/// passes); the caller then gives the output its final name. An error of
/// `load` or of a chunk takes precedence over the decoder's.
///
/// [`Session::check_finished`]: crate::session::Session::check_finished
#[cfg(feature = "encoding")]
pub fn apply_chunks(
    session: &mut crate::session::Session,
    target: &EncodedTarget,
    base: Option<CheckedBase<'_>>,
    load: impl FnMut(u32, u64, &mut [u8]) -> Result<()>,
    out: impl std::io::Write,
) -> Result<u64> {
    let mut plain = PlainChunks::new(session, load);
    let applied = apply(target, base, &mut plain, out);
    // An error while reading the payload is the payload's, not the decoder's.
    if let Some(e) = plain.failed.take() {
        return Err(e);
    }
    let written = applied?;
    // The decoder refuses bytes after the patch, so it read every chunk;
    // checked again here, as the session counts them.
    if plain.next != plain.session.verified().chunk_count() {
        return Err(Error::BadDelta {
            reason: "the patch ends before the payload".into(),
        });
    }
    plain.session.check_finished()?;
    Ok(written)
}

/// The payload's plaintext, in order, one chunk at a time, in one pass:
/// each chunk is loaded, verified by the session (hashed once) and
/// decrypted, and only then handed out. When the caller's buffer holds a
/// whole chunk (the decoder's input buffer, with chunks up to its size) the
/// chunk is loaded, verified and decrypted right there
/// ([`Session::feed_chunk_in_place`]): no copy at all. Otherwise it goes
/// through a buffer of its own (zeroized when dropped) and is copied out.
/// A chunk the session verified before is decrypted by
/// [`Session::decrypt_chunk`], which hashes the bytes loaded now, once.
///
/// [`Session::feed_chunk_in_place`]: crate::session::Session::feed_chunk_in_place
/// [`Session::decrypt_chunk`]: crate::session::Session::decrypt_chunk
#[cfg(feature = "encoding")]
struct PlainChunks<'a, L> {
    session: &'a mut crate::session::Session,
    load: L,
    /// The next chunk to read.
    next: u32,
    /// Ciphertext of a chunk verified before (see above).
    cipher: Vec<u8>,
    /// Plaintext of the last chunk read through the reader's own buffer,
    /// handed out from `at`.
    plain: Zeroizing<Vec<u8>>,
    at: usize,
    /// The error that ended reading (the decoder sees only an I/O error).
    failed: Option<Error>,
}

#[cfg(feature = "encoding")]
impl<'a, L: FnMut(u32, u64, &mut [u8]) -> Result<()>> PlainChunks<'a, L> {
    fn new(session: &'a mut crate::session::Session, load: L) -> Self {
        Self {
            session,
            load,
            next: 0,
            cipher: Vec::new(),
            plain: Zeroizing::new(Vec::new()),
            at: 0,
            failed: None,
        }
    }

    /// Loads chunk `self.next` into `buf` (exactly its length), verifies
    /// and decrypts it there. On error `buf` holds no plaintext.
    fn open_next(&mut self, buf: &mut [u8]) -> Result<()> {
        let index = self.next;
        let offset = self.session.geometry().chunk_range(index).start;
        if self.session.have().contains(index) {
            self.cipher.resize(buf.len(), 0);
            (self.load)(index, offset, &mut self.cipher)?;
            self.session.decrypt_chunk(index, &self.cipher, buf)?;
        } else {
            (self.load)(index, offset, buf)?;
            let report = self.session.feed_chunk_in_place(index, buf, |_| Ok(()))?;
            if !report.failed.is_empty() {
                return Err(Error::ChunkHashMismatch { index });
            }
        }
        self.next += 1;
        Ok(())
    }

    /// Length of chunk `self.next`, or `None` past the last.
    fn next_len(&self) -> Option<usize> {
        (self.next < self.session.verified().chunk_count()).then(|| {
            let r = self.session.geometry().chunk_range(self.next);
            (r.end - r.start) as usize
        })
    }

    fn read_inner(&mut self, buf: &mut [u8]) -> Result<usize> {
        while self.at == self.plain.len() {
            let Some(n) = self.next_len() else {
                return Ok(0);
            };
            if n > 0 && buf.len() >= n {
                self.open_next(&mut buf[..n])?;
                return Ok(n);
            }
            let mut plain = core::mem::take(&mut self.plain);
            plain.resize(n, 0);
            self.at = 0;
            let opened = self.open_next(&mut plain);
            self.plain = plain;
            if let Err(e) = opened {
                self.plain.clear();
                return Err(e);
            }
        }
        let n = buf.len().min(self.plain.len() - self.at);
        buf[..n].copy_from_slice(&self.plain[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(feature = "encoding")]
impl<L: FnMut(u32, u64, &mut [u8]) -> Result<()>> std::io::Read for PlainChunks<'_, L> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.failed.is_some() {
            return Err(std::io::Error::other("payload chunk failed"));
        }
        self.read_inner(buf).map_err(|e| {
            self.failed = Some(e);
            std::io::Error::other("payload chunk failed")
        })
    }
}
