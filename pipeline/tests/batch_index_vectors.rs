//! Batch index test vectors (`tests/vectors/batch-index/vectors.json`,
//! `docs/FORMAT.md` §15.6): fixed inputs -> exact bytes, and corrupted
//! encodings, each with the error a decoder must report.
//!
//! Regenerate with `OTASEAL_REGEN_VECTORS=1 cargo test -p otaseal --test tests
//! batch_index_vectors::`; without it a stale file fails the test.

use crate::common::batch::{name_in_shard, release, sealed_batch, signed, signer};
use crate::common::vectors::{check_vectors, load_vectors};
use otaseal::batch::{MergeOptions, merge, sign_index, verify_index};
use otaseal::format::FormatError;
use otaseal::format::batch_index::{BatchIndex, DeltaEntry, IndexEntry, Release, ShardId};
use otaseal::format::encoding::Encoding;
use otaseal::keys::Signer;
use otaseal::open::TrustAnchor;
use serde_json::json;

fn entry(name: &str, n: u8, len: u64) -> IndexEntry {
    IndexEntry::full(
        name.parse().unwrap(),
        len,
        [n; 16],
        *blake3::hash(&[n, 1]).as_bytes(),
        400 + u32::from(n),
        *blake3::hash(&[n, 2]).as_bytes(),
    )
}

fn entries() -> Vec<IndexEntry> {
    vec![
        entry("firmware/gw-1.img", 1, 4 << 30),
        entry("web/app/1.0/bundle-00001.zip", 2, 16384),
        entry("empty.bin", 3, 0),
    ]
}

fn index(shard: ShardId, entries: Vec<IndexEntry>) -> BatchIndex {
    let s = signer();
    sign_index(
        BatchIndex::new(release(), shard, entries, s.algorithm(), s.key_id()).unwrap(),
        &s,
    )
    .unwrap()
}

fn err_name(e: &otaseal::Error) -> String {
    match e {
        otaseal::Error::Format(FormatError::InvalidField { field, .. }) => {
            format!("InvalidField({field})")
        }
        otaseal::Error::Format(FormatError::Truncated { field }) => format!("Truncated({field})"),
        otaseal::Error::Format(FormatError::TrailingBytes { .. }) => "TrailingBytes".into(),
        otaseal::Error::Format(FormatError::BadMagic) => "BadMagic".into(),
        otaseal::Error::Format(FormatError::WrongKind { .. }) => "WrongKind".into(),
        otaseal::Error::Format(FormatError::UnsupportedVersion { .. }) => {
            "UnsupportedVersion".into()
        }
        otaseal::Error::BadSignature => "BadSignature".into(),
        otaseal::Error::UntrustedSigner { .. } => "UntrustedSigner".into(),
        otaseal::Error::IndexMismatch { what, .. } if what.contains("shard") => {
            "IndexMismatch(shard)".into()
        }
        other => format!("{other:?}"),
    }
}

fn generate() -> serde_json::Value {
    let whole = index(ShardId::WHOLE, entries());
    let good = whole.to_bytes();
    let shards: Vec<BatchIndex> = (1..=2)
        .map(|k| {
            let mine = entries()
                .into_iter()
                .filter(|e| otaseal::batch::shard_of(&e.name, 2) == k)
                .collect();
            index(ShardId::new(k, 2).unwrap(), mine)
        })
        .collect();
    let merged = merge(shards.clone(), &signer(), MergeOptions::default()).unwrap();
    assert_eq!(
        merged.to_bytes(),
        good,
        "merge must reproduce the whole index"
    );

    let signed_len = whole.signed_bytes().len();
    // Offset of the first entry's name (after the 2-byte length): header 10,
    // flags 2, app 1+16, channel 1+6, version 1+5, sequence 8, shard 8, count 4.
    let first_name = 10 + 2 + 17 + 7 + 6 + 8 + 8 + 4 + 2;
    let mutate = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        b
    };
    let invalid: Vec<(&str, Vec<u8>)> = vec![
        ("bad magic", mutate(&|b| b[0] = b'X')),
        (
            "manifest kind",
            mutate(&|b| b[4..8].copy_from_slice(b"MNFT")),
        ),
        ("version 3", mutate(&|b| b[9] = 3)),
        // Version 2 adds fields to every entry: a version 1 body labelled 2
        // misreads and is refused.
        ("version 1 body labelled version 2", mutate(&|b| b[9] = 2)),
        ("flags set", mutate(&|b| b[11] = 1)),
        (
            "shard 0 of 1",
            mutate(&|b| b[first_name - 14..first_name - 10].fill(0)),
        ),
        (
            "entry count beyond input",
            mutate(&|b| b[first_name - 6..first_name - 2].copy_from_slice(&9u32.to_be_bytes())),
        ),
        (
            "entry name with ..",
            mutate(&|b| b[first_name..first_name + 3].copy_from_slice(b"../")),
        ),
        // "empty.bin" -> "zmpty.bin" now sorts after the second entry.
        ("entries out of order", mutate(&|b| b[first_name] = b'z')),
        (
            "unknown signature algorithm",
            mutate(&|b| b[signed_len - 17] = 9),
        ),
        ("signature one byte short", {
            let mut b = good[..signed_len].to_vec();
            b.extend_from_slice(&[0, 63]);
            b.extend_from_slice(&good[signed_len + 2..good.len() - 1]);
            b
        }),
        ("trailing byte", mutate(&|b| b.push(0))),
        ("truncated", good[..good.len() - 1].to_vec()),
        (
            "signature flipped",
            mutate(&|b| {
                let n = b.len();
                b[n - 1] ^= 1;
            }),
        ),
        (
            "entry length altered after signing",
            mutate(&|b| b[first_name + 9 + 7] ^= 1),
        ),
        // Signed, but shard 1/2 lists every bundle, those of shard 2 too.
        (
            "shard 1/2 lists a bundle of shard 2",
            index(ShardId::new(1, 2).unwrap(), entries()).to_bytes(),
        ),
    ];
    let trust = TrustAnchor::SigningKey(signer().verifying_key());
    let invalid: Vec<_> = invalid
        .into_iter()
        .map(|(what, bytes)| {
            let err = verify_index(&bytes, &trust).expect_err(what);
            json!({ "description": what, "index": hex::encode(&bytes), "error": err_name(&err) })
        })
        .collect();
    let v = json!({
        "description": "otaseal batch index v1 test vectors; see docs/FORMAT.md §15.6",
        "signing_secret_key": hex::encode([0x11u8; 32]),
        "signing_public_key": hex::encode(signer().verifying_key().to_bytes()),
        "valid": [{
            "description": "whole batch, three bundles (given unsorted; encoded sorted)",
            "release": { "app": "com.example.maps", "channel": "stable", "version": "4.2.0", "sequence": 42 },
            "shard": "1/1",
            "entries": whole.entries.iter().map(|e| json!({
                "name": e.name.as_str(),
                "plaintext_len": e.plaintext_len,
                "bundle_id": hex::encode(e.bundle_id),
                "root": hex::encode(e.root),
                "manifest_len": e.manifest_len,
                "manifest_hash": hex::encode(e.manifest_hash),
            })).collect::<Vec<_>>(),
            "signed_len": signed_len,
            "index": hex::encode(&good),
        }],
        "shards_of_2": shards.iter().map(|s| json!({
            "shard": s.shard.to_string(),
            "index": hex::encode(s.to_bytes()),
        })).collect::<Vec<_>>(),
        "invalid": invalid,
    });
    v
}

const VECTORS: &str = "batch-index/vectors.json";

#[test]
fn checked_in_vectors_are_up_to_date() {
    check_vectors(VECTORS, &generate());
}

#[test]
fn checked_in_vectors_decode_as_named() {
    let v = load_vectors(VECTORS);
    let pk: [u8; 32] = hex::decode(v["signing_public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let trust = TrustAnchor::SigningKey(otaseal::keys::VerifyingKey::from_bytes(&pk).unwrap());
    for good in v["valid"].as_array().unwrap() {
        let bytes = hex::decode(good["index"].as_str().unwrap()).unwrap();
        let idx = verify_index(&bytes, &trust).unwrap();
        let names: Vec<&str> = idx.entries.iter().map(|e| e.name.as_str()).collect();
        let want: Vec<&str> = good["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, want);
        assert_eq!(idx.to_bytes(), bytes, "re-encoding is canonical");
    }
    for bad in v["invalid"].as_array().unwrap() {
        let bytes = hex::decode(bad["index"].as_str().unwrap()).unwrap();
        let err = verify_index(&bytes, &trust).expect_err(bad["description"].as_str().unwrap());
        assert_eq!(
            err_name(&err),
            bad["error"].as_str().unwrap(),
            "{}",
            bad["description"]
        );
    }
}

// ---- Version 2 (FORMAT.md §15.8): compressed bundles and deltas ----

fn delta(base_sequence: u64, n: u8, encoding: Encoding) -> DeltaEntry {
    DeltaEntry {
        base_sequence,
        base_version: format!("4.{}.0", base_sequence - 40).parse().unwrap(),
        encoding,
        payload_len: 1000 + u64::from(n),
        bundle_id: [0x80 | n; 16],
        root: *blake3::hash(&[n, 3]).as_bytes(),
        manifest_len: 500 + u32::from(n),
        manifest_hash: *blake3::hash(&[n, 4]).as_bytes(),
    }
}

/// `entries()` sealed with `--compress` and deltas: the first bundle from
/// two bases (given out of order), the second from one, the third none.
fn entries_v2() -> Vec<IndexEntry> {
    let mut e = entries();
    for (i, x) in e.iter_mut().enumerate() {
        x.encoding = Some(Encoding::Zstd);
        x.result_len = x.plaintext_len;
        x.plaintext_len = x.plaintext_len / 3 + i as u64;
    }
    e[0].deltas = vec![
        delta(41, 1, Encoding::ZstdPatch),
        delta(40, 2, Encoding::Bsdiff),
    ];
    e[1].deltas = vec![delta(41, 3, Encoding::ZstdPatch)];
    e
}

fn generate_v2() -> serde_json::Value {
    let whole = index(ShardId::WHOLE, entries_v2());
    let good = whole.to_bytes();
    assert_eq!(good[9], 2, "an index with deltas is version 2");
    let shards: Vec<BatchIndex> = (1..=2)
        .map(|k| {
            let mine = entries_v2()
                .into_iter()
                .filter(|e| otaseal::batch::shard_of(&e.name, 2) == k)
                .collect();
            index(ShardId::new(k, 2).unwrap(), mine)
        })
        .collect();
    let merged = merge(shards.clone(), &signer(), MergeOptions::default()).unwrap();
    assert_eq!(
        merged.to_bytes(),
        good,
        "merge must reproduce the whole index"
    );
    // Signed but invalid: bodies the constructor would refuse, encoded as
    // is. Sorted: [0] empty.bin (no delta), [1] firmware (bases 40, 41),
    // [2] web (base 41).
    let resigned = |f: &dyn Fn(&mut Vec<IndexEntry>)| {
        let mut idx = whole.clone();
        f(&mut idx.body.entries);
        sign_index(idx, &signer()).unwrap().to_bytes()
    };
    let invalid: Vec<(&str, Vec<u8>)> = vec![
        (
            "deltas out of base sequence order",
            resigned(&|e| e[1].deltas.swap(0, 1)),
        ),
        (
            "two deltas from the same base",
            resigned(&|e| e[1].deltas[1].base_sequence = 40),
        ),
        (
            "delta encoded as zstd (no base)",
            resigned(&|e| e[2].deltas[0].encoding = Encoding::Zstd),
        ),
        (
            "full bundle encoded as a patch",
            resigned(&|e| e[0].encoding = Some(Encoding::ZstdPatch)),
        ),
        (
            "unencoded bundle whose result length differs",
            resigned(&|e| {
                e[0].encoding = None;
                e[0].result_len += 1;
            }),
        ),
        ("version 2 label on a version 1 body", {
            let mut b = index(ShardId::WHOLE, entries()).to_bytes();
            b[9] = 2;
            b
        }),
        ("truncated", good[..good.len() - 1].to_vec()),
        ("trailing byte", {
            let mut b = good.clone();
            b.push(0);
            b
        }),
    ];
    let trust = TrustAnchor::SigningKey(signer().verifying_key());
    let invalid: Vec<_> = invalid
        .into_iter()
        .map(|(what, bytes)| {
            let err = verify_index(&bytes, &trust).expect_err(what);
            json!({ "description": what, "index": hex::encode(&bytes), "error": err_name(&err) })
        })
        .collect();
    json!({
        "description": "otaseal batch index v2 test vectors (compressed bundles and deltas); see docs/FORMAT.md §15.8",
        "signing_secret_key": hex::encode([0x11u8; 32]),
        "signing_public_key": hex::encode(signer().verifying_key().to_bytes()),
        "valid": [{
            "description": "whole batch, three compressed bundles, three deltas (given unsorted; encoded sorted)",
            "release": { "app": "com.example.maps", "channel": "stable", "version": "4.2.0", "sequence": 42 },
            "shard": "1/1",
            "entries": whole.entries.iter().map(|e| json!({
                "name": e.name.as_str(),
                "plaintext_len": e.plaintext_len,
                "bundle_id": hex::encode(e.bundle_id),
                "root": hex::encode(e.root),
                "manifest_len": e.manifest_len,
                "manifest_hash": hex::encode(e.manifest_hash),
                "encoding": e.encoding.map_or("none", Encoding::name),
                "result_len": e.result_len,
                "deltas": e.deltas.iter().map(|d| json!({
                    "base_sequence": d.base_sequence,
                    "base_version": d.base_version.as_str(),
                    "encoding": d.encoding.name(),
                    "payload_len": d.payload_len,
                    "bundle_id": hex::encode(d.bundle_id),
                    "root": hex::encode(d.root),
                    "manifest_len": d.manifest_len,
                    "manifest_hash": hex::encode(d.manifest_hash),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "signed_len": whole.signed_bytes().len(),
            "index": hex::encode(&good),
        }],
        "shards_of_2": shards.iter().map(|s| json!({
            "shard": s.shard.to_string(),
            "index": hex::encode(s.to_bytes()),
        })).collect::<Vec<_>>(),
        "invalid": invalid,
    })
}

const VECTORS_V2: &str = "batch-index/vectors-v2.json";

#[test]
fn checked_in_v2_vectors_are_up_to_date() {
    check_vectors(VECTORS_V2, &generate_v2());
}

#[test]
fn checked_in_v2_vectors_decode_as_named() {
    let v = load_vectors(VECTORS_V2);
    let trust = TrustAnchor::SigningKey(signer().verifying_key());
    for good in v["valid"].as_array().unwrap() {
        let bytes = hex::decode(good["index"].as_str().unwrap()).unwrap();
        let idx = verify_index(&bytes, &trust).unwrap();
        let want = &good["entries"];
        for (e, w) in idx.entries.iter().zip(want.as_array().unwrap()) {
            assert_eq!(e.name.as_str(), w["name"]);
            assert_eq!(e.result_len, w["result_len"]);
            let bases: Vec<u64> = e.deltas.iter().map(|d| d.base_sequence).collect();
            let want_bases: Vec<u64> = w["deltas"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["base_sequence"].as_u64().unwrap())
                .collect();
            assert_eq!(bases, want_bases);
        }
        assert_eq!(idx.to_bytes(), bytes, "re-encoding is canonical");
    }
    for bad in v["invalid"].as_array().unwrap() {
        let bytes = hex::decode(bad["index"].as_str().unwrap()).unwrap();
        let err = verify_index(&bytes, &trust).expect_err(bad["description"].as_str().unwrap());
        assert_eq!(
            err_name(&err),
            bad["error"].as_str().unwrap(),
            "{}",
            bad["description"]
        );
    }
}

// ---- A verifier's cross-checks (FORMAT.md §15.5, §15.7) ----
// (`otaseal index` on the same batches: `cli/tests/batch_index_vectors.rs`.)

use otaseal::batch::check_bundles;

/// `index verify` checks every listed manifest against the index header:
/// a signed index whose app, channel, version or sequence differs from the
/// manifests it lists is refused (a verification failure, exit 3).
#[test]
fn the_header_must_match_every_listed_manifest() {
    let (dir, entries) = sealed_batch(&["a.bin", "b/c.bin"]);
    let trust = TrustAnchor::SigningKey(signer().verifying_key());
    let whole = signed(release(), ShardId::WHOLE, entries.clone());
    for (e, r) in check_bundles(&whole, dir.path(), &trust) {
        r.unwrap_or_else(|err| panic!("{}: {err}", e.name));
    }
    let cases = [
        (
            "app id",
            Release {
                app_id: "com.example.other".parse().unwrap(),
                ..release()
            },
        ),
        (
            "channel",
            Release {
                channel: "beta".parse().unwrap(),
                ..release()
            },
        ),
        (
            "version",
            Release {
                version: "4.2.1".parse().unwrap(),
                ..release()
            },
        ),
        (
            "sequence",
            Release {
                sequence: 43,
                ..release()
            },
        ),
    ];
    for (what, r) in cases {
        let idx = signed(r, ShardId::WHOLE, entries.clone());
        let idx = verify_index(&idx.to_bytes(), &trust).unwrap();
        for (e, result) in check_bundles(&idx, dir.path(), &trust) {
            let err = result.expect_err(what);
            assert!(
                matches!(err, otaseal::Error::IndexMismatch { .. }),
                "{what}: {err}"
            );
            assert_eq!(err.kind(), otaseal::ErrorKind::Verification, "{what}");
            let msg = err.to_string();
            assert!(msg.contains(what) && msg.contains(e.name.as_str()), "{msg}");
        }
    }
}

/// A shard index K/N lists only names that `shard_of` assigns to K: one
/// that lists a bundle of another shard is refused when it is verified,
/// not only when it is merged.
#[test]
fn a_shard_index_listing_another_shards_bundle_is_refused() {
    let trust = TrustAnchor::SigningKey(signer().verifying_key());
    let mine = name_in_shard(1, 2);
    let theirs = name_in_shard(2, 2);
    let (_dir, entries) = sealed_batch(&[&mine, &theirs]);
    let own: Vec<_> = entries
        .iter()
        .filter(|e| e.name.as_str() == mine)
        .cloned()
        .collect();
    let good = signed(release(), ShardId::new(1, 2).unwrap(), own);
    verify_index(&good.to_bytes(), &trust).unwrap();
    let bad = signed(release(), ShardId::new(1, 2).unwrap(), entries.clone());
    let err = verify_index(&bad.to_bytes(), &trust).unwrap_err();
    assert!(matches!(err, otaseal::Error::IndexMismatch { .. }), "{err}");
    assert_eq!(err.kind(), otaseal::ErrorKind::Verification);
    assert!(err.to_string().contains(&theirs), "{err}");
    // The whole batch (1/1) may list any name.
    verify_index(
        &signed(release(), ShardId::WHOLE, entries).to_bytes(),
        &trust,
    )
    .unwrap();
}
