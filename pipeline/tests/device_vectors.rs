//! Checked-in test vectors for the device-side layouts (device state,
//! rollback authorisation, fetch record): fixed inputs -> exact bytes, and
//! bad inputs -> the field the decoder must reject. Fails when the encoders
//! drift from `pipeline/tests/vectors/device/vectors.json`; regenerate with
//! `OTASEAL_REGEN_VECTORS=1 cargo test -p otaseal --test tests device_vectors::`.

use crate::common::vectors::{check_vectors, load_vectors, vectors_path};
use otaseal::device::{DeviceState, StateFile, TrustSource, TrustStateFile, TrustUpdates};
use otaseal::format::device_state::{AppState, ChannelRecord};
use otaseal::format::fetch_record::FetchRecord;
use otaseal::format::rollback::RollbackAuthorisation;
use otaseal::format::{ChunkSize, FormatError, Manifest};
use otaseal::keys::{KeyId, SigningKey};
use otaseal::policy::{RollbackTrust, verify_rollback};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const VECTORS: &str = "device/vectors.json";

fn device_state() -> DeviceState {
    let mut s = DeviceState::new(Some(KeyId([0x11; 16])));
    s.revocation_sequence = 3;
    let mut channels = BTreeMap::new();
    channels.insert(
        "beta".parse().unwrap(),
        ChannelRecord {
            sequence: 12,
            version: "2.0.0-beta.1".parse().unwrap(),
            bundle_id: [0xb0; 16],
            installed_at: 1_700_000_100,
            last_rollback_issued: 0,
        },
    );
    channels.insert(
        "stable".parse().unwrap(),
        ChannelRecord {
            sequence: 10,
            version: "1.4.2".parse().unwrap(),
            bundle_id: [0x5a; 16],
            installed_at: 1_700_000_000,
            last_rollback_issued: 1_699_999_000,
        },
    );
    s.apps.insert(
        "com.example.app".parse().unwrap(),
        AppState {
            current: "stable".parse().unwrap(),
            channels,
        },
    );
    s
}

/// The rollback key: Ed25519 from the fixed seed 0x01 * 32 (signatures are
/// deterministic, so the bytes are exact).
fn rollback_key() -> SigningKey {
    SigningKey::from_bytes(&[1; 32])
}

fn rollback() -> Vec<u8> {
    // `policy::authorise_rollback` copies these fields from a manifest; the
    // vector signs them directly so it needs no sealed bundle.
    use otaseal::format::SignerInfo;
    use otaseal::format::rollback::RollbackBody;
    use otaseal::keys::{SigAlg, Signer};
    let key = rollback_key();
    let mut a = RollbackAuthorisation::unsigned(
        RollbackBody {
            app_id: "com.example.app".parse().unwrap(),
            channel: "stable".parse().unwrap(),
            target_sequence: 9,
            bundle_id: [0x42; 16],
            issued: 1_700_000_000,
            expires: 1_700_086_400,
        },
        SignerInfo {
            alg: SigAlg::Ed25519,
            key_id: key.key_id(),
            chain: vec![],
        },
    )
    .unwrap();
    a.signature = key.sign(&a.signed_bytes()).unwrap();
    a.to_bytes()
}

fn fetch_record() -> FetchRecord {
    let cs = ChunkSize::from_log2(14).unwrap();
    let have = (0..10).map(|i| i % 3 == 0).collect();
    FetchRecord::new([0x0f; 16], [0xee; 32], 9 * 16384 + 1, cs, have).unwrap()
}

fn field(e: &FormatError) -> String {
    match e {
        FormatError::InvalidField { field, .. } | FormatError::Truncated { field } => {
            (*field).to_owned()
        }
        FormatError::TrailingBytes { .. } => "trailing".into(),
        FormatError::BadMagic => "magic".into(),
        FormatError::WrongKind { .. } => "kind".into(),
        FormatError::UnsupportedVersion { .. } => "version".into(),
        other => format!("{other:?}"),
    }
}

fn with(bytes: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = bytes.to_vec();
    f(&mut b);
    b
}

/// Recomputes a trailing BLAKE3 derive_key checksum over everything before it.
fn reseal(body: &[u8], context: &str) -> Vec<u8> {
    let mut h = blake3::Hasher::new_derive_key(context);
    h.update(body);
    let mut out = body.to_vec();
    out.extend_from_slice(h.finalize().as_bytes());
    out
}

fn build() -> Value {
    let state = device_state().to_bytes();
    let empty = DeviceState::default().to_bytes();
    let rb = rollback();
    let rec = fetch_record().to_bytes();
    let state_ctx = otaseal::format::device_state::CHECKSUM_CONTEXT;
    let rec_ctx = otaseal::format::fetch_record::CHECKSUM_CONTEXT;
    let state_body = &state[..state.len() - 32];
    let rec_body = &rec[..rec.len() - 32];

    let state_rejects = vec![
        (
            "bit_flip_in_sequence",
            with(&state, |b| b[70] ^= 1),
            "checksum",
        ),
        ("truncated", state[..state.len() - 1].to_vec(), "checksum"),
        (
            "flags_set",
            reseal(&with(state_body, |b| b[11] = 1), state_ctx),
            "flags",
        ),
        (
            "pin_flag_2",
            reseal(&with(state_body, |b| b[20] = 2), state_ctx),
            "trust_pin_present",
        ),
        (
            "trailing_byte",
            reseal(&with(state_body, |b| b.push(0)), state_ctx),
            "trailing",
        ),
        (
            "manifest_kind",
            reseal(
                &with(state_body, |b| b[4..8].copy_from_slice(b"MNFT")),
                state_ctx,
            ),
            "kind",
        ),
        (
            "version_2",
            reseal(&with(state_body, |b| b[9] = 2), state_ctx),
            "version",
        ),
    ];
    let sig_at = rb.len() - 64;
    let rollback_rejects = vec![
        ("flags_set", with(&rb, |b| b[11] = 1), "flags"),
        ("trailing_byte", with(&rb, |b| b.push(0)), "trailing"),
        (
            "short_signature",
            with(&rb, |b| {
                b.pop();
                let n = b.len() - 63 - 2;
                b[n..n + 2].copy_from_slice(&63u16.to_be_bytes());
            }),
            "signature",
        ),
        ("truncated", rb[..sig_at].to_vec(), "signature"),
    ];
    let rec_rejects = vec![
        ("bit_flip", with(&rec, |b| b[40] ^= 1), "checksum"),
        (
            "stray_bitmap_bit",
            reseal(&with(rec_body, |b| *b.last_mut().unwrap() |= 0x80), rec_ctx),
            "bitmap",
        ),
        (
            "count_mismatch",
            reseal(
                &with(rec_body, |b| {
                    let n = 4 + 4 + 2 + 2 + 16 + 32 + 8 + 1;
                    b[n..n + 4].copy_from_slice(&11u32.to_be_bytes());
                }),
                rec_ctx,
            ),
            "chunk_count",
        ),
    ];
    let rejects = |v: Vec<(&str, Vec<u8>, &str)>| -> Value {
        v.into_iter()
            .map(|(name, bytes, field)| json!({"name": name, "hex": hex::encode(bytes), "field": field}))
            .collect()
    };
    json!({
        "device_state": {
            "empty": hex::encode(empty),
            "one_app_two_channels": hex::encode(&state),
            "reject": rejects(state_rejects),
        },
        "rollback": {
            "key_seed": hex::encode([1u8; 32]),
            "key_id": rollback_key().verifying_key().key_id().to_string(),
            "signed": hex::encode(&rb),
            "reject": rejects(rollback_rejects),
        },
        "fetch_record": {
            "ten_chunks_every_third": hex::encode(&rec),
            "reject": rejects(rec_rejects),
        },
    })
}

#[test]
fn checked_in_vectors_are_up_to_date() {
    check_vectors(VECTORS, &build());
}

#[test]
fn checked_in_vectors_decode_as_specified() {
    let v = load_vectors(VECTORS);
    let bytes = |x: &Value| hex::decode(x.as_str().unwrap()).unwrap();
    assert_eq!(
        DeviceState::parse(&bytes(&v["device_state"]["one_app_two_channels"])).unwrap(),
        device_state()
    );
    assert_eq!(
        DeviceState::parse(&bytes(&v["device_state"]["empty"])).unwrap(),
        DeviceState::default()
    );
    let rb = bytes(&v["rollback"]["signed"]);
    let vk = rollback_key().verifying_key();
    let ok = verify_rollback(&rb, &RollbackTrust::Key(vk)).unwrap();
    assert_eq!(ok.authorisation().target_sequence, 9);
    assert_eq!(
        FetchRecord::parse(&bytes(&v["fetch_record"]["ten_chunks_every_third"])).unwrap(),
        fetch_record()
    );
    let check = |section: &str, parse: &dyn Fn(&[u8]) -> Result<(), FormatError>| {
        let list = v[section]["reject"].as_array().unwrap();
        assert!(!list.is_empty());
        for case in list {
            let err = parse(&bytes(&case["hex"])).expect_err(case["name"].as_str().unwrap());
            assert_eq!(
                field(&err),
                case["field"].as_str().unwrap(),
                "{}",
                case["name"]
            );
        }
    };
    check("device_state", &|b| DeviceState::parse(b).map(drop));
    check("rollback", &|b| RollbackAuthorisation::parse(b).map(drop));
    check("fetch_record", &|b| FetchRecord::parse(b).map(drop));
    // A manifest is not a rollback authorisation, whatever its signature.
    let _ = Manifest::parse(&rb).expect_err("kind");
}

/// Files written by otaseal 0.1.0, the release before `otaseal::device`
/// (`tests/vectors/device/release-0.1.0/README.md` lists the commands): a
/// trust state after a root rotation and a revocation list, and a device
/// state pinned to the first root with one install. They must load as they
/// were written, re-encode byte for byte, take the same updates again, and
/// carry a new install decided and recorded over them.
#[test]
fn files_written_by_release_0_1_0_still_work() {
    use otaseal::ErrorKind;
    use otaseal::clock::Clock;
    use otaseal::format::cert::{AppScope, CertificateBody, ChannelScope, KeyUsage};
    use otaseal::keys::file::AnyKey;
    use otaseal::keys::trust::{
        CertifiedSigner, RevocationOutcome, RootTrust, RotationOutcome, TrustState,
        issue_certificate, issue_revocation_list,
    };
    use otaseal::keys::{KemId, RecipientSecretKey, SigAlg, VerifyingKey};
    use otaseal::open::{TrustAnchor, VerifiedManifest, verify_manifest};
    use otaseal::policy::{ApprovalKind, PolicyOptions, PolicyViolation};
    use otaseal::seal::{SealOptions, seal_with_rng};
    use rand_core::SeedableRng;

    let fixtures = vectors_path("device/release-0.1.0");
    let tmp = tempfile::tempdir().unwrap();
    for name in ["trust.state", "device.state"] {
        std::fs::copy(fixtures.join(name), tmp.path().join(name)).unwrap();
    }
    let (trust_path, state_path) = (
        tmp.path().join("trust.state"),
        tmp.path().join("device.state"),
    );
    let fixture = |name: &str| std::fs::read(fixtures.join(name)).unwrap();
    let key = |name: &str| AnyKey::parse(&String::from_utf8(fixture(name)).unwrap()).unwrap();
    let public = |name: &str| -> VerifyingKey {
        match key(name) {
            AnyKey::SigningPublic(k) => k,
            other => panic!("{name}: {other:?}"),
        }
    };
    let (r1, r2) = (public("r1.pub"), public("r2.pub"));
    let AnyKey::SigningSecret(r2_secret) = key("r2.key") else {
        panic!("r2.key is not a signing secret key");
    };
    assert_eq!(r2_secret.verifying_key().key_id(), r2.key_id());

    // The trust state: root 2 after a rotation from root 1, list 1.
    let trust = TrustStateFile::load(&trust_path).unwrap();
    assert_eq!(trust.root().key_id(), r2.key_id());
    assert_eq!(trust.root_version(), 2);
    assert_eq!(trust.superseded().len(), 1);
    assert_eq!(trust.superseded()[0].key_id, r1.key_id());
    assert_eq!(trust.superseded()[0].successor, r2.key_id());
    assert_eq!(trust.revocation_sequence(), 1);
    assert!(trust.revocations().unwrap().revokes_serial(99));
    assert_eq!(trust.to_bytes(), fixture("trust.state"));
    // The same updates again, as a device would be handed them: nothing
    // changes, and the rewritten file is the release's bytes.
    let updates = TrustUpdates {
        rotations: vec![fixture("rotation.rrot")],
        revocations: Some(fixture("revocations.rvkl")),
    };
    let source = TrustSource::File {
        path: &trust_path,
        pin: Some(&r1),
    };
    let (trust, changes) = otaseal::device::update_trust(source, &updates).unwrap();
    assert_eq!(changes.rotations, [RotationOutcome::AlreadyApplied]);
    assert_eq!(changes.revocations, Some(RevocationOutcome::AlreadyCurrent));
    assert_eq!(std::fs::read(&trust_path).unwrap(), fixture("trust.state"));

    // The device state: pinned to root 1, list 1 seen, sequence 3 installed.
    let app: otaseal::format::AppId = "com.example.app".parse().unwrap();
    let stable: otaseal::format::Channel = "stable".parse().unwrap();
    let old = StateFile::load(&state_path).unwrap().state;
    assert_eq!(old.trust_pin, Some(r1.key_id()));
    assert_eq!(old.revocation_sequence, 1);
    assert_eq!(old.apps.len(), 1);
    assert_eq!(old.apps[&app].current, stable);
    let rec = &old.apps[&app].channels[&stable];
    assert_eq!((rec.sequence, rec.version.as_str()), (3, "1.3.0"));
    assert_eq!(rec.last_rollback_issued, 0);
    assert_eq!(old.to_bytes(), fixture("device.state"));

    // A release key certified by root 2 seals sequences 3 and 4.
    const NOW: u64 = 1_900_000_000;
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(10);
    let release = SigningKey::from_bytes(&[7; 32]);
    let cert = issue_certificate(
        &r2_secret,
        CertificateBody {
            serial: 12,
            subject_alg: SigAlg::Ed25519,
            subject_public_key: release.verifying_key().to_bytes().to_vec(),
            not_before: NOW - 100,
            not_after: NOW + 100,
            usage: KeyUsage::SIGN_MANIFESTS,
            channels: ChannelScope::Any,
            apps: AppScope::Any,
        },
    )
    .unwrap();
    let signer = CertifiedSigner::new(Box::new(release), vec![cert.to_bytes()]).unwrap();
    let device = RecipientSecretKey::generate(KemId::X25519, &mut rng);
    let anchor =
        |state: TrustState| TrustAnchor::Root(RootTrust::new(state).with_clock(Clock::Fixed(NOW)));
    let mut sealed = |seq: u64| {
        let mut o = SealOptions::new(
            app.clone(),
            stable.clone(),
            format!("1.{seq}.0").parse().unwrap(),
            seq,
        );
        o.created = NOW - 10;
        let s = seal_with_rng(
            b"firmware",
            &o,
            &[device.public_key().clone()],
            &signer,
            &mut rng,
        )
        .unwrap();
        verify_manifest(&s.manifest_bytes, &anchor(trust.clone())).unwrap()
    };
    let (m3, m4) = (sealed(3), sealed(4));
    let opts = || PolicyOptions::new(app.clone(), NOW);
    let decide = |m: &VerifiedManifest, t: &TrustAnchor| {
        otaseal::device::decide(&state_path, m, t, None, opts())
    };
    let with_trust = anchor(trust.clone());

    // The installed sequence, the pin and the revocation floor all hold.
    let e = decide(&m3, &with_trust).unwrap_err();
    assert!(
        matches!(
            e,
            otaseal::Error::Refused(PolicyViolation::NotNewer { installed: 3, .. })
        ),
        "{e}"
    );
    let stranger = SigningKey::from_bytes(&[8; 32]);
    let mut other = TrustState::new(stranger.verifying_key());
    let list = issue_revocation_list(&stranger, 1, NOW, vec![], vec![]).unwrap();
    other.apply_revocation_list(&list.to_bytes()).unwrap();
    let other_root = anchor(other);
    let e = decide(&m4, &other_root).unwrap_err();
    assert!(
        matches!(
            e,
            otaseal::Error::Refused(PolicyViolation::TrustPinMismatch { .. })
        ),
        "{e}"
    );
    let no_list = anchor(TrustState::with_version(r2, 2));
    let e = decide(&m4, &no_list).unwrap_err();
    assert!(
        matches!(
            e,
            otaseal::Error::Refused(PolicyViolation::RevocationListRollback {
                seen: 1,
                offered: 0
            })
        ),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Policy);
    assert_eq!(std::fs::read(&state_path).unwrap(), fixture("device.state"));

    // The next sequence installs, and only that record changes.
    let install = decide(&m4, &with_trust).unwrap();
    assert_eq!(install.approval().kind, ApprovalKind::Upgrade { from: 3 });
    install.commit().unwrap();
    let new = StateFile::load(&state_path).unwrap().state;
    assert_eq!((new.trust_pin, new.revocation_sequence), (old.trust_pin, 1));
    let rec = &new.apps[&app].channels[&stable];
    assert_eq!(
        (rec.sequence, rec.version.as_str(), rec.installed_at),
        (4, "1.4.0", NOW)
    );
}
