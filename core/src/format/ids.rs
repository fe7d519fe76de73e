//! Key ids and the algorithm and KEM codes (`docs/FORMAT.md` §3): the
//! wire facts every document that names a key shares. They live with the
//! byte layouts so the format depends on nothing above it; `keys`
//! re-exports them next to the key types that use them.

use super::FormatError;
use crate::prelude::*;

/// A stable 16-byte identifier of a public key (FORMAT.md §3.1):
/// `BLAKE3-derive_key("otaseal v1 key id", be16(alg) || public key)[..16]`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 16]);

impl KeyId {
    pub const DERIVE_CONTEXT: &'static str = "otaseal v1 key id";

    pub fn derive(alg_code: u16, public_key: &[u8]) -> Self {
        let mut h = blake3::Hasher::new_derive_key(Self::DERIVE_CONTEXT);
        h.update(&alg_code.to_be_bytes());
        h.update(public_key);
        let mut id = [0u8; 16];
        id.copy_from_slice(&h.finalize().as_bytes()[..16]);
        Self(id)
    }
}

impl core::fmt::Display for KeyId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl core::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Signature algorithms (FORMAT.md §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigAlg {
    /// Ed25519 (RFC 8032), verified strictly (no malleable signatures).
    Ed25519,
}

impl SigAlg {
    pub fn code(self) -> u8 {
        match self {
            Self::Ed25519 => 1,
        }
    }

    pub fn from_code(code: u8) -> Result<Self, FormatError> {
        match code {
            1 => Ok(Self::Ed25519),
            other => Err(FormatError::invalid(
                "signature_alg",
                format!("unknown signature algorithm {other}"),
            )),
        }
    }

    pub fn signature_len(self) -> usize {
        match self {
            Self::Ed25519 => 64,
        }
    }

    /// Length of a public key of this algorithm on the wire.
    pub fn public_key_len(self) -> usize {
        match self {
            Self::Ed25519 => 32,
        }
    }
}

impl core::fmt::Display for SigAlg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Ed25519 => "ed25519",
        })
    }
}

/// HPKE KEMs a recipient key can use (RFC 9180 §7.1 identifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KemId {
    /// DHKEM(X25519, HKDF-SHA256), KEM id 0x0020.
    X25519,
    /// DHKEM(P-256, HKDF-SHA256), KEM id 0x0010: for keys held in a phone's
    /// Secure Enclave or Android Keystore, which only offer P-256.
    P256,
}

impl KemId {
    pub fn code(self) -> u16 {
        match self {
            Self::X25519 => 0x0020,
            Self::P256 => 0x0010,
        }
    }

    pub fn from_code(code: u16) -> Result<Self, FormatError> {
        match code {
            0x0020 => Ok(Self::X25519),
            0x0010 => Ok(Self::P256),
            other => Err(FormatError::invalid(
                "recipient_kem",
                format!("unknown HPKE KEM 0x{other:04x}"),
            )),
        }
    }

    /// Length of the encapsulated key, and of the public key.
    pub fn enc_len(self) -> usize {
        match self {
            Self::X25519 => 32,
            Self::P256 => 65,
        }
    }
}

impl core::fmt::Display for KemId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::X25519 => "x25519",
            Self::P256 => "p256",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_depends_on_algorithm_and_key() {
        let a = KeyId::derive(1, &[0; 32]);
        assert_ne!(a, KeyId::derive(2, &[0; 32]));
        assert_ne!(a, KeyId::derive(1, &[1; 32]));
        assert_eq!(a.to_string().len(), 32);
    }
}
