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
