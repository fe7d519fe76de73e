//! Cost of signing per sealed bundle: an Ed25519 key in memory (from a key
//! file) against the same algorithm in a PKCS#11 token (SoftHSM2 or an HSM).
//!
//! The PKCS#11 half runs when `OTASEAL_BENCH_PKCS11_URI` names a key (with
//! `module-path` and a PIN source); `scripts/bench-signing.sh` sets up a
//! throwaway SoftHSM2 token and runs this bench.
//!
//! - `sign/<backend>`: one manifest signature (the PKCS#11 signer also
//!   verifies what the token returns, as it does when sealing).
//! - `seal_bundle/<backend>`: sealing a 64 KiB bundle for one device, end to
//!   end in memory: chunk encryption, tree, HPKE wrap, manifest, signature.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use otaseal::keys::pkcs11::{Pkcs11Options, Pkcs11Signer, Pkcs11Uri};
use otaseal::keys::{KemId, RecipientSecretKey, Signer, SigningKey, os_rng};
use otaseal::seal::{SealOptions, seal};
use std::hint::black_box;

const BUNDLE: usize = 64 * 1024;

fn signers() -> Vec<(&'static str, Box<dyn Signer>)> {
    let mut out: Vec<(&'static str, Box<dyn Signer>)> = vec![(
        "file-ed25519",
        Box::new(SigningKey::generate(&mut os_rng())),
    )];
    match std::env::var("OTASEAL_BENCH_PKCS11_URI") {
        Ok(uri) => {
            let uri = Pkcs11Uri::parse(&uri).expect("OTASEAL_BENCH_PKCS11_URI");
            let signer = Pkcs11Signer::open(&uri, &Pkcs11Options::default(), None)
                .expect("open the PKCS#11 key");
            out.push(("pkcs11-ed25519", Box::new(signer)));
        }
        Err(_) => eprintln!(
            "OTASEAL_BENCH_PKCS11_URI is not set: benchmarking the file key only \
             (scripts/bench-signing.sh sets up SoftHSM2)"
        ),
    }
    out
}

fn bench(c: &mut Criterion) {
    let signers = signers();
    let device = RecipientSecretKey::generate(KemId::X25519, &mut os_rng());
    let recipients = [device.public_key().clone()];
    let opts = SealOptions::new(
        "com.example.bench".parse().unwrap(),
        "stable".parse().unwrap(),
        "1.0.0".parse().unwrap(),
        1,
    );
    let payload = vec![0x5au8; BUNDLE];
    // A real manifest's signed bytes as the message to sign.
    let message = {
        let sealed = seal(&payload, &opts, &recipients, signers[0].1.as_ref()).unwrap();
        sealed.manifest.signed_bytes()
    };

    let mut g = c.benchmark_group("sign");
    for (name, signer) in &signers {
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| signer.sign(black_box(&message)).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("seal_bundle");
    g.throughput(Throughput::Elements(1));
    for (name, signer) in &signers {
        g.bench_function(BenchmarkId::new(*name, BUNDLE), |b| {
            b.iter(|| seal(black_box(&payload), &opts, &recipients, signer.as_ref()).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
