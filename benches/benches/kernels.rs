//! The per-chunk kernels: AES-256-GCM candidates (aws-lc-rs, ring,
//! RustCrypto `aes-gcm` 0.11, and with `--features candidates` also
//! `aes-gcm` 0.10), the BLAKE3 subtree chaining value, and both together as
//! the sealer runs them (`BundleSealer::seal_chunk`), per chunk size.
//!
//! ```text
//! cargo bench -p benches --features candidates --bench kernels -- aes-256-gcm
//! ```

use benches::{CHUNK_SIZES, data, options};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use otaseal::cipher::Backend;
use otaseal::seal::BundleSealer;
use std::hint::black_box;

fn aes_gcm(c: &mut Criterion) {
    let mut g = c.benchmark_group("aes-256-gcm");
    let key = [0x42u8; 32];
    let nonce = [0u8; 12];
    for &size in CHUNK_SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let mut buf = data(size);
        let ring_key = ring::aead::LessSafeKey::new(
            ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &key).expect("key"),
        );
        g.bench_with_input(BenchmarkId::new("ring", size), &size, |b, _| {
            b.iter(|| {
                ring_key
                    .seal_in_place_separate_tag(
                        ring::aead::Nonce::assume_unique_for_key(nonce),
                        ring::aead::Aad::from(&[1u8; 41]),
                        black_box(&mut buf),
                    )
                    .expect("seal")
            })
        });
        use aes_gcm::{AeadInOut, KeyInit};
        let rc = aes_gcm::Aes256Gcm::new(&key.into());
        g.bench_with_input(BenchmarkId::new("aes-gcm", size), &size, |b, _| {
            b.iter(|| {
                rc.encrypt_inout_detached(&nonce.into(), &[1u8; 41], black_box(&mut buf[..]).into())
                    .expect("seal")
            })
        });
        use aws_lc_rs::aead as aws;
        let aws_key =
            aws::LessSafeKey::new(aws::UnboundKey::new(&aws::AES_256_GCM, &key).expect("key"));
        g.bench_with_input(BenchmarkId::new("aws-lc-rs", size), &size, |b, _| {
            b.iter(|| {
                aws_key
                    .seal_in_place_separate_tag(
                        aws::Nonce::assume_unique_for_key(nonce),
                        aws::Aad::from(&[1u8; 41]),
                        black_box(&mut buf),
                    )
                    .expect("seal")
            })
        });
        #[cfg(feature = "candidates")]
        {
            use aes_gcm_0_10::aead::{AeadInPlace, KeyInit as _};
            let old = aes_gcm_0_10::Aes256Gcm::new_from_slice(&key).expect("key");
            g.bench_with_input(BenchmarkId::new("aes-gcm-0.10", size), &size, |b, _| {
                b.iter(|| {
                    old.encrypt_in_place_detached(
                        aes_gcm_0_10::Nonce::from_slice(&nonce),
                        &[1u8; 41],
                        black_box(&mut buf[..]),
                    )
                    .expect("seal")
                })
            });
        }
    }
    g.finish();
}

fn blake3_subtree(c: &mut Criterion) {
    let mut g = c.benchmark_group("blake3-subtree");
    for &size in CHUNK_SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let buf = data(size);
        g.bench_with_input(BenchmarkId::new("piece_cv", size), &size, |b, _| {
            b.iter(|| otaseal::tree::piece_cv(black_box(&buf), size as u64, false))
        });
    }
    g.finish();
}

fn seal_chunk(c: &mut Criterion) {
    let mut g = c.benchmark_group("seal_chunk");
    for &size in CHUNK_SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let mut buf = data(size);
        for &backend in Backend::ALL {
            let mut o = options();
            o.chunk_size = otaseal::format::ChunkSize::from_bytes(size as u64).expect("size");
            o.backend = backend;
            let sealer =
                BundleSealer::new(&o, 1 << 40, &mut otaseal::keys::os_rng()).expect("sealer");
            g.bench_with_input(BenchmarkId::new(backend.name(), size), &size, |b, _| {
                b.iter(|| sealer.seal_chunk(1, black_box(&mut buf)).expect("chunk"))
            });
        }
    }
    g.finish();
}

criterion_group!(kernels, aes_gcm, blake3_subtree, seal_chunk);
criterion_main!(kernels);
