//! Bad input, exhaustively where it is cheap: every manifest byte, every
//! chunk, and the payload edits a network or an attacker can make.

use crate::common::{Fixture, error_name, pattern};
use otaseal::Error;
use otaseal::open::verify_manifest;

const C: usize = 16 * 1024;

#[test]
fn every_manifest_byte_is_protected() {
    let f = Fixture::new();
    let sealed = f.seal(&pattern(3 * C + 100), 1);
    let m = &sealed.manifest_bytes;
    for at in 0..m.len() {
        let mut bad = m.clone();
        bad[at] ^= 1 << (at % 8);
        let err = f
            .open(&sealed.payload, &bad)
            .expect_err("a flipped manifest bit was accepted");
        // Nothing past the manifest stage may be reached with a forged manifest.
        assert!(
            matches!(
                err,
                Error::Format(_) | Error::BadSignature | Error::UntrustedSigner { .. }
            ),
            "byte {at}: {err}"
        );
    }
}

#[test]
fn every_chunk_is_protected_on_its_own() {
    let f = Fixture::new();
    let sealed = f.seal(&pattern(4 * C + 1), 2);
    let verified = verify_manifest(&sealed.manifest_bytes, &f.trust()).unwrap();
    let chunks = verified.chunk_count();
    assert_eq!(chunks, 5);
    for i in 0..chunks {
        let r = verified.chunk_range(i).unwrap();
        let mut payload = sealed.payload.clone();
        payload[r.start as usize] ^= 0x80;
        let err = f.open(&payload, &sealed.manifest_bytes).unwrap_err();
        assert_eq!(error_name(&err), format!("ChunkHashMismatch.{i}"));
        // The other chunks still verify one by one: a resumed download keeps them.
        for j in (0..chunks).filter(|&j| j != i) {
            let rj = verified.chunk_range(j).unwrap();
            verified
                .verify_chunk(j, &payload[rj.start as usize..rj.end as usize])
                .unwrap();
        }
    }
}

#[test]
fn payload_edits_fail_with_their_own_errors() {
    let f = Fixture::new();
    let sealed = f.seal(&pattern(3 * C), 3);
    let p = &sealed.payload;
    let m = &sealed.manifest_bytes;
    let expect = |payload: &[u8], name: &str| {
        let err = f.open(payload, m).unwrap_err();
        assert_eq!(error_name(&err), name, "{err}");
    };
    expect(&p[..p.len() - 1], "PayloadLength");
    expect(&p[..2 * C], "PayloadLength");
    expect(&[p.as_slice(), &[0u8]].concat(), "PayloadLength");
    expect(&[p.as_slice(), &p[..C]].concat(), "PayloadLength");
    let swapped = [&p[C..2 * C], &p[..C], &p[2 * C..]].concat();
    expect(&swapped, "ChunkHashMismatch.0");
    let duplicated = [&p[..C], &p[..C], &p[2 * C..]].concat();
    expect(&duplicated, "ChunkHashMismatch.1");
    // Same plaintext, sealed again: a fresh data key and bundle id, so no
    // chunk of one bundle fits the other.
    let twin = f.seal(&pattern(3 * C), 4);
    assert_ne!(twin.manifest.bundle_id, sealed.manifest.bundle_id);
    let spliced = [&p[..C], &twin.payload[C..2 * C], &p[2 * C..]].concat();
    expect(&spliced, "ChunkHashMismatch.1");
    // The other bundle's manifest with this payload fails at chunk 0.
    let err = f.open(p, &twin.manifest_bytes).unwrap_err();
    assert_eq!(error_name(&err), "ChunkHashMismatch.0");
}

#[test]
fn wrong_keys_are_refused() {
    let f = Fixture::new();
    let sealed = f.seal(&pattern(100), 5);
    let err = otaseal::open::open(
        &sealed.payload,
        &sealed.manifest_bytes,
        &f.trust(),
        &f.other_device,
    )
    .unwrap_err();
    assert!(matches!(err, Error::NotARecipient { .. }));
    let stranger = Fixture {
        signer: otaseal::keys::SigningKey::generate(&mut crate::common::rng(77)),
        ..Fixture::new()
    };
    let err = otaseal::open::open(
        &sealed.payload,
        &sealed.manifest_bytes,
        &stranger.trust(),
        &f.device,
    )
    .unwrap_err();
    assert!(matches!(err, Error::UntrustedSigner { .. }));
}

#[test]
fn garbage_manifests_never_panic() {
    let f = Fixture::new();
    let sealed = f.seal(&pattern(C + 1), 6);
    let m = &sealed.manifest_bytes;
    for len in 0..m.len() {
        assert!(verify_manifest(&m[..len], &f.trust()).is_err());
    }
    let mut r = crate::common::rng(7);
    for _ in 0..2000 {
        let len = (rand_core::Rng::next_u32(&mut r) % 600) as usize;
        let mut junk = vec![0u8; len];
        rand_core::Rng::fill_bytes(&mut r, &mut junk);
        if len >= 10 {
            // Make most of them get past the header into the field parsers.
            junk[..10].copy_from_slice(&m[..10]);
        }
        assert!(verify_manifest(&junk, &f.trust()).is_err());
    }
}

#[test]
fn payload_hash_is_the_root_at_edge_sizes() {
    let f = Fixture::new();
    let big = 256 * 1024;
    for len in [0, 1, big - 1, big, big + 1, 3 * 1024 * 1024 + 7] {
        let sealed = f.seal_with(&pattern(len), &f.options(18), len as u64);
        assert_eq!(sealed.payload.len(), len);
        assert_eq!(
            *blake3::hash(&sealed.payload).as_bytes(),
            sealed.manifest.root,
            "len {len}"
        );
        assert_eq!(
            f.open(&sealed.payload, &sealed.manifest_bytes).unwrap(),
            pattern(len)
        );
    }
}

#[test]
fn unverified_chunks_are_never_decrypted() {
    let f = Fixture::new();
    let sealed = f.seal(&pattern(2 * C), 8);
    let verified = verify_manifest(&sealed.manifest_bytes, &f.trust()).unwrap();
    let opener = verified.opener(&f.device).unwrap();
    let mut chunk = sealed.payload[..C].to_vec();
    chunk[9] ^= 1;
    let mut out = vec![0xAAu8; C];
    let err = opener.decrypt_chunk(0, &chunk, &mut out).unwrap_err();
    assert!(matches!(err, Error::ChunkHashMismatch { index: 0 }));
    assert!(
        out.iter().all(|&b| b == 0xAA),
        "output was touched before verification"
    );
    opener
        .decrypt_chunk(0, &sealed.payload[..C], &mut out)
        .unwrap();
    assert_eq!(out, pattern(2 * C)[..C]);
}
