//! Batch sealing of each dataset preset, scaled so that one iteration takes
//! seconds and the whole bench minutes: `many-small` (log-normal 16 KiB –
//! 2 MiB web bundles), `many-small-16k` (16 KiB each, the bundles/s target),
//! `mixed` (1–64 MiB) and `large` (firmware images). Inputs and outputs live
//! on tmpfs when available (`OTASEAL_BENCH_DIR` overrides), so this measures
//! CPU efficiency; `scripts/compare.sh` measures durable output too.

use benches::{keys, options, scratch_dir};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use otaseal::batch::{Batch, BatchOptions, Durability, discover};
use otaseal_datasets::{Preset, Spec, generate};

fn presets(c: &mut Criterion) {
    let (signer, recipients) = keys();
    let dir = scratch_dir();
    let mut g = c.benchmark_group("seal-batch");
    g.sample_size(10);
    let cases = [
        ("many-small", Spec::new(Preset::ManySmall).scale(0.25)),
        (
            "many-small-16k",
            Spec::new(Preset::ManySmall).scale(0.5).size(16 << 10),
        ),
        ("mixed", Spec::new(Preset::Mixed).scale(0.05)),
        ("large", Spec::new(Preset::Large).scale(0.05)),
    ];
    for (name, spec) in cases {
        let input = dir.path().join(name);
        generate(&spec, &input).expect("generate dataset");
        let mut found = discover(std::slice::from_ref(&input), None).expect("discover");
        found
            .inputs
            .retain(|i| i.name.as_str() != otaseal_datasets::MANIFEST_NAME);
        let bytes: u64 = found
            .inputs
            .iter()
            .map(|i| std::fs::metadata(&i.path).expect("input").len())
            .sum();
        let mut o = BatchOptions::new(options(), dir.path().join(format!("{name}.out")));
        o.durability = Durability::None;
        let batch = Batch::new(o, &recipients, &signer).with_verifier(signer.verifying_key());
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function(format!("{name}/{}-bundles", found.inputs.len()), |b| {
            b.iter(|| {
                let r = batch.run(&found.inputs).expect("batch");
                assert_eq!(r.failed(), 0);
            })
        });
        std::fs::remove_dir_all(&input).ok();
        std::fs::remove_dir_all(dir.path().join(format!("{name}.out"))).ok();
    }
    g.finish();
}

criterion_group!(benches, presets);
criterion_main!(benches);
