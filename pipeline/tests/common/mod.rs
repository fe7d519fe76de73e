//! What the library's integration tests share: deterministic keys and
//! bundles (here), batch inputs and a sealed batch with its index (`batch`,
//! which the CLI tests use too), and checked-in vectors (`vectors`).
#![allow(dead_code)]

pub mod batch;
pub mod vectors;

use otaseal::keys::{KemId, RecipientSecretKey, SigningKey};
use otaseal::open::TrustAnchor;
use otaseal::seal::{SealOptions, SealedBundle, seal_with_rng};
use otaseal::{Error, format::ChunkSize};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Bytes `i % 251`, BLAKE3's own test-input pattern.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub struct Fixture {
    pub signer: SigningKey,
    pub device: RecipientSecretKey,
    pub other_device: RecipientSecretKey,
}

impl Fixture {
    pub fn new() -> Self {
        let mut r = rng(1);
        Self {
            signer: SigningKey::generate(&mut r),
            device: RecipientSecretKey::generate(KemId::X25519, &mut r),
            other_device: RecipientSecretKey::generate(KemId::X25519, &mut r),
        }
    }

    pub fn trust(&self) -> TrustAnchor {
        TrustAnchor::SigningKey(self.signer.verifying_key())
    }

    pub fn options(&self, chunk_log2: u8) -> SealOptions {
        let mut o = SealOptions::new(
            "com.example.app".parse().unwrap(),
            "stable".parse().unwrap(),
            "1.2.3".parse().unwrap(),
            7,
        );
        o.created = 1_790_000_000;
        o.chunk_size = ChunkSize::from_log2(chunk_log2).unwrap();
        o
    }

    /// Seals `plaintext` in 16 KiB chunks for `device`, deterministically.
    pub fn seal(&self, plaintext: &[u8], seed: u64) -> SealedBundle {
        self.seal_with(plaintext, &self.options(14), seed)
    }

    pub fn seal_with(&self, plaintext: &[u8], opts: &SealOptions, seed: u64) -> SealedBundle {
        seal_with_rng(
            plaintext,
            opts,
            &[self.device.public_key().clone()],
            &self.signer,
            &mut rng(seed),
        )
        .unwrap()
    }

    pub fn open(&self, payload: &[u8], manifest: &[u8]) -> Result<Vec<u8>, Error> {
        otaseal::open::open(payload, manifest, &self.trust(), &self.device)
    }
}

/// A stable name for an error variant, used by test vectors.
pub fn error_name(e: &Error) -> String {
    use otaseal::format::FormatError as F;
    match e {
        Error::Format(f) => match f {
            F::Truncated { field } => format!("Format.Truncated.{field}"),
            F::TrailingBytes { .. } => "Format.TrailingBytes".into(),
            F::BadMagic => "Format.BadMagic".into(),
            F::WrongKind { .. } => "Format.WrongKind".into(),
            F::UnsupportedVersion { .. } => "Format.UnsupportedVersion".into(),
            F::InvalidField { field, .. } => format!("Format.InvalidField.{field}"),
            other => format!("Format.{other:?}"),
        },
        Error::BadSignature => "BadSignature".into(),
        Error::UntrustedSigner { .. } => "UntrustedSigner".into(),
        Error::TableRootMismatch => "TableRootMismatch".into(),
        Error::PayloadLength { .. } => "PayloadLength".into(),
        Error::ChunkLength { index, .. } => format!("ChunkLength.{index}"),
        Error::ChunkHashMismatch { index } => format!("ChunkHashMismatch.{index}"),
        Error::ChunkTagMismatch { index } => format!("ChunkTagMismatch.{index}"),
        Error::NotARecipient { .. } => "NotARecipient".into(),
        Error::KeyUnwrapFailed { .. } => "KeyUnwrapFailed".into(),
        Error::WrongBase { .. } => "WrongBase".into(),
        Error::BadDelta { .. } => "BadDelta".into(),
        other => format!("{other:?}"),
    }
}
