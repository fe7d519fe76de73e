//! Recipient (device) keys and HPKE wrapping of the data key (FORMAT.md §6).
//!
//! HPKE base mode, RFC 9180: DHKEM(X25519, HKDF-SHA256) or DHKEM(P-256,
//! HKDF-SHA256), with HKDF-SHA256 and AES-256-GCM. `info` names the purpose;
//! the associated data binds the stanza to its bundle and its recipient.

use super::{DataKey, KemId, KeyId};
use crate::Error;
use crate::format::RecipientStanza;
use crate::format::manifest::WRAPPED_KEY_LEN;
use hpke::kem::{DhP256HkdfSha256, X25519HkdfSha256};
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
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

    /// Validates the encoding (a P-256 key must be a point on the curve).
    pub fn from_bytes(kem: KemId, bytes: &[u8]) -> Result<Self, Error> {
        let bad = Error::InvalidKey {
            what: "recipient public key has the wrong length or is not a point",
        };
        match kem {
            KemId::X25519 => Ok(Self::X25519(bytes.try_into().map_err(|_| bad)?)),
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

impl std::fmt::Debug for RecipientPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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

impl std::fmt::Debug for RecipientSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
    fn wrap_unwrap_both_kems() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        for kem in [KemId::X25519, KemId::P256] {
            let device = RecipientSecretKey::generate(kem, &mut rng);
            let other = RecipientSecretKey::generate(kem, &mut rng);
            let key = DataKey::generate(&mut rng);
            let stanza = wrap_data_key(&key, device.public_key(), &[1; 16], &mut rng).unwrap();
            assert_eq!(stanza.enc.len(), kem.enc_len());
            let back = unwrap_data_key(std::slice::from_ref(&stanza), &device, &[1; 16]).unwrap();
            assert_eq!(back.expose(), key.expose());
            // Another bundle's id is another AAD: the stanza cannot be moved.
            assert!(matches!(
                unwrap_data_key(std::slice::from_ref(&stanza), &device, &[2; 16]),
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
