//! The encrypted secret-key file (`docs/FORMAT.md` §14).
//!
//! One secret key, encrypted under a passphrase: Argon2id derives a 32-byte
//! key-encryption key from the passphrase and a random salt, and AES-256-GCM
//! seals the 32-byte secret with every byte before it as associated data.
//! The public key and the key's role sit in the clear (authenticated), so a
//! key can be listed and identified without its passphrase.
//!
//! ```text
//! offset  size  field
//!      0     4  magic "OTAS"
//!      4     4  kind "SKEY"
//!      8     2  version = 1
//!     10     1  kdf = 1 (Argon2id, version 0x13)
//!     11     4  argon2_m_cost   memory in KiB, 8*p ..= 1 GiB
//!     15     4  argon2_t_cost   passes, 1 ..= 10
//!     19     1  argon2_p_cost   lanes, 1 ..= 16
//!     20    16  salt
//!     36     1  aead = 1 (AES-256-GCM)
//!     37    12  nonce
//!     49     2  key_alg   0x0001 Ed25519, 0x0010 P-256 (DHKEM), 0x0020 X25519
//!     51     1  role      1 root, 2 release, 3 device
//!     52     1  public_len, then public_len bytes of public key
//!      …    48  sealed secret: 32 bytes of ciphertext || 16-byte tag
//! ```
//!
//! The associated data is every byte before the sealed secret. This module
//! only encodes and decodes; `keys::keystore` does the cryptography.

use super::{FormatError, Reader, Writer, kind, read_header, write_header};
use crate::prelude::*;

/// Key-derivation function code for Argon2id (RFC 9106), version 0x13.
pub const KDF_ARGON2ID: u8 = 1;
/// AEAD code for AES-256-GCM.
pub const AEAD_AES_256_GCM: u8 = 1;
/// Length of the Argon2id salt.
pub const SALT_LEN: usize = 16;
/// Length of the AES-256-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length of every secret key this file holds.
pub const SECRET_LEN: usize = 32;
/// Length of the sealed secret: ciphertext and tag.
pub const SEALED_LEN: usize = SECRET_LEN + 16;

/// Upper bounds a decoder enforces, so a hostile file cannot make the reader
/// allocate more than 1 GiB or spend more than ten passes over it.
pub const MAX_M_COST_KIB: u32 = 1 << 20;
pub const MAX_T_COST: u32 = 10;
pub const MAX_P_COST: u8 = 16;

/// Argon2id cost parameters, within the decoder's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u8,
}

impl KdfParams {
    /// What otaseal writes: RFC 9106 §4's second recommended option
    /// (64 MiB, 3 passes, 4 lanes), stronger than OWASP's minimum for
    /// Argon2id (19 MiB, 2 passes, 1 lane).
    pub const DEFAULT: Self = Self {
        m_cost_kib: 64 * 1024,
        t_cost: 3,
        p_cost: 4,
    };

    /// OWASP's current minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
    pub const OWASP_MINIMUM: Self = Self {
        m_cost_kib: 19 * 1024,
        t_cost: 2,
        p_cost: 1,
    };

    /// Checks the bounds every decoder enforces: `1 <= p <= 16`,
    /// `8*p <= m <= 1 GiB` (in KiB), `1 <= t <= 10`.
    pub fn new(m_cost_kib: u32, t_cost: u32, p_cost: u8) -> Result<Self, FormatError> {
        if !(1..=MAX_P_COST).contains(&p_cost) {
            return Err(FormatError::invalid(
                "argon2_p_cost",
                format!("{p_cost} lanes is outside 1..={MAX_P_COST}"),
            ));
        }
        let min_m = 8 * u32::from(p_cost);
        if !(min_m..=MAX_M_COST_KIB).contains(&m_cost_kib) {
            return Err(FormatError::invalid(
                "argon2_m_cost",
                format!("{m_cost_kib} KiB is outside {min_m}..={MAX_M_COST_KIB} KiB"),
            ));
        }
        if !(1..=MAX_T_COST).contains(&t_cost) {
            return Err(FormatError::invalid(
                "argon2_t_cost",
                format!("{t_cost} passes is outside 1..={MAX_T_COST}"),
            ));
        }
        Ok(Self {
            m_cost_kib,
            t_cost,
            p_cost,
        })
    }

    pub const fn m_cost_kib(self) -> u32 {
        self.m_cost_kib
    }

    pub const fn t_cost(self) -> u32 {
        self.t_cost
    }

    pub const fn p_cost(self) -> u8 {
        self.p_cost
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl core::fmt::Display for KdfParams {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "argon2id m={}KiB t={} p={}",
            self.m_cost_kib, self.t_cost, self.p_cost
        )
    }
}

/// The algorithm of a stored secret key. The codes are the ones
/// `KeyId::derive` hashes, so a key id never depends on where a key is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlg {
    /// Ed25519 signing key (32-byte seed).
    Ed25519,
    /// P-256 device key for HPKE DHKEM(P-256) (32-byte scalar).
    P256,
    /// X25519 device key for HPKE DHKEM(X25519) (32-byte scalar).
    X25519,
}

impl KeyAlg {
    pub fn code(self) -> u16 {
        match self {
            Self::Ed25519 => 0x0001,
            Self::P256 => 0x0010,
            Self::X25519 => 0x0020,
        }
    }

    pub fn from_code(code: u16) -> Result<Self, FormatError> {
        match code {
            0x0001 => Ok(Self::Ed25519),
            0x0010 => Ok(Self::P256),
            0x0020 => Ok(Self::X25519),
            other => Err(FormatError::invalid(
                "key_alg",
                format!("unknown key algorithm 0x{other:04x}"),
            )),
        }
    }

    /// Length of the public key stored in the header.
    pub fn public_len(self) -> usize {
        match self {
            Self::Ed25519 | Self::X25519 => 32,
            Self::P256 => 65,
        }
    }

    /// Whether the key signs (as opposed to unwrapping data keys).
    pub fn is_signing(self) -> bool {
        matches!(self, Self::Ed25519)
    }
}

impl core::fmt::Display for KeyAlg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Ed25519 => "ed25519",
            Self::P256 => "p256",
            Self::X25519 => "x25519",
        })
    }
}

/// What a key is for. Root and release keys sign; device keys unwrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyRole {
    /// Kept offline; certifies release keys.
    Root,
    /// Signs manifests.
    Release,
    /// A device's recipient key.
    Device,
}

impl KeyRole {
    pub fn code(self) -> u8 {
        match self {
            Self::Root => 1,
            Self::Release => 2,
            Self::Device => 3,
        }
    }

    pub fn from_code(code: u8) -> Result<Self, FormatError> {
        match code {
            1 => Ok(Self::Root),
            2 => Ok(Self::Release),
            3 => Ok(Self::Device),
            other => Err(FormatError::invalid(
                "role",
                format!("unknown key role {other}"),
            )),
        }
    }

    /// Whether `alg` may serve in this role: root and release keys sign,
    /// device keys are HPKE recipients.
    pub fn allows(self, alg: KeyAlg) -> bool {
        match self {
            Self::Root | Self::Release => alg.is_signing(),
            Self::Device => !alg.is_signing(),
        }
    }
}

impl core::fmt::Display for KeyRole {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Root => "root",
            Self::Release => "release",
            Self::Device => "device",
        })
    }
}

/// A decoded encrypted key file. Decoding checks syntax and bounds only;
/// nothing is decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeystoreFile {
    pub kdf: KdfParams,
    pub salt: [u8; SALT_LEN],
    pub nonce: [u8; NONCE_LEN],
    pub alg: KeyAlg,
    pub role: KeyRole,
    /// The public key: 32 bytes (Ed25519, X25519) or a 65-byte SEC1
    /// uncompressed point (P-256).
    pub public_key: Vec<u8>,
    /// AES-256-GCM ciphertext of the 32-byte secret, then its tag.
    pub sealed: [u8; SEALED_LEN],
}

impl KeystoreFile {
    /// The associated data: every byte before the sealed secret.
    pub fn header_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(128);
        write_header(&mut w, kind::SECRET_KEY);
        w.u8(KDF_ARGON2ID);
        w.u32(self.kdf.m_cost_kib);
        w.u32(self.kdf.t_cost);
        w.u8(self.kdf.p_cost);
        w.put(&self.salt);
        w.u8(AEAD_AES_256_GCM);
        w.put(&self.nonce);
        w.u16(self.alg.code());
        w.u8(self.role.code());
        w.bytes8(&self.public_key);
        w.buf
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = self.header_bytes();
        bytes.extend_from_slice(&self.sealed);
        bytes
    }

    /// Whether `bytes` start like an encrypted key file (magic and kind).
    pub fn sniff(bytes: &[u8]) -> bool {
        bytes.len() >= 8 && bytes[..4] == super::MAGIC && bytes[4..8] == kind::SECRET_KEY
    }

    /// Decodes an encrypted key file.
    ///
    /// Rejects: bad magic, another kind, any version but 1, an unknown KDF or
    /// AEAD code, Argon2 costs outside the bounds of [`KdfParams::new`], an
    /// unknown key algorithm or role, a role the algorithm cannot serve, a
    /// public key of the wrong length (or a P-256 point not in uncompressed
    /// form), a truncated sealed secret, and any trailing byte.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(bytes);
        read_header(&mut r, kind::SECRET_KEY, "encrypted secret key")?;
        let kdf = r.u8("kdf")?;
        if kdf != KDF_ARGON2ID {
            return Err(FormatError::invalid(
                "kdf",
                format!("unknown key derivation function {kdf}"),
            ));
        }
        let m = r.u32("argon2_m_cost")?;
        let t = r.u32("argon2_t_cost")?;
        let p = r.u8("argon2_p_cost")?;
        let kdf = KdfParams::new(m, t, p)?;
        let salt = r.array("salt")?;
        let aead = r.u8("aead")?;
        if aead != AEAD_AES_256_GCM {
            return Err(FormatError::invalid("aead", format!("unknown AEAD {aead}")));
        }
        let nonce = r.array("nonce")?;
        let alg = KeyAlg::from_code(r.u16("key_alg")?)?;
        let role = KeyRole::from_code(r.u8("role")?)?;
        if !role.allows(alg) {
            return Err(FormatError::invalid(
                "role",
                format!("a {alg} key cannot be a {role} key"),
            ));
        }
        let public_key = r.bytes8("public_key")?;
        if public_key.len() != alg.public_len() {
            return Err(FormatError::invalid(
                "public_key",
                format!(
                    "{} bytes, {alg} needs {}",
                    public_key.len(),
                    alg.public_len()
                ),
            ));
        }
        if alg == KeyAlg::P256 && public_key[0] != 4 {
            return Err(FormatError::invalid(
                "public_key",
                "P-256 key is not an uncompressed SEC1 point",
            ));
        }
        let sealed = r.array("sealed_secret")?;
        r.finish()?;
        Ok(Self {
            kdf,
            salt,
            nonce,
            alg,
            role,
            public_key: public_key.to_vec(),
            sealed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> KeystoreFile {
        KeystoreFile {
            kdf: KdfParams::new(64, 1, 1).unwrap(),
            salt: [1; SALT_LEN],
            nonce: [2; NONCE_LEN],
            alg: KeyAlg::Ed25519,
            role: KeyRole::Release,
            public_key: vec![3; 32],
            sealed: [4; SEALED_LEN],
        }
    }

    #[test]
    fn round_trip_and_layout() {
        let k = sample();
        let bytes = k.to_bytes();
        assert_eq!(bytes.len(), 53 + 32 + SEALED_LEN);
        assert_eq!(k.header_bytes().len(), 53 + 32);
        assert!(KeystoreFile::sniff(&bytes));
        assert_eq!(KeystoreFile::parse(&bytes).unwrap(), k);
        let mut p = sample();
        p.alg = KeyAlg::P256;
        p.role = KeyRole::Device;
        p.public_key = [4; 65].to_vec();
        assert_eq!(KeystoreFile::parse(&p.to_bytes()).unwrap(), p);
    }

    #[test]
    fn every_truncation_and_extension_is_rejected() {
        let bytes = sample().to_bytes();
        for len in 0..bytes.len() {
            assert!(KeystoreFile::parse(&bytes[..len]).is_err(), "{len}");
        }
        let mut long = bytes;
        long.push(0);
        assert_eq!(
            KeystoreFile::parse(&long),
            Err(FormatError::TrailingBytes { extra: 1 })
        );
    }

    fn field_of(bytes: &[u8]) -> &'static str {
        match KeystoreFile::parse(bytes) {
            Err(FormatError::InvalidField { field, .. }) => field,
            other => panic!("expected InvalidField, got {other:?}"),
        }
    }

    #[test]
    fn hostile_and_unknown_fields_are_rejected() {
        let good = sample().to_bytes();
        let patch = |at: usize, with: &[u8]| {
            let mut b = good.clone();
            b[at..at + with.len()].copy_from_slice(with);
            b
        };
        // 4 GiB of memory, zero memory, 2^32-1 passes, zero passes, 255 lanes.
        assert_eq!(
            field_of(&patch(11, &u32::MAX.to_be_bytes())),
            "argon2_m_cost"
        );
        assert_eq!(
            field_of(&patch(11, &(MAX_M_COST_KIB + 1).to_be_bytes())),
            "argon2_m_cost"
        );
        assert_eq!(field_of(&patch(11, &7u32.to_be_bytes())), "argon2_m_cost");
        assert_eq!(
            field_of(&patch(15, &u32::MAX.to_be_bytes())),
            "argon2_t_cost"
        );
        assert_eq!(field_of(&patch(15, &0u32.to_be_bytes())), "argon2_t_cost");
        assert_eq!(field_of(&patch(19, &[255])), "argon2_p_cost");
        assert_eq!(field_of(&patch(19, &[0])), "argon2_p_cost");
        // 16 lanes need at least 128 KiB; the sample has 64.
        assert_eq!(field_of(&patch(19, &[16])), "argon2_m_cost");
        assert_eq!(field_of(&patch(10, &[2])), "kdf");
        assert_eq!(field_of(&patch(36, &[2])), "aead");
        assert_eq!(field_of(&patch(49, &[0, 2])), "key_alg");
        assert_eq!(field_of(&patch(51, &[9])), "role");
        // A signing key cannot be a device key, nor a device key a root.
        assert_eq!(field_of(&patch(51, &[3])), "role");
        assert_eq!(field_of(&patch(49, &[0, 0x20])), "role");
        assert!(matches!(
            KeystoreFile::parse(&patch(4, b"MNFT")),
            Err(FormatError::WrongKind { .. })
        ));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Arbitrary bytes behind a valid magic and kind never panic the
        /// decoder, and whatever it accepts re-encodes to the same bytes.
        #[test]
        fn arbitrary_input_never_panics(tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let bytes = [&b"OTASSKEY"[..], &tail].concat();
            if let Ok(k) = KeystoreFile::parse(&bytes) {
                proptest::prop_assert_eq!(k.to_bytes(), bytes);
            }
        }

        /// Overwriting any run of bytes of a valid file either fails or
        /// yields a file that encodes back to exactly those bytes.
        #[test]
        fn mutated_files_decode_canonically(at in 0usize..117, with in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..8)) {
            let mut bytes = sample().to_bytes();
            let end = (at + with.len()).min(bytes.len());
            bytes[at..end].copy_from_slice(&with[..end - at]);
            if let Ok(k) = KeystoreFile::parse(&bytes) {
                proptest::prop_assert_eq!(k.to_bytes(), bytes);
            }
        }
    }

    #[test]
    fn bounds_are_inclusive() {
        KdfParams::new(MAX_M_COST_KIB, MAX_T_COST, MAX_P_COST).unwrap();
        KdfParams::new(8, 1, 1).unwrap();
        assert!(KdfParams::new(127, 1, 16).is_err());
        const { assert!(KdfParams::DEFAULT.m_cost_kib >= KdfParams::OWASP_MINIMUM.m_cost_kib) };
        const { assert!(KdfParams::DEFAULT.t_cost >= KdfParams::OWASP_MINIMUM.t_cost) };
    }
}
