//! The sans-I/O device session (`otaseal::session`): shuffled and split
//! feeding with corruption, decryption of verified chunks only, policy
//! refusals at creation, export/restore across a simulated crash, and
//! hostile offsets. The memory bound is `session_memory`.

use crate::common::{Fixture, pattern, rng};
use otaseal::device::{DeviceState, TrustUpdates};
use otaseal::format::cert::{AppScope, CertificateBody, ChannelScope, KeyUsage};
use otaseal::format::{AppId, Channel};
use otaseal::keys::trust::{self, CertifiedSigner, TrustState};
use otaseal::keys::{SigAlg, SigningKey};
use otaseal::policy::PolicyViolation;
use otaseal::seal::{SealedBundle, seal_with_rng};
use otaseal::session::{
    FeedReport, Finished, InstallPolicy, Session, SessionError, SessionOptions, VerifiedChunk,
    root_anchor,
};
use otaseal::{Error, ErrorKind};
use proptest::prelude::*;
use rand_core::Rng;

const NOW: u64 = 1_790_000_100;
const CHUNK: usize = 16 * 1024;

fn app() -> AppId {
    "com.example.app".parse().unwrap()
}

/// A bundle of `len` bytes at `sequence` (16 KiB chunks), and its plaintext.
fn bundle(f: &Fixture, len: usize, sequence: u64) -> (SealedBundle, Vec<u8>) {
    let mut o = f.options(14);
    o.sequence = sequence;
    let plain: Vec<u8> = pattern(len).iter().map(|b| b ^ sequence as u8).collect();
    (f.seal_with(&plain, &o, sequence), plain)
}

/// An install of the fixture's app on a device in `state`, following stable.
fn install(state: &DeviceState) -> SessionOptions {
    let mut p = InstallPolicy::new(state.to_bytes(), app());
    p.switch_channel = Some("stable".parse().unwrap());
    SessionOptions {
        install: Some(p),
        ..SessionOptions::new(NOW)
    }
}

/// Installs a one-chunk bundle on a device in `state`: feed, decrypt, finish.
fn install_one_chunk(f: &Fixture, sealed: &SealedBundle, state: &DeviceState) -> Finished {
    let mut s = Session::new(&sealed.manifest_bytes, &f.trust(), install(state)).unwrap();
    assert_eq!(
        s.feed(0, &sealed.payload, |_| Ok(())).unwrap().verified,
        [0]
    );
    s.unlock(&f.device).unwrap();
    let mut out = vec![0u8; sealed.payload.len()];
    s.decrypt_chunk(0, &sealed.payload, &mut out).unwrap();
    s.finish().unwrap()
}

/// The caller's side: the payload as stored so far (zeros where nothing
/// verified yet) and how often each chunk was stored.
struct Disk {
    bytes: Vec<u8>,
    stores: Vec<u32>,
}

impl Disk {
    fn new(s: &Session) -> Self {
        Self {
            bytes: vec![0; s.verified().payload_len() as usize],
            stores: vec![0; s.verified().chunk_count() as usize],
        }
    }

    fn feed(&mut self, s: &mut Session, offset: u64, bytes: &[u8]) -> otaseal::Result<FeedReport> {
        s.feed(offset, bytes, |c: VerifiedChunk<'_>| {
            let at = c.offset as usize;
            self.bytes[at..at + c.bytes.len()].copy_from_slice(c.bytes);
            self.stores[c.index as usize] += 1;
            Ok(())
        })
    }

    fn chunk(&self, s: &Session, index: u32) -> &[u8] {
        let r = s.verified().chunk_range(index).unwrap();
        &self.bytes[r.start as usize..r.end as usize]
    }
}

/// Decrypts every chunk from the disk into one plaintext, with one buffer.
fn decrypt_all(s: &mut Session, disk: &Disk, f: &Fixture) -> Vec<u8> {
    s.unlock(&f.device).unwrap();
    let mut plain = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    for i in 0..s.verified().chunk_count() {
        let c = disk.chunk(s, i);
        s.decrypt_chunk(i, c, &mut buf[..c.len()]).unwrap();
        plain.extend_from_slice(&buf[..c.len()]);
    }
    plain
}

fn shuffle<T>(v: &mut [T], r: &mut impl Rng) {
    for i in (1..v.len()).rev() {
        v.swap(i, r.next_u32() as usize % (i + 1));
    }
}

#[test]
fn shuffled_ranges_with_a_corrupted_chunk_then_refed() {
    let f = Fixture::new();
    let (sealed, plain) = bundle(&f, 19 * CHUNK + 777, 7);
    let mut opts = install(&DeviceState::default());
    opts.max_request_bytes = 3 * CHUNK as u64;
    let mut s = Session::new(&sealed.manifest_bytes, &f.trust(), opts).unwrap();
    assert_eq!(
        s.approval().unwrap().kind,
        otaseal::policy::ApprovalKind::FirstInstall
    );
    let mut disk = Disk::new(&s);
    let mut requests = s.needed();
    assert_eq!(requests.len(), 7); // 20 chunks, 3 per request
    shuffle(&mut requests, &mut rng(3));
    let mut wire = sealed.payload.clone();
    wire[5 * CHUNK + 100] ^= 0x40;
    let (mut verified, mut failed) = (vec![], vec![]);
    for req in &requests {
        let r = req.bytes.start as usize..req.bytes.end as usize;
        let rep = disk.feed(&mut s, req.bytes.start, &wire[r]).unwrap();
        verified.extend(rep.verified);
        failed.extend(rep.failed);
    }
    assert_eq!(failed, [5]);
    assert_eq!(verified.len(), 19);
    // Only the failed chunk is needed again, and nothing of it was stored.
    let again = s.needed();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].chunks, 5..6);
    assert!(disk.chunk(&s, 5).iter().all(|b| *b == 0));
    // Re-fed correctly, split across two feeds.
    let r = again[0].bytes.clone();
    let mid = r.start + 5000;
    let first = disk
        .feed(
            &mut s,
            r.start,
            &sealed.payload[r.start as usize..mid as usize],
        )
        .unwrap();
    assert!(first.verified.is_empty() && first.failed.is_empty());
    assert_eq!(s.partial(), Some((5, 5000)));
    let rest = disk
        .feed(&mut s, mid, &sealed.payload[mid as usize..r.end as usize])
        .unwrap();
    assert_eq!(rest.verified, [5]);
    assert!(s.is_complete() && s.needed().is_empty());
    assert_eq!(disk.bytes, sealed.payload);
    assert!(disk.stores.iter().all(|n| *n == 1));

    assert_eq!(decrypt_all(&mut s, &disk, &f), plain);
    let done = s.finish().unwrap();
    let state = DeviceState::parse(&done.device_state.unwrap()).unwrap();
    let rec = &state.apps[&app()].channels[&"stable".parse::<Channel>().unwrap()];
    assert_eq!(rec.sequence, 7);
    assert_eq!(rec.installed_at, NOW);
}

#[test]
fn only_verified_chunks_decrypt_and_only_the_bytes_verified() {
    let f = Fixture::new();
    let (sealed, plain) = bundle(&f, 3 * CHUNK, 1);
    let mut s = Session::new(&sealed.manifest_bytes, &f.trust(), SessionOptions::new(NOW)).unwrap();
    let chunk0 = &sealed.payload[..CHUNK];
    let mut out = vec![0u8; CHUNK];
    // Not verified yet: refused even with the right bytes.
    assert!(matches!(
        s.decrypt_chunk(0, chunk0, &mut out),
        Err(Error::Session(SessionError::ChunkNotVerified { index: 0 }))
    ));
    s.feed(0, chunk0, |_| Ok(())).unwrap();
    assert!(matches!(
        s.decrypt_chunk(0, chunk0, &mut out),
        Err(Error::Session(SessionError::Locked))
    ));
    // A key the bundle is not for.
    assert!(matches!(
        s.unlock(&f.other_device),
        Err(Error::NotARecipient { .. })
    ));
    s.unlock(&f.device).unwrap();
    // Bytes that differ from what verified (the stored copy changed).
    let mut changed = chunk0.to_vec();
    changed[9] ^= 1;
    assert!(matches!(
        s.decrypt_chunk(0, &changed, &mut out),
        Err(Error::ChunkHashMismatch { index: 0 })
    ));
    assert!(out.iter().all(|b| *b == 0));
    s.decrypt_chunk(0, chunk0, &mut out).unwrap();
    assert_eq!(out, plain[..CHUNK]);
    // Finishing needs every chunk verified and decrypted.
    assert!(matches!(
        s.finish(),
        Err(Error::Session(SessionError::Incomplete {
            missing: 2,
            count: 3
        }))
    ));
}

#[test]
fn a_downgrade_and_a_replay_are_refused_at_creation() {
    let f = Fixture::new();
    let (sealed, _) = bundle(&f, 1000, 7);
    let done = install_one_chunk(&f, &sealed, &DeviceState::default());
    let state = DeviceState::parse(&done.device_state.unwrap()).unwrap();
    for seq in [7, 6] {
        let (older, _) = bundle(&f, 1000, seq);
        let e = Session::new(&older.manifest_bytes, &f.trust(), install(&state)).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Refused(PolicyViolation::NotNewer { installed: 7, offered, .. }) if offered == seq
            ),
            "{e}"
        );
        assert_eq!(e.kind(), ErrorKind::Policy);
    }
    let (newer, _) = bundle(&f, 1000, 8);
    Session::new(&newer.manifest_bytes, &f.trust(), install(&state)).unwrap();
    // A damaged state is a typed error, never an empty state.
    let mut opts = install(&state);
    let p = opts.install.as_mut().unwrap();
    let last = p.state.len() - 1;
    p.state[last] ^= 1;
    assert!(matches!(
        Session::new(&newer.manifest_bytes, &f.trust(), opts),
        Err(Error::Session(SessionError::CorruptState(_)))
    ));
}

#[test]
fn another_app_and_an_expired_manifest_are_refused_at_creation() {
    let f = Fixture::new();
    let (sealed, _) = bundle(&f, 1000, 3);
    let mut opts = install(&DeviceState::default());
    opts.install.as_mut().unwrap().app = "com.example.other".parse().unwrap();
    assert!(matches!(
        Session::new(&sealed.manifest_bytes, &f.trust(), opts),
        Err(Error::Refused(PolicyViolation::WrongApp { .. }))
    ));
    let mut o = f.options(14);
    o.expires = Some(NOW);
    let expired = f.seal_with(b"old", &o, 4);
    // Expired at the caller's `now`, with a policy and without.
    for opts in [SessionOptions::new(NOW), install(&DeviceState::default())] {
        assert!(matches!(
            Session::new(&expired.manifest_bytes, &f.trust(), opts),
            Err(Error::Refused(PolicyViolation::Expired { .. }))
        ));
    }
    Session::new(
        &expired.manifest_bytes,
        &f.trust(),
        SessionOptions::new(NOW - 1),
    )
    .unwrap();
    // A manifest signed by another key fails before any policy.
    let other = Fixture {
        signer: SigningKey::from_bytes(&[3; 32]),
        ..Fixture::new()
    };
    assert!(matches!(
        Session::new(
            &sealed.manifest_bytes,
            &other.trust(),
            SessionOptions::new(NOW)
        ),
        Err(Error::UntrustedSigner { .. })
    ));
}

#[test]
fn export_and_restore_after_a_crash_needs_only_the_missing_chunks() {
    let f = Fixture::new();
    let (sealed, plain) = bundle(&f, 10 * CHUNK + 5, 2);
    let new = || {
        Session::new(
            &sealed.manifest_bytes,
            &f.trust(),
            install(&DeviceState::default()),
        )
        .unwrap()
    };
    let mut s = new();
    let mut disk = Disk::new(&s);
    for i in [0usize, 1, 2, 6, 7] {
        let at = i * CHUNK;
        disk.feed(&mut s, at as u64, &sealed.payload[at..at + CHUNK])
            .unwrap();
    }
    // Half of chunk 8 buffered: lost in the crash.
    disk.feed(
        &mut s,
        8 * CHUNK as u64,
        &sealed.payload[8 * CHUNK..8 * CHUNK + 99],
    )
    .unwrap();
    let record = s.export().unwrap();
    drop(s); // the crash

    // The caller's stored chunk 6 was damaged meanwhile.
    disk.bytes[6 * CHUNK + 3] ^= 1;
    let mut s = new();
    assert_eq!(s.restore(&record).unwrap(), 5);
    // Claimed chunks are not needed, but not verified either.
    let needed: Vec<_> = s.needed().iter().map(|r| r.chunks.clone()).collect();
    assert_eq!(needed, [3..6, 8..11]);
    assert!(s.have().is_empty());
    assert!(matches!(
        s.decrypt_chunk(0, disk.chunk(&s, 0), &mut [0u8; CHUNK]),
        Err(Error::Session(SessionError::ChunkNotVerified { index: 0 }))
    ));
    let claimed: Vec<u32> = s.to_recheck().collect();
    assert_eq!(claimed, [0, 1, 2, 6, 7]);
    for i in claimed {
        let ok = s.recheck(i, &disk.bytes[i as usize * CHUNK..(i as usize + 1) * CHUNK]);
        assert_eq!(ok.unwrap(), i != 6, "chunk {i}");
    }
    let needed: Vec<_> = s.needed().iter().map(|r| r.chunks.clone()).collect();
    assert_eq!(needed, [3..7, 8..11]);
    for req in s.needed() {
        let r = req.bytes.start as usize..req.bytes.end as usize;
        disk.feed(&mut s, req.bytes.start, &sealed.payload[r])
            .unwrap();
    }
    assert!(s.is_complete());
    assert_eq!(disk.bytes, sealed.payload);
    // Chunks 0-2 and 7 were stored once, before the crash, never again.
    assert_eq!(disk.stores, [1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1]);
    assert_eq!(decrypt_all(&mut s, &disk, &f), plain);
    assert!(s.finish().unwrap().approval.is_some());

    // A record of another bundle, or a damaged one, is refused.
    let (other, _) = bundle(&f, 10 * CHUNK + 5, 3);
    let mut o = Session::new(&other.manifest_bytes, &f.trust(), SessionOptions::new(NOW)).unwrap();
    assert!(matches!(
        o.restore(&record),
        Err(Error::Session(SessionError::RecordMismatch {
            field: "bundle id"
        }))
    ));
    let mut bad = record.clone();
    bad[20] ^= 1;
    let e = new().restore(&bad).unwrap_err();
    assert!(matches!(e, Error::Session(SessionError::CorruptRecord(_))));
    assert_eq!(e.kind(), ErrorKind::Malformed);
}

#[test]
fn overlapping_and_duplicate_ranges() {
    let f = Fixture::new();
    let (sealed, _) = bundle(&f, 4 * CHUNK + 10, 1);
    let mut s = Session::new(&sealed.manifest_bytes, &f.trust(), SessionOptions::new(NOW)).unwrap();
    let mut disk = Disk::new(&s);
    let p = &sealed.payload;
    let mut feed = |s: &mut Session, a: usize, b: usize| disk.feed(s, a as u64, &p[a..b]).unwrap();
    // A piece of chunk 0, then one overlapping it that completes chunk 0
    // (4000..9000 was held already) and starts chunk 1's prefix.
    assert!(feed(&mut s, 0, 9000).verified.is_empty());
    let rep = feed(&mut s, 4000, 20000);
    assert_eq!(
        (rep.verified.as_slice(), rep.ignored_bytes),
        (&[0][..], 5000)
    );
    assert_eq!(s.partial(), Some((1, 20000 - CHUNK as u64)));
    // A piece already held, and one past the held prefix: not kept.
    let rep = feed(&mut s, CHUNK + 100, CHUNK + 200);
    assert_eq!(rep.ignored_bytes, 100);
    let rep = feed(&mut s, 30000, 31000);
    assert_eq!(rep.ignored_bytes, 1000);
    assert_eq!(s.partial(), Some((1, 20000 - CHUNK as u64)));
    // A duplicate of a verified chunk is ignored and not stored again.
    let rep = feed(&mut s, 0, CHUNK);
    assert_eq!((rep.verified.len(), rep.ignored_bytes), (0, CHUNK as u64));
    // A new prefix of another chunk replaces the held one.
    let rep = feed(&mut s, 3 * CHUNK, 3 * CHUNK + 10);
    assert_eq!(rep.dropped_partial, Some(1));
    assert_eq!(s.partial(), Some((3, 10)));
    // The whole payload, twice: everything left verifies once.
    let rep = feed(&mut s, 0, p.len());
    assert_eq!(rep.verified, [1, 2, 3, 4]);
    assert_eq!(s.partial(), None);
    let rep = feed(&mut s, 0, p.len());
    assert!(rep.verified.is_empty() && rep.ignored_bytes == p.len() as u64);
    assert!(s.is_complete());
    assert_eq!(disk.bytes, sealed.payload);
    assert!(disk.stores.iter().all(|n| *n == 1));
}

#[test]
fn hostile_offsets_and_indexes_are_typed_errors() {
    let f = Fixture::new();
    let (sealed, _) = bundle(&f, 2 * CHUNK + 1, 1);
    let mut s = Session::new(&sealed.manifest_bytes, &f.trust(), SessionOptions::new(NOW)).unwrap();
    let len = sealed.payload.len() as u64;
    for (offset, n) in [
        (len, 1),
        (len + 1, 0),
        (u64::MAX, 2),
        (u64::MAX - 1, 5),
        (1, len as usize),
    ] {
        let e = s.feed(offset, &vec![0; n], |_| Ok(())).unwrap_err();
        assert!(
            matches!(e, Error::RangeOutOfBounds { .. }),
            "{offset}+{n}: {e}"
        );
        assert_eq!(e.kind(), ErrorKind::Request);
    }
    assert!(matches!(
        s.needed_for(len..len + 1),
        Err(Error::RangeOutOfBounds { .. })
    ));
    let part: Vec<_> = s.needed_for(CHUNK as u64 - 1..CHUNK as u64 + 1).unwrap();
    assert_eq!(part.len(), 1);
    assert_eq!(part[0].chunks, 0..2);
    // An empty feed at the end is in range and does nothing.
    assert_eq!(s.feed(len, &[], |_| Ok(())).unwrap(), FeedReport::default());
    for index in [3, u32::MAX] {
        assert!(matches!(
            s.recheck(index, &[]),
            Err(Error::ChunkIndexOutOfRange { .. })
        ));
        assert!(matches!(
            s.decrypt_chunk(index, &[], &mut []),
            Err(Error::ChunkIndexOutOfRange { .. })
        ));
    }
    // A wrong-length stored chunk rechecks as bad, not as a panic.
    assert!(!s.recheck(2, &[1, 2]).unwrap());
    // A store that fails ends the feed; that chunk is not counted.
    let e = s
        .feed(0, &sealed.payload, |c| {
            if c.index == 1 {
                Err(Error::InvalidRequest("disk full".into()))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
    assert!(matches!(e, Error::InvalidRequest(_)));
    assert!(s.have().contains(0) && !s.have().contains(1));
    assert_eq!(s.needed()[0].chunks, 1..3);
}

#[test]
fn an_empty_payload_is_one_empty_chunk() {
    let f = Fixture::new();
    let sealed = f.seal(b"", 1);
    let mut s = Session::new(&sealed.manifest_bytes, &f.trust(), SessionOptions::new(NOW)).unwrap();
    assert_eq!(s.needed()[0].bytes, 0..0);
    assert_eq!(s.feed(0, &[], |_| Ok(())).unwrap().verified, [0]);
    s.unlock(&f.device).unwrap();
    s.decrypt_chunk(0, &[], &mut []).unwrap();
    assert_eq!(s.finish().unwrap().device_state, None);
}

/// A root anchor from stored trust-state bytes: the revocation list given
/// as bytes is applied, certificates are checked at the caller's `now` (not
/// the system clock), and a revoked signer is refused at creation.
#[test]
fn a_root_anchor_from_bytes_checks_at_the_callers_time() {
    let f = Fixture::new();
    let mut r = rng(9);
    let root = SigningKey::generate(&mut r);
    let release = SigningKey::generate(&mut r);
    let (from, to) = (1_700_000_000, 1_700_100_000);
    let cert = trust::issue_certificate(
        &root,
        CertificateBody {
            serial: 7,
            subject_alg: SigAlg::Ed25519,
            subject_public_key: release.verifying_key().to_bytes().to_vec(),
            not_before: from,
            not_after: to,
            usage: KeyUsage::SIGN_MANIFESTS,
            channels: ChannelScope::only(vec!["stable".parse().unwrap()]).unwrap(),
            apps: AppScope::Any,
        },
    )
    .unwrap()
    .to_bytes();
    let signer = CertifiedSigner::new(Box::new(release), vec![cert]).unwrap();
    let mut o = f.options(14);
    o.created = from + 10;
    let sealed =
        seal_with_rng(b"fw", &o, &[f.device.public_key().clone()], &signer, &mut r).unwrap();
    let stored = TrustState::new(root.verifying_key()).to_bytes();
    let list = |seq, serials| {
        trust::issue_revocation_list(&root, seq, from, serials, vec![])
            .unwrap()
            .to_bytes()
    };
    let updates = TrustUpdates {
        rotations: vec![],
        revocations: Some(list(1, vec![3])),
    };
    let a = root_anchor(&stored, &updates, NOW).unwrap();
    assert_eq!(
        TrustState::from_bytes(&a.trust_state)
            .unwrap()
            .revocation_sequence(),
        1
    );
    // The certificate expired long before the system clock's now.
    Session::new(
        &sealed.manifest_bytes,
        &a.anchor,
        SessionOptions::new(from + 20),
    )
    .unwrap();
    assert!(matches!(
        Session::new(
            &sealed.manifest_bytes,
            &a.anchor,
            SessionOptions::new(to + 1)
        ),
        Err(Error::CertExpired { .. })
    ));
    let revoked = TrustUpdates {
        rotations: vec![],
        revocations: Some(list(2, vec![7])),
    };
    let b = root_anchor(&a.trust_state, &revoked, NOW).unwrap();
    assert!(matches!(
        Session::new(
            &sealed.manifest_bytes,
            &b.anchor,
            SessionOptions::new(from + 20)
        ),
        Err(Error::KeyRevoked { serial: 7, .. })
    ));
    // An older list than the stored one is refused and changes nothing.
    assert!(matches!(
        root_anchor(&b.trust_state, &updates, NOW),
        Err(Error::RevocationReplay { .. })
    ));
}

/// One step of a random download.
#[derive(Debug, Clone)]
enum Step {
    /// Feed payload bytes `start..start+len` (clamped), with the byte at
    /// `flip` (modulo the piece) flipped if given.
    Feed {
        start: u64,
        len: u64,
        flip: Option<u64>,
    },
    /// Crash: export, drop, restore into a new session, recheck.
    Restore,
    /// Damage the stored copy of a chunk, then recheck it.
    Damage { chunk: u32 },
}

fn step(max: u64) -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..max, 0..3 * CHUNK as u64, proptest::option::of(any::<u64>()))
            .prop_map(|(start, len, flip)| Step::Feed { start, len, flip }),
        1 => Just(Step::Restore),
        1 => (0u32..8).prop_map(|chunk| Step::Damage { chunk }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Whatever the order, splits and corruptions: every chunk handed to
    /// `store` is the sealed ciphertext, every chunk the session counts as
    /// verified is what the caller holds, and feeding what it still needs
    /// completes the download, which decrypts to the plaintext.
    #[test]
    fn random_feeding_never_verifies_a_wrong_chunk(
        tail in 0usize..CHUNK,
        steps in proptest::collection::vec(step(5 * CHUNK as u64 + 100), 1..40),
    ) {
        let f = Fixture::new();
        let (sealed, plain) = bundle(&f, 4 * CHUNK + tail, 1);
        let payload = &sealed.payload;
        let new = || Session::new(&sealed.manifest_bytes, &f.trust(), SessionOptions::new(NOW)).unwrap();
        let mut s = new();
        let mut disk = vec![0u8; payload.len()];
        let n = s.verified().chunk_count();
        let range = |s: &Session, i: u32| {
            let r = s.verified().chunk_range(i).unwrap();
            r.start as usize..r.end as usize
        };
        let store = |disk: &mut Vec<u8>, c: VerifiedChunk<'_>| {
            let at = c.offset as usize..c.offset as usize + c.bytes.len();
            assert_eq!(c.bytes, &payload[at.clone()], "chunk {} stored wrong", c.index);
            disk[at].copy_from_slice(c.bytes);
        };
        for st in steps {
            match st {
                Step::Feed { start, len, flip } => {
                    let start = start.min(payload.len() as u64) as usize;
                    let end = (start + len as usize).min(payload.len());
                    let mut piece = payload[start..end].to_vec();
                    if let (Some(at), false) = (flip, piece.is_empty()) {
                        let at = (at % piece.len() as u64) as usize;
                        piece[at] ^= 1;
                    }
                    s.feed(start as u64, &piece, |c| { store(&mut disk, c); Ok(()) }).unwrap();
                }
                Step::Restore => {
                    let record = s.export().unwrap();
                    s = new();
                    s.restore(&record).unwrap();
                    let claimed: Vec<u32> = s.to_recheck().collect();
                    for i in claimed {
                        s.recheck(i, &disk[range(&s, i)]).unwrap();
                    }
                }
                Step::Damage { chunk } => {
                    let i = chunk % n;
                    let r = range(&s, i);
                    if !r.is_empty() {
                        disk[r.start] ^= 0x80;
                        prop_assert!(!s.recheck(i, &disk[r.clone()]).unwrap());
                        prop_assert!(!s.have().contains(i));
                        disk[r.start] ^= 0x80;
                    }
                }
            }
            for i in 0..n {
                if s.have().contains(i) {
                    prop_assert_eq!(&disk[range(&s, i)], &payload[range(&s, i)], "chunk {}", i);
                }
            }
        }
        // Whatever state it was left in, feeding what is needed completes it.
        for i in s.to_recheck().collect::<Vec<_>>() {
            s.recheck(i, &disk[range(&s, i)]).unwrap();
        }
        for req in s.needed() {
            let r = req.bytes.start as usize..req.bytes.end as usize;
            s.feed(req.bytes.start, &payload[r], |c| { store(&mut disk, c); Ok(()) }).unwrap();
        }
        prop_assert!(s.is_complete());
        prop_assert_eq!(&disk, payload);
        s.unlock(&f.device).unwrap();
        let mut out = vec![0u8; CHUNK];
        for i in 0..n {
            let r = range(&s, i);
            s.decrypt_chunk(i, &disk[r.clone()], &mut out[..r.len()]).unwrap();
            prop_assert_eq!(&out[..r.len()], &plain[r]);
        }
        prop_assert!(s.finish().is_ok());
    }
}

/// One decision function: the session's new state bytes are exactly what
/// the file-based install (`device::decide` + `Install::commit`) writes.
#[test]
fn the_session_and_the_state_file_record_the_same_install() {
    let f = Fixture::new();
    let (sealed, _) = bundle(&f, 1000, 4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    drop(otaseal::device::StateFile::create(&path, DeviceState::default()).unwrap());
    let verified = otaseal::open::verify_manifest(&sealed.manifest_bytes, &f.trust()).unwrap();
    let opts = otaseal::policy::PolicyOptions {
        switch_channel: Some("stable".parse().unwrap()),
        ..otaseal::policy::PolicyOptions::new(app(), NOW)
    };
    let file_approval = otaseal::device::decide(&path, &verified, &f.trust(), None, opts)
        .unwrap()
        .commit()
        .unwrap();

    let done = install_one_chunk(&f, &sealed, &DeviceState::default());
    assert_eq!(done.approval, Some(file_approval));
    assert_eq!(done.device_state.unwrap(), std::fs::read(&path).unwrap());
}
