//! The transport-independent download API (`otaseal::fetch`) driven by an
//! in-memory source that misbehaves on purpose: flipped bytes, cut bodies,
//! errors, ignored ranges, misaligned answers. Whatever happens, the partial
//! file only ever holds verified chunks, and a finished download is exact.

use otaseal::fetch::{self, Body, FetchError, FetchOptions, FetchReport, PartialPayload, Source};
use otaseal::format::ChunkSize;
use otaseal::keys::{KemId, RecipientSecretKey, SigningKey};
use otaseal::open::{TrustAnchor, VerifiedManifest, verify_manifest};
use otaseal::seal::{SealOptions, seal_with_rng};
use proptest::prelude::*;
use rand_core::SeedableRng;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

const CHUNK: usize = 16 * 1024;

fn sealed(len: usize, seed: u64) -> (VerifiedManifest, Vec<u8>) {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let signer = SigningKey::generate(&mut rng);
    let device = RecipientSecretKey::generate(KemId::X25519, &mut rng);
    let mut o = SealOptions::new(
        "com.example.fw".parse().unwrap(),
        "stable".parse().unwrap(),
        "1".parse().unwrap(),
        1,
    );
    o.chunk_size = ChunkSize::from_log2(14).unwrap();
    let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    let s = seal_with_rng(
        &plain,
        &o,
        &[device.public_key().clone()],
        &signer,
        &mut rng,
    )
    .unwrap();
    let trust = TrustAnchor::SigningKey(signer.verifying_key());
    (
        verify_manifest(&s.manifest_bytes, &trust).unwrap(),
        s.payload,
    )
}

/// What the source does to the n-th response.
#[derive(Debug, Clone, Copy)]
enum Fault {
    None,
    /// Flip a byte at this offset into the body.
    Flip(usize),
    /// End the body after this many bytes.
    Cut(usize),
    /// Fail the request.
    Error,
    /// Ignore the range and send the whole payload.
    Whole,
    /// Start the answer this many bytes before the requested range.
    Early(usize),
}

struct MemSource {
    payload: Vec<u8>,
    faults: Vec<Fault>,
    calls: usize,
    asked: Vec<Range<u64>>,
}

impl MemSource {
    fn new(payload: &[u8], faults: Vec<Fault>) -> Self {
        Self {
            payload: payload.to_vec(),
            faults,
            calls: 0,
            asked: Vec::new(),
        }
    }
}

impl Source for MemSource {
    fn get(&mut self, range: Range<u64>) -> Result<Body<'_>, FetchError> {
        self.asked.push(range.clone());
        let fault = self.faults.get(self.calls).copied().unwrap_or(Fault::None);
        self.calls += 1;
        let (mut start, end) = (range.start as usize, range.end as usize);
        let mut whole = false;
        match fault {
            Fault::Error => {
                return Err(FetchError::Transport {
                    url: "mem".into(),
                    message: "connection reset".into(),
                });
            }
            Fault::Whole => {
                start = 0;
                whole = true;
            }
            Fault::Early(n) => start = start.saturating_sub(n),
            _ => {}
        }
        let end = if whole { self.payload.len() } else { end };
        let mut body = self.payload[start..end].to_vec();
        match fault {
            Fault::Flip(at) if at < body.len() => body[at] ^= 0x40,
            Fault::Cut(n) => body.truncate(n),
            _ => {}
        }
        Ok(Body {
            start: start as u64,
            end: end as u64,
            whole,
            reader: Box::new(std::io::Cursor::new(body)),
        })
    }
}

fn opts(max_request: u64, max_bad: u32) -> FetchOptions {
    FetchOptions {
        max_request_bytes: max_request,
        max_bad,
        retry_delay: Duration::ZERO,
        ..FetchOptions::default()
    }
}

/// Every chunk region of the partial file is zeros or the exact payload
/// bytes, and the ones that are exact are the ones the set says we have.
fn assert_clean(partial: &PartialPayload, payload: &[u8]) {
    let data = std::fs::read(partial.data_path()).unwrap();
    assert_eq!(data.len(), payload.len());
    for (i, (got, want)) in data.chunks(CHUNK).zip(payload.chunks(CHUNK)).enumerate() {
        if partial.have().contains(i as u32) {
            assert_eq!(got, want, "chunk {i} recorded but wrong");
        } else {
            assert!(
                got.iter().all(|b| *b == 0),
                "chunk {i} holds unverified bytes"
            );
        }
    }
}

fn finish_and_check(partial: PartialPayload, dest: &Path, payload: &[u8]) {
    assert!(partial.is_complete());
    let out = partial.finish().unwrap();
    assert_eq!(out, dest);
    assert_eq!(std::fs::read(dest).unwrap(), payload);
    let (part, record) = fetch::partial_paths(dest);
    assert!(!part.exists() && !record.exists());
}

/// Fetches whatever `p` still lacks from a good copy, then checks the result.
fn complete_and_check(mut p: PartialPayload, dest: &Path, payload: &[u8]) {
    let mut src = MemSource::new(payload, vec![]);
    fetch::fetch_missing(
        &mut src,
        &mut p,
        &opts(1 << 20, 1),
        &mut FetchReport::default(),
    )
    .unwrap();
    finish_and_check(p, dest, payload);
}

#[test]
fn ranges_for_a_plaintext_range_skip_what_is_present() {
    let (v, payload) = sealed(10 * CHUNK + 5, 1);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("p");
    let mut p = PartialPayload::open(v, &dest).unwrap();
    let reqs = p
        .requests_for(CHUNK as u64 + 1..3 * CHUNK as u64 + 1, 1 << 20)
        .unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].chunks, 1..4);
    assert_eq!(reqs[0].bytes, CHUNK as u64..4 * CHUNK as u64);
    p.accept_chunk(2, &payload[2 * CHUNK..3 * CHUNK]).unwrap();
    let reqs = p
        .requests_for(CHUNK as u64 + 1..3 * CHUNK as u64 + 1, 1 << 20)
        .unwrap();
    let chunks: Vec<_> = reqs.iter().map(|r| r.chunks.clone()).collect();
    assert_eq!(chunks, vec![1..2, 3..4]);
    assert!(p.requests_for(0..11 * CHUNK as u64, 1 << 20).is_err());
    // A chunk that does not verify is refused and nothing is written.
    let mut bad = payload[3 * CHUNK..4 * CHUNK].to_vec();
    bad[0] ^= 1;
    assert!(matches!(
        p.accept_chunk(3, &bad),
        Err(otaseal::Error::ChunkHashMismatch { index: 3 })
    ));
    assert!(
        p.accept_chunk(3, &payload[3 * CHUNK..4 * CHUNK - 1])
            .is_err()
    );
    assert!(!p.have().contains(3));
    assert!(!p.accept_chunk(2, &payload[2 * CHUNK..3 * CHUNK]).unwrap());
    assert_clean(&p, &payload);
}

#[test]
fn faults_are_retried_and_the_result_is_exact() {
    let (v, payload) = sealed(20 * CHUNK + 100, 2);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("p");
    let mut p = PartialPayload::open(v, &dest).unwrap();
    let faults = vec![
        Fault::Flip(3 * CHUNK + 9),
        Fault::Cut(CHUNK + 10),
        Fault::Error,
        Fault::Early(CHUNK / 2 + 3),
    ];
    let mut src = MemSource::new(&payload, faults);
    let mut report = FetchReport::default();
    fetch::fetch_missing(&mut src, &mut p, &opts(8 * CHUNK as u64, 3), &mut report).unwrap();
    assert_eq!(report.bad_chunks, 1);
    assert!(report.failed_requests >= 2);
    assert_eq!(report.bytes_fetched, payload.len() as u64);
    assert_clean(&p, &payload);
    finish_and_check(p, &dest, &payload);
}

#[test]
fn a_source_that_ignores_ranges_needs_one_request() {
    let (v, payload) = sealed(9 * CHUNK, 3);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("p");
    let mut p = PartialPayload::open(v, &dest).unwrap();
    let mut src = MemSource::new(&payload, vec![Fault::Whole; 10]);
    let mut report = FetchReport::default();
    fetch::fetch_missing(&mut src, &mut p, &opts(CHUNK as u64, 2), &mut report).unwrap();
    assert_eq!((report.requests, report.whole_responses), (1, 1));
    finish_and_check(p, &dest, &payload);
}

#[test]
fn gives_up_after_max_bad_and_resumes_later() {
    let (v, payload) = sealed(6 * CHUNK + 1, 4);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("p");
    let mut p = PartialPayload::open(v.clone(), &dest).unwrap();
    // The first response flips chunk 4; every retry of chunk 4 alone too.
    let mut faults = vec![Fault::Flip(4 * CHUNK)];
    faults.extend([Fault::Flip(0); 5]);
    let mut src = MemSource::new(&payload, faults);
    let mut report = FetchReport::default();
    let err = fetch::fetch_missing(&mut src, &mut p, &opts(1 << 20, 3), &mut report).unwrap_err();
    assert!(
        matches!(
            err,
            otaseal::Error::Fetch(FetchError::TooManyFailures {
                index: 4,
                attempts: 3,
                bad_data: true,
                ..
            })
        ),
        "{err}"
    );
    assert_eq!(err.kind(), otaseal::ErrorKind::Verification);
    assert_eq!(p.have().count(), 6);
    assert_clean(&p, &payload);
    drop(p);

    // A new process: the record and the data are re-verified; only chunk 4
    // is fetched.
    let mut p = PartialPayload::open(v, &dest).unwrap();
    let info = p.resume_info();
    assert!(info.record_used);
    assert_eq!(info.chunks_reused, 6);
    assert_eq!(info.bytes_reused, 5 * CHUNK as u64 + 1);
    let mut src = MemSource::new(&payload, vec![]);
    let mut report = FetchReport::default();
    fetch::fetch_missing(&mut src, &mut p, &opts(1 << 20, 3), &mut report).unwrap();
    assert_eq!(src.asked, vec![4 * CHUNK as u64..5 * CHUNK as u64]);
    assert_eq!(report.bytes_received, CHUNK as u64);
    finish_and_check(p, &dest, &payload);
}

#[test]
fn resume_reverifies_disk_instead_of_trusting_the_record() {
    let (v, payload) = sealed(8 * CHUNK, 5);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("p");
    let mut p = PartialPayload::open(v.clone(), &dest).unwrap();
    for i in 0..5 {
        p.accept_chunk(i, &payload[i as usize * CHUNK..(i as usize + 1) * CHUNK])
            .unwrap();
    }
    p.save_record().unwrap();
    // Chunk 5 written but never recorded (killed between the two).
    p.set_record_interval(u64::MAX);
    p.accept_chunk(5, &payload[5 * CHUNK..6 * CHUNK]).unwrap();
    let data_path = p.data_path().to_owned();
    drop(p);
    // Damage chunk 1 on disk.
    let mut data = std::fs::read(&data_path).unwrap();
    data[CHUNK + 7] ^= 1;
    std::fs::write(&data_path, &data).unwrap();

    let p = PartialPayload::open(v.clone(), &dest).unwrap();
    let info = p.resume_info();
    assert_eq!(info.chunks_discarded, 1);
    assert_eq!(info.chunks_recovered, 1);
    assert_eq!(info.chunks_reused, 5);
    assert!(!p.have().contains(1) && p.have().contains(5));
    assert_clean(&p, &payload);
    drop(p);

    // A record for another bundle (or a damaged one) is ignored: every chunk
    // is scanned instead.
    let (other, _) = sealed(8 * CHUNK, 6);
    let (_, record) = fetch::partial_paths(&dest);
    let foreign_dir = tempfile::tempdir().unwrap();
    let foreign = PartialPayload::open(other, &foreign_dir.path().join("x")).unwrap();
    std::fs::copy(foreign.record_path(), &record).unwrap();
    let p = PartialPayload::open(v.clone(), &dest).unwrap();
    assert!(!p.resume_info().record_used);
    assert_eq!(p.have().count(), 5);
    assert_clean(&p, &payload);
    drop(p);
    // Bytes of another bundle in the partial file are erased, not kept.
    let (_, other_payload) = sealed(8 * CHUNK, 6);
    let mut data = std::fs::read(&data_path).unwrap();
    data[CHUNK..2 * CHUNK].copy_from_slice(&other_payload[CHUNK..2 * CHUNK]);
    std::fs::write(&data_path, &data).unwrap();
    let p = PartialPayload::open(v.clone(), &dest).unwrap();
    assert_eq!(p.resume_info().chunks_discarded, 1);
    assert_clean(&p, &payload);
    drop(p);
    std::fs::write(&record, b"garbage").unwrap();
    let p = PartialPayload::open(v, &dest).unwrap();
    assert_eq!(p.have().count(), 5);
    complete_and_check(p, &dest, &payload);
}

#[test]
fn empty_payload() {
    let (v, payload) = sealed(0, 7);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("p");
    let p = PartialPayload::open(v, &dest).unwrap();
    // An empty file is the whole (verified) empty payload.
    assert!(p.is_complete());
    finish_and_check(p, &dest, &payload);
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        4 => Just(Fault::None),
        2 => (0usize..4 * CHUNK).prop_map(Fault::Flip),
        2 => (0usize..4 * CHUNK).prop_map(Fault::Cut),
        1 => Just(Fault::Error),
        1 => Just(Fault::Whole),
        1 => (0usize..2 * CHUNK).prop_map(Fault::Early),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Under any schedule of faults the download either completes exactly
    /// or gives up with TooManyFailures; the partial file never holds a
    /// byte that did not verify, and a clean second run always completes.
    #[test]
    fn any_fault_schedule_is_safe(
        chunks in 1usize..12,
        tail in 0usize..CHUNK,
        faults in proptest::collection::vec(fault(), 0..30),
        max_request_chunks in 1u64..6,
        max_bad in 1u32..4,
    ) {
        let len = (chunks - 1) * CHUNK + tail;
        let (v, payload) = sealed(len, 8);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("p");
        let mut p = PartialPayload::open(v.clone(), &dest).unwrap();
        let mut src = MemSource::new(&payload, faults);
        let o = opts(max_request_chunks * CHUNK as u64, max_bad);
        let mut report = FetchReport::default();
        match fetch::fetch_missing(&mut src, &mut p, &o, &mut report) {
            Ok(()) => prop_assert!(p.is_complete()),
            Err(otaseal::Error::Fetch(FetchError::TooManyFailures { attempts, .. })) => {
                prop_assert_eq!(attempts, max_bad);
            }
            Err(e) => prop_assert!(false, "unexpected error {}", e),
        }
        assert_clean(&p, &payload);
        drop(p);
        let mut p = PartialPayload::open(v, &dest).unwrap();
        let mut clean = MemSource::new(&payload, vec![]);
        fetch::fetch_missing(&mut clean, &mut p, &o, &mut FetchReport::default()).unwrap();
        finish_and_check(p, &dest, &payload);
    }
}

/// `OUT.part` and `OUT.part.record` are opened without following links and
/// only if they are regular files of this user with one name: a link planted
/// by someone who can write to the directory must not make the download
/// truncate or overwrite the file it points to, and a FIFO or device must not
/// hang or flood the reader. Each case is refused before anything is written.
#[cfg(unix)]
#[test]
fn planted_links_and_special_files_are_refused_and_nothing_is_written() {
    let (v, payload) = sealed(3 * CHUNK + 1, 9);
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    let precious = b"precious bytes that are not a payload".to_vec();
    std::fs::write(&victim, &precious).unwrap();
    let dest = dir.path().join("p");
    let (part, record) = fetch::partial_paths(&dest);
    let refused = |what: &str| {
        let err = PartialPayload::open(v.clone(), &dest).unwrap_err();
        assert!(
            matches!(err, otaseal::Error::RefusedFile { .. }),
            "{what}: {err}"
        );
        assert_eq!(err.kind(), otaseal::ErrorKind::Io, "{what}");
        assert_eq!(std::fs::read(&victim).unwrap(), precious, "{what}");
        err.to_string()
    };

    std::os::unix::fs::symlink(&victim, &part).unwrap();
    let msg = refused("symlink as OUT.part");
    assert!(msg.contains("symbolic link"), "{msg}");
    assert!(!record.exists(), "nothing written next to a refused file");
    std::fs::remove_file(&part).unwrap();

    std::os::unix::fs::symlink(&victim, &record).unwrap();
    let msg = refused("symlink as OUT.part.record");
    assert!(msg.contains("symbolic link"), "{msg}");
    assert!(!part.exists(), "nothing written next to a refused file");
    std::fs::remove_file(&record).unwrap();

    // A link to /dev/zero as the record would otherwise be read forever.
    std::os::unix::fs::symlink("/dev/zero", &record).unwrap();
    refused("/dev/zero as OUT.part.record");
    std::fs::remove_file(&record).unwrap();

    std::fs::hard_link(&victim, &part).unwrap();
    let msg = refused("hard link as OUT.part");
    assert!(msg.contains("link"), "{msg}");
    std::fs::remove_file(&part).unwrap();

    std::fs::create_dir(&part).unwrap();
    let msg = refused("directory as OUT.part");
    assert!(msg.contains("directory"), "{msg}");
    std::fs::remove_dir(&part).unwrap();

    let mkfifo = std::process::Command::new("mkfifo")
        .arg(&part)
        .status()
        .unwrap();
    assert!(mkfifo.success());
    let msg = refused("FIFO as OUT.part");
    assert!(msg.contains("FIFO"), "{msg}");
    std::fs::remove_file(&part).unwrap();

    // A regular file of another user (only root can make one here).
    std::fs::write(&part, vec![0u8; payload.len()]).unwrap();
    if std::os::unix::fs::chown(&part, Some(65534), None).is_ok() {
        let msg = refused("another user's file as OUT.part");
        assert!(msg.contains("another user"), "{msg}");
        assert!(std::fs::read(&part).unwrap().iter().all(|b| *b == 0));
    }
    std::fs::remove_file(&part).unwrap();

    // With the plants gone the same download works.
    let p = PartialPayload::open(v, &dest).unwrap();
    complete_and_check(p, &dest, &payload);
    assert_eq!(std::fs::read(&victim).unwrap(), precious);
}

/// A record larger than any record of this bundle (a regular file someone
/// filled) is read no further than that size and ignored as damaged.
#[test]
fn an_oversized_record_is_ignored_without_reading_it_all() {
    let (v, payload) = sealed(2 * CHUNK, 10);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("p");
    let mut p = PartialPayload::open(v.clone(), &dest).unwrap();
    p.accept_chunk(0, &payload[..CHUNK]).unwrap();
    p.save_record().unwrap();
    let record = p.record_path().to_owned();
    drop(p);
    let mut big = std::fs::read(&record).unwrap();
    big.resize(64 << 20, 0);
    std::fs::write(&record, &big).unwrap();
    let p = PartialPayload::open(v, &dest).unwrap();
    assert!(!p.resume_info().record_used);
    assert_eq!(p.have().count(), 1, "the data is still re-verified");
    assert_clean(&p, &payload);
}

/// A body that sends its first `fast` bytes at once, then one byte per
/// `every` (a hostile or broken server that keeps the connection alive).
struct Trickle {
    body: Vec<u8>,
    pos: usize,
    fast: usize,
    every: Duration,
}

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.body.len() || buf.is_empty() {
            return Ok(0);
        }
        let n = if self.pos < self.fast {
            (self.fast - self.pos).min(buf.len())
        } else {
            std::thread::sleep(self.every);
            1
        };
        buf[..n].copy_from_slice(&self.body[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Serves the payload honestly for the first `fast` bytes of its first
/// response, then trickles (every later response trickles from the start).
struct TrickleSource {
    payload: Vec<u8>,
    fast: usize,
    requests: u32,
}

impl Source for TrickleSource {
    fn get(&mut self, range: Range<u64>) -> Result<Body<'_>, FetchError> {
        self.requests += 1;
        Ok(Body {
            start: range.start,
            end: range.end,
            whole: false,
            reader: Box::new(Trickle {
                body: self.payload[range.start as usize..range.end as usize].to_vec(),
                pos: 0,
                fast: if self.requests == 1 { self.fast } else { 0 },
                every: Duration::from_millis(20),
            }),
        })
    }
}

fn limited(min_rate: u64, window_ms: u64, deadline_ms: Option<u64>) -> FetchOptions {
    let mut o = opts(1 << 20, 2);
    o.limits = fetch::TransferLimits {
        min_rate,
        rate_window: Duration::from_millis(window_ms),
        deadline: deadline_ms.map(|ms| std::time::Instant::now() + Duration::from_millis(ms)),
    };
    o
}

/// A response slower than the minimum rate over the window is abandoned
/// like a cut one: retried, then given up as a network failure. What
/// verified before is kept and recorded.
#[test]
fn a_trickling_source_trips_the_minimum_rate() {
    let (v, payload) = sealed(4 * CHUNK, 11);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("p");
    let mut p = PartialPayload::open(v.clone(), &dest).unwrap();
    // The first response brings one chunk at once, then 50 bytes/s.
    let mut src = TrickleSource {
        payload: payload.clone(),
        fast: CHUNK,
        requests: 0,
    };
    let started = std::time::Instant::now();
    let err = fetch::fetch_missing(
        &mut src,
        &mut p,
        &limited(4096, 300, None),
        &mut FetchReport::default(),
    )
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "not bounded");
    assert_eq!(err.kind(), otaseal::ErrorKind::Network, "{err}");
    assert!(err.to_string().contains("minimum rate"), "{err}");
    assert!(err.to_string().starts_with("download failed"), "{err}");
    assert!(p.have().count() >= 1, "the chunks that verified are kept");
    assert_clean(&p, &payload);
    drop(p);
    let p = PartialPayload::open(v, &dest).unwrap();
    assert!(p.resume_info().record_used && p.have().count() >= 1);
}

/// The deadline bounds the whole download, even when every response stays
/// above the minimum rate (here: no minimum at all).
#[test]
fn the_deadline_ends_a_slow_download() {
    let (v, payload) = sealed(4 * CHUNK, 12);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("p");
    let mut p = PartialPayload::open(v, &dest).unwrap();
    let mut src = TrickleSource {
        payload: payload.clone(),
        fast: CHUNK,
        requests: 0,
    };
    let started = std::time::Instant::now();
    let err = fetch::fetch_missing(
        &mut src,
        &mut p,
        &limited(0, 1000, Some(500)),
        &mut FetchReport::default(),
    )
    .unwrap_err();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(
        matches!(err, otaseal::Error::Fetch(FetchError::DeadlineExceeded)),
        "{err}"
    );
    assert_eq!(err.kind(), otaseal::ErrorKind::Network);
    assert_eq!(src.requests, 1, "no request is started after the deadline");
    assert!(p.have().contains(0));
    assert_clean(&p, &payload);
}

/// A chunk counts as failing verification (exit 3) when any of its failed
/// attempts brought bytes that did not verify, whatever the order of the
/// failures; only attempts that all failed in transfer are a network
/// failure (exit 9).
#[test]
fn a_chunk_that_once_failed_verification_is_a_verification_failure() {
    let (v, payload) = sealed(2 * CHUNK, 13);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("p");
    let mut p = PartialPayload::open(v.clone(), &dest).unwrap();
    let mut src = MemSource::new(&payload, vec![Fault::Flip(5), Fault::Error, Fault::Error]);
    let err = fetch::fetch_missing(
        &mut src,
        &mut p,
        &opts(1 << 20, 3),
        &mut FetchReport::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            otaseal::Error::Fetch(FetchError::TooManyFailures {
                index: 0,
                bad_data: true,
                ..
            })
        ),
        "{err}"
    );
    assert_eq!(err.kind(), otaseal::ErrorKind::Verification);
    assert!(!err.to_string().contains("download failed"), "{err}");
    assert!(
        err.to_string()
            .contains("did not match the signed manifest"),
        "{err}"
    );
    drop(p);
    let mut p = PartialPayload::open(v, &dest).unwrap();
    let mut src = MemSource::new(&payload, vec![Fault::Error; 3]);
    let err = fetch::fetch_missing(
        &mut src,
        &mut p,
        &opts(1 << 20, 3),
        &mut FetchReport::default(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), otaseal::ErrorKind::Network, "{err}");
    assert!(err.to_string().starts_with("download failed"), "{err}");
}
