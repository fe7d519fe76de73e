//! Format version 2 test vectors (`tests/vectors/v2/encoded.json`, FORMAT.md
//! §17.6): one bundle per encoding, sealed with the keys of the version 1
//! vectors, with everything a reader written from the spec needs to check
//! itself — the data key, the digest key, the digests, the encoded bytes —
//! and invalid cases naming the error each must produce.
//!
//! Besides the library, every valid vector is checked here against an
//! independent reading of §17: the digest key and digests with the `blake3`
//! crate directly, zstd frames with the `zstd` crate directly, .xz streams
//! with the `liblzma` crate directly, and bsdiff records with a small
//! applier written from §17.5 alone.
//!
//! `OTASEAL_REGEN_VECTORS=1 cargo test -p otaseal --test tests vectors_v2::`
//! rewrites the file.

use crate::common::vectors::{check_vectors, load_vectors};
use crate::common::{error_name, rng};
use crate::vectors::{data_key_and_id, keys};
use otaseal::delta::{self, Encoding};
use otaseal::format::ChunkSize;
use otaseal::format::encoding::DIGEST_KEY_CONTEXT;
use otaseal::open::{TrustAnchor, open_payload_file};
use otaseal::seal::{Base, EncodedAs, SealOptions, SealedBundle, seal_encoded_with_rng};
use otaseal::session::{Session, SessionOptions};
use serde_json::{Value, json};
use std::io::Read;

const VECTORS: &str = "v2/encoded.json";
const NOW: u64 = 1_790_000_100;

/// A base and the next version of it, small and deterministic: lines of
/// text with numbers, so every encoder has something to find.
fn versions() -> (Vec<u8>, Vec<u8>) {
    let line =
        |i: u32, v: u32| format!("{i:05} call 0x{:08x} ; v{v}\n", i.wrapping_mul(2654435761));
    let base: String = (0..200).map(|i| line(i, 1)).collect();
    let mut new: String = (0..200)
        .map(|i| line(i, if i % 17 == 0 { 2 } else { 1 }))
        .collect();
    new.insert_str(1000, "inserted in version 2\n");
    (base.into_bytes(), new.into_bytes())
}

struct Case {
    name: &'static str,
    encoding: Encoding,
    seed: u64,
}

const CASES: &[Case] = &[
    Case {
        name: "zstd",
        encoding: Encoding::Zstd,
        seed: 201,
    },
    Case {
        name: "zstd-patch",
        encoding: Encoding::ZstdPatch,
        seed: 202,
    },
    Case {
        name: "bsdiff",
        encoding: Encoding::Bsdiff,
        seed: 203,
    },
    Case {
        name: "bsdiff-xz",
        encoding: Encoding::BsdiffXz,
        seed: 205,
    },
];

const BASE_SEQUENCE: u64 = 41;
const BASE_VERSION: &str = "4.1.0";

fn options() -> SealOptions {
    let mut o = SealOptions::new(
        "com.example.maps".parse().unwrap(),
        "stable".parse().unwrap(),
        "4.2.0".parse().unwrap(),
        42,
    );
    o.created = 1_790_000_000;
    o.chunk_size = ChunkSize::from_log2(14).unwrap();
    o
}

fn seal(encoded: &[u8], encoding: Encoding, result: &[u8], base: &[u8], seed: u64) -> SealedBundle {
    let k = keys();
    seal_encoded_with_rng(
        encoded,
        EncodedAs {
            encoding,
            result,
            base: encoding.needs_base().then(|| Base {
                sequence: BASE_SEQUENCE,
                version: BASE_VERSION.parse().unwrap(),
                bytes: base,
            }),
        },
        &options(),
        &[k.devices[0].public_key().clone()],
        &k.signer,
        &mut rng(seed),
    )
    .unwrap()
}

fn generate() -> Value {
    let (base, new) = versions();
    let mut valid = Vec::new();
    let mut sealed_patch = None;
    for c in CASES {
        // Level 19: the vectors are small, and the best level is what a
        // release with `--delta-effort best` ships.
        let encoded = delta::encode_as(c.encoding, &base, &new, 19).unwrap().bytes;
        let sealed = seal(&encoded, c.encoding, &new, &base, c.seed);
        let (data_key, bundle_id) = data_key_and_id(c.seed);
        let digest_key = blake3::derive_key(DIGEST_KEY_CONTEXT, &data_key);
        if c.encoding == Encoding::ZstdPatch {
            sealed_patch = Some((encoded.clone(), sealed.manifest_bytes.clone()));
        }
        valid.push(json!({
            "name": c.name,
            "encoding": c.encoding.code(),
            "base": c.encoding.needs_base().then(|| hex::encode(&base)),
            "base_sequence": c.encoding.needs_base().then_some(BASE_SEQUENCE),
            "base_version": c.encoding.needs_base().then_some(BASE_VERSION),
            "result": hex::encode(&new),
            "encoded": hex::encode(&encoded),
            "data_key": hex::encode(data_key),
            "bundle_id": hex::encode(bundle_id),
            "digest_key": hex::encode(digest_key),
            "result_digest": hex::encode(blake3::keyed_hash(&digest_key, &new).as_bytes()),
            "base_digest": c.encoding.needs_base()
                .then(|| hex::encode(blake3::keyed_hash(&digest_key, &base).as_bytes())),
            "payload": hex::encode(&sealed.payload),
            "manifest": hex::encode(&sealed.manifest_bytes),
        }));
    }

    // Invalid cases, from the zstd-patch bundle. Its encoding section sits
    // right before the signer section (84 bytes here: no chain).
    let (encoded, manifest) = sealed_patch.expect("a zstd-patch case");
    let section = manifest.len() - 84 - (1 + 8 + 32 + 8 + 1 + BASE_VERSION.len() + 8 + 32);
    let mut unknown = manifest.clone();
    unknown[section] = 9;
    let mut zero_len = manifest.clone();
    zero_len[section + 1..section + 9].fill(0);
    let mut wrong_base = base.clone();
    wrong_base[100] ^= 1;
    let mut other_result = new.clone();
    other_result[0] ^= 1;
    let mislabelled = seal(&encoded, Encoding::ZstdPatch, &other_result, &base, 204);
    // A bsdiff-xz stream whose LZMA2 dictionary (64 MiB) is over the 16 MiB
    // a reader must accept: refused from its header, signed as it is.
    let records = bsdiff_records(&base, &new);
    let mut opts = liblzma::stream::LzmaOptions::new_preset(6).unwrap();
    opts.dict_size(64 << 20);
    let mut filters = liblzma::stream::Filters::new();
    filters.lzma2(&opts);
    let stream =
        liblzma::stream::Stream::new_stream_encoder(&filters, liblzma::stream::Check::Crc64)
            .unwrap();
    let mut xz = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
    std::io::Write::write_all(&mut xz, &records).unwrap();
    let big_dict = seal(&xz.finish().unwrap(), Encoding::BsdiffXz, &new, &base, 206);
    let invalid = json!([
        {"name": "unknown-encoding", "description": "encoding byte 9",
         "manifest": hex::encode(&unknown), "payload": null, "base": null},
        {"name": "zero-result-len", "description": "result_len 0",
         "manifest": hex::encode(&zero_len), "payload": null, "base": null},
        {"name": "wrong-base", "description": "the base with byte 100 flipped",
         "manifest": null, "payload": null, "base": hex::encode(&wrong_base)},
        {"name": "result-digest", "description": "signed as decoding to the result with byte 0 flipped",
         "manifest": hex::encode(&mislabelled.manifest_bytes),
         "payload": hex::encode(&mislabelled.payload), "base": null},
        {"name": "xz-dictionary", "description": "bsdiff-xz whose LZMA2 dictionary is 64 MiB (over 16 MiB)",
         "manifest": hex::encode(&big_dict.manifest_bytes),
         "payload": hex::encode(&big_dict.payload), "base": null},
    ]);
    json!({
        "description": "FORMAT.md §17: bundles sealed as encodings (manifest version 2). Keys: tests/vectors/v1/manifest.json (signing_public; devices[0] is the recipient). Chunks of 16 KiB. Invalid cases are based on the zstd-patch case; null fields are that case's.",
        "valid": valid,
        "invalid": invalid,
        "expected_errors": {
            "unknown-encoding": "Format.InvalidField.encoding",
            "zero-result-len": "Format.InvalidField.result_len",
            "wrong-base": "WrongBase",
            "result-digest": "BadDelta",
            "xz-dictionary": "BadDelta",
        },
    })
}

fn hexv(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// Installs `manifest` + `payload` against `base` through the library.
fn install(
    manifest: &[u8],
    payload: &[u8],
    base: Option<&[u8]>,
) -> Result<Vec<u8>, otaseal::Error> {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    let (p, b, out) = (
        dir.path().join("p"),
        dir.path().join("b"),
        dir.path().join("out"),
    );
    std::fs::write(&p, payload).unwrap();
    if let Some(base) = base {
        std::fs::write(&b, base).unwrap();
    }
    let trust = TrustAnchor::SigningKey(k.signer.verifying_key());
    let mut s = Session::new(manifest, &trust, SessionOptions::new(NOW))?;
    open_payload_file(
        &mut s,
        &p,
        &k.devices[0],
        base.map(|_| b.as_path()),
        &out,
        1,
    )?;
    Ok(std::fs::read(&out).unwrap())
}

#[test]
fn checked_in_vectors_are_current() {
    check_vectors(VECTORS, &generate());
}

#[test]
fn valid_vectors_install_and_match_an_independent_reading_of_section_17() {
    let v = load_vectors(VECTORS);
    for case in v["valid"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let base = case["base"].as_str().map(|h| hex::decode(h).unwrap());
        let result = hexv(&case["result"]);
        let encoded = hexv(&case["encoded"]);
        let payload = hexv(&case["payload"]);
        let manifest = hexv(&case["manifest"]);
        assert_eq!(&manifest[8..10], &2u16.to_be_bytes(), "{name}: version 2");

        // Through the library, from the sealed files.
        assert_eq!(
            install(&manifest, &payload, base.as_deref()).unwrap(),
            result,
            "{name}"
        );

        // §17.3 from the data key alone.
        let data_key: [u8; 32] = hexv(&case["data_key"]).try_into().unwrap();
        let digest_key = blake3::derive_key("otaseal 2026-12 plaintext digest key", &data_key);
        assert_eq!(
            hex::encode(digest_key),
            case["digest_key"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(blake3::keyed_hash(&digest_key, &result).as_bytes()),
            case["result_digest"].as_str().unwrap()
        );
        // The signed section carries the same digest (§17.1).
        let hit = manifest
            .windows(32)
            .any(|w| w == blake3::keyed_hash(&digest_key, &result).as_bytes());
        assert!(hit, "{name}: result digest in the manifest");

        // §17.2 / §17.5 with other code than the library's.
        let decoded = match case["encoding"].as_u64().unwrap() {
            1 => zstd::stream::decode_all(&encoded[..]).unwrap(),
            2 => {
                let base = base.as_deref().unwrap();
                let mut d =
                    zstd::stream::read::Decoder::with_ref_prefix(&encoded[..], base).unwrap();
                d.window_log_max(31).unwrap();
                let mut out = Vec::new();
                d.read_to_end(&mut out).unwrap();
                out
            }
            3 => bspatch(
                base.as_deref().unwrap(),
                &zstd::stream::decode_all(&encoded[..]).unwrap(),
            ),
            4 => {
                // Exactly one .xz stream (no concatenation flag), checked.
                let mut d = liblzma::read::XzDecoder::new(&encoded[..]);
                let mut records = Vec::new();
                d.read_to_end(&mut records).unwrap();
                assert_eq!(
                    d.total_in(),
                    encoded.len() as u64,
                    "{name}: one stream, nothing after"
                );
                bspatch(base.as_deref().unwrap(), &records)
            }
            e => panic!("{name}: encoding {e}"),
        };
        assert_eq!(decoded, result, "{name}");
    }
}

/// The raw bsdiff records (FORMAT.md §17.5) from `base` to `new`, as the
/// `bsdiff` crate writes them.
fn bsdiff_records(base: &[u8], new: &[u8]) -> Vec<u8> {
    let mut raw = Vec::new();
    bsdiff::diff(base, new, &mut raw).unwrap();
    raw
}

/// FORMAT.md §17.5, as written.
fn bspatch(base: &[u8], mut records: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut cursor: i64 = 0;
    let word = |b: &[u8]| u64::from_le_bytes(b[..8].try_into().unwrap());
    while !records.is_empty() {
        let mix_len = word(&records[0..]) as usize;
        let copy_len = word(&records[8..]) as usize;
        let raw = word(&records[16..]);
        let seek = (raw & !(1 << 63)) as i64 * if raw >> 63 == 1 { -1 } else { 1 };
        records = &records[24..];
        let at = cursor as usize;
        for i in 0..mix_len {
            out.push(records[i].wrapping_add(base[at + i]));
        }
        out.extend_from_slice(&records[mix_len..mix_len + copy_len]);
        records = &records[mix_len + copy_len..];
        cursor += mix_len as i64 + seek;
    }
    out
}

#[test]
fn invalid_vectors_fail_with_their_named_error() {
    let v = load_vectors(VECTORS);
    let patch = &v["valid"][1];
    assert_eq!(patch["name"], "zstd-patch");
    let expected = &v["expected_errors"];
    for case in v["invalid"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let pick = |field: &str| match &case[field] {
            Value::Null => hexv(&patch[field]),
            x => hexv(x),
        };
        let err =
            install(&pick("manifest"), &pick("payload"), Some(&pick("base"))).expect_err(name);
        assert_eq!(
            error_name(&err),
            expected[name].as_str().unwrap(),
            "{name}: {err}"
        );
    }
}
