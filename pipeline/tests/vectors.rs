//! Format v1 test vectors (`tests/vectors/v1/manifest.json`): fixed keys and
//! random seeds -> exact payload and manifest bytes, plus invalid inputs that
//! each name the error a decoder must produce.
//!
//! The checked-in file is regenerated with `OTASEAL_REGEN_VECTORS=1 cargo test
//! -p otaseal --test tests vectors::`; without it, a stale file fails the test.

use crate::common::vectors::{check_vectors, load_vectors};
use crate::common::{error_name, pattern, rng};
use aes_gcm::{AeadInOut, KeyInit};
use otaseal::format::{ChunkSize, Manifest};
use otaseal::keys::{KemId, RecipientPublicKey, RecipientSecretKey, Signer, SigningKey};
use otaseal::open::{TrustAnchor, open};
use otaseal::seal::{SealOptions, SealedBundle, seal_with_rng};
use rand_core::Rng;
use serde_json::{Value, json};

const CHUNK_LOG2: u8 = 14;

pub(crate) struct Keys {
    pub(crate) signer: SigningKey,
    other_signer: SigningKey,
    pub(crate) devices: Vec<RecipientSecretKey>,
    stranger: RecipientSecretKey,
}

/// The fixed keys of every manifest vector (version 2's too).
pub(crate) fn keys() -> Keys {
    let mut r = rng(0x5eed);
    Keys {
        signer: SigningKey::generate(&mut r),
        other_signer: SigningKey::generate(&mut r),
        devices: vec![
            RecipientSecretKey::generate(KemId::X25519, &mut r),
            RecipientSecretKey::generate(KemId::P256, &mut r),
        ],
        stranger: RecipientSecretKey::generate(KemId::X25519, &mut r),
    }
}

struct Case {
    name: &'static str,
    len: usize,
    recipients: &'static [usize],
    expires: Option<u64>,
    seed: u64,
}

const CASES: &[Case] = &[
    Case {
        name: "empty",
        len: 0,
        recipients: &[0],
        expires: None,
        seed: 10,
    },
    Case {
        name: "one-byte",
        len: 1,
        recipients: &[0],
        expires: None,
        seed: 11,
    },
    Case {
        name: "chunk-minus-one",
        len: 16_383,
        recipients: &[0],
        expires: None,
        seed: 12,
    },
    Case {
        name: "one-chunk",
        len: 16_384,
        recipients: &[0],
        expires: None,
        seed: 13,
    },
    Case {
        name: "chunk-plus-one",
        len: 16_385,
        recipients: &[0],
        expires: None,
        seed: 14,
    },
    Case {
        name: "three-chunks-two-recipients",
        len: 40_000,
        recipients: &[0, 1],
        expires: Some(1_800_000_000),
        seed: 15,
    },
];

fn options(expires: Option<u64>) -> SealOptions {
    let mut o = SealOptions::new(
        "com.example.maps".parse().unwrap(),
        "stable".parse().unwrap(),
        "4.2.0".parse().unwrap(),
        42,
    );
    o.created = 1_790_000_000;
    o.expires = expires;
    o.chunk_size = ChunkSize::from_log2(CHUNK_LOG2).unwrap();
    o
}

fn seal_case(k: &Keys, c: &Case, signer: &SigningKey, seed: u64) -> SealedBundle {
    let recipients: Vec<RecipientPublicKey> = c
        .recipients
        .iter()
        .map(|&i| k.devices[i].public_key().clone())
        .collect();
    seal_with_rng(
        &pattern(c.len),
        &options(c.expires),
        &recipients,
        signer,
        &mut rng(seed),
    )
    .unwrap()
}

/// The data key and bundle id are the first 48 bytes the seeded RNG yields.
pub(crate) fn data_key_and_id(seed: u64) -> ([u8; 32], [u8; 16]) {
    let mut r = rng(seed);
    let (mut key, mut id) = ([0u8; 32], [0u8; 16]);
    r.fill_bytes(&mut key);
    r.fill_bytes(&mut id);
    (key, id)
}

/// Re-encodes `m` with its old signature (so the signature no longer covers it).
fn with_field(base: &[u8], edit: impl FnOnce(&mut Manifest)) -> Vec<u8> {
    let (mut m, _) = Manifest::parse(base).unwrap();
    edit(&mut m);
    m.to_bytes()
}

/// Re-encodes `m` and signs it properly with `signer`.
fn resigned(base: &[u8], signer: &SigningKey, edit: impl FnOnce(&mut Manifest)) -> Vec<u8> {
    let (mut m, _) = Manifest::parse(base).unwrap();
    edit(&mut m);
    m.signature = signer.sign(&m.signed_bytes()).unwrap();
    m.to_bytes()
}

fn generate() -> Value {
    let k = keys();
    let mut valid = Vec::new();
    let mut base = None;
    for c in CASES {
        let sealed = seal_case(&k, c, &k.signer, c.seed);
        let (data_key, bundle_id) = data_key_and_id(c.seed);
        assert_eq!(sealed.manifest.bundle_id, bundle_id);
        valid.push(json!({
            "name": c.name,
            "plaintext_len": c.len,
            "chunk_size": 1u64 << CHUNK_LOG2,
            "app_id": "com.example.maps",
            "channel": "stable",
            "version": "4.2.0",
            "sequence": 42,
            "created": 1_790_000_000u64,
            "expires": c.expires,
            "rng_seed": c.seed,
            "recipients": c.recipients,
            "data_key": hex::encode(data_key),
            "bundle_id": hex::encode(bundle_id),
            "root": hex::encode(sealed.manifest.root),
            "payload": hex::encode(&sealed.payload),
            "manifest": hex::encode(&sealed.manifest_bytes),
        }));
        base = Some((c, sealed));
    }
    let (base_case, b) = base.unwrap();
    let m = &b.manifest_bytes;
    let p = &b.payload;
    let cs = 1usize << CHUNK_LOG2;

    let mut invalid = Vec::new();
    let mut bad = |name: &str, why: &str, manifest: Vec<u8>, payload: Option<Vec<u8>>| {
        invalid.push(json!({
            "name": name,
            "description": why,
            "based_on": base_case.name,
            "manifest": hex::encode(manifest),
            "payload": payload.map(hex::encode),
            "trust": "signer",
            "device": 0,
        }));
    };
    let flip = |bytes: &[u8], at: usize| {
        let mut v = bytes.to_vec();
        v[at] ^= 0x01;
        v
    };
    bad("empty-manifest", "zero bytes", vec![], None);
    bad(
        "garbage",
        "not an otaseal document",
        b"PK\x03\x04 this is a zip file".to_vec(),
        None,
    );
    bad("bad-magic", "first byte altered", flip(m, 0), None);
    let mut kind = m.clone();
    kind[4..8].copy_from_slice(b"CERT");
    bad("wrong-kind", "document kind CERT", kind, None);
    // Version 2 is the encoded manifest (FORMAT.md §17); 3 is unknown to
    // every reader.
    let mut v3 = m.clone();
    v3[9] = 3;
    bad("unknown-version", "format version 3", v3, None);
    bad("flags-set", "reserved flags bit set", flip(m, 11), None);
    bad(
        "truncated-manifest",
        "last byte missing",
        m[..m.len() - 1].to_vec(),
        None,
    );
    let mut trailing = m.clone();
    trailing.push(0);
    bad(
        "trailing-byte",
        "one byte after the signature",
        trailing,
        None,
    );
    bad(
        "signature-altered",
        "one bit of the signature flipped",
        flip(m, m.len() - 1),
        None,
    );
    bad(
        "app-altered",
        "app_id changed, old signature",
        with_field(m, |m| m.app_id = "com.evil.maps".parse().unwrap()),
        None,
    );
    bad(
        "channel-altered",
        "channel changed",
        with_field(m, |m| m.channel = "beta".parse().unwrap()),
        None,
    );
    bad(
        "version-altered",
        "version label changed",
        with_field(m, |m| m.version = "9.9.9".parse().unwrap()),
        None,
    );
    bad(
        "sequence-altered",
        "sequence raised",
        with_field(m, |m| m.sequence += 1),
        None,
    );
    bad(
        "created-altered",
        "creation time changed",
        with_field(m, |m| m.created += 1),
        None,
    );
    bad(
        "expires-removed",
        "expiry removed",
        with_field(m, |m| m.expires = None),
        None,
    );
    bad(
        "bundle-id-altered",
        "bundle id changed",
        with_field(m, |m| m.bundle_id[0] ^= 1),
        None,
    );
    bad(
        "root-altered",
        "root changed",
        with_field(m, |m| m.root[0] ^= 1),
        None,
    );
    bad(
        "cv-altered",
        "chunk 1 hash changed",
        with_field(m, |m| m.chunks[1].cv[0] ^= 1),
        None,
    );
    bad(
        "tag-altered",
        "chunk 1 tag changed",
        with_field(m, |m| m.chunks[1].tag[0] ^= 1),
        None,
    );
    bad(
        "stanza-altered",
        "wrapped key changed",
        with_field(m, |m| m.recipients[0].wrapped_key[0] ^= 1),
        None,
    );
    bad(
        "stanzas-swapped",
        "recipient stanzas reordered",
        with_field(m, |m| m.recipients.swap(0, 1)),
        None,
    );
    bad(
        "signer-altered",
        "signer key id changed",
        with_field(m, |m| m.signer.key_id.0[0] ^= 1),
        None,
    );
    bad(
        "root-resigned",
        "root changed and re-signed by the signer: table no longer merges to it",
        resigned(m, &k.signer, |m| m.root[0] ^= 1),
        None,
    );
    bad(
        "tag-resigned",
        "chunk 0 tag changed and re-signed: AES-GCM must reject chunk 0",
        resigned(m, &k.signer, |m| m.chunks[0].tag[0] ^= 1),
        None,
    );
    let foreign = seal_case(&k, base_case, &k.other_signer, 99);
    bad(
        "other-signer",
        "sealed and signed by an untrusted key",
        foreign.manifest_bytes.clone(),
        Some(foreign.payload.clone()),
    );
    bad(
        "payload-truncated",
        "payload missing its last byte",
        m.clone(),
        Some(p[..p.len() - 1].to_vec()),
    );
    let mut extended = p.clone();
    extended.push(0);
    bad(
        "payload-extended",
        "one byte appended to the payload",
        m.clone(),
        Some(extended),
    );
    bad(
        "payload-bit-flip",
        "one bit flipped in chunk 1",
        m.clone(),
        Some(flip(p, cs + 5)),
    );
    let mut swapped = p.clone();
    let (a, rest) = swapped.split_at_mut(cs);
    a.swap_with_slice(&mut rest[..cs]);
    bad(
        "chunks-swapped",
        "chunks 0 and 1 exchanged",
        m.clone(),
        Some(swapped),
    );
    let other = seal_case(&k, base_case, &k.signer, 98);
    let mut spliced = p.clone();
    spliced[cs..2 * cs].copy_from_slice(&other.payload[cs..2 * cs]);
    bad(
        "chunk-from-other-bundle",
        "chunk 1 taken from another sealing of the same plaintext",
        m.clone(),
        Some(spliced),
    );
    let mut dropped = p.clone();
    dropped.drain(cs..2 * cs);
    bad("chunk-dropped", "chunk 1 removed", m.clone(), Some(dropped));
    invalid.push(json!({
        "name": "not-a-recipient",
        "description": "opened with a key the bundle was not sealed for",
        "based_on": base_case.name,
        "manifest": hex::encode(m),
        "payload": null,
        "trust": "signer",
        "device": "stranger",
    }));

    json!({
        "description": "otaseal format v1 test vectors; see docs/FORMAT.md §9",
        "plaintext": "byte i of a plaintext is i mod 251",
        "signing_secret": hex::encode(k.signer.to_secret_bytes().as_slice()),
        "signing_public": hex::encode(k.signer.verifying_key().to_bytes()),
        "signing_key_id": k.signer.verifying_key().key_id().to_string(),
        "devices": k.devices.iter().map(device_json).collect::<Vec<_>>(),
        "stranger": device_json(&k.stranger),
        "valid": valid,
        "invalid": invalid,
        "expected_errors": expected_errors(),
    })
}

fn device_json(d: &RecipientSecretKey) -> Value {
    json!({
        "kem": d.kem().to_string(),
        "secret": hex::encode(d.to_secret_bytes().as_slice()),
        "public": hex::encode(d.public_key().as_bytes()),
        "key_id": d.key_id().to_string(),
    })
}

/// Expected errors, keyed by invalid vector name; kept apart from the
/// generator so a change in behaviour shows up as a failing test, not a
/// silently regenerated file.
fn expected_errors() -> Value {
    json!({
        "empty-manifest": "Format.Truncated.magic",
        "garbage": "Format.BadMagic",
        "bad-magic": "Format.BadMagic",
        "wrong-kind": "Format.WrongKind",
        "unknown-version": "Format.UnsupportedVersion",
        "flags-set": "Format.InvalidField.flags",
        "truncated-manifest": "Format.Truncated.signature",
        "trailing-byte": "Format.TrailingBytes",
        "signature-altered": "BadSignature",
        "app-altered": "BadSignature",
        "channel-altered": "BadSignature",
        "version-altered": "BadSignature",
        "sequence-altered": "BadSignature",
        "created-altered": "BadSignature",
        "expires-removed": "BadSignature",
        "bundle-id-altered": "BadSignature",
        "root-altered": "BadSignature",
        "cv-altered": "BadSignature",
        "tag-altered": "BadSignature",
        "stanza-altered": "BadSignature",
        "stanzas-swapped": "BadSignature",
        "signer-altered": "UntrustedSigner",
        "root-resigned": "TableRootMismatch",
        "tag-resigned": "ChunkTagMismatch.0",
        "other-signer": "UntrustedSigner",
        "payload-truncated": "PayloadLength",
        "payload-extended": "PayloadLength",
        "payload-bit-flip": "ChunkHashMismatch.1",
        "chunks-swapped": "ChunkHashMismatch.0",
        "chunk-from-other-bundle": "ChunkHashMismatch.1",
        "chunk-dropped": "PayloadLength",
        "not-a-recipient": "NotARecipient",
    })
}

const VECTORS: &str = "v1/manifest.json";

#[test]
fn checked_in_vectors_are_up_to_date() {
    check_vectors(VECTORS, &generate());
}

fn hexv(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn device_from(v: &Value) -> RecipientSecretKey {
    let kem = match v["kem"].as_str().unwrap() {
        "x25519" => KemId::X25519,
        _ => KemId::P256,
    };
    RecipientSecretKey::from_secret_bytes(kem, &hexv(&v["secret"]).try_into().unwrap()).unwrap()
}

/// Checks the checked-in valid vectors the way a verifier written from the
/// spec alone would: b3sum, signature, then an independent AES-GCM decrypt
/// with the published data key, nonce and associated-data layouts.
#[test]
fn valid_vectors_open_and_match_an_independent_decryption() {
    let v = load_vectors(VECTORS);
    let signer =
        otaseal::keys::VerifyingKey::from_bytes(&hexv(&v["signing_public"]).try_into().unwrap())
            .unwrap();
    let trust = TrustAnchor::SigningKey(signer);
    for case in v["valid"].as_array().unwrap() {
        let payload = hexv(&case["payload"]);
        let manifest = hexv(&case["manifest"]);
        let len = case["plaintext_len"].as_u64().unwrap() as usize;
        assert_eq!(
            hex::encode(blake3::hash(&payload).as_bytes()),
            case["root"].as_str().unwrap()
        );
        for i in case["recipients"].as_array().unwrap() {
            let device = device_from(&v["devices"][i.as_u64().unwrap() as usize]);
            assert_eq!(
                open(&payload, &manifest, &trust, &device).unwrap(),
                pattern(len)
            );
        }

        // Reference decryption straight from FORMAT.md §5.2.
        let key: [u8; 32] = hexv(&case["data_key"]).try_into().unwrap();
        let bundle_id = hexv(&case["bundle_id"]);
        let (m, _) = Manifest::parse(&manifest).unwrap();
        let cipher = aes_gcm::Aes256Gcm::new(&key.into());
        let mut aad = b"otaseal v1 chunk".to_vec();
        aad.extend_from_slice(&bundle_id);
        aad.extend_from_slice(&(len as u64).to_be_bytes());
        aad.push(CHUNK_LOG2);
        let n = m.chunks.len();
        let mut plain = Vec::new();
        for (i, chunk) in payload.chunks(1 << CHUNK_LOG2).enumerate().chain(
            // An empty payload still has one (empty) chunk.
            (len == 0).then_some((0, &[][..])),
        ) {
            let mut nonce = [0u8; 12];
            nonce[7..11].copy_from_slice(&(i as u32).to_be_bytes());
            nonce[11] = u8::from(i + 1 == n);
            let mut buf = chunk.to_vec();
            cipher
                .decrypt_inout_detached(
                    &nonce.into(),
                    &aad,
                    buf.as_mut_slice().into(),
                    &m.chunks[i].tag.into(),
                )
                .unwrap_or_else(|_| panic!("{}: chunk {i}", case["name"]));
            plain.extend_from_slice(&buf);
        }
        assert_eq!(plain, pattern(len), "{}", case["name"]);
    }
}

#[test]
fn invalid_vectors_fail_with_their_named_error() {
    let v = load_vectors(VECTORS);
    let signer =
        otaseal::keys::VerifyingKey::from_bytes(&hexv(&v["signing_public"]).try_into().unwrap())
            .unwrap();
    let trust = TrustAnchor::SigningKey(signer);
    let bases: std::collections::HashMap<&str, &Value> = v["valid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c))
        .collect();
    let expected = &v["expected_errors"];
    let invalid = v["invalid"].as_array().unwrap();
    assert_eq!(invalid.len(), expected.as_object().unwrap().len());
    for case in invalid {
        let name = case["name"].as_str().unwrap();
        let base = bases[case["based_on"].as_str().unwrap()];
        let payload = match &case["payload"] {
            Value::Null => hexv(&base["payload"]),
            p => hexv(p),
        };
        let device = match &case["device"] {
            Value::String(_) => device_from(&v["stranger"]),
            i => device_from(&v["devices"][i.as_u64().unwrap() as usize]),
        };
        let err = open(&payload, &hexv(&case["manifest"]), &trust, &device).expect_err(name);
        assert_eq!(
            error_name(&err),
            expected[name].as_str().unwrap(),
            "vector {name}: {err}"
        );
    }
}
