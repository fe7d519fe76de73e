//! Root rotation statements (`docs/FORMAT.md` §10.4): the old root
//! and the new root both sign "root `version` is now this key", as TUF's
//! root metadata does. A verifier holding the old root follows the statement
//! to the new one; neither root alone can make the switch.

use super::signed::{decode_unsigned, encode_unsigned, read_signature};
use super::{Body, FormatError, KeyId, Reader, SigAlg, Writer, kind};
use crate::prelude::*;

/// Largest rotation statement (FORMAT.md §10.4.1) with Ed25519 roots, the
/// only algorithm: header and flags 12, two keys of 1 + 2 + 32, version and
/// issued_at 16, two signatures of 2 + 64.
pub const MAX_LEN: u64 = 12 + 2 * 35 + 16 + 2 * 66;

/// What a rotation statement says (FORMAT.md §10.4.1): root `new_version`
/// is now the new key. Its signers are its subject (both roots), so it has
/// no signer section.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RotationBody {
    pub old_alg: SigAlg,
    pub old_public_key: Vec<u8>,
    pub new_alg: SigAlg,
    pub new_public_key: Vec<u8>,
    /// The version the new root becomes; the old root's version plus one.
    pub new_version: u64,
    /// Unix seconds.
    pub issued_at: u64,
}

impl RotationBody {
    pub fn new(
        old_alg: SigAlg,
        old_public_key: Vec<u8>,
        new_alg: SigAlg,
        new_public_key: Vec<u8>,
        new_version: u64,
        issued_at: u64,
    ) -> Result<Self, FormatError> {
        let body = Self {
            old_alg,
            old_public_key,
            new_alg,
            new_public_key,
            new_version,
            issued_at,
        };
        body.check()?;
        Ok(body)
    }

    pub fn old_key_id(&self) -> KeyId {
        KeyId::derive(u16::from(self.old_alg.code()), &self.old_public_key)
    }

    pub fn new_key_id(&self) -> KeyId {
        KeyId::derive(u16::from(self.new_alg.code()), &self.new_public_key)
    }
}

impl Body for RotationBody {
    const KIND: [u8; 4] = kind::ROOT_ROTATION;
    const NAME: &'static str = "root rotation statement";
    type Signer = ();

    fn check(&self) -> Result<(), FormatError> {
        for (field, alg, key) in [
            ("old_public_key", self.old_alg, &self.old_public_key),
            ("new_public_key", self.new_alg, &self.new_public_key),
        ] {
            if key.len() != alg.public_key_len() {
                return Err(FormatError::invalid(
                    field,
                    format!("{} bytes, {alg} needs {}", key.len(), alg.public_key_len()),
                ));
            }
        }
        if self.old_alg == self.new_alg && self.old_public_key == self.new_public_key {
            return Err(FormatError::invalid(
                "new_public_key",
                "the new root is the old root",
            ));
        }
        if self.new_version < 2 {
            return Err(FormatError::invalid(
                "new_version",
                "must be at least 2 (the first root is version 1)",
            ));
        }
        Ok(())
    }

    fn size_hint(&self) -> usize {
        128
    }

    fn encode(&self, _: &(), w: &mut Writer) {
        w.u8(self.old_alg.code());
        w.bytes16(&self.old_public_key);
        w.u8(self.new_alg.code());
        w.bytes16(&self.new_public_key);
        w.u64(self.new_version);
        w.u64(self.issued_at);
    }

    /// Rejects (FORMAT.md §10.4.2), besides what every signed document
    /// rejects: unknown algorithms, keys of the wrong length, a new key equal
    /// to the old, and `new_version` below 2.
    fn decode(r: &mut Reader<'_>, _version: u16) -> Result<(Self, ()), FormatError> {
        let body = Self::new(
            SigAlg::from_code(r.u8("old_alg")?)?,
            r.bytes16("old_public_key")?.to_vec(),
            SigAlg::from_code(r.u8("new_alg")?)?,
            r.bytes16("new_public_key")?.to_vec(),
            r.u64("new_version")?,
            r.u64("issued_at")?,
        )?;
        Ok((body, ()))
    }
}

/// A rotation statement: its body, signed by the old root and then by the
/// new root over the same bytes; both signatures are checked by
/// `keys::trust`. The one signed document with two signatures, so it has
/// its own wrapper around the shared header and body codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationStatement {
    pub body: RotationBody,
    /// Signature by the old root over [`Self::signed_bytes`].
    pub old_signature: Vec<u8>,
    /// Signature by the new root over the same bytes.
    pub new_signature: Vec<u8>,
}

impl core::ops::Deref for RotationStatement {
    type Target = RotationBody;
    fn deref(&self) -> &RotationBody {
        &self.body
    }
}

impl RotationStatement {
    /// An unsigned statement for `body`.
    pub fn unsigned(body: RotationBody) -> Self {
        Self {
            body,
            old_signature: Vec::new(),
            new_signature: Vec::new(),
        }
    }

    /// The bytes both roots sign: everything before the first signature.
    pub fn signed_bytes(&self) -> Vec<u8> {
        encode_unsigned(&self.body, &())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer {
            buf: self.signed_bytes(),
        };
        w.bytes16(&self.old_signature);
        w.bytes16(&self.new_signature);
        w.buf
    }

    /// Decodes a statement, returning it and the length of its signed prefix.
    ///
    /// Rejects, besides what every signed document and the body reject,
    /// signatures of the wrong length (a missing signature included) and
    /// trailing bytes.
    pub fn parse(bytes: &[u8]) -> Result<(Self, usize), FormatError> {
        let mut r = Reader::new(bytes);
        let (body, ()) = decode_unsigned::<RotationBody>(&mut r)?;
        let signed_len = r.position();
        let old_signature = read_signature(&mut r, body.old_alg, "old_signature")?.to_vec();
        let new_signature = read_signature(&mut r, body.new_alg, "new_signature")?.to_vec();
        r.finish()?;
        Ok((
            Self {
                body,
                old_signature,
                new_signature,
            },
            signed_len,
        ))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> RotationStatement {
        let mut s = RotationStatement::unsigned(
            RotationBody::new(
                SigAlg::Ed25519,
                vec![0x01; 32],
                SigAlg::Ed25519,
                vec![0x02; 32],
                2,
                1_760_000_000,
            )
            .unwrap(),
        );
        s.old_signature = vec![0xa1; 64];
        s.new_signature = vec![0xa2; 64];
        s
    }

    #[test]
    fn round_trip() {
        let s = sample();
        let bytes = s.to_bytes();
        let (back, signed_len) = RotationStatement::parse(&bytes).unwrap();
        assert_eq!(back, s);
        assert_eq!(&bytes[..signed_len], &s.signed_bytes()[..]);
        assert_ne!(s.old_key_id(), s.new_key_id());
        for len in 0..bytes.len() {
            assert!(
                RotationStatement::parse(&bytes[..len]).is_err(),
                "prefix {len}"
            );
        }
    }

    fn field_err(bytes: &[u8]) -> &'static str {
        match RotationStatement::parse(bytes) {
            Err(FormatError::InvalidField { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn decoder_rejections() {
        let s = sample();
        let mut same = s.clone();
        same.body.new_public_key = same.old_public_key.clone();
        assert_eq!(field_err(&same.to_bytes()), "new_public_key");
        let mut v1 = s.clone();
        v1.body.new_version = 1;
        assert_eq!(field_err(&v1.to_bytes()), "new_version");
        let mut one_sig = s.clone();
        one_sig.new_signature.clear();
        assert_eq!(field_err(&one_sig.to_bytes()), "new_signature");
        let mut short_key = s.clone();
        short_key.body.old_public_key.pop();
        assert_eq!(field_err(&short_key.to_bytes()), "old_public_key");
        let mut trailing = s.to_bytes();
        trailing.push(0);
        assert!(matches!(
            RotationStatement::parse(&trailing),
            Err(FormatError::TrailingBytes { .. })
        ));
    }
}
