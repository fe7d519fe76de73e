//! The AES-GCM backends are interchangeable: with the same random source
//! they produce byte-identical payloads and manifests (and a batch sealed
//! with either opens to the same plaintext: the CLI's `batch_backends`).

use crate::common::batch::content;
use otaseal::cipher::Backend;
use otaseal::keys::{KemId, RecipientSecretKey, SigningKey};
use otaseal::seal::{SealOptions, seal_with_rng};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

#[test]
fn backends_are_byte_identical() {
    let mut r = ChaCha20Rng::seed_from_u64(3);
    let signer = SigningKey::generate(&mut r);
    let device = RecipientSecretKey::generate(KemId::X25519, &mut r);
    let recipients = [device.public_key().clone()];
    for len in [0usize, 1, 16_383, 16_384, 16_385, 200_000] {
        let plain = content(len as u64, len);
        let mut outputs = Vec::new();
        for &backend in Backend::ALL {
            let mut o = SealOptions::new(
                "com.example.app".parse().unwrap(),
                "stable".parse().unwrap(),
                "1.0".parse().unwrap(),
                1,
            );
            o.created = 1_790_000_000;
            o.chunk_size = otaseal::format::ChunkSize::from_log2(14).unwrap();
            o.backend = backend;
            let mut rng = ChaCha20Rng::seed_from_u64(len as u64);
            let s = seal_with_rng(&plain, &o, &recipients, &signer, &mut rng).unwrap();
            outputs.push((backend, s.payload, s.manifest_bytes));
        }
        let built = 1 + usize::from(cfg!(feature = "ring")) + usize::from(cfg!(feature = "aws-lc"));
        assert_eq!(outputs.len(), built, "every backend is built");
        for w in outputs.windows(2) {
            assert!(
                w[0].1 == w[1].1,
                "{len}: payload {:?} != {:?}",
                w[0].0,
                w[1].0
            );
            assert!(
                w[0].2 == w[1].2,
                "{len}: manifest {:?} != {:?}",
                w[0].0,
                w[1].0
            );
        }
    }
}
