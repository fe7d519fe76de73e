//! Opening bundles that live in files: thin std drivers over the device
//! [`Session`], the one place a device verifies and decrypts. The manifest
//! is read under its format's size cap; the payload is read in bounded,
//! chunk-aligned pieces with positional reads (`pread`), never whole, and
//! each chunk is verified by the session ([`Session::check_chunk`], then
//! [`Session::accept_checked`]) and decrypted only by it
//! ([`Session::decrypt_chunk`], which refuses any chunk it has not
//! verified). Plaintext is written at its offset into an [`AtomicFile`], so
//! it appears only once every chunk has verified and decrypted.
//!
//! Both passes (verify, then decrypt) split the chunks into one contiguous
//! run per thread ([`std::thread::scope`]; `threads` 0 means
//! [`std::thread::available_parallelism`]), each thread reading its own run
//! and writing its own plaintext: `open` of a large bundle uses every core.
//! Errors do not depend on the thread count: the failure of the lowest
//! chunk is the one reported, as a single thread would.
//!
//! An encoded bundle ([`decode_payload_file`]) is read in one pass instead,
//! in order, on the calling thread (its decoder is serial): each chunk is
//! read, verified ([`Session::feed_chunk_in_place`], hashed once) and
//! decrypted in the decoder's input buffer just before the decoder uses it.
//!
//! A payload that is not a regular file (a FIFO, a device, standard input)
//! cannot be read at offsets: it is first copied, at most its expected
//! length plus one byte, into an anonymous temporary file (beside the
//! output when decrypting), so its length is checked before any chunk, as
//! for a regular file, and `/dev/zero` costs no more than one payload.
//!
//! `otaseal open`, `verify`, `install-check`, `fetch` and the demo all go
//! through here.

use super::{TrustAnchor, VerifiedManifest, verify_manifest};
use crate::error::{Error, Result};
use crate::files::{self, AtomicFile};
use crate::format::manifest::MAX_LEN;
use crate::keys::RecipientSecretKey;
use crate::session::{CheckedChunk, Session};
use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::Path;
use std::prelude::rust_2024::*;
use std::sync::atomic::{AtomicU32, Ordering};

/// Each thread reads its chunks in pieces of about this many bytes (whole
/// chunks; one chunk when chunks are larger): few enough reads to stream at
/// disk speed, little enough memory per thread.
const PIECE_BYTES: u64 = 1 << 20;

/// At most this many threads, whatever is asked: each holds a piece.
const MAX_THREADS: usize = 256;

/// Reads the manifest file `path`, at most [`MAX_LEN`] bytes: a FIFO or
/// `/dev/zero` given as a manifest costs no more.
pub fn read_manifest_file(path: &Path) -> Result<Vec<u8>> {
    files::read_capped(path, "manifest", MAX_LEN)
}

/// Reads the manifest file `path` ([`read_manifest_file`]) and verifies it
/// against `trust` ([`verify_manifest`]).
pub fn verify_manifest_file(path: &Path, trust: &TrustAnchor) -> Result<VerifiedManifest> {
    verify_manifest(&read_manifest_file(path)?, trust)
}

/// The thread count for `threads`: 0 means one per available core; at
/// most 256.
pub fn thread_count(threads: usize) -> usize {
    match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(MAX_THREADS)
}

/// Chunks per piece, and the largest piece's length in bytes.
fn piece_size(session: &Session) -> (u32, u64) {
    let g = session.geometry();
    let chunks = (PIECE_BYTES / g.chunk_size.bytes()).max(1);
    (
        chunks as u32,
        (chunks * g.chunk_size.bytes()).min(g.payload_len),
    )
}

/// Verifies every chunk of the payload file `payload` with `session`, which
/// records each as verified. A payload of the wrong length is
/// [`Error::PayloadLength`] before any chunk is read; the lowest chunk that
/// does not verify is [`Error::ChunkHashMismatch`]. On error no chunk is
/// recorded.
pub fn verify_payload_file(session: &mut Session, payload: &Path, threads: usize) -> Result<()> {
    let file = open_payload(payload, session.verified().payload_len(), None)?;
    let all = 0..session.verified().chunk_count();
    verify_chunks(session, &file, payload, all, threads)
}

/// Verifies the chunks of the payload file `payload` that overlap payload
/// bytes `range` with `session` (the whole file's length is checked first);
/// returns those chunks.
pub fn verify_range_file(
    session: &mut Session,
    payload: &Path,
    range: Range<u64>,
    threads: usize,
) -> Result<Range<u32>> {
    let file = open_payload(payload, session.verified().payload_len(), None)?;
    let chunks = session.verified().chunks_covering(range)?;
    verify_chunks(session, &file, payload, chunks.clone(), threads)?;
    Ok(chunks)
}

/// Verifies the whole payload file `payload` with `session`, then decrypts
/// it with `device`'s key into `out` (mode 0600), which appears only once
/// every chunk has verified and decrypted; on any failure nothing is left
/// at `out`. The whole payload is verified before the data key is even
/// unwrapped, so a damaged payload is reported as such (not as a key
/// problem) and no plaintext of it is ever written, not even to the
/// temporary; each chunk is hashed again as it is decrypted (what is read
/// the second time is what is decrypted). Both passes run on `threads`
/// threads (0: every core), each reading and writing its own chunks.
pub fn decrypt_payload_file(
    session: &mut Session,
    payload: &Path,
    device: &RecipientSecretKey,
    out: &Path,
    threads: usize,
) -> Result<()> {
    session.verified().refuse_encoded()?;
    let len = session.verified().payload_len();
    let file = open_payload(payload, len, Some(files::parent_dir(out)))?;
    let all = 0..session.verified().chunk_count();
    verify_chunks(session, &file, payload, all.clone(), threads)?;
    session.unlock(device)?;
    let dest = AtomicFile::create(out)?;
    dest.set_len(len)?;
    let session = &*session;
    // Allocated once at the largest piece's size, so it never moves (and
    // leaves no unzeroized copy of plaintext behind).
    let most = piece_size(session).1 as usize;
    for_each_piece(
        session,
        &file,
        payload,
        all,
        threads,
        || zeroize::Zeroizing::new(Vec::with_capacity(most)),
        |plain, chunks, offset, piece| {
            plain.resize(piece.len(), 0);
            for index in chunks {
                let r = session.geometry().chunk_range(index);
                let at = (r.start - offset) as usize..(r.end - offset) as usize;
                session.decrypt_chunk(index, &piece[at.clone()], &mut plain[at])?;
            }
            dest.write_at(offset, plain)
        },
    )?;
    dest.commit(0o600)
}

/// Checks `chunks` of `file` on `threads` threads, then records them all in
/// `session`; on error records none.
fn verify_chunks(
    session: &mut Session,
    file: &File,
    path: &Path,
    chunks: Range<u32>,
    threads: usize,
) -> Result<()> {
    let shared = &*session;
    let runs = for_each_piece(
        shared,
        file,
        path,
        chunks,
        threads,
        Vec::<CheckedChunk>::new,
        |checked, chunks, offset, piece| {
            for index in chunks {
                let r = shared.geometry().chunk_range(index);
                let bytes = &piece[(r.start - offset) as usize..(r.end - offset) as usize];
                checked.push(shared.check_chunk(index, bytes)?);
            }
            Ok(())
        },
    )?;
    for checked in runs.into_iter().flatten() {
        session.accept_checked(checked)?;
    }
    Ok(())
}

/// Splits `chunks` into one contiguous run per thread (at most `threads`,
/// 0: every core) and on each thread reads its run from `file` in pieces of
/// whole chunks ([`PIECE_BYTES`]), calling `work(state, piece's chunks,
/// piece's payload offset, piece bytes)` with that thread's `state` (from
/// `init`). Returns the states in chunk order, or the error of the lowest
/// piece that failed: a thread stops at its first error, and threads past
/// the lowest failure so far stop early.
fn for_each_piece<S, I, W>(
    session: &Session,
    file: &File,
    path: &Path,
    chunks: Range<u32>,
    threads: usize,
    init: I,
    work: W,
) -> Result<Vec<S>>
where
    S: Send,
    I: Fn() -> S + Sync,
    W: Fn(&mut S, Range<u32>, u64, &[u8]) -> Result<()> + Sync,
{
    let geometry = *session.geometry();
    let count = chunks.end.saturating_sub(chunks.start);
    if count == 0 {
        return Ok(Vec::new());
    }
    let threads = thread_count(threads).min(count as usize).max(1) as u32;
    let per_piece = piece_size(session).0;
    let failed_at = AtomicU32::new(u32::MAX);
    let run = |run: Range<u32>| -> Result<S> {
        let mut state = init();
        let mut buf = Vec::new();
        let mut first = run.start;
        while first < run.end {
            if first > failed_at.load(Ordering::Relaxed) {
                break;
            }
            let last = (first + per_piece).min(run.end);
            let (start, end) = (
                geometry.chunk_range(first).start,
                geometry.chunk_range(last - 1).end,
            );
            buf.resize((end - start) as usize, 0);
            let done = files::read_exact_at(file, &mut buf, start)
                .map_err(|e| Error::io(path, e))
                .and_then(|()| work(&mut state, first..last, start, &buf));
            if let Err(e) = done {
                failed_at.fetch_min(first, Ordering::Relaxed);
                return Err(e);
            }
            first = last;
        }
        Ok(state)
    };
    // Run k: chunks [count*k/threads, count*(k+1)/threads) after the start.
    let bounds =
        |k: u32| chunks.start + (u64::from(count) * u64::from(k) / u64::from(threads)) as u32;
    if threads == 1 {
        return run(chunks).map(|s| vec![s]);
    }
    let results: Vec<Result<S>> = std::thread::scope(|scope| {
        let run = &run;
        let handles: Vec<_> = (0..threads)
            .map(|k| scope.spawn(move || run(bounds(k)..bounds(k + 1))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    results.into_iter().collect()
}

/// Opens a bundle from files, whatever it was sealed as, into `out`: a
/// bundle sealed as itself is decrypted ([`decrypt_payload_file`]; it takes
/// no `base`), an encoded one (a version 2 manifest) decoded against `base`
/// ([`decode_payload_file`]; a build without the `encoding` feature refuses
/// it). Returns the bytes written to `out`.
pub fn open_payload_file(
    session: &mut Session,
    payload: &Path,
    device: &RecipientSecretKey,
    base: Option<&Path>,
    out: &Path,
    threads: usize,
) -> Result<u64> {
    let Some(encoding) = &session.verified().manifest().encoding else {
        if base.is_some() {
            return Err(Error::EncodingMismatch(
                "this bundle is sealed as itself, not as a delta: it takes no base",
            ));
        }
        decrypt_payload_file(session, payload, device, out, threads)?;
        return Ok(session.verified().payload_len());
    };
    let result_len = encoding.result_len;
    #[cfg(feature = "encoding")]
    {
        decode_payload_file(session, payload, device, base, out, threads)?;
        Ok(result_len)
    }
    #[cfg(not(feature = "encoding"))]
    {
        let _ = result_len;
        Err(Error::BadDelta {
            reason: format!(
                "this build of otaseal-core cannot decode {} bundles (feature `encoding`)",
                encoding.encoding
            ),
        })
    }
}

/// Installs an encoded bundle (FORMAT.md §17.4) from files, in the order
/// the format gives: unwraps the data key, checks `base` against the signed
/// base *before* decoding anything, then reads the payload once, in order,
/// one chunk at a time: each chunk is verified (hashed once) and decrypted
/// in place, and only then is its plaintext handed to the decoder, whose
/// output goes to `out`. `out` appears (mode 0600) only if the output is
/// exactly the signed result (its length and keyed digest) and every chunk
/// verified and decrypted; on any failure (a chunk that does not verify,
/// even after output was decoded from the chunks before it, a wrong base,
/// a patch that does not decode, a result that is not the signed one)
/// nothing is left at `out`. The base is mapped, not read into memory; the
/// decoder holds its window and about one chunk of plaintext. The chunks
/// read before a failing one stay recorded in `session` as verified and
/// decrypted (they were).
///
/// `threads` is not used: decoding is serial, and one in-order pass that
/// hashes each chunk once, as it is decoded, costs less on any number of
/// cores than verifying the whole payload on every core first and hashing
/// each chunk again as it is decrypted (what this did before). A payload
/// of the wrong length is still refused before the key is unwrapped.
#[cfg(feature = "encoding")]
pub fn decode_payload_file(
    session: &mut Session,
    payload: &Path,
    device: &RecipientSecretKey,
    base: Option<&Path>,
    out: &Path,
    threads: usize,
) -> Result<()> {
    let _ = threads;
    let len = session.verified().payload_len();
    let file = open_payload(payload, len, Some(files::parent_dir(out)))?;
    session.unlock(device)?;
    let target = session.encoded()?.ok_or(Error::EncodingMismatch(
        "this bundle is not encoded: open it without a base",
    ))?;
    let base_map = base.map(map_base).transpose()?;
    // The base is checked (hashed once) before the output file exists.
    let base = target.check_base(base_map.as_ref().map(|m| m.bytes()))?;
    let dest = AtomicFile::create(out)?;
    // No buffer between the decoder and the file: the decoder writes in
    // slices of a few hundred KiB, each hashed (the result's digest) and
    // written as it is, without another copy.
    let load = |_: u32, offset: u64, buf: &mut [u8]| {
        files::read_exact_at(&file, buf, offset).map_err(|e| Error::io(payload, e))
    };
    super::encoded::apply_chunks(session, &target, base, load, dest.file())?;
    dest.commit(0o600)
}

/// A delta's base: mapped when it has bytes (a zero-length file cannot be
/// mapped, and needs no mapping).
#[cfg(feature = "encoding")]
enum Base {
    Mapped(memmap2::Mmap),
    Empty,
}

#[cfg(feature = "encoding")]
impl Base {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Mapped(m) => m,
            Self::Empty => &[],
        }
    }
}

#[cfg(feature = "encoding")]
fn map_base(path: &Path) -> Result<Base> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::NotRegularFile {
            path: path.to_owned(),
            what: "a delta's base must be a regular file (it is mapped)",
        });
    }
    if meta.len() == 0 {
        return Ok(Base::Empty);
    }
    files::map_readonly(&file, path).map(Base::Mapped)
}

/// Opens the payload `path`, expected to be `expected` bytes, for reading at
/// offsets. A regular file of another length is [`Error::PayloadLength`].
/// Anything else is copied, at most `expected + 1` bytes, into an anonymous
/// temporary file (in `spool_dir`, or the system's temporary directory),
/// whose length is checked the same way.
fn open_payload(path: &Path, expected: u64, spool_dir: Option<&Path>) -> Result<File> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    let found = if meta.is_file() {
        meta.len()
    } else {
        let spooled = match spool_dir {
            Some(dir) => tempfile::tempfile_in(dir).map_err(|e| Error::io(dir, e))?,
            None => tempfile::tempfile().map_err(|e| Error::io(std::env::temp_dir(), e))?,
        };
        let copied = std::io::copy(&mut (&file).take(expected.saturating_add(1)), &mut &spooled)
            .map_err(|e| Error::io(path, e))?;
        if copied == expected {
            return Ok(spooled);
        }
        copied
    };
    if found != expected {
        return Err(Error::PayloadLength { expected, found });
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::ChunkSize;
    use crate::keys::{self, KemId, SigningKey};
    use crate::seal::{SealOptions, seal};
    use crate::session::SessionOptions;

    struct Bundle {
        dir: tempfile::TempDir,
        manifest: Vec<u8>,
        payload: Vec<u8>,
        plain: Vec<u8>,
        trust: TrustAnchor,
        device: RecipientSecretKey,
        now: u64,
    }

    /// Fresh keys and the options of release `sequence` in chunks of
    /// 2^`log2` bytes, for one of the bundles below.
    fn release(
        sequence: u64,
        log2: u8,
    ) -> (
        rand_core::UnwrapErr<getrandom::SysRng>,
        SigningKey,
        RecipientSecretKey,
        SealOptions,
    ) {
        let mut rng = keys::os_rng();
        let signer = SigningKey::generate(&mut rng);
        let device = RecipientSecretKey::generate(KemId::X25519, &mut rng);
        let mut opts = SealOptions::new(
            "com.example.app".parse().unwrap(),
            "stable".parse().unwrap(),
            sequence.to_string().parse().unwrap(),
            sequence,
        );
        opts.chunk_size = ChunkSize::from_log2(log2).unwrap();
        (rng, signer, device, opts)
    }

    /// A bundle of `len` bytes in 16 KiB chunks, its payload in `b.payload`.
    fn bundle(len: usize) -> Bundle {
        let dir = tempfile::tempdir().unwrap();
        let (_, signer, device, opts) = release(1, 14);
        let plain: Vec<u8> = (0..len).map(|i| (i * 13 + i / 7) as u8).collect();
        let sealed = seal(&plain, &opts, &[device.public_key().clone()], &signer).unwrap();
        std::fs::write(dir.path().join("b.payload"), &sealed.payload).unwrap();
        Bundle {
            dir,
            manifest: sealed.manifest_bytes,
            payload: sealed.payload,
            plain,
            trust: TrustAnchor::SigningKey(signer.verifying_key()),
            device,
            now: opts.created,
        }
    }

    impl Bundle {
        fn session(&self) -> Session {
            Session::new(&self.manifest, &self.trust, SessionOptions::new(self.now)).unwrap()
        }

        fn p(&self, name: &str) -> std::path::PathBuf {
            self.dir.path().join(name)
        }
    }

    #[test]
    fn payload_files_verify_and_open_whole_or_not_at_all() {
        // Several pieces per thread (1 MiB of 16 KiB chunks) and a short
        // last chunk.
        let b = bundle(3 * (1 << 20) + 1000);
        let payload = b.p("b.payload");
        let d = b.dir.path();

        let mut s = b.session();
        verify_payload_file(&mut s, &payload, 0).unwrap();
        assert!(s.is_complete());
        let out = b.p("out");
        let mut s = b.session();
        decrypt_payload_file(&mut s, &payload, &b.device, &out, 0).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b.plain);
        // Every chunk verified and decrypted, by the session.
        s.finish().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        // One flipped byte in chunk 3 (and one in chunk 150): the whole
        // payload fails at the lowest, a range before it still verifies,
        // and decrypting leaves no file at all.
        let mut bad = b.payload.clone();
        bad[3 * 16_384 + 7] ^= 1;
        bad[150 * 16_384 + 7] ^= 1;
        let tampered = b.p("tampered.payload");
        std::fs::write(&tampered, &bad).unwrap();
        for threads in [1, 2, 5] {
            let mut s = b.session();
            assert!(matches!(
                verify_payload_file(&mut s, &tampered, threads),
                Err(Error::ChunkHashMismatch { index: 3 })
            ));
            assert_eq!(s.have().count(), 0, "nothing recorded on error");
        }
        let mut s = b.session();
        assert_eq!(
            verify_range_file(&mut s, &tampered, 0..3 * 16_384, 0).unwrap(),
            0..3
        );
        assert_eq!(s.have().count(), 3);
        let entries = std::fs::read_dir(d).unwrap().count();
        for threads in [1, 2] {
            let mut s = b.session();
            assert!(matches!(
                decrypt_payload_file(&mut s, &tampered, &b.device, &b.p("out2"), threads),
                Err(Error::ChunkHashMismatch { index: 3 })
            ));
            assert_eq!(std::fs::read_dir(d).unwrap().count(), entries);
        }

        // A truncated payload is refused by length before any chunk.
        std::fs::write(&tampered, &b.payload[..b.plain.len() - 1]).unwrap();
        let mut s = b.session();
        assert!(matches!(
            decrypt_payload_file(&mut s, &tampered, &b.device, &b.p("out2"), 0),
            Err(Error::PayloadLength { .. })
        ));
        assert!(!b.p("out2").exists());
    }

    /// The output does not depend on the thread count, whatever the split
    /// of chunks into runs and pieces.
    #[test]
    fn open_on_several_threads_writes_what_one_thread_writes() {
        let b = bundle(2 * (1 << 20) + 5 * 16_384 + 77);
        let payload = b.p("b.payload");
        let one = b.p("one");
        decrypt_payload_file(&mut b.session(), &payload, &b.device, &one, 1).unwrap();
        let one = std::fs::read(one).unwrap();
        assert_eq!(one, b.plain);
        for threads in [2, 3, 4, 7, 64, 1000] {
            let out = b.p(&format!("out{threads}"));
            decrypt_payload_file(&mut b.session(), &payload, &b.device, &out, threads).unwrap();
            assert_eq!(std::fs::read(&out).unwrap(), one, "{threads} threads");
        }
    }

    /// Small payloads (one short chunk, empty) and a payload that is not a
    /// regular file: copied at most one byte past its length, so
    /// `/dev/zero` is a length error, not an endless read.
    #[test]
    fn small_empty_and_streamed_payloads() {
        for len in [0, 1, 16_384] {
            let b = bundle(len);
            let out = b.p("out");
            decrypt_payload_file(&mut b.session(), &b.p("b.payload"), &b.device, &out, 0).unwrap();
            assert_eq!(std::fs::read(&out).unwrap(), b.plain);
        }
        #[cfg(target_os = "linux")]
        {
            let b = bundle(5000);
            let mut s = b.session();
            assert!(matches!(
                verify_payload_file(&mut s, Path::new("/dev/zero"), 0),
                Err(Error::PayloadLength {
                    expected: 5000,
                    found: 5001
                })
            ));
            let (r, mut w) = std::io::pipe().unwrap();
            let payload = b.payload.clone();
            let writer = std::thread::spawn(move || std::io::Write::write_all(&mut w, &payload));
            let fd = std::os::fd::AsRawFd::as_raw_fd(&r);
            let path = std::path::PathBuf::from(format!("/proc/self/fd/{fd}"));
            let out = b.p("piped");
            decrypt_payload_file(&mut b.session(), &path, &b.device, &out, 0).unwrap();
            writer.join().unwrap().unwrap();
            assert_eq!(std::fs::read(&out).unwrap(), b.plain);
        }
    }

    /// An encoded bundle of `result` (a zstd frame, against `base` when
    /// given) in chunks of 2^`log2` bytes: the sealed bundle, with its
    /// payload in `b.payload` and `b.plain` the result.
    #[cfg(feature = "encoding")]
    fn encoded_bundle(result: &[u8], base: Option<&[u8]>, log2: u8) -> Bundle {
        use crate::format::encoding::Encoding;
        use crate::seal::{Base, EncodedAs, seal_encoded_with_rng};
        use std::io::Write;

        let wlog =
            crate::encoding::window_log(base.map_or(0, |b| b.len() as u64), result.len() as u64);
        let mut patch = Vec::new();
        let mut enc = match base {
            Some(b) => zstd::stream::write::Encoder::with_ref_prefix(&mut patch, 1, b),
            None => zstd::stream::write::Encoder::new(&mut patch, 1),
        }
        .unwrap();
        enc.window_log(wlog).unwrap();
        enc.include_contentsize(true).unwrap();
        enc.set_pledged_src_size(Some(result.len() as u64)).unwrap();
        enc.write_all(result).unwrap();
        enc.finish().unwrap();

        let dir = tempfile::tempdir().unwrap();
        let (mut rng, signer, device, opts) = release(2, log2);
        let sealed = seal_encoded_with_rng(
            &patch,
            EncodedAs {
                encoding: match base {
                    Some(_) => Encoding::ZstdPatch,
                    None => Encoding::Zstd,
                },
                result,
                base: base.map(|bytes| Base {
                    sequence: 1,
                    version: "1".parse().unwrap(),
                    bytes,
                }),
            },
            &opts,
            &[device.public_key().clone()],
            &signer,
            &mut rng,
        )
        .unwrap();
        std::fs::write(dir.path().join("b.payload"), &sealed.payload).unwrap();
        if let Some(b) = base {
            std::fs::write(dir.path().join("base"), b).unwrap();
        }
        Bundle {
            dir,
            manifest: sealed.manifest_bytes,
            payload: sealed.payload,
            plain: result.to_vec(),
            trust: TrustAnchor::SigningKey(signer.verifying_key()),
            device,
            now: opts.created,
        }
    }

    /// Bytes zstd barely compresses.
    #[cfg(feature = "encoding")]
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// Decoding reads the payload once, in order, each chunk verified just
    /// before its plaintext reaches the decoder: a chunk that fails after
    /// most of the output was decoded (and written to the temporary) still
    /// fails as that chunk, and leaves nothing at `out`; so does a payload
    /// changed after the session verified it. Chunks larger than the
    /// decoder's input buffer (2^19 bytes) go through the reader's own.
    #[cfg(feature = "encoding")]
    #[test]
    fn decoding_verifies_each_chunk_before_its_plaintext_is_used() {
        let result = noise(1, 1_250_000);
        for log2 in [14, 19] {
            let b = encoded_bundle(&result, None, log2);
            let payload = b.p("b.payload");
            let chunks = b.session().verified().chunk_count();
            assert!(chunks >= 3, "{chunks} chunks");
            let late = chunks - 2;
            let d = b.dir.path();
            let out = b.p("out");

            let mut s = b.session();
            let n = open_payload_file(&mut s, &payload, &b.device, None, &out, 1).unwrap();
            assert_eq!(n, result.len() as u64);
            assert_eq!(std::fs::read(&out).unwrap(), result);
            s.finish().unwrap();
            std::fs::remove_file(&out).unwrap();

            let mut bad = b.payload.clone();
            let at = b.session().geometry().chunk_range(late).start as usize + 5;
            bad[at] ^= 1;
            let tampered = b.p("tampered.payload");
            std::fs::write(&tampered, &bad).unwrap();
            let entries = std::fs::read_dir(d).unwrap().count();
            for threads in [0, 1, 2] {
                let mut s = b.session();
                let e = open_payload_file(&mut s, &tampered, &b.device, None, &out, threads);
                assert!(
                    matches!(e, Err(Error::ChunkHashMismatch { index }) if index == late),
                    "{log2}: {e:?}"
                );
                assert_eq!(std::fs::read_dir(d).unwrap().count(), entries);
            }

            // Verified first (as `otaseal fetch` does), then changed on
            // disk: the bytes read to decode are hashed again.
            let changing = b.p("changing.payload");
            std::fs::write(&changing, &b.payload).unwrap();
            let mut s = b.session();
            verify_payload_file(&mut s, &changing, 0).unwrap();
            std::fs::write(&changing, &bad).unwrap();
            let entries = std::fs::read_dir(d).unwrap().count();
            let e = open_payload_file(&mut s, &changing, &b.device, None, &out, 1);
            assert!(
                matches!(e, Err(Error::ChunkHashMismatch { index }) if index == late),
                "{log2}: {e:?}"
            );
            assert_eq!(std::fs::read_dir(d).unwrap().count(), entries);
            // Verified first and unchanged: decodes.
            std::fs::write(&changing, &b.payload).unwrap();
            let mut s = b.session();
            verify_payload_file(&mut s, &changing, 0).unwrap();
            open_payload_file(&mut s, &changing, &b.device, None, &out, 1).unwrap();
            assert_eq!(std::fs::read(&out).unwrap(), result);
            s.finish().unwrap();
        }
    }

    /// FORMAT.md §17.4's order: the base is checked before any chunk is
    /// read, so a wrong base with a damaged payload is a wrong base.
    #[cfg(feature = "encoding")]
    #[test]
    fn a_delta_checks_its_base_before_reading_the_payload() {
        let base = noise(2, 1 << 20);
        let mut result = base.clone();
        result[1000..9000].copy_from_slice(&noise(3, 8000));
        result.extend_from_slice(&noise(4, 300_000));
        let b = encoded_bundle(&result, Some(&base), 14);
        let out = b.p("out");
        let install = |s: &mut Session| {
            let (payload, base) = (b.p("b.payload"), b.p("base"));
            open_payload_file(s, &payload, &b.device, Some(&base), &out, 1)
        };
        let mut s = b.session();
        install(&mut s).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), result);
        s.finish().unwrap();
        std::fs::remove_file(&out).unwrap();

        let mut bad = b.payload.clone();
        bad[7] ^= 1;
        std::fs::write(b.p("b.payload"), &bad).unwrap();
        let e = install(&mut b.session());
        assert!(
            matches!(e, Err(Error::ChunkHashMismatch { index: 0 })),
            "{e:?}"
        );
        let mut wrong = base.clone();
        wrong[500_000] ^= 1;
        std::fs::write(b.p("base"), &wrong).unwrap();
        let e = install(&mut b.session());
        assert!(matches!(e, Err(Error::WrongBase { .. })), "{e:?}");
        assert!(!out.exists());
    }
}
