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
//!   place.
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

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::{AeadInOut, KeyInit};
use benches::{data, options};
use criterion::{
    Bencher, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use otaseal::cipher::Backend;
use otaseal::format::ChunkSize;
use otaseal::keys::{KemId, RecipientSecretKey, SigningKey};
use otaseal::open::TrustAnchor;
use otaseal::seal::seal;
use otaseal::session::{Session, SessionOptions};
use std::hint::black_box;
use std::time::Duration;

/// The calling thread's CPU time.
#[cfg(unix)]
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Times `f` on the bench thread's CPU clock, or on the wall clock with
/// `OTASEAL_BENCH_CLOCK=wall` (and where there is no thread CPU clock).
fn measure<R>(b: &mut Bencher<'_>, mut f: impl FnMut() -> R) {
    #[cfg(unix)]
    if std::env::var("OTASEAL_BENCH_CLOCK").as_deref() != Ok("wall") {
        b.iter_custom(|iters| {
            let start = thread_cpu();
            for _ in 0..iters {
                black_box(f());
            }
            thread_cpu() - start
        });
        return;
    }
    b.iter(f)
}

/// The bundle: 64 MiB of incompressible plaintext.
const PAYLOAD: usize = 64 << 20;
/// The default chunk size (`ChunkSize::DEFAULT`, 256 KiB) and a smaller one.
const CHUNK_LOG2: &[u8] = &[18, 16];

/// What the kernel needs: its own sealing of the plaintext, with the key,
/// tags and chaining values it produced.
struct KernelFixture {
    cipher: aes_gcm::Aes256Gcm,
    aad: [u8; 41],
    payload: Vec<u8>,
    tags: Vec<[u8; 16]>,
    cvs: Vec<[u8; 32]>,
}

fn nonce(index: u32, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[7..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    n
}

impl KernelFixture {
    fn new(plain: &[u8], chunk: usize) -> Self {
        let cipher = aes_gcm::Aes256Gcm::new(&[0x42u8; 32].into());
        let mut aad = [0u8; 41];
        aad[..16].copy_from_slice(b"otaseal v1 chunk");
        let mut payload = plain.to_vec();
        let n = payload.len().div_ceil(chunk);
        let mut tags = Vec::with_capacity(n);
        let mut cvs = Vec::with_capacity(n);
        for (i, c) in payload.chunks_mut(chunk).enumerate() {
            let tag = cipher
                .encrypt_inout_detached(&nonce(i as u32, i + 1 == n).into(), &aad, c.into())
                .expect("seal");
            tags.push(tag.into());
            cvs.push(otaseal::tree::piece_cv(c, (i * chunk) as u64, n == 1));
        }
        Self {
            cipher,
            aad,
            payload,
            tags,
            cvs,
        }
    }

    /// Verifies and decrypts every chunk into `out` (one chunk long).
    fn run(&self, chunk: usize, out: &mut [u8]) {
        self.run_as(chunk, out, false)
    }

    /// [`run`](Self::run), or with `as_session` the steps the session takes
    /// per chunk today: the chaining value computed twice (in `feed` and
    /// again in `decrypt_chunk`), the ciphertext copied into `out` and
    /// decrypted there in place. Not a target; it tells where the session's
    /// extra time goes.
    fn run_as(&self, chunk: usize, out: &mut [u8], as_session: bool) {
        let n = self.tags.len();
        for (i, c) in self.payload.chunks(chunk).enumerate() {
            let cv = otaseal::tree::piece_cv(c, (i * chunk) as u64, n == 1);
            assert!(cv == self.cvs[i], "chunk {i} does not verify");
            let o = &mut out[..c.len()];
            let buf = if as_session {
                let again = otaseal::tree::piece_cv(c, (i * chunk) as u64, n == 1);
                assert!(again == self.cvs[i], "chunk {i} does not verify");
                o.copy_from_slice(c);
                InOutBuf::from(o)
            } else {
                InOutBuf::new(c, o).expect("same length")
            };
            self.cipher
                .decrypt_inout_detached(
                    &nonce(i as u32, i + 1 == n).into(),
                    &self.aad,
                    buf,
                    (&self.tags[i]).into(),
                )
                .expect("open");
        }
    }
}

fn session_throughput(c: &mut Criterion) {
    let plain = data(PAYLOAD);
    let signer = SigningKey::from_bytes(&[7; 32]);
    let device =
        RecipientSecretKey::from_secret_bytes(KemId::X25519, &[9; 32]).expect("X25519 secret");
    let trust = TrustAnchor::SigningKey(signer.verifying_key());

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

        let kernel = KernelFixture::new(&plain, chunk);
        g.bench_with_input(BenchmarkId::new("kernel", &param), &chunk, |b, _| {
            measure(b, || kernel.run(chunk, black_box(&mut out)))
        });
        g.bench_with_input(
            BenchmarkId::new("kernel-as-session", &param),
            &chunk,
            |b, _| measure(b, || kernel.run_as(chunk, black_box(&mut out), true)),
        );
        drop(kernel);

        let mut o = options();
        o.chunk_size = ChunkSize::from_log2(log2).expect("chunk size");
        let sealed = seal(&plain, &o, &[device.public_key().clone()], &signer).expect("seal");
        let opts = SessionOptions::new(o.created);
        let payload = &sealed.payload;
        g.bench_with_input(BenchmarkId::new("session", &param), &chunk, |b, _| {
            measure(b, || {
                let mut s =
                    Session::new(&sealed.manifest_bytes, &trust, opts.clone()).expect("session");
                s.unlock_with_backend(&device, Backend::RustCrypto)
                    .expect("unlock");
                for (i, c) in payload.chunks(chunk).enumerate() {
                    let at = (i * chunk) as u64;
                    let fed = s.feed(at, c, |_| Ok(())).expect("feed");
                    debug_assert_eq!(fed.verified, [i as u32]);
                    let o = &mut out[..c.len()];
                    s.decrypt_chunk(i as u32, c, black_box(o)).expect("decrypt");
                }
                s.finish().expect("finish")
            })
        });
    }
    g.finish();
}

criterion_group!(session, session_throughput);
criterion_main!(session);
