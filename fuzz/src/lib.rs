//! Deterministic fixtures shared by the fuzz targets and the seed-corpus
//! generator: real sealed bundles, signed by fixed keys, so targets that
//! check signatures reach the code behind them and can use exact oracles
//! ("a manifest that verifies is byte-for-byte one the key signed").

use otaseal::format::ChunkSize;
use otaseal::keys::{KemId, RecipientSecretKey, SigningKey, VerifyingKey};
use otaseal::open::{TrustAnchor, VerifiedManifest, verify_manifest};
use otaseal::seal::{SealOptions, seal_with_rng};
use rand_core::SeedableRng;
use std::sync::OnceLock;

/// One sealed bundle.
pub struct Bundle {
    pub plain: Vec<u8>,
    pub payload: Vec<u8>,
    pub manifest: Vec<u8>,
    pub verified: VerifiedManifest,
}

pub struct Fixture {
    pub trust: TrustAnchor,
    pub device: RecipientSecretKey,
    pub rollback_key: VerifyingKey,
    pub bundles: Vec<Bundle>,
    /// A rollback authorisation for `bundles[0]`, signed by `rollback_key`.
    pub rollback: Vec<u8>,
}

/// (plaintext length, chunk size log2, sequence, channel, expires)
const SHAPES: &[(usize, u8, u64, &str, Option<u64>)] = &[
    (0, 14, 1, "stable", None),
    (1, 14, 2, "stable", Some(1_900_000_000)),
    (16_384, 14, 3, "beta", None),
    (16_385, 14, 4, "stable", None),
    (70_000, 15, 5, "stable", Some(1_800_000_001)),
];

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0x007a_5ea1);
        let signer = SigningKey::generate(&mut rng);
        let rollback_signer = SigningKey::generate(&mut rng);
        let device = RecipientSecretKey::generate(KemId::X25519, &mut rng);
        let trust = TrustAnchor::SigningKey(signer.verifying_key());
        let bundles = SHAPES
            .iter()
            .map(|&(len, log2, seq, channel, expires)| {
                let plain: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let mut o = SealOptions::new(
                    "com.example.fuzz".parse().unwrap(),
                    channel.parse().unwrap(),
                    format!("1.{seq}").parse().unwrap(),
                    seq,
                );
                o.created = 1_700_000_000;
                o.expires = expires;
                o.chunk_size = ChunkSize::from_log2(log2).unwrap();
                let s = seal_with_rng(
                    &plain,
                    &o,
                    &[device.public_key().clone()],
                    &signer,
                    &mut rng,
                )
                .unwrap();
                let verified = verify_manifest(&s.manifest_bytes, &trust).unwrap();
                Bundle {
                    plain,
                    payload: s.payload,
                    manifest: s.manifest_bytes,
                    verified,
                }
            })
            .collect::<Vec<_>>();
        let rollback = otaseal::policy::authorise_rollback(
            bundles[0].verified.manifest(),
            1_700_000_100,
            1_700_086_500,
            &rollback_signer,
        )
        .unwrap();
        Fixture {
            trust,
            device,
            rollback_key: rollback_signer.verifying_key(),
            bundles,
            rollback,
        }
    })
}
