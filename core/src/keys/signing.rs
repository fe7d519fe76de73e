//! Manifest signing. Signing sits behind [`Signer`] so a key can live in a
//! file, an HSM or a remote service without the sealing code knowing.

use super::{KeyId, SigAlg};
use crate::Error;
use crate::format::signed::with_signature;
use crate::format::{Body, Signed, SignerSection};
use crate::prelude::*;

/// Anything that can sign manifests: a file key, a PKCS#11 token, ...
pub trait Signer: Send + Sync {
    fn algorithm(&self) -> SigAlg;
    fn key_id(&self) -> KeyId;
    /// Encoded certificates (leaf first) that vouch for this key, embedded in
    /// every manifest it signs. Empty when devices trust the key directly.
    fn chain(&self) -> &[Vec<u8>] {
        &[]
    }
    /// Signs exactly `message`, the bytes that will be written.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error>;
}

/// Signs `body` as `signer`: names the signer in the document's signer
/// section, signs the signed bytes, and refuses a signature of the wrong
/// length for the algorithm (a broken token must not produce a document no
/// reader accepts). Returns the document and its encoding, which is exactly
/// the bytes signed followed by the signature.
pub fn sign_document<T: Body>(body: T, signer: &dyn Signer) -> Result<(Signed<T>, Vec<u8>), Error>
where
    T::Signer: SignerSection,
{
    let alg = signer.algorithm();
    let section = T::Signer::for_signer(alg, signer.key_id(), signer.chain());
    let mut doc = Signed::unsigned(body, section)?;
    let signed = doc.signed_bytes();
    let signature = signer.sign(&signed)?;
    if signature.len() != alg.signature_len() {
        return Err(Error::InvalidKey {
            what: "signer returned a signature of the wrong length",
        });
    }
    let bytes = with_signature(signed, &signature);
    doc.signature = signature;
    Ok((doc, bytes))
}

/// An Ed25519 secret signing key, zeroized on drop.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    pub fn generate(rng: &mut impl rand_core::CryptoRng) -> Self {
        Self(ed25519_dalek::SigningKey::generate(rng))
    }

    pub fn from_bytes(secret: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(secret))
    }

    /// The 32-byte secret seed. Callers must zeroize what they copy.
    pub fn to_secret_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0.to_bytes())
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(self.0.verifying_key())
    }
}

impl Signer for SigningKey {
    fn algorithm(&self) -> SigAlg {
        SigAlg::Ed25519
    }

    fn key_id(&self) -> KeyId {
        self.verifying_key().key_id()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        use ed25519_dalek::Signer as _;
        Ok(self.0.sign(message).to_bytes().to_vec())
    }
}

impl core::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SigningKey({}, <redacted>)", self.key_id())
    }
}

/// An Ed25519 public key that verifies manifests.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VerifyingKey(ed25519_dalek::VerifyingKey);

impl VerifyingKey {
    /// Decodes a public key, refusing (FORMAT.md §3.2) encodings that are
    /// not a curve point, are not the canonical encoding of their point
    /// (y >= p, or the sign bit set on x = 0: a second key id for one key),
    /// or are a point of small order (such a key verifies forged signatures
    /// under lax verifiers, and never a strict one: it can only be a
    /// mistake or an attack, so it fails here rather than at first use).
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, Error> {
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|_| Error::InvalidKey {
                what: "ed25519 public key is not a curve point",
            })?;
        if key.to_edwards().compress().to_bytes() != *bytes {
            return Err(Error::InvalidKey {
                what: "ed25519 public key is not canonically encoded",
            });
        }
        if key.is_weak() {
            return Err(Error::InvalidKey {
                what: "ed25519 public key is a point of small order",
            });
        }
        Ok(Self(key))
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn key_id(&self) -> KeyId {
        KeyId::derive(u16::from(SigAlg::Ed25519.code()), self.0.as_bytes())
    }

    /// Checks that this key signed `doc`: its signer section names this key
    /// (algorithm and key id), and its signature verifies over `signed`,
    /// exactly the bytes `doc` was parsed from up to its signature (the
    /// prefix [`Signed::parse`] reports). Every verifier of a directly
    /// trusted signer (manifests, rollback authorisations, batch indexes,
    /// revocation lists under the pinned root) checks with this.
    pub fn verify_document<T: Body>(&self, doc: &Signed<T>, signed: &[u8]) -> Result<(), Error>
    where
        T::Signer: SignerSection,
    {
        let expected = self.key_id();
        let found = doc.signer.key_id();
        if found != expected || doc.signer.alg() != SigAlg::Ed25519 {
            return Err(Error::UntrustedSigner { found, expected });
        }
        self.verify(signed, &doc.signature)
    }

    /// Strict RFC 8032 verification: rejects non-canonical and small-order
    /// encodings, so a valid signature cannot be mauled into a second one.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), Error> {
        let sig =
            ed25519_dalek::Signature::from_slice(signature).map_err(|_| Error::BadSignature)?;
        self.0
            .verify_strict(message, &sig)
            .map_err(|_| Error::BadSignature)
    }
}

impl core::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "VerifyingKey({})", self.key_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    /// `p + d` for a small `d`, little-endian: a non-canonical encoding of y = d.
    fn p_plus(d: u8) -> [u8; 32] {
        let mut b = [0xff; 32];
        b[0] = 0xed + d; // p = 2^255 - 19 = 0x7fff..ffed; d <= 18 does not carry
        b[31] = 0x7f;
        b
    }

    #[test]
    fn small_order_and_non_canonical_public_keys_are_refused() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut neg_zero = identity;
        neg_zero[31] = 0x80; // x = 0 with the sign bit set
        // y = 0 encoded canonically: a point of order 4.
        for (name, bytes) in [
            ("identity", identity),
            ("identity, x sign bit set", neg_zero),
            ("order 4", [0u8; 32]),
            ("identity as y = p + 1", p_plus(1)),
            ("order 4 as y = p", p_plus(0)),
        ] {
            assert!(
                matches!(
                    VerifyingKey::from_bytes(&bytes),
                    Err(Error::InvalidKey { .. })
                ),
                "{name} accepted"
            );
        }
        // Large-order points with y < 19 have a second encoding y + p: the
        // canonical one loads, the other does not.
        let mut pairs = 0;
        for d in 2..19u8 {
            let mut canonical = [0u8; 32];
            canonical[0] = d;
            if VerifyingKey::from_bytes(&canonical).is_ok() {
                pairs += 1;
                assert!(
                    VerifyingKey::from_bytes(&p_plus(d)).is_err(),
                    "y = p + {d} accepted"
                );
            }
        }
        assert!(pairs > 0, "no large-order point with a small y to test");
    }

    /// One signing and one verifying path for every signed document: the
    /// signer section names the key, the signature covers exactly the signed
    /// prefix, and a broken signer cannot produce an unreadable document.
    #[test]
    fn documents_are_signed_and_verified_in_one_place() {
        use crate::format::revocation::{RevocationBody, RevocationList};
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let sk = SigningKey::generate(&mut rng);
        let body = RevocationBody::new(1, 5, vec![3], vec![]).unwrap();
        let (list, bytes) = sign_document(body.clone(), &sk).unwrap();
        assert_eq!(bytes, list.to_bytes());
        assert_eq!(list.signer.key_id, sk.key_id());
        let (parsed, signed_len) = RevocationList::parse(&bytes).unwrap();
        let vk = sk.verifying_key();
        vk.verify_document(&parsed, &bytes[..signed_len]).unwrap();

        let other = SigningKey::generate(&mut rng).verifying_key();
        assert!(matches!(
            other.verify_document(&parsed, &bytes[..signed_len]),
            Err(Error::UntrustedSigner { .. })
        ));
        let mut tampered = bytes.clone();
        // The last byte of `issued_at`: header 12, issuer 17, sequence 8.
        tampered[12 + 17 + 8 + 7] ^= 1;
        let (t, t_len) = RevocationList::parse(&tampered).unwrap();
        assert!(matches!(
            vk.verify_document(&t, &tampered[..t_len]),
            Err(Error::BadSignature)
        ));

        struct Short(SigningKey);
        impl Signer for Short {
            fn algorithm(&self) -> SigAlg {
                self.0.algorithm()
            }
            fn key_id(&self) -> KeyId {
                self.0.key_id()
            }
            fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
                let mut sig = self.0.sign(message)?;
                sig.pop();
                Ok(sig)
            }
        }
        assert!(matches!(
            sign_document(body, &Short(sk)),
            Err(Error::InvalidKey { .. })
        ));
    }

    #[test]
    fn sign_verify_and_reject() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let sk = SigningKey::generate(&mut rng);
        let vk = sk.verifying_key();
        let sig = sk.sign(b"hello").unwrap();
        vk.verify(b"hello", &sig).unwrap();
        assert!(matches!(
            vk.verify(b"hellO", &sig),
            Err(Error::BadSignature)
        ));
        assert!(matches!(
            vk.verify(b"hello", &sig[..63]),
            Err(Error::BadSignature)
        ));
        let other = SigningKey::generate(&mut rng).verifying_key();
        assert!(other.verify(b"hello", &sig).is_err());
        assert!(!format!("{sk:?}").contains(&hex::encode(sk.to_secret_bytes().as_slice())));
    }
}
