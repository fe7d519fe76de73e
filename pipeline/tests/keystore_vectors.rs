//! Test vectors for the encrypted key file (`docs/FORMAT.md` §14):
//! fixed passphrase, salt, nonce and secret -> exact file bytes; and files a
//! decoder must reject, each with the error it must give.
//!
//! The checked-in `tests/vectors/keystore/vectors.json` must equal what this
//! build produces. Regenerate with `OTASEAL_REGEN_VECTORS=1 cargo test -p
//! otaseal --test tests keystore_vectors::` after a deliberate format change.

use crate::common::vectors::{check_vectors, load_vectors};
use otaseal::Error;
use otaseal::format::FormatError;
use otaseal::keys::file::AnyKey;
use otaseal::keys::keystore::{EncryptedKey, Passphrase};
use otaseal::keys::{KdfParams, KemId, KeyRole, RecipientSecretKey, SigningKey};
use serde_json::{Value, json};
use std::convert::Infallible;

/// Hands out fixed bytes: the salt, then the nonce.
struct Fixed(Vec<u8>);

impl rand_core::TryRng for Fixed {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        unreachable!("the keystore only asks for bytes")
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        unreachable!("the keystore only asks for bytes")
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        assert!(
            dst.len() <= self.0.len(),
            "asked for more fixed bytes than given"
        );
        let rest = self.0.split_off(dst.len());
        dst.copy_from_slice(&self.0);
        self.0 = rest;
        Ok(())
    }
}
impl rand_core::TryCryptoRng for Fixed {}

struct Case {
    name: &'static str,
    note: &'static str,
    role: KeyRole,
    alg: &'static str,
    secret: [u8; 32],
    passphrase: &'static str,
    salt: [u8; 16],
    nonce: [u8; 12],
    kdf: KdfParams,
}

fn cases() -> Vec<Case> {
    let small = KdfParams::new(64, 1, 1).unwrap();
    vec![
        Case {
            name: "ed25519-release-default-params",
            note: "what `otaseal keys generate --kind release` writes",
            role: KeyRole::Release,
            alg: "ed25519",
            secret: [0x11; 32],
            passphrase: "correct horse battery staple",
            salt: *b"otaseal-salt-001",
            nonce: *b"nonce-000001",
            kdf: KdfParams::DEFAULT,
        },
        Case {
            name: "x25519-device-owasp-minimum",
            note: "OWASP's minimum Argon2id parameters",
            role: KeyRole::Device,
            alg: "x25519",
            secret: [0x22; 32],
            passphrase: "pässwörd ünïcode",
            salt: [0xa5; 16],
            nonce: [0x5a; 12],
            kdf: KdfParams::OWASP_MINIMUM,
        },
        Case {
            name: "p256-device-small-params",
            note: "tiny Argon2id parameters: valid on read, never written by the CLI",
            role: KeyRole::Device,
            alg: "p256",
            secret: [0x33; 32],
            passphrase: "p",
            salt: [0; 16],
            nonce: [0; 12],
            kdf: small,
        },
        Case {
            name: "ed25519-root-small-params",
            note: "tiny Argon2id parameters; the base of the rejection vectors",
            role: KeyRole::Root,
            alg: "ed25519",
            secret: [0x44; 32],
            passphrase: "root passphrase",
            salt: [0x01; 16],
            nonce: [0x02; 12],
            kdf: small,
        },
    ]
}

fn key_of(case: &Case) -> AnyKey {
    match case.alg {
        "ed25519" => AnyKey::SigningSecret(SigningKey::from_bytes(&case.secret)),
        "x25519" => AnyKey::RecipientSecret(
            RecipientSecretKey::from_secret_bytes(KemId::X25519, &case.secret).unwrap(),
        ),
        "p256" => AnyKey::RecipientSecret(
            RecipientSecretKey::from_secret_bytes(KemId::P256, &case.secret).unwrap(),
        ),
        other => unreachable!("{other}"),
    }
}

fn pass(s: &str) -> Passphrase {
    Passphrase::new(s.to_owned())
}

fn encrypt(case: &Case) -> EncryptedKey {
    let mut rng = Fixed([&case.salt[..], &case.nonce[..]].concat());
    let enc = EncryptedKey::encrypt(
        &key_of(case),
        case.role,
        &pass(case.passphrase),
        case.kdf,
        &mut rng,
    )
    .unwrap();
    assert!(rng.0.is_empty(), "the keystore used fewer random bytes");
    enc
}

/// Byte edits of the last good vector that a reader must reject.
fn rejections(good: &[u8]) -> Vec<(&'static str, Vec<u8>, &'static str, &'static str)> {
    let patch = |at: usize, with: &[u8]| {
        let mut b = good.to_vec();
        b[at..at + with.len()].copy_from_slice(with);
        b
    };
    let last = good.len() - 1;
    vec![
        (
            "wrong-passphrase",
            good.to_vec(),
            "wrong passphrase",
            "root passphrasE",
        ),
        (
            "tag-flipped",
            patch(last, &[good[last] ^ 1]),
            "wrong passphrase",
            "root passphrase",
        ),
        (
            "ciphertext-flipped",
            patch(85, &[good[85] ^ 0x80]),
            "wrong passphrase",
            "root passphrase",
        ),
        (
            "salt-flipped",
            patch(20, &[good[20] ^ 1]),
            "wrong passphrase",
            "root passphrase",
        ),
        // This flip leaves no valid public key: refused at load (§14.3).
        (
            "public-key-flipped",
            patch(53, &[good[53] ^ 1]),
            "public_key",
            "root passphrase",
        ),
        // A flip that leaves another valid key: the header is the AEAD's
        // associated data, so the tag fails.
        (
            "public-key-other-point",
            other_valid_public_key(good),
            "wrong passphrase",
            "root passphrase",
        ),
        (
            "public-key-small-order",
            patch(53, &identity_point()),
            "public_key",
            "root passphrase",
        ),
        (
            "m-cost-4-gib",
            patch(11, &u32::MAX.to_be_bytes()),
            "argon2_m_cost",
            "",
        ),
        (
            "m-cost-below-8p",
            patch(11, &7u32.to_be_bytes()),
            "argon2_m_cost",
            "",
        ),
        (
            "t-cost-zero",
            patch(15, &0u32.to_be_bytes()),
            "argon2_t_cost",
            "",
        ),
        (
            "t-cost-huge",
            patch(15, &u32::MAX.to_be_bytes()),
            "argon2_t_cost",
            "",
        ),
        ("p-cost-zero", patch(19, &[0]), "argon2_p_cost", ""),
        ("p-cost-255", patch(19, &[255]), "argon2_p_cost", ""),
        ("unknown-kdf", patch(10, &[2]), "kdf", ""),
        ("unknown-aead", patch(36, &[9]), "aead", ""),
        ("unknown-alg", patch(49, &[0xff, 0xff]), "key_alg", ""),
        ("root-role-on-device-alg", patch(49, &[0, 0x20]), "role", ""),
        ("device-role-on-signing-alg", patch(51, &[3]), "role", ""),
        (
            "truncated",
            good[..good.len() - 1].to_vec(),
            "truncated",
            "",
        ),
        ("trailing-byte", [good, &[0][..]].concat(), "trailing", ""),
        ("version-2", patch(8, &[0, 2]), "version", ""),
    ]
}

/// The Ed25519 identity point (small order), encoded.
fn identity_point() -> [u8; 32] {
    let mut p = [0u8; 32];
    p[0] = 1;
    p
}

/// `good` (an Ed25519 keystore) with the first one-bit flip of its public
/// key (offsets 53..85) that still gives a valid public key.
fn other_valid_public_key(good: &[u8]) -> Vec<u8> {
    for at in 53..85 {
        for bit in 0..8 {
            let mut b = good.to_vec();
            b[at] ^= 1 << bit;
            let pk: [u8; 32] = b[53..85].try_into().unwrap();
            if otaseal::keys::VerifyingKey::from_bytes(&pk).is_ok() {
                return b;
            }
        }
    }
    unreachable!("about half of all flips give a valid point")
}

fn error_name(bytes: &[u8], passphrase: &str) -> String {
    match EncryptedKey::parse(bytes) {
        Err(Error::InvalidKey { .. }) => "public_key".into(),
        Err(Error::Format(FormatError::InvalidField { field, .. })) => field.to_owned(),
        Err(Error::Format(FormatError::Truncated { .. })) => "truncated".into(),
        Err(Error::Format(FormatError::TrailingBytes { .. })) => "trailing".into(),
        Err(Error::Format(FormatError::UnsupportedVersion { .. })) => "version".into(),
        Err(e) => format!("unexpected: {e}"),
        Ok(k) => match k.unlock(&pass(passphrase), None) {
            Err(Error::WrongPassphrase { .. }) => "wrong passphrase".into(),
            Err(e) => format!("unexpected: {e}"),
            Ok(_) => "unlocked".into(),
        },
    }
}

fn build() -> Value {
    let mut good = Vec::new();
    let mut base = Vec::new();
    for case in cases() {
        let enc = encrypt(&case);
        base = enc.to_bytes();
        good.push(json!({
            "name": case.name,
            "note": case.note,
            "role": case.role.to_string(),
            "alg": case.alg,
            "passphrase": case.passphrase,
            "passphrase_hex": hex::encode(case.passphrase),
            "secret": hex::encode(case.secret),
            "public_key": hex::encode(enc.public_key_bytes()),
            "key_id": enc.key_id().to_string(),
            "salt": hex::encode(case.salt),
            "nonce": hex::encode(case.nonce),
            "argon2id": {
                "m_cost_kib": case.kdf.m_cost_kib(),
                "t_cost": case.kdf.t_cost(),
                "p_cost": case.kdf.p_cost(),
            },
            "file": hex::encode(enc.to_bytes()),
        }));
    }
    let reject: Vec<Value> = rejections(&base)
        .into_iter()
        .map(|(name, bytes, expect, passphrase)| {
            json!({
                "name": name,
                "file": hex::encode(&bytes),
                "passphrase": passphrase,
                "error": expect,
            })
        })
        .collect();
    json!({
        "format": "otaseal encrypted secret key, version 1 (docs/FORMAT.md §14)",
        "valid": good,
        "reject": reject,
    })
}

const VECTORS: &str = "keystore/vectors.json";

#[test]
fn checked_in_vectors_are_up_to_date() {
    check_vectors(VECTORS, &build());
}

/// Reads the checked-in vectors as a second implementation would: decode,
/// unlock, compare the secret; and every rejection gives its named error.
#[test]
fn checked_in_vectors_decode() {
    let v = load_vectors(VECTORS);
    for good in v["valid"].as_array().unwrap() {
        let bytes = hex::decode(good["file"].as_str().unwrap()).unwrap();
        let k = EncryptedKey::parse(&bytes).unwrap();
        assert_eq!(k.key_id().to_string(), good["key_id"].as_str().unwrap());
        assert_eq!(k.role().to_string(), good["role"].as_str().unwrap());
        let key = k
            .unlock(&pass(good["passphrase"].as_str().unwrap()), None)
            .unwrap();
        let secret_hex = key.to_text().encode();
        assert!(
            secret_hex.ends_with(good["secret"].as_str().unwrap()),
            "{}",
            good["name"]
        );
    }
    for bad in v["reject"].as_array().unwrap() {
        let bytes = hex::decode(bad["file"].as_str().unwrap()).unwrap();
        assert_eq!(
            error_name(&bytes, bad["passphrase"].as_str().unwrap()),
            bad["error"].as_str().unwrap(),
            "{}",
            bad["name"]
        );
    }
}
