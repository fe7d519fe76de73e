//! The AES-GCM backends are interchangeable: with the same random source
//! they produce byte-identical payloads and manifests, and a batch sealed
//! with either opens to the same plaintext.

use crate::batch_util::*;
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

#[test]
fn batch_with_either_backend_opens_the_same() {
    let env = Env::new();
    // Below and above the size from which inputs are mapped (and sealed
    // out of place where the backend can).
    let files = [("a.bin", 50_000), ("b.bin", 16_384), ("c.bin", 1_000_003)];
    let input = env.inputs("in", &files);
    for &backend in Backend::ALL {
        let out = env.path(backend.name());
        let (o, json) = run({
            let mut c = env.seal_cmd(&out);
            c.arg(&input).args(["--backend", backend.name()]);
            c
        });
        assert!(o.status.success(), "{o:?}");
        assert_eq!(json["sealed"], files.len());
        for (name, _) in files {
            check_bundle(&env, &out, name, &std::fs::read(input.join(name)).unwrap());
        }
    }
}

#[test]
fn library_refuses_colliding_names_before_writing() {
    use otaseal::batch::{Batch, BatchOptions, Discovered};
    let env = Env::new();
    let input = env.inputs("in", &[("a.bin", 10), ("b.bin", 20)]);
    let mut r = ChaCha20Rng::seed_from_u64(4);
    let signer = SigningKey::generate(&mut r);
    let device = RecipientSecretKey::generate(KemId::X25519, &mut r);
    let recipients = [device.public_key().clone()];
    let out = env.path("out");
    let opts = SealOptions::new(
        "com.example.app".parse().unwrap(),
        "stable".parse().unwrap(),
        "1.0".parse().unwrap(),
        1,
    );
    let same = |p: &str| Discovered {
        path: input.join(p),
        name: "same.bin".parse().unwrap(),
    };
    let batch = Batch::new(BatchOptions::new(opts, &out), &recipients, &signer);
    assert!(batch.run(&[same("a.bin"), same("b.bin")]).is_err());
    assert!(tree(&out).is_empty(), "{:?}", tree(&out));
}
