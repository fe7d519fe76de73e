//! Recipient (device) keys and HPKE wrapping of the data key (FORMAT.md §6).
//!
//! HPKE base mode, RFC 9180: DHKEM(X25519, HKDF-SHA256) or DHKEM(P-256,
//! HKDF-SHA256), with HKDF-SHA256 and AES-256-GCM. `info` names the purpose;
//! the associated data binds the stanza to its bundle and its recipient.

use super::{DataKey, KemId, KeyId};
use crate::Error;
use crate::format::RecipientStanza;
#[cfg(feature = "std")]
use crate::format::manifest::WRAPPED_KEY_LEN;
use crate::prelude::*;
#[cfg(feature = "std")]
use hpke::OpModeS;
use hpke::kem::{DhP256HkdfSha256, X25519HkdfSha256};
use hpke::{Deserializable, Kem as _, OpModeR, Serializable};
use zeroize::Zeroizing;

type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::AesGcm256;

/// HPKE `info` for data-key wrapping.
pub const WRAP_INFO: &[u8] = b"otaseal v1 data key";

/// A device's public key, to which data keys are wrapped.
#[derive(Clone, PartialEq, Eq)]
pub enum RecipientPublicKey {
    X25519([u8; 32]),
    /// SEC1 uncompressed point (65 bytes).
    P256(Vec<u8>),
}

impl RecipientPublicKey {
    pub fn kem(&self) -> KemId {
        match self {
            Self::X25519(_) => KemId::X25519,
            Self::P256(_) => KemId::P256,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::X25519(b) => b,
            Self::P256(b) => b,
        }
    }

    /// Validates the encoding (FORMAT.md §3.3): a P-256 key must be a point
    /// on the curve; an X25519 key must be canonical (u < p, top bit clear)
    /// and not one of the small-order points, whose shared secret is a
    /// constant every eavesdropper knows (HPKE would refuse it only when
    /// sealing, after the bundle was half made).
    pub fn from_bytes(kem: KemId, bytes: &[u8]) -> Result<Self, Error> {
        let bad = Error::InvalidKey {
            what: "recipient public key has the wrong length or is not a point",
        };
        match kem {
            KemId::X25519 => {
                let u: [u8; 32] = bytes.try_into().map_err(|_| bad)?;
                check_x25519_public(&u)?;
                Ok(Self::X25519(u))
            }
            KemId::P256 => {
                <DhP256HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(bytes).map_err(|_| bad)?;
                Ok(Self::P256(bytes.to_vec()))
            }
        }
    }

    pub fn key_id(&self) -> KeyId {
        KeyId::derive(self.kem().code(), self.as_bytes())
    }
}

/// The canonical (u < p) little-endian u-coordinates of the X25519 points
/// of small order, on the curve and its twist: 0, 1, the two points of
/// order 8, and p - 1 (the list libsodium blocks, less its non-canonical
/// forms, which the canonical check refuses).
const X25519_SMALL_ORDER: [[u8; 32]; 5] = [
    [0; 32],
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ],
    [
        0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
        0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
        0x11, 0x57,
    ],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
];

fn check_x25519_public(u: &[u8; 32]) -> Result<(), Error> {
    // u < p = 2^255 - 19 and bit 255 clear: little-endian, so compare from
    // the top byte down. Every u with the top bit set is >= 2^255 > p.
    let p_minus_1 = &X25519_SMALL_ORDER[4];
    let canonical = u.iter().rev().cmp(p_minus_1.iter().rev()) != core::cmp::Ordering::Greater;
    if !canonical {
        return Err(Error::InvalidKey {
            what: "x25519 public key is not canonically encoded (u >= p or top bit set)",
        });
    }
    if X25519_SMALL_ORDER.contains(u) {
        return Err(Error::InvalidKey {
            what: "x25519 public key is a point of small order",
        });
    }
    Ok(())
}

impl core::fmt::Debug for RecipientPublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RecipientPublicKey({}, {})", self.kem(), self.key_id())
    }
}

/// A device's secret key. The scalar is zeroized on drop.
pub struct RecipientSecretKey {
    kem: KemId,
    secret: Zeroizing<[u8; 32]>,
    public: RecipientPublicKey,
}

impl RecipientSecretKey {
    pub fn generate(kem: KemId, rng: &mut impl rand_core::CryptoRng) -> Self {
        match kem {
            KemId::X25519 => {
                let (sk, _) = X25519HkdfSha256::gen_keypair_with_rng(rng);
                Self::from_secret_bytes(kem, &sk.to_bytes().into())
            }
            KemId::P256 => {
                let (sk, _) = DhP256HkdfSha256::gen_keypair_with_rng(rng);
                Self::from_secret_bytes(kem, &sk.to_bytes().into())
            }
        }
        .expect("a freshly generated key is valid")
    }

    pub fn from_secret_bytes(kem: KemId, secret: &[u8; 32]) -> Result<Self, Error> {
        let bad = Error::InvalidKey {
            what: "recipient secret key is not a valid scalar",
        };
        let public = match kem {
            KemId::X25519 => {
                let sk = <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(secret)
                    .map_err(|_| bad)?;
                RecipientPublicKey::X25519(X25519HkdfSha256::sk_to_pk(&sk).to_bytes().into())
            }
            KemId::P256 => {
                let sk = <DhP256HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(secret)
                    .map_err(|_| bad)?;
                RecipientPublicKey::P256(DhP256HkdfSha256::sk_to_pk(&sk).to_bytes().to_vec())
            }
        };
        Ok(Self {
            kem,
            secret: Zeroizing::new(*secret),
            public,
        })
    }

    pub fn kem(&self) -> KemId {
        self.kem
    }

    pub fn public_key(&self) -> &RecipientPublicKey {
        &self.public
    }

    pub fn key_id(&self) -> KeyId {
        self.public.key_id()
    }

    /// The 32-byte secret scalar. Callers must zeroize what they copy.
    pub fn to_secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.secret.clone()
    }
}

impl core::fmt::Debug for RecipientSecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "RecipientSecretKey({}, {}, <redacted>)",
            self.kem,
            self.key_id()
        )
    }
}

/// Associated data for one stanza: `bundle_id || recipient key id`.
fn wrap_aad(bundle_id: &[u8; 16], recipient: KeyId) -> [u8; 32] {
    let mut aad = [0u8; 32];
    aad[..16].copy_from_slice(bundle_id);
    aad[16..].copy_from_slice(&recipient.0);
    aad
}

#[cfg(feature = "std")]
/// Wraps `key` to `recipient` for the bundle `bundle_id`.
pub(crate) fn wrap_data_key(
    key: &DataKey,
    recipient: &RecipientPublicKey,
    bundle_id: &[u8; 16],
    rng: &mut impl rand_core::CryptoRng,
) -> Result<RecipientStanza, Error> {
    fn seal<K: hpke::Kem>(
        pk: &[u8],
        key: &DataKey,
        aad: &[u8],
        rng: &mut impl rand_core::CryptoRng,
    ) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let pk = K::PublicKey::from_bytes(pk).map_err(|_| Error::InvalidKey {
            what: "recipient public key",
        })?;
        let (enc, ct) = hpke::single_shot_seal_with_rng::<Aead, Kdf, K>(
            &OpModeS::Base,
            &pk,
            WRAP_INFO,
            key.expose(),
            aad,
            rng,
        )
        .map_err(|_| Error::InvalidKey {
            what: "HPKE encapsulation to recipient failed",
        })?;
        Ok((enc.to_bytes().to_vec(), ct))
    }

    let id = recipient.key_id();
    let aad = wrap_aad(bundle_id, id);
    let (enc, ct) = match recipient {
        RecipientPublicKey::X25519(pk) => seal::<X25519HkdfSha256>(pk, key, &aad, rng)?,
        RecipientPublicKey::P256(pk) => seal::<DhP256HkdfSha256>(pk, key, &aad, rng)?,
    };
    let wrapped_key: [u8; WRAPPED_KEY_LEN] = ct
        .try_into()
        .expect("HPKE AES-256-GCM of 32 bytes is 48 bytes");
    Ok(RecipientStanza {
        kem: recipient.kem(),
        recipient: id,
        enc,
        wrapped_key,
    })
}

/// Finds `secret`'s stanza among `stanzas` and unwraps the data key.
pub(crate) fn unwrap_data_key(
    stanzas: &[RecipientStanza],
    secret: &RecipientSecretKey,
    bundle_id: &[u8; 16],
) -> Result<DataKey, Error> {
    fn open<K: hpke::Kem>(
        sk: &[u8; 32],
        stanza: &RecipientStanza,
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, ()> {
        let sk = K::PrivateKey::from_bytes(sk).map_err(|_| ())?;
        let enc = K::EncappedKey::from_bytes(&stanza.enc).map_err(|_| ())?;
        hpke::single_shot_open::<Aead, Kdf, K>(
            &OpModeR::Base,
            &sk,
            &enc,
            WRAP_INFO,
            &stanza.wrapped_key,
            aad,
        )
        .map(Zeroizing::new)
        .map_err(|_| ())
    }

    let id = secret.key_id();
    let stanza = stanzas
        .iter()
        .find(|s| s.recipient == id && s.kem == secret.kem)
        .ok_or(Error::NotARecipient { key_id: id })?;
    let aad = wrap_aad(bundle_id, id);
    let plain = match secret.kem {
        KemId::X25519 => open::<X25519HkdfSha256>(&secret.secret, stanza, &aad),
        KemId::P256 => open::<DhP256HkdfSha256>(&secret.secret, stanza, &aad),
    }
    .map_err(|()| Error::KeyUnwrapFailed { key_id: id })?;
    let bytes: [u8; 32] = plain
        .as_slice()
        .try_into()
        .map_err(|_| Error::KeyUnwrapFailed { key_id: id })?;
    Ok(DataKey::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    #[test]
    fn small_order_and_non_canonical_x25519_keys_are_refused() {
        let h = |s: &str| -> [u8; 32] { hex::decode(s).unwrap().try_into().unwrap() };
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(19);
        let good = RecipientSecretKey::generate(KemId::X25519, &mut rng);
        let mut high_bit: [u8; 32] = good.public_key().as_bytes().try_into().unwrap();
        high_bit[31] |= 0x80;
        for (name, bytes) in [
            ("zero", [0u8; 32]),
            (
                "one",
                h("0100000000000000000000000000000000000000000000000000000000000000"),
            ),
            (
                "order 8 (a)",
                h("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
            ),
            (
                "order 8 (b)",
                h("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
            ),
            (
                "p - 1",
                h("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
            ),
            (
                "p",
                h("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
            ),
            (
                "p + 1",
                h("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
            ),
            ("top bit set", high_bit),
        ] {
            assert!(
                matches!(
                    RecipientPublicKey::from_bytes(KemId::X25519, &bytes),
                    Err(Error::InvalidKey { .. })
                ),
                "{name} accepted"
            );
        }
        RecipientPublicKey::from_bytes(KemId::X25519, good.public_key().as_bytes()).unwrap();
    }

    #[test]
    fn wrap_unwrap_both_kems() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        for kem in [KemId::X25519, KemId::P256] {
            let device = RecipientSecretKey::generate(kem, &mut rng);
            let other = RecipientSecretKey::generate(kem, &mut rng);
            let key = DataKey::generate(&mut rng);
            let stanza = wrap_data_key(&key, device.public_key(), &[1; 16], &mut rng).unwrap();
            assert_eq!(stanza.enc.len(), kem.enc_len());
            let back = unwrap_data_key(core::slice::from_ref(&stanza), &device, &[1; 16]).unwrap();
            assert_eq!(back.expose(), key.expose());
            // Another bundle's id is another AAD: the stanza cannot be moved.
            assert!(matches!(
                unwrap_data_key(core::slice::from_ref(&stanza), &device, &[2; 16]),
                Err(Error::KeyUnwrapFailed { .. })
            ));
            assert!(matches!(
                unwrap_data_key(&[stanza], &other, &[1; 16]),
                Err(Error::NotARecipient { .. })
            ));
            // Round trip through secret bytes gives the same public key.
            let again =
                RecipientSecretKey::from_secret_bytes(kem, &device.to_secret_bytes()).unwrap();
            assert_eq!(again.public_key(), device.public_key());
        }
    }
}
