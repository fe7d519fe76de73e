//! Deterministic fixtures shared by the fuzz targets and the seed-corpus
//! generator: real sealed bundles, signed by fixed keys, so targets that
//! check signatures reach the code behind them and can use exact oracles
//! ("a manifest that verifies is byte-for-byte one the key signed").

use otaseal::format::ChunkSize;
use otaseal::format::cert::{AppScope, CertificateBody, ChannelScope, KeyUsage};
use otaseal::keys::file::AnyKey;
use otaseal::keys::keystore::{EncryptedKey, Passphrase};
use otaseal::keys::{KdfParams, KeyRole, SigAlg, trust};
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
    /// The root of trust that certified `release_cert`.
    pub root: VerifyingKey,
    /// A release-key certificate issued by the root.
    pub release_cert: Vec<u8>,
    /// A revocation list signed by the root.
    pub revocations: Vec<u8>,
    /// A root rotation statement from the root to a new root.
    pub rotation: Vec<u8>,
    /// A trust state pinning the root, with the revocation list applied.
    pub trust_state: Vec<u8>,
    /// An encrypted (keystore) release key, with cheap Argon2 parameters.
    pub keystore: Vec<u8>,
    /// Trust in the root (with the revocation list applied), at a fixed time
    /// inside the release certificate's validity.
    pub root_trust: TrustAnchor,
    /// A manifest signed by the certified release key, carrying its chain.
    pub chained_manifest: Vec<u8>,
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
        let root = SigningKey::generate(&mut rng);
        let new_root = SigningKey::generate(&mut rng);
        let release = SigningKey::generate(&mut rng);
        let release_cert = trust::issue_certificate(
            &root,
            CertificateBody {
                serial: 7,
                subject_alg: SigAlg::Ed25519,
                subject_public_key: release.verifying_key().to_bytes().to_vec(),
                not_before: 1_700_000_000,
                not_after: 1_800_000_000,
                usage: KeyUsage::SIGN_MANIFESTS,
                channels: ChannelScope::only(vec!["stable".parse().unwrap()]).unwrap(),
                apps: AppScope::Any,
            },
        )
        .unwrap()
        .to_bytes();
        let revocations = trust::issue_revocation_list(
            &root,
            3,
            1_700_000_500,
            vec![5, 6],
            vec![new_root.verifying_key().key_id()],
        )
        .unwrap()
        .to_bytes();
        let rotation = trust::sign_rotation(&root, &new_root, 2, 1_700_001_000)
            .unwrap()
            .to_bytes();
        let mut state = trust::TrustState::new(root.verifying_key());
        state.apply_revocation_list(&revocations).unwrap();
        let keystore = EncryptedKey::encrypt(
            &AnyKey::SigningSecret(SigningKey::generate(&mut rng)),
            KeyRole::Release,
            &Passphrase::new("fuzz seed".into()),
            KdfParams::new(8, 1, 1).unwrap(),
            &mut rng,
        )
        .unwrap()
        .to_bytes();
        let certified =
            trust::CertifiedSigner::new(Box::new(release), vec![release_cert.clone()]).unwrap();
        let mut o = SealOptions::new(
            "com.example.fuzz".parse().unwrap(),
            "stable".parse().unwrap(),
            "2.0".parse().unwrap(),
            9,
        );
        o.created = 1_700_000_100;
        o.chunk_size = ChunkSize::from_log2(14).unwrap();
        let chained_manifest = seal_with_rng(
            &[9u8; 20_000],
            &o,
            &[device.public_key().clone()],
            &certified,
            &mut rng,
        )
        .unwrap()
        .manifest_bytes;
        let root_trust = TrustAnchor::Root(
            trust::RootTrust::new(state.clone())
                .with_clock(otaseal::clock::Clock::Fixed(1_700_000_200)),
        );
        verify_manifest(&chained_manifest, &root_trust).unwrap();
        Fixture {
            root_trust,
            chained_manifest,
            trust,
            device,
            rollback_key: rollback_signer.verifying_key(),
            bundles,
            rollback,
            root: root.verifying_key(),
            release_cert,
            revocations,
            rotation,
            trust_state: state.to_bytes(),
            keystore,
        }
    })
}

/// `body` followed by its BLAKE3 `derive_key(context)` checksum: the form of
/// the device-state and fetch-record files, so targets can reach the checks
/// behind a checksum the fuzzer cannot forge.
pub fn with_checksum(body: &[u8], context: &str) -> Vec<u8> {
    let mut h = blake3::Hasher::new_derive_key(context);
    h.update(body);
    let mut out = body.to_vec();
    out.extend_from_slice(h.finalize().as_bytes());
    out
}
