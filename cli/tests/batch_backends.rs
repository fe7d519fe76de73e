//! The AES-GCM backends are interchangeable: a batch sealed by `otaseal
//! seal --backend` with either opens to the same plaintext (that they give
//! byte-identical outputs is the library's `batch_backends` test).

use crate::batch_util::*;
use otaseal::cipher::Backend;
use otaseal::keys::{KemId, RecipientSecretKey, SigningKey};
use otaseal::seal::SealOptions;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

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
