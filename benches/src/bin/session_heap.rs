//! Peak heap of a device session verifying and decrypting a large bundle
//! read from disk, measured with a counting global allocator, against the
//! limit 2 × chunk size + manifest size (docs/PERFORMANCE.md, "Device
//! session"; `scripts/session-heap.sh` builds and runs it).
//!
//! ```text
//! session_heap [--size-mib N] [--chunk-log2 N] [--dir DIR] [--backend aes-gcm|ring|aws-lc]
//! ```
//!
//! Defaults: a 1 GiB bundle (`--size-mib 1024`), 256 KiB chunks (the
//! default chunk size), files in a temporary directory under /var/tmp
//! (removed at the end), the pure-Rust backend (RustCrypto `aes-gcm`: all
//! of its memory is Rust heap; C libraries' own `malloc` is not counted).
//!
//! 1. Fixture, not measured: seals the bundle chunk by chunk
//!    (`BundleSealer`, one chunk buffer) into a payload file and a manifest
//!    file, hashing the plaintext as it goes.
//! 2. Measured, twice, in two orders: reads the manifest file into memory
//!    (the bytes the device downloaded; allocated *before* the window, so
//!    not counted, as in `pipeline/tests/session_memory.rs`), resets the
//!    peak to the current heap, then creates the session
//!    (`Session::new`, `unlock_with_backend`), reads the payload file one
//!    chunk at a time into ONE reused input buffer, feeds it, decrypts it
//!    into ONE reused output buffer, writes the plaintext to /dev/null and
//!    hashes it, and calls `finish`. Both buffers are allocated inside the
//!    window, so they are counted: either after `Session::new` (pass
//!    `buffers-after-new`, the order of the memory test) or before it
//!    (`buffers-before-new`, a device that sets up its I/O buffers first).
//!    The figure is the larger of the two peaks, minus the heap held when
//!    the window opened.
//! 3. Checks the decrypted plaintext hashes to the sealed one, and prints
//!    the figure, the limit and PASS or FAIL; the exit status is 1 on FAIL.

use otaseal::cipher::Backend;
use otaseal::format::ChunkSize;
use otaseal::keys::{KemId, RecipientSecretKey, SigningKey, os_rng};
use otaseal::open::TrustAnchor;
use otaseal::seal::BundleSealer;
use otaseal::session::{Session, SessionOptions};
use std::alloc::{GlobalAlloc, Layout, System};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts the bytes every allocation holds (the layout's size, as the
/// program asked for it; not the allocator's rounding or its metadata).
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grow(by: usize) {
    let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrink(by: usize) {
    CURRENT.fetch_sub(by, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counting touches only two atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        // SAFETY: same layout, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        // SAFETY: `ptr` was allocated by `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        // SAFETY: same layout, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            grow(new_size - layout.size());
        } else {
            shrink(layout.size() - new_size);
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn current() -> usize {
    CURRENT.load(Ordering::Relaxed)
}

/// Resets the peak to the heap held now; returns that.
fn reset_peak() -> usize {
    let now = current();
    PEAK.store(now, Ordering::Relaxed);
    now
}

fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

struct Args {
    size: u64,
    chunk_log2: u8,
    dir: PathBuf,
    backend: Backend,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        size: 1 << 30,
        chunk_log2: ChunkSize::DEFAULT.log2(),
        dir: PathBuf::from("/var/tmp"),
        backend: Backend::RustCrypto,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--size-mib" => {
                a.size = value()?
                    .parse::<u64>()
                    .map_err(|e| format!("--size-mib: {e}"))?
                    << 20
            }
            "--chunk-log2" => {
                a.chunk_log2 = value()?.parse().map_err(|e| format!("--chunk-log2: {e}"))?
            }
            "--dir" => a.dir = PathBuf::from(value()?),
            "--backend" => {
                let name = value()?;
                a.backend = *Backend::ALL
                    .iter()
                    .find(|b| b.name() == name)
                    .ok_or(format!("unknown backend {name}"))?;
            }
            "-h" | "--help" => {
                println!(
                    "session_heap [--size-mib N] [--chunk-log2 N] [--dir DIR] [--backend aes-gcm|ring|aws-lc]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Seals `size` bytes of incompressible plaintext chunk by chunk into
/// `payload` and `manifest`; returns the plaintext's BLAKE3 hash and the
/// creation time.
fn seal_to_files(
    size: u64,
    chunk_size: ChunkSize,
    signer: &SigningKey,
    device: &RecipientSecretKey,
    payload: &Path,
    manifest: &Path,
) -> Res<(blake3::Hash, u64)> {
    let mut o = benches::options();
    o.chunk_size = chunk_size;
    let mut rng = os_rng();
    let sealer = BundleSealer::new(&o, size, &mut rng)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, File::create(payload)?);
    let mut buf = vec![0u8; chunk_size.bytes().min(size) as usize];
    let mut plain = blake3::Hasher::new();
    let mut table = Vec::with_capacity(sealer.chunk_count() as usize);
    for i in 0..sealer.chunk_count() {
        let r = sealer.chunk_range(i);
        let b = &mut buf[..(r.end - r.start) as usize];
        otaseal_datasets::fill(u64::from(i), b);
        plain.update(b);
        table.push(sealer.seal_chunk(i, b)?);
        out.write_all(b)?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    let sealed = sealer.finish(table, &[device.public_key().clone()], signer, &mut rng)?;
    std::fs::write(manifest, &sealed.bytes)?;
    Ok((plain.finalize(), o.created))
}

/// One measured pass; see the module docs.
struct Pass {
    /// Peak heap over the window, above what was held when it opened.
    peak: usize,
    /// Heap the session held after `Session::new` and `unlock`.
    session_held: usize,
    manifest_len: usize,
}

#[allow(clippy::too_many_arguments)]
fn session_pass(
    manifest: &Path,
    payload: &Path,
    trust: &TrustAnchor,
    device: &RecipientSecretKey,
    backend: Backend,
    now: u64,
    chunk: usize,
    mode: Mode,
    want: blake3::Hash,
) -> Res<Pass> {
    // Outside the window: the downloaded manifest and the open files.
    let manifest_bytes = std::fs::read(manifest)?;
    let mut input = File::open(payload)?;
    let mut sink = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    let base = reset_peak();

    let buffers_first = mode == Mode::BuffersBeforeNew;
    let mut buffers = buffers_first.then(|| (vec![0u8; chunk], vec![0u8; chunk]));
    let before_new = current();
    let mut s = Session::new(&manifest_bytes, trust, SessionOptions::new(now))?;
    s.unlock_with_backend(device, backend)?;
    let session_held = current() - before_new;
    let mut plain = blake3::Hasher::new();
    if mode == Mode::InPlace {
        // One buffer: each chunk is read into it, verified there and
        // decrypted in place (`feed_chunk_in_place`).
        let mut one = vec![0u8; chunk];
        for i in 0..s.verified().chunk_count() {
            let r = s.verified().chunk_range(i)?;
            let n = (r.end - r.start) as usize;
            input.read_exact(&mut one[..n])?;
            let fed = s.feed_chunk_in_place(i, &mut one[..n], |_| Ok(()))?;
            if fed.verified != [i] {
                return Err(format!("chunk {i} did not verify: {fed:?}").into());
            }
            plain.update(&one[..n]);
            sink.write_all(&one[..n])?;
        }
    } else {
        let (inbuf, outbuf) = buffers.get_or_insert_with(|| (vec![0u8; chunk], vec![0u8; chunk]));
        for i in 0..s.verified().chunk_count() {
            let r = s.verified().chunk_range(i)?;
            let n = (r.end - r.start) as usize;
            input.read_exact(&mut inbuf[..n])?;
            let fed = s.feed(r.start, &inbuf[..n], |_| Ok(()))?;
            if fed.verified != [i] {
                return Err(format!("chunk {i} did not verify: {fed:?}").into());
            }
            s.decrypt_chunk(i, &inbuf[..n], &mut outbuf[..n])?;
            plain.update(&outbuf[..n]);
            sink.write_all(&outbuf[..n])?;
        }
    }
    s.finish()?;
    let peak = peak() - base;
    drop(buffers);
    if plain.finalize() != want {
        return Err("the decrypted plaintext differs from the sealed one".into());
    }
    Ok(Pass {
        peak,
        session_held,
        manifest_len: manifest_bytes.len(),
    })
}

/// How a pass holds its buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A receive buffer and a plaintext buffer, allocated after `Session::new`.
    BuffersAfterNew,
    /// The same two, allocated before it (a device that sets up its I/O first).
    BuffersBeforeNew,
    /// One buffer: verified and decrypted in place (`feed_chunk_in_place`).
    InPlace,
}

fn kib(bytes: usize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

fn main() -> Res<()> {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("session_heap: {e}");
            std::process::exit(2)
        }
    };
    let chunk_size = ChunkSize::from_log2(args.chunk_log2)?;
    let chunk = chunk_size.bytes().min(args.size) as usize;
    let signer = SigningKey::from_bytes(&[7; 32]);
    let device = RecipientSecretKey::from_secret_bytes(KemId::X25519, &[9; 32])?;
    let trust = TrustAnchor::SigningKey(signer.verifying_key());

    let dir = tempfile::Builder::new()
        .prefix("otaseal-session-heap-")
        .tempdir_in(&args.dir)?;
    let payload = dir.path().join("bundle.payload");
    let manifest = dir.path().join("bundle.manifest");
    eprintln!(
        "session_heap: sealing {} MiB in {} KiB chunks to {}",
        args.size >> 20,
        chunk >> 10,
        dir.path().display()
    );
    let (want, now) = seal_to_files(args.size, chunk_size, &signer, &device, &payload, &manifest)?;

    let mut peaks = Vec::new();
    let mut manifest_len = 0;
    for (name, mode) in [
        ("buffers-after-new", Mode::BuffersAfterNew),
        ("buffers-before-new", Mode::BuffersBeforeNew),
        ("one-buffer-in-place", Mode::InPlace),
    ] {
        let t = std::time::Instant::now();
        let p = session_pass(
            &manifest,
            &payload,
            &trust,
            &device,
            args.backend,
            now,
            chunk,
            mode,
            want,
        )?;
        println!(
            "pass {name}: peak heap {} ({} bytes); session alone after new+unlock {}; {:.2} s",
            kib(p.peak),
            p.peak,
            kib(p.session_held),
            t.elapsed().as_secs_f64()
        );
        peaks.push((name, p.peak));
        manifest_len = p.manifest_len;
    }
    drop(dir);

    let limit = 2 * chunk + manifest_len;
    println!(
        "{} MiB bundle, {} KiB chunks, manifest {} ({manifest_len} bytes), backend {}; limit 2 x chunk + manifest = {} ({limit} bytes):",
        args.size >> 20,
        chunk >> 10,
        kib(manifest_len),
        args.backend.name(),
        kib(limit),
    );
    for (name, peak) in &peaks {
        let verdict = if *peak <= limit { "PASS" } else { "FAIL" };
        println!(
            "  {name}: {} ({peak} bytes), {:.3} of the limit, {verdict}",
            kib(*peak),
            *peak as f64 / limit as f64
        );
    }
    // The exit status follows the device's bounded path: one buffer,
    // decrypted in place. The two-buffer passes are reported beside it.
    if peaks
        .iter()
        .any(|(n, p)| *n == "one-buffer-in-place" && *p > limit)
    {
        std::process::exit(1);
    }
    Ok(())
}
