//! Checked-in test vectors for certificates, revocation lists, root rotation
//! statements, trust states and audit log lines
//! (`pipeline/tests/vectors/certificates/vectors.json`, described in
//! `docs/FORMAT.md` §10.7 and `docs/FORMAT.md` §16.6).
//!
//! The vectors are regenerated from fixed seeds; the test fails when the
//! checked-in file differs (stale vectors or an unintended format change).
//! Regenerate with `OTASEAL_REGEN_VECTORS=1 cargo test -p otaseal --test tests trust_vectors::`.

use crate::common::vectors::{check_vectors, load_vectors};
use otaseal::audit::{AuditLog, Event, Op, Outcome};
use otaseal::format::FormatError;
use otaseal::format::cert::{AppScope, Certificate, CertificateBody, ChannelScope, KeyUsage};
use otaseal::format::revocation::RevocationList;
use otaseal::format::rotation::RotationStatement;
use otaseal::keys::trust::{
    TrustState, issue_certificate, issue_revocation_list, sign_rotation, verify_signature,
};
use otaseal::keys::{KeyId, SigAlg, SigningKey};
use serde_json::{Value, json};

const VECTORS: &str = "certificates/vectors.json";

fn seeded(byte: u8) -> SigningKey {
    SigningKey::from_bytes(&[byte; 32])
}

fn generate() -> Value {
    let root = seeded(0x01);
    let release = seeded(0x02);
    let new_root = seeded(0x03);
    let cert = issue_certificate(
        &root,
        CertificateBody {
            serial: 0x0123_4567_89ab_cdef,
            subject_alg: SigAlg::Ed25519,
            subject_public_key: release.verifying_key().to_bytes().to_vec(),
            not_before: 1_767_225_600,
            not_after: 1_798_761_600,
            usage: KeyUsage::SIGN_MANIFESTS,
            channels: ChannelScope::only(vec!["stable".parse().unwrap(), "beta".parse().unwrap()])
                .unwrap(),
            apps: AppScope::Any,
        },
    )
    .unwrap();
    // Version 2: the same key restricted to two applications (§10.2.1).
    let cert_v2 = issue_certificate(
        &root,
        CertificateBody {
            serial: 0x0fed_cba9_8765_4321,
            subject_alg: SigAlg::Ed25519,
            subject_public_key: release.verifying_key().to_bytes().to_vec(),
            not_before: 1_767_225_600,
            not_after: 1_798_761_600,
            usage: KeyUsage::SIGN_MANIFESTS,
            channels: ChannelScope::only(vec!["stable".parse().unwrap()]).unwrap(),
            apps: AppScope::only(vec![
                "com.example.maps".parse().unwrap(),
                "com.example.fw".parse().unwrap(),
            ])
            .unwrap(),
        },
    )
    .unwrap();
    let list = issue_revocation_list(
        &root,
        2,
        1_770_000_000,
        vec![0x0123_4567_89ab_cdef, 42],
        vec![release.verifying_key().key_id()],
    )
    .unwrap();
    let rotation = sign_rotation(&root, &new_root, 2, 1_780_000_000).unwrap();
    let mut state = TrustState::new(root.verifying_key());
    state.apply_revocation_list(&list.to_bytes()).unwrap();
    state.apply_rotation(&rotation.to_bytes()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::new(dir.path().join("audit.log"));
    log.append_at(
        &Event::ok(Op::Certify, root.verifying_key().key_id())
            .detail("serial", cert.serial)
            .detail("subject", release.verifying_key().key_id().to_string()),
        1_767_225_600,
    )
    .unwrap();
    log.append_at(
        &Event::new(
            Op::Unlock,
            Some(release.verifying_key().key_id()),
            Outcome::Failed,
        ),
        1_767_225_601,
    )
    .unwrap();
    let audit_lines: Vec<String> = std::fs::read_to_string(log.path())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();

    // Decoder-must-reject vectors: a valid document with one defect each.
    let c = cert.to_bytes();
    let mut reject = Vec::new();
    let mut add = |name: &str, kind: &str, bytes: Vec<u8>, error: &str| {
        reject.push(json!({"name": name, "kind": kind, "hex": hex::encode(bytes), "error": error}));
    };
    let mut b = c.clone();
    b[11] = 1;
    add("cert_flags_set", "certificate", b, "invalid field `flags`");
    let mut b = c.clone();
    b[21] ^= 1;
    add(
        "cert_key_id_mismatch",
        "certificate",
        b,
        "invalid field `subject_key_id`",
    );
    let mut b = c.clone();
    b.push(0);
    add("cert_trailing_byte", "certificate", b, "trailing bytes");
    add(
        "cert_truncated",
        "certificate",
        c[..c.len() - 1].to_vec(),
        "truncated",
    );
    let mut unsorted = cert.clone();
    unsorted.channels =
        ChannelScope::Only(vec!["stable".parse().unwrap(), "beta".parse().unwrap()]);
    add(
        "cert_channels_unsorted",
        "certificate",
        unsorted.to_bytes(),
        "invalid field `channel`",
    );
    let mut b = list.to_bytes();
    b[4..8].copy_from_slice(b"CERT");
    add("list_wrong_kind", "revocation_list", b, "wrong kind");
    let mut unsorted = list.clone();
    unsorted.serials.reverse();
    add(
        "list_serials_unsorted",
        "revocation_list",
        unsorted.to_bytes(),
        "invalid field `serial`",
    );
    let mut one = rotation.clone();
    one.new_signature.clear();
    add(
        "rotation_one_signature",
        "rotation",
        one.to_bytes(),
        "invalid field `new_signature`",
    );
    let mut st = state.to_bytes();
    st[12] ^= 1;
    add(
        "state_corrupted",
        "trust_state",
        st,
        "invalid field `checksum`",
    );
    // Version 2 (app-scoped) certificates.
    let c2 = cert_v2.to_bytes();
    let apps_at = cert_v2.signed_bytes().len() - (2 + 14 + 1 + 16 + 1);
    let mut b = c2.clone();
    b[apps_at] = 1;
    add(
        "cert_v2_app_scope_any",
        "certificate",
        b,
        "invalid field `app_scope`",
    );
    let mut unsorted = cert_v2.clone();
    unsorted.apps = AppScope::Only(vec![
        "com.example.maps".parse().unwrap(),
        "com.example.fw".parse().unwrap(),
    ]);
    add(
        "cert_v2_apps_unsorted",
        "certificate",
        unsorted.to_bytes(),
        "invalid field `app_id`",
    );
    let mut b = c.clone();
    b[9] = 2;
    // Read as version 2, the signature's length prefix 00 40 becomes
    // app_scope 0 and app_count 64.
    add(
        "cert_v1_relabelled_v2",
        "certificate",
        b,
        "invalid field `app_count`",
    );
    let mut b = c2.clone();
    b[9] = 3;
    add(
        "cert_version_3",
        "certificate",
        b,
        "unsupported format version 3",
    );

    json!({
        "description": "otaseal root-of-trust vectors; see docs/FORMAT.md §10.7 and docs/FORMAT.md §16.6",
        "keys": {
            "root_seed": hex::encode([0x01u8; 32]),
            "root_public": hex::encode(root.verifying_key().to_bytes()),
            "root_key_id": root.verifying_key().key_id().to_string(),
            "release_seed": hex::encode([0x02u8; 32]),
            "release_public": hex::encode(release.verifying_key().to_bytes()),
            "release_key_id": release.verifying_key().key_id().to_string(),
            "new_root_seed": hex::encode([0x03u8; 32]),
            "new_root_public": hex::encode(new_root.verifying_key().to_bytes()),
            "new_root_key_id": new_root.verifying_key().key_id().to_string(),
        },
        "certificate": {
            "serial": cert.serial, "not_before": cert.not_before, "not_after": cert.not_after,
            "usage": cert.usage.bits(), "channels": ["beta", "stable"],
            "signed_len": cert.signed_bytes().len(),
            "hex": hex::encode(cert.to_bytes()),
        },
        "certificate_v2": {
            "serial": cert_v2.serial, "not_before": cert_v2.not_before, "not_after": cert_v2.not_after,
            "usage": cert_v2.usage.bits(), "channels": ["stable"],
            "apps": ["com.example.fw", "com.example.maps"],
            "signed_len": cert_v2.signed_bytes().len(),
            "hex": hex::encode(cert_v2.to_bytes()),
        },
        "revocation_list": {
            "sequence": list.sequence, "issued_at": list.issued_at,
            "serials": list.serials, "key_ids": list.key_ids.iter().map(KeyId::to_string).collect::<Vec<_>>(),
            "signed_len": list.signed_bytes().len(),
            "hex": hex::encode(list.to_bytes()),
        },
        "root_rotation": {
            "new_version": rotation.new_version, "issued_at": rotation.issued_at,
            "signed_len": rotation.signed_bytes().len(),
            "hex": hex::encode(rotation.to_bytes()),
        },
        "trust_state_after_list_then_rotation": {"hex": hex::encode(state.to_bytes())},
        "audit_log": {
            "genesis": hex::encode(otaseal::audit::genesis()),
            "lines": audit_lines,
        },
        "reject": reject,
    })
}

#[test]
fn checked_in_vectors_are_up_to_date() {
    check_vectors(VECTORS, &generate());
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// Checks the stored vectors on their own, as another implementation would.
#[test]
fn checked_in_vectors_verify() {
    let v = load_vectors(VECTORS);
    let root_pk = h(&v["keys"]["root_public"]);
    let new_pk = h(&v["keys"]["new_root_public"]);

    let cert_bytes = h(&v["certificate"]["hex"]);
    let (cert, signed_len) = Certificate::parse(&cert_bytes).unwrap();
    assert_eq!(
        signed_len as u64,
        v["certificate"]["signed_len"].as_u64().unwrap()
    );
    assert_eq!(cert.serial, v["certificate"]["serial"].as_u64().unwrap());
    assert_eq!(cert.subject_public_key, h(&v["keys"]["release_public"]));
    verify_signature(
        SigAlg::Ed25519,
        &root_pk,
        &cert_bytes[..signed_len],
        &cert.signature,
    )
    .unwrap();

    // The version 2 certificate: the v1 fields, then the app list.
    let v2_bytes = h(&v["certificate_v2"]["hex"]);
    let (cert_v2, signed_len) = Certificate::parse(&v2_bytes).unwrap();
    assert_eq!(&v2_bytes[8..10], &[0, 2]);
    assert_eq!(cert_v2.version(), 2);
    assert_eq!(
        signed_len as u64,
        v["certificate_v2"]["signed_len"].as_u64().unwrap()
    );
    let apps: Vec<String> = v["certificate_v2"]["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(cert_v2.apps.to_string(), apps.join(","));
    assert_eq!(cert_v2.subject_public_key, h(&v["keys"]["release_public"]));
    verify_signature(
        SigAlg::Ed25519,
        &root_pk,
        &v2_bytes[..signed_len],
        &cert_v2.signature,
    )
    .unwrap();
    assert_eq!(cert.version(), 1);

    let list_bytes = h(&v["revocation_list"]["hex"]);
    let (list, signed_len) = RevocationList::parse(&list_bytes).unwrap();
    assert_eq!(list.sequence, 2);
    verify_signature(
        SigAlg::Ed25519,
        &root_pk,
        &list_bytes[..signed_len],
        &list.signature,
    )
    .unwrap();

    let rot_bytes = h(&v["root_rotation"]["hex"]);
    let (rot, signed_len) = RotationStatement::parse(&rot_bytes).unwrap();
    verify_signature(
        SigAlg::Ed25519,
        &root_pk,
        &rot_bytes[..signed_len],
        &rot.old_signature,
    )
    .unwrap();
    verify_signature(
        SigAlg::Ed25519,
        &new_pk,
        &rot_bytes[..signed_len],
        &rot.new_signature,
    )
    .unwrap();

    let state =
        TrustState::from_bytes(&h(&v["trust_state_after_list_then_rotation"]["hex"])).unwrap();
    assert_eq!(state.root().to_bytes().to_vec(), new_pk);
    assert_eq!(state.root_version(), 2);
    assert_eq!(state.revocation_sequence(), 2);

    // Audit lines chain from the genesis value.
    let mut prev = h(&v["audit_log"]["genesis"]);
    assert_eq!(
        prev,
        blake3::derive_key("otaseal v1 audit log genesis", b"").to_vec()
    );
    for line in v["audit_log"]["lines"].as_array().unwrap() {
        let line = line.as_str().unwrap();
        let entry: Value = serde_json::from_str(line).unwrap();
        assert_eq!(h(&entry["prev"]), prev);
        prev = blake3::hash(line.as_bytes()).as_bytes().to_vec();
    }

    for r in v["reject"].as_array().unwrap() {
        let bytes = h(&r["hex"]);
        let name = r["name"].as_str().unwrap();
        let err: String = match r["kind"].as_str().unwrap() {
            "certificate" => Certificate::parse(&bytes)
                .map(drop)
                .unwrap_err()
                .to_string(),
            "revocation_list" => RevocationList::parse(&bytes)
                .map(drop)
                .unwrap_err()
                .to_string(),
            "rotation" => RotationStatement::parse(&bytes)
                .map(drop)
                .unwrap_err()
                .to_string(),
            "trust_state" => TrustState::from_bytes(&bytes)
                .map(drop)
                .unwrap_err()
                .to_string(),
            other => panic!("unknown kind {other}"),
        };
        let want = r["error"].as_str().unwrap();
        let want = match want {
            "trailing bytes" => FormatError::TrailingBytes { extra: 1 }.to_string(),
            other => other.to_owned(),
        };
        let matches = err.contains(&want)
            || (want == "truncated" && err.contains("input ends inside"))
            || (want == "wrong kind" && err.contains("expected a revocation list document"));
        assert!(matches, "{name}: got `{err}`, want `{want}`");
    }
}
