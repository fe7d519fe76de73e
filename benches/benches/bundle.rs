//! Sealing one bundle file end to end through the batch pipeline (input
//! mapped, chunks in parallel, payload + manifest written under temporary
//! names and renamed), per bundle size, output on tmpfs when available.

use benches::{data, keys, options, scratch_dir};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use otaseal::batch::{Batch, BatchOptions, Discovered, Durability};

fn bundle(c: &mut Criterion) {
    let (signer, recipients) = keys();
    let dir = scratch_dir();
    let mut g = c.benchmark_group("seal-bundle");
    g.sample_size(10);
    for size in [16usize << 10, 1 << 20, 16 << 20, 256 << 20] {
        let input = dir.path().join(format!("in-{size}.bin"));
        std::fs::write(&input, data(size)).expect("write input");
        let one = [Discovered {
            path: input,
            name: format!("in-{size}.bin").parse().expect("name"),
        }];
        let mut o = BatchOptions::new(options(), dir.path().join("out"));
        o.durability = Durability::None;
        let batch = Batch::new(o, &recipients, &signer);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter(|| {
                let r = batch.seal_all(&one).expect("seal");
                assert!(r[0].status.outputs().is_some(), "{:?}", r[0].status);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bundle);
criterion_main!(benches);
