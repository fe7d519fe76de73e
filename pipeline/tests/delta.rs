//! Encoded bundles (FORMAT.md §17) end to end through the library: sealed
//! with `seal_encoded_with_rng` as a version 2 manifest, installed from files
//! with `open::open_payload_file` on a session, and every way it must fail
//! with nothing installed — a wrong base, a corrupt patch, a result whose
//! digest or length differs, a decompression bomb.

use crate::common::{Fixture, rng};
use otaseal::delta::{self, Effort, Encoding};
use otaseal::device::DeviceState;
use otaseal::format::manifest::VERSION_ENCODED;
use otaseal::open::open_payload_file;
use otaseal::seal::{Base, EncodedAs, SealOptions, SealedBundle, seal_encoded_with_rng};
use otaseal::session::{InstallPolicy, Session, SessionOptions};
use otaseal::{Error, ErrorKind};
use std::path::Path;

const NOW: u64 = 1_790_000_100;

/// Deterministic machine-code-like bytes.
fn image(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x.is_multiple_of(3) {
            out.extend_from_slice(b"bl 0x4000; ");
        } else {
            out.extend_from_slice(&(x % 4096).to_le_bytes());
        }
    }
    out.truncate(len);
    out
}

/// The next version of `old`: an insertion, a patched region, a moved block.
fn next_version(old: &[u8], seed: u64) -> Vec<u8> {
    let mut new = old.to_vec();
    new.splice(5_000..5_000, image(seed, 3_000));
    for b in &mut new[40_000..40_200] {
        *b ^= 0x21;
    }
    let moved: Vec<u8> = new.drain(60_000..70_000).collect();
    new.extend_from_slice(&moved);
    new
}

fn options(f: &Fixture, sequence: u64, version: &str) -> SealOptions {
    let mut o = f.options(14);
    o.sequence = sequence;
    o.version = version.parse().unwrap();
    o
}

/// Seals `encoded` as an encoding of `result` (against `base` at sequence
/// `base_seq` when given).
fn seal_encoded(
    f: &Fixture,
    encoded: &[u8],
    encoding: Encoding,
    result: &[u8],
    base: Option<(u64, &[u8])>,
    sequence: u64,
) -> SealedBundle {
    seal_encoded_with_rng(
        encoded,
        EncodedAs {
            encoding,
            result,
            base: base.map(|(seq, bytes)| Base {
                sequence: seq,
                version: format!("1.{seq}").parse().unwrap(),
                bytes,
            }),
        },
        &options(f, sequence, &format!("1.{sequence}")),
        &[f.device.public_key().clone()],
        &f.signer,
        &mut rng(sequence * 7 + encoding.code() as u64),
    )
    .unwrap()
}

struct Files {
    _dir: tempfile::TempDir,
    manifest: std::path::PathBuf,
    payload: std::path::PathBuf,
    base: std::path::PathBuf,
    out: std::path::PathBuf,
}

fn files(sealed: &SealedBundle, base: &[u8]) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = Files {
        manifest: d.join("b.manifest"),
        payload: d.join("b.payload"),
        base: d.join("installed"),
        out: d.join("new"),
        _dir: dir,
    };
    std::fs::write(&f.manifest, &sealed.manifest_bytes).unwrap();
    std::fs::write(&f.payload, &sealed.payload).unwrap();
    std::fs::write(&f.base, base).unwrap();
    f
}

/// Opens the bundle in `files` against `base` (a path or none).
fn open(f: &Fixture, files: &Files, base: Option<&Path>) -> Result<u64, Error> {
    let manifest = std::fs::read(&files.manifest).unwrap();
    let mut s = Session::new(&manifest, &f.trust(), SessionOptions::new(NOW))?;
    open_payload_file(&mut s, &files.payload, &f.device, base, &files.out, 0)
}

#[test]
fn every_encoding_round_trips_through_a_sealed_bundle() {
    let f = Fixture::new();
    let old = image(1, 120_000);
    let new = next_version(&old, 2);
    for (encoding, base) in [
        (Encoding::Zstd, None),
        (Encoding::ZstdPatch, Some(&old[..])),
        (Encoding::Bsdiff, Some(&old[..])),
        (Encoding::BsdiffXz, Some(&old[..])),
    ] {
        let patch = delta::encode_as(encoding, &old, &new, 3).unwrap();
        assert_eq!(patch.encoding, encoding);
        if encoding != Encoding::Zstd {
            assert!(
                patch.bytes.len() < new.len() / 4,
                "{encoding}: {}",
                patch.bytes.len()
            );
        }
        let sealed = seal_encoded(&f, &patch.bytes, encoding, &new, base.map(|b| (1, b)), 2);
        assert_eq!(
            &sealed.manifest_bytes[8..10],
            &VERSION_ENCODED.to_be_bytes()
        );
        let fl = files(&sealed, &old);
        let written = open(&f, &fl, base.map(|_| fl.base.as_path())).unwrap();
        assert_eq!(written, new.len() as u64, "{encoding}");
        assert_eq!(std::fs::read(&fl.out).unwrap(), new, "{encoding}");
    }
}

#[test]
fn effort_picks_a_candidate_that_decodes() {
    let old = image(3, 100_000);
    let new = next_version(&old, 4);
    for effort in [Effort::Fast, Effort::Best] {
        let e = delta::encode(Some(&old), &new, effort).unwrap();
        let mut out = Vec::new();
        delta::decode_to(e.encoding, &old, &e.bytes[..], &mut out, new.len() as u64).unwrap();
        assert_eq!(out, new, "{effort:?}");
    }
}

#[test]
fn a_wrong_base_is_refused_before_decoding_and_nothing_is_written() {
    let f = Fixture::new();
    let old = image(5, 100_000);
    let new = next_version(&old, 6);
    for encoding in [Encoding::ZstdPatch, Encoding::Bsdiff, Encoding::BsdiffXz] {
        let patch = delta::encode_as(encoding, &old, &new, 3).unwrap();
        let sealed = seal_encoded(&f, &patch.bytes, encoding, &new, Some((1, &old)), 2);
        // Same length, one byte different: bsdiff would decode it silently.
        let mut wrong = old.clone();
        wrong[77_777] ^= 1;
        for base in [wrong, old[..old.len() - 1].to_vec()] {
            let fl = files(&sealed, &base);
            let e = open(&f, &fl, Some(&fl.base)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::WrongBase, "{encoding}: {e}");
            assert_eq!(e.kind().code(), 11);
            assert!(!fl.out.exists());
        }
        // No base at all, or a base for a bundle that takes none.
        let fl = files(&sealed, &old);
        assert!(matches!(
            open(&f, &fl, None),
            Err(Error::EncodingMismatch(_))
        ));
        assert!(!fl.out.exists());
        // The right base still works afterwards.
        open(&f, &fl, Some(&fl.base)).unwrap();
        assert_eq!(std::fs::read(&fl.out).unwrap(), new);
    }
    let plain = f.seal(&new, 9);
    let fl = files(&plain, &old);
    assert!(matches!(
        open(&f, &fl, Some(&fl.base)),
        Err(Error::EncodingMismatch(_))
    ));
}

#[test]
fn a_corrupt_or_truncated_patch_is_bad_delta_and_nothing_is_written() {
    let f = Fixture::new();
    let old = image(7, 100_000);
    let new = next_version(&old, 8);
    for encoding in Encoding::ALL {
        let patch = delta::encode_as(encoding, &old, &new, 3).unwrap();
        let base = encoding.needs_base().then_some((1, &old[..]));
        let mut altered = patch.bytes.clone();
        let mid = altered.len() / 2;
        altered[mid] ^= 0x40;
        let truncated = patch.bytes[..patch.bytes.len() - 5].to_vec();
        // The publisher signed these bytes: every chunk verifies, and only
        // decoding (or the result's digest) can tell.
        for bad in [altered, truncated] {
            let sealed = seal_encoded(&f, &bad, encoding, &new, base, 2);
            let fl = files(&sealed, &old);
            let e = open(&f, &fl, base.map(|_| fl.base.as_path())).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BadDelta, "{encoding}: {e}");
            assert_eq!(e.kind().code(), 12);
            assert!(!fl.out.exists(), "{encoding}");
        }
    }
}

#[test]
fn a_result_that_is_not_the_signed_one_is_bad_delta() {
    let f = Fixture::new();
    let old = image(9, 80_000);
    let new = next_version(&old, 10);
    for encoding in [Encoding::ZstdPatch, Encoding::BsdiffXz] {
        let patch = delta::encode_as(encoding, &old, &new, 3).unwrap();
        // Signed as decoding to other bytes of the same length, then to a
        // longer result: the digest, then the length, gives it away.
        let mut other = new.clone();
        other[123] ^= 1;
        let mut longer = new.clone();
        longer.push(0);
        for result in [other, longer] {
            let sealed = seal_encoded(&f, &patch.bytes, encoding, &result, Some((1, &old)), 2);
            let fl = files(&sealed, &old);
            let e = open(&f, &fl, Some(&fl.base)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BadDelta, "{encoding}: {e}");
            assert!(!fl.out.exists());
        }
    }
}

#[test]
fn a_decompression_bomb_stops_at_the_signed_length() {
    let f = Fixture::new();
    // 64 MiB of zeros compress to a few KiB; the manifest says 4 KiB.
    let zeros = vec![0u8; 64 << 20];
    let bomb = delta::encode(None, &zeros, Effort::Fast).unwrap();
    assert!(bomb.bytes.len() < 64 << 10);
    let small = vec![0u8; 4096];
    let sealed = seal_encoded(&f, &bomb.bytes, Encoding::Zstd, &small, None, 2);
    let fl = files(&sealed, &[]);
    let e = open(&f, &fl, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadDelta, "{e}");
    assert!(!fl.out.exists());

    // The same as bsdiff-xz: records copying 16 MiB of zeros, in a few KiB
    // of .xz, signed as a 4 KiB result against a base.
    let mut raw = Vec::new();
    for _ in 0..16 {
        for word in [0u64, 1 << 20, 0] {
            raw.extend_from_slice(&word.to_le_bytes());
        }
        raw.resize(raw.len() + (1 << 20), 0);
    }
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
    std::io::Write::write_all(&mut xz, &raw).unwrap();
    let bomb = xz.finish().unwrap();
    assert!(bomb.len() < 16 << 10, "{}", bomb.len());
    let base = vec![1u8; 1000];
    let sealed = seal_encoded(&f, &bomb, Encoding::BsdiffXz, &small, Some((1, &base)), 2);
    let fl = files(&sealed, &base);
    let e = open(&f, &fl, Some(&fl.base)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadDelta, "{e}");
    assert!(!fl.out.exists());
}

/// An install of a delta updates the device state exactly as a full
/// install does, and the next delta applies on top of what it produced.
#[test]
fn an_install_on_top_of_a_delta_then_a_further_delta() {
    let f = Fixture::new();
    let v1 = image(11, 90_000);
    let v2 = next_version(&v1, 12);
    let v3 = next_version(&v2, 13);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let app: otaseal::format::AppId = "com.example.app".parse().unwrap();
    let mut state = DeviceState::new(None).to_bytes();

    let install = |sealed: &SealedBundle,
                   base: Option<&Path>,
                   out: &Path,
                   state: &[u8]|
     -> Result<Vec<u8>, Error> {
        let mut p = InstallPolicy::new(state.to_vec(), app.clone());
        p.switch_channel = Some("stable".parse().unwrap());
        let opts = SessionOptions {
            install: Some(p),
            ..SessionOptions::new(NOW)
        };
        let manifest = d.join("m");
        let payload = d.join("p");
        std::fs::write(&manifest, &sealed.manifest_bytes).unwrap();
        std::fs::write(&payload, &sealed.payload).unwrap();
        let mut s = Session::new(&std::fs::read(&manifest).unwrap(), &f.trust(), opts)?;
        open_payload_file(&mut s, &payload, &f.device, base, out, 0)?;
        Ok(s.finish()?.device_state.expect("an install decision"))
    };

    // v1 in full, then v2 and v3 as deltas, each against what is installed.
    let full = f.seal_with(&v1, &options(&f, 1, "1.1"), 1);
    let installed_1 = d.join("installed-1");
    state = install(&full, None, &installed_1, &state).unwrap();
    let p2 = delta::encode(Some(&v1), &v2, Effort::Fast).unwrap();
    let d2 = seal_encoded(&f, &p2.bytes, p2.encoding, &v2, Some((1, &v1)), 2);
    let installed_2 = d.join("installed-2");
    state = install(&d2, Some(&installed_1), &installed_2, &state).unwrap();
    assert_eq!(std::fs::read(&installed_2).unwrap(), v2);
    let rec = DeviceState::parse(&state).unwrap();
    assert_eq!(installed_sequence(&rec, &app), 2);

    // A failed delta changes nothing: v3 against v1 is a wrong base.
    let p3 = delta::encode(Some(&v2), &v3, Effort::Best).unwrap();
    let d3 = seal_encoded(&f, &p3.bytes, p3.encoding, &v3, Some((2, &v2)), 3);
    let installed_3 = d.join("installed-3");
    let e = install(&d3, Some(&installed_1), &installed_3, &state).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WrongBase);
    assert!(!installed_3.exists());
    // Against v2 it installs, and the installed sequence becomes 3.
    state = install(&d3, Some(&installed_2), &installed_3, &state).unwrap();
    assert_eq!(std::fs::read(&installed_3).unwrap(), v3);
    let rec = DeviceState::parse(&state).unwrap();
    assert_eq!(installed_sequence(&rec, &app), 3);
    // And the same delta again is a replay the policy refuses.
    let e = install(&d3, Some(&installed_2), &d.join("again"), &state).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Policy);
}

fn installed_sequence(state: &DeviceState, app: &otaseal::format::AppId) -> u64 {
    state.apps[app].channels[&"stable".parse().unwrap()].sequence
}

/// Where the bundle itself is wanted, an encoded bundle is refused rather
/// than its plaintext (a patch, a compressed stream) handed out as if it
/// were the bundle: `open`, `decrypt_payload_file`.
#[test]
fn decrypting_an_encoded_bundle_as_if_it_were_the_bundle_is_refused() {
    let f = Fixture::new();
    let old = image(21, 80_000);
    let new = next_version(&old, 22);
    let patch = delta::encode_as(Encoding::ZstdPatch, &old, &new, 3).unwrap();
    let sealed = seal_encoded(
        &f,
        &patch.bytes,
        Encoding::ZstdPatch,
        &new,
        Some((1, &old)),
        2,
    );
    assert!(matches!(
        f.open(&sealed.payload, &sealed.manifest_bytes),
        Err(Error::EncodingMismatch(_))
    ));
    let fl = files(&sealed, &old);
    let mut s = Session::new(&sealed.manifest_bytes, &f.trust(), SessionOptions::new(NOW)).unwrap();
    let e = otaseal::open::decrypt_payload_file(&mut s, &fl.payload, &f.device, &fl.out, 0)
        .unwrap_err();
    assert!(matches!(e, Error::EncodingMismatch(_)), "{e}");
    assert_eq!(e.kind().code(), 2);
    assert!(!fl.out.exists());
}
