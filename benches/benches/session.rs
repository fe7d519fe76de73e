//! The device session against its own kernel, in one criterion group, so
//! their ratio is measured in the same run (docs/PERFORMANCE.md, "Device
//! session"; `scripts/session-throughput.sh` prints it). 1 thread, pure-Rust
//! backend (RustCrypto `aes-gcm`), a 64 MiB bundle, per chunk size:
//!
//! - `kernel`: for each chunk, the BLAKE3 subtree chaining value of the
//!   ciphertext (`tree::piece_cv`, as `VerifiedManifest::verify_chunk`
//!   computes it) compared with the expected one, and RustCrypto `aes-gcm`
//!   decrypting the chunk into a reused buffer (out of place: no copy). Its
//!   ciphertext is the same plaintext sealed by the bench with a key it
//!   knows (the session's data key is not public); same chunk sizes, nonces
//!   and 41-byte associated data, so the same work.
//! - `session`: `Session::new` (manifest verification), `unlock_with_backend`
//!   (`Backend::RustCrypto`), `feed` of every chunk in order (one whole chunk
//!   per feed) and `decrypt_chunk` of each into a reused buffer.
//! - `kernel-as-session` (diagnostic, not a target): the kernel doing what
//!   the session does per chunk: hashing it twice and decrypting a copy in
//!   place (`benches::session::Steps::AsSession`).
//!
//! The time criterion records is the bench thread's **CPU time**
//! (`CLOCK_THREAD_CPUTIME_ID`), not wall time: the machines are shared, and
//! time spent waiting for a core would land on whichever function was
//! running then, skewing the ratio. `OTASEAL_BENCH_CLOCK=wall` measures wall
//! time instead. Throughput is bytes of the bundle per second of that clock.
//!
//! ```text
//! cargo bench -p benches --bench session -- --warm-up-time 1 --measurement-time 5
//! ```

use benches::data;
use benches::session::{self, Steps};
use criterion::{
    Bencher, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use std::hint::black_box;

/// Times `f` on the bench thread's CPU clock, or on the wall clock with
/// `OTASEAL_BENCH_CLOCK=wall` (and where there is no thread CPU clock).
fn measure<R>(b: &mut Bencher<'_>, mut f: impl FnMut() -> R) {
    #[cfg(unix)]
    if std::env::var("OTASEAL_BENCH_CLOCK").as_deref() != Ok("wall") {
        b.iter_custom(|iters| {
            let start = session::thread_cpu();
            for _ in 0..iters {
                black_box(f());
            }
            session::thread_cpu() - start
        });
        return;
    }
    b.iter(f)
}

/// The bundle: 64 MiB of incompressible plaintext.
const PAYLOAD: usize = 64 << 20;
/// The default chunk size (`ChunkSize::DEFAULT`, 256 KiB) and a smaller one.
const CHUNK_LOG2: &[u8] = &[18, 16];

fn session_throughput(c: &mut Criterion) {
    let plain = data(PAYLOAD);
    let mut g = c.benchmark_group("session-throughput");
    // One pass over the bundle takes tens of milliseconds: flat sampling
    // (the same few passes per sample) gives 30 samples in a few seconds,
    // and their median shrugs off the bursts of a shared machine.
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(30);
    g.throughput(Throughput::Bytes(PAYLOAD as u64));
    for &log2 in CHUNK_LOG2 {
        let chunk = 1usize << log2;
        let param = format!("{}KiB", chunk >> 10);
        let mut out = vec![0u8; chunk];

        let kernel = session::KernelFixture::new(&plain, chunk);
        g.bench_with_input(BenchmarkId::new("kernel", &param), &chunk, |b, _| {
            measure(b, || kernel.run(black_box(&mut out)))
        });
        g.bench_with_input(
            BenchmarkId::new("kernel-as-session", &param),
            &chunk,
            |b, _| measure(b, || kernel.run_as(black_box(&mut out), Steps::AsSession)),
        );
        drop(kernel);

        let fixture = session::SessionFixture::new(&plain, log2);
        g.bench_with_input(BenchmarkId::new("session", &param), &chunk, |b, _| {
            measure(b, || fixture.run(black_box(&mut out)))
        });
    }
    g.finish();
}

criterion_group!(session_bench, session_throughput);
criterion_main!(session_bench);
