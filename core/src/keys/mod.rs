//! Key types. Secret material lives only in zeroizing newtypes whose `Debug`
//! prints nothing secret.

mod recipient;
mod signing;
pub mod trust;

pub use crate::format::{KemId, KeyId, SigAlg};
pub use recipient::{RecipientPublicKey, RecipientSecretKey};
pub use signing::{Signer, SigningKey, VerifyingKey, sign_document};

pub(crate) use recipient::unwrap_data_key;
#[cfg(feature = "std")]
pub(crate) use recipient::wrap_data_key;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// The per-bundle AES-256-GCM data key. Fresh from the OS CSPRNG for every
/// sealed bundle; zeroized on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; 32]);

impl DataKey {
    pub fn generate(rng: &mut impl rand_core::CryptoRng) -> Self {
        let mut k = [0u8; 32];
        rng.fill_bytes(&mut k);
        Self(k)
    }

    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl core::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

#[cfg(feature = "std")]
/// The operating system's CSPRNG, as a `rand_core` generator. Panics only if
/// the OS cannot provide randomness at all, where continuing would be unsafe.
pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    #[test]
    fn data_key_debug_is_redacted() {
        let k = DataKey::from_bytes([0x41; 32]);
        assert_eq!(format!("{k:?}"), "DataKey(<redacted>)");
    }
}
