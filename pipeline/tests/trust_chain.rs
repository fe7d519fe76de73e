//! Root of trust, library level: certificate chains, validity, channels,
//! usage, revocation (and replay), root rotation (and its refusals), and the
//! persisted trust state. Each bad input must fail with its own error.

use otaseal::clock::Clock;
use otaseal::device::TrustStateFile;
use otaseal::format::cert::{AppScope, CertificateBody, ChannelScope, KeyUsage};
use otaseal::keys::trust::{
    CertifiedSigner, RevocationOutcome, RootTrust, RotationOutcome, TrustState, issue_certificate,
    issue_revocation_list, sign_rotation,
};
use otaseal::keys::{KemId, KeyId, RecipientSecretKey, SigAlg, Signer, SigningKey};
use otaseal::open::{TrustAnchor, verify_manifest};
use otaseal::seal::{SealOptions, seal_with_rng};
use otaseal::{Error, ErrorKind};
use rand_core::SeedableRng;

const T0: u64 = 1_800_000_000;

fn rng(seed: u64) -> rand_chacha::ChaCha20Rng {
    rand_chacha::ChaCha20Rng::seed_from_u64(seed)
}

fn key(seed: u64) -> SigningKey {
    SigningKey::generate(&mut rng(seed))
}

fn fields(subject: &SigningKey, serial: u64) -> CertificateBody {
    CertificateBody {
        serial,
        subject_alg: SigAlg::Ed25519,
        subject_public_key: subject.verifying_key().to_bytes().to_vec(),
        not_before: T0,
        not_after: T0 + 1000,
        usage: KeyUsage::SIGN_MANIFESTS,
        channels: ChannelScope::only(vec!["stable".parse().unwrap()]).unwrap(),
        apps: AppScope::Any,
    }
}

fn only_apps(names: &[&str]) -> AppScope {
    AppScope::only(names.iter().map(|n| n.parse().unwrap()).collect()).unwrap()
}

/// A certified release key: the key and its chain (leaf first).
struct Release {
    key: SigningKey,
    chain: Vec<Vec<u8>>,
}

fn release(root: &SigningKey, seed: u64, serial: u64) -> Release {
    let key = key(seed);
    let cert = issue_certificate(root, fields(&key, serial)).unwrap();
    Release {
        key,
        chain: vec![cert.to_bytes()],
    }
}

fn manifest_by(rel: &Release, channel: &str, created: u64) -> Vec<u8> {
    let device = RecipientSecretKey::generate(KemId::X25519, &mut rng(99));
    let signer = CertifiedSigner::new(
        Box::new(SigningKey::from_bytes(&rel.key.to_secret_bytes())),
        rel.chain.clone(),
    )
    .unwrap();
    let mut opts = SealOptions::new(
        "com.example.app".parse().unwrap(),
        channel.parse().unwrap(),
        "1.0".parse().unwrap(),
        1,
    );
    opts.created = created;
    seal_with_rng(
        b"firmware",
        &opts,
        &[device.public_key().clone()],
        &signer,
        &mut rng(5),
    )
    .unwrap()
    .manifest_bytes
}

fn anchor(state: &TrustState, now: u64) -> TrustAnchor {
    TrustAnchor::Root(RootTrust::new(state.clone()).with_clock(Clock::Fixed(now)))
}

fn verify(bytes: &[u8], state: &TrustState, now: u64) -> Result<(), Error> {
    verify_manifest(bytes, &anchor(state, now)).map(|_| ())
}

#[test]
fn certified_manifest_verifies_and_carries_its_chain() {
    let root = key(1);
    let rel = release(&root, 2, 77);
    let m = manifest_by(&rel, "stable", T0 + 100);
    let state = TrustState::new(root.verifying_key());
    let v = verify_manifest(&m, &anchor(&state, T0 + 200)).unwrap();
    assert_eq!(v.manifest().signer.chain, rel.chain);
    // The same manifest still verifies against the key directly.
    verify_manifest(&m, &TrustAnchor::SigningKey(rel.key.verifying_key())).unwrap();
}

#[test]
fn expired_certificate_is_rejected() {
    let root = key(1);
    let rel = release(&root, 2, 77);
    let state = TrustState::new(root.verifying_key());
    let m = manifest_by(&rel, "stable", T0 + 100);
    let e = verify(&m, &state, T0 + 1001).unwrap_err();
    assert!(
        matches!(
            e,
            Error::CertExpired {
                serial: 77,
                clock: "the verifier's clock",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Trust);
    // Created after the certificate expired, even with a lenient clock.
    let late = manifest_by(&rel, "stable", T0 + 5000);
    let e = verify(&late, &state, T0 + 200).unwrap_err();
    assert!(
        matches!(
            e,
            Error::CertExpired {
                clock: "the manifest's creation time",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn not_yet_valid_certificate_is_rejected() {
    let root = key(1);
    let rel = release(&root, 2, 77);
    let state = TrustState::new(root.verifying_key());
    let early = manifest_by(&rel, "stable", T0 - 1);
    let e = verify(&early, &state, T0 + 10).unwrap_err();
    assert!(
        matches!(e, Error::CertNotYetValid { serial: 77, .. }),
        "{e}"
    );
    let m = manifest_by(&rel, "stable", T0 + 1);
    let e = verify(&m, &state, T0 - 100).unwrap_err();
    assert!(
        matches!(
            e,
            Error::CertNotYetValid {
                clock: "the verifier's clock",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Trust);
}

#[test]
fn certificate_for_another_channel_is_rejected() {
    let root = key(1);
    let rel = release(&root, 2, 77);
    let state = TrustState::new(root.verifying_key());
    let m = manifest_by(&rel, "beta", T0 + 1);
    let e = verify(&m, &state, T0 + 2).unwrap_err();
    assert!(
        matches!(&e, Error::CertWrongChannel { channel, .. } if channel == "beta"),
        "{e}"
    );
    assert!(e.to_string().contains("allowed: stable"), "{e}");
    // A wildcard certificate allows it.
    let key_w = key(3);
    let mut f = fields(&key_w, 78);
    f.channels = ChannelScope::Any;
    let wild = Release {
        chain: vec![issue_certificate(&root, f).unwrap().to_bytes()],
        key: key_w,
    };
    verify(&manifest_by(&wild, "beta", T0 + 1), &state, T0 + 2).unwrap();
}

/// Issue 9 item 1: a certificate restricted to some applications (a
/// version 2 certificate) does not vouch for a manifest of another one,
/// wherever it sits in the chain.
#[test]
fn certificate_for_another_app_is_rejected() {
    let root = key(1);
    let state = TrustState::new(root.verifying_key());
    let k = key(2);
    let mut f = fields(&k, 90);
    f.apps = only_apps(&["com.example.maps", "com.example.zzz"]);
    let rel = Release {
        chain: vec![issue_certificate(&root, f.clone()).unwrap().to_bytes()],
        key: SigningKey::from_bytes(&k.to_secret_bytes()),
    };
    let e = verify(&manifest_by(&rel, "stable", T0 + 1), &state, T0 + 2).unwrap_err();
    assert!(
        matches!(&e, Error::CertWrongApp { serial: 90, app, .. } if app == "com.example.app"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("allowed: com.example.maps,com.example.zzz"),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Trust);
    // Listing the manifest's application allows it.
    f.apps = only_apps(&["com.example.app", "com.example.maps"]);
    let rel = Release {
        chain: vec![issue_certificate(&root, f).unwrap().to_bytes()],
        key: k,
    };
    verify(&manifest_by(&rel, "stable", T0 + 1), &state, T0 + 2).unwrap();

    // An intermediate restricted to another application restricts its leaves.
    let (inter, leaf) = (key(10), key(11));
    let mut fi = fields(&inter, 91);
    fi.usage = KeyUsage::ISSUE_CERTIFICATES;
    fi.apps = only_apps(&["com.example.maps"]);
    let rel = Release {
        key: SigningKey::from_bytes(&leaf.to_secret_bytes()),
        chain: vec![
            issue_certificate(&inter, fields(&leaf, 92))
                .unwrap()
                .to_bytes(),
            issue_certificate(&root, fi).unwrap().to_bytes(),
        ],
    };
    let e = verify(&manifest_by(&rel, "stable", T0 + 1), &state, T0 + 2).unwrap_err();
    assert!(matches!(e, Error::CertWrongApp { serial: 91, .. }), "{e}");
}

/// Issue 9 item 16: a sealer checks its own chain with the devices' rules
/// before signing: validity at `created`, channel, application, usage.
#[test]
fn certified_signer_refuses_terms_every_device_would_refuse() {
    let root = key(1);
    let k = key(2);
    let signer = |f: CertificateBody| {
        CertifiedSigner::new(
            Box::new(SigningKey::from_bytes(&k.to_secret_bytes())),
            vec![issue_certificate(&root, f).unwrap().to_bytes()],
        )
        .unwrap()
    };
    let (app, other_app) = (
        "com.example.app".parse().unwrap(),
        "com.example.other".parse().unwrap(),
    );
    let (stable, beta) = ("stable".parse().unwrap(), "beta".parse().unwrap());
    let mut f = fields(&k, 95);
    f.apps = only_apps(&["com.example.app"]);
    let s = signer(f.clone());
    s.check_terms(&app, &stable, T0 + 1).unwrap();
    let cases = [
        (s.check_terms(&app, &stable, T0 + 1001), "expired"),
        (s.check_terms(&app, &stable, T0 - 1), "not valid before"),
        (s.check_terms(&app, &beta, T0 + 1), "channel"),
        (s.check_terms(&other_app, &stable, T0 + 1), "application"),
    ];
    for (r, what) in cases {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Trust, "{what}: {e}");
        assert!(e.to_string().contains(what), "{what}: {e}");
    }
    f.usage = KeyUsage::AUTHORISE_ROLLBACK;
    let e = signer(f).check_terms(&app, &stable, T0 + 1).unwrap_err();
    assert!(
        matches!(
            e,
            Error::UsageNotAllowed {
                needed: "sign-manifests",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn chain_from_an_untrusted_root_is_rejected() {
    let root = key(1);
    let rogue = key(66);
    let rel = release(&rogue, 2, 77);
    let state = TrustState::new(root.verifying_key());
    let e = verify(&manifest_by(&rel, "stable", T0 + 1), &state, T0 + 2).unwrap_err();
    assert!(
        matches!(e, Error::UntrustedRoot { what: "certificate chain", issuer, .. } if issuer == rogue.key_id()),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Trust);
}

#[test]
fn forged_chain_signature_is_rejected() {
    let root = key(1);
    let mut rel = release(&root, 2, 77);
    let last = rel.chain[0].len() - 1;
    rel.chain[0][last] ^= 1;
    let state = TrustState::new(root.verifying_key());
    let e = verify(&manifest_by(&rel, "stable", T0 + 1), &state, T0 + 2).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BadChainSignature {
                serial: 77,
                position: 0
            }
        ),
        "{e}"
    );
}

#[test]
fn usage_without_sign_manifests_is_rejected() {
    let root = key(1);
    let k = key(2);
    let mut f = fields(&k, 80);
    f.usage = KeyUsage::AUTHORISE_ROLLBACK;
    let rel = Release {
        chain: vec![issue_certificate(&root, f).unwrap().to_bytes()],
        key: k,
    };
    let state = TrustState::new(root.verifying_key());
    let e = verify(&manifest_by(&rel, "stable", T0 + 1), &state, T0 + 2).unwrap_err();
    assert!(
        matches!(
            e,
            Error::UsageNotAllowed {
                needed: "sign-manifests",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn intermediate_chains() {
    let root = key(1);
    let inter = key(10);
    let leaf = key(11);
    let state = TrustState::new(root.verifying_key());
    let mut fi = fields(&inter, 1);
    fi.usage = KeyUsage::ISSUE_CERTIFICATES;
    let inter_cert = issue_certificate(&root, fi.clone()).unwrap().to_bytes();
    let leaf_cert = issue_certificate(&inter, fields(&leaf, 2))
        .unwrap()
        .to_bytes();
    let rel = Release {
        key: SigningKey::from_bytes(&leaf.to_secret_bytes()),
        chain: vec![leaf_cert.clone(), inter_cert],
    };
    verify(&manifest_by(&rel, "stable", T0 + 1), &state, T0 + 2).unwrap();

    // An intermediate without `issue-certificates` cannot vouch for keys.
    fi.usage = KeyUsage::SIGN_MANIFESTS;
    let weak = issue_certificate(&root, fi).unwrap().to_bytes();
    let rel = Release {
        key: SigningKey::from_bytes(&leaf.to_secret_bytes()),
        chain: vec![leaf_cert.clone(), weak],
    };
    let e = verify(&manifest_by(&rel, "stable", T0 + 1), &state, T0 + 2).unwrap_err();
    assert!(
        matches!(
            e,
            Error::UsageNotAllowed {
                needed: "issue-certificates",
                ..
            }
        ),
        "{e}"
    );

    // A chain in the wrong order does not link up.
    let inter_cert = issue_certificate(&root, {
        let mut f = fields(&inter, 1);
        f.usage = KeyUsage::ISSUE_CERTIFICATES;
        f
    })
    .unwrap()
    .to_bytes();
    assert!(matches!(
        CertifiedSigner::new(Box::new(key(11)), vec![inter_cert, leaf_cert]),
        Err(Error::ChainBroken { position: 0, .. })
    ));
}

/// A signer that embeds whatever chain it is given, to build bad manifests.
struct RawChain(SigningKey, Vec<Vec<u8>>);

impl Signer for RawChain {
    fn algorithm(&self) -> SigAlg {
        SigAlg::Ed25519
    }
    fn key_id(&self) -> KeyId {
        self.0.key_id()
    }
    fn chain(&self) -> &[Vec<u8>] {
        &self.1
    }
    fn sign(&self, m: &[u8]) -> otaseal::Result<Vec<u8>> {
        self.0.sign(m)
    }
}

fn seal_raw(signer: &RawChain) -> Vec<u8> {
    let device = RecipientSecretKey::generate(KemId::X25519, &mut rng(99));
    let mut opts = SealOptions::new(
        "com.example.app".parse().unwrap(),
        "stable".parse().unwrap(),
        "1.0".parse().unwrap(),
        1,
    );
    opts.created = T0 + 1;
    seal_with_rng(
        b"fw",
        &opts,
        &[device.public_key().clone()],
        signer,
        &mut rng(5),
    )
    .unwrap()
    .manifest_bytes
}

#[test]
fn missing_mismatched_or_malformed_chains_are_rejected() {
    let root = key(1);
    let state = TrustState::new(root.verifying_key());
    let k = key(2);
    let e = verify(&seal_raw(&RawChain(key(2), vec![])), &state, T0 + 2).unwrap_err();
    assert!(matches!(e, Error::MissingChain), "{e}");
    // A valid certificate for another key.
    let other = issue_certificate(&root, fields(&key(3), 5))
        .unwrap()
        .to_bytes();
    let e = verify(&seal_raw(&RawChain(key(2), vec![other])), &state, T0 + 2).unwrap_err();
    assert!(matches!(e, Error::ChainBroken { position: 0, .. }), "{e}");
    let e = verify(&seal_raw(&RawChain(k, vec![vec![1, 2, 3]])), &state, T0 + 2).unwrap_err();
    assert!(
        matches!(e, Error::MalformedCertificate { position: 0, .. }),
        "{e}"
    );
}

#[test]
fn revoked_key_and_serial_are_rejected() {
    let root = key(1);
    let rel = release(&root, 2, 77);
    let m = manifest_by(&rel, "stable", T0 + 1);
    let mut state = TrustState::new(root.verifying_key());
    let by_serial = issue_revocation_list(&root, 1, T0, vec![77], vec![]).unwrap();
    state.apply_revocation_list(&by_serial.to_bytes()).unwrap();
    let e = verify(&m, &state, T0 + 2).unwrap_err();
    assert!(
        matches!(
            e,
            Error::KeyRevoked {
                serial: 77,
                by: "serial",
                list_sequence: 1,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Revoked);

    let by_key = issue_revocation_list(&root, 2, T0, vec![], vec![rel.key.key_id()]).unwrap();
    state.apply_revocation_list(&by_key.to_bytes()).unwrap();
    let e = verify(&m, &state, T0 + 2).unwrap_err();
    assert!(matches!(e, Error::KeyRevoked { by: "key id", .. }), "{e}");

    // Other keys of the same root are unaffected.
    let other = release(&root, 3, 78);
    verify(&manifest_by(&other, "stable", T0 + 1), &state, T0 + 2).unwrap();
}

#[test]
fn older_revocation_list_is_a_replay() {
    let root = key(1);
    let mut state = TrustState::new(root.verifying_key());
    let l1 = issue_revocation_list(&root, 1, T0, vec![1], vec![])
        .unwrap()
        .to_bytes();
    let l2 = issue_revocation_list(&root, 2, T0 + 1, vec![1, 2], vec![])
        .unwrap()
        .to_bytes();
    assert_eq!(
        state.apply_revocation_list(&l1).unwrap(),
        RevocationOutcome::Accepted { sequence: 1 }
    );
    state.apply_revocation_list(&l2).unwrap();
    let e = state.apply_revocation_list(&l1).unwrap_err();
    assert!(
        matches!(
            e,
            Error::RevocationReplay {
                found: 1,
                current: 2
            }
        ),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::TrustUpdate);
    assert_eq!(state.revocation_sequence(), 2);
    assert_eq!(
        state.apply_revocation_list(&l2).unwrap(),
        RevocationOutcome::AlreadyCurrent
    );
    let l2b = issue_revocation_list(&root, 2, T0 + 1, vec![3], vec![])
        .unwrap()
        .to_bytes();
    assert!(matches!(
        state.apply_revocation_list(&l2b),
        Err(Error::RevocationConflict { sequence: 2 })
    ));
    // Lists from another root, or with a forged signature, are refused.
    let rogue = issue_revocation_list(&key(66), 9, T0, vec![], vec![])
        .unwrap()
        .to_bytes();
    assert!(matches!(
        state.apply_revocation_list(&rogue),
        Err(Error::UntrustedRoot {
            what: "revocation list",
            ..
        })
    ));
    let mut forged = issue_revocation_list(&root, 9, T0, vec![], vec![])
        .unwrap()
        .to_bytes();
    let n = forged.len();
    forged[n - 1] ^= 1;
    assert!(matches!(
        state.apply_revocation_list(&forged),
        Err(Error::BadRevocationSignature { sequence: 9 })
    ));
    assert_eq!(state.revocation_sequence(), 2);
}

#[test]
fn rotation_needs_both_roots() {
    let (old, new) = (key(1), key(2));
    let mut state = TrustState::new(old.verifying_key());
    let good = sign_rotation(&old, &new, 2, T0).unwrap();

    // Only the old root signed: the "new" signature is by the old root.
    let mut only_old = good.clone();
    only_old.new_signature = old.sign(&good.signed_bytes()).unwrap();
    let e = state.apply_rotation(&only_old.to_bytes()).unwrap_err();
    assert!(
        matches!(e, Error::BadRotationSignature { which: "new", .. }),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::TrustUpdate);

    // Only the new root signed.
    let mut only_new = good.clone();
    only_new.old_signature = new.sign(&good.signed_bytes()).unwrap();
    let e = state.apply_rotation(&only_new.to_bytes()).unwrap_err();
    assert!(
        matches!(e, Error::BadRotationSignature { which: "old", .. }),
        "{e}"
    );
    assert_eq!(state.root().key_id(), old.key_id(), "state unchanged");

    // A version that does not move forward.
    let mut at5 = TrustState::with_version(old.verifying_key(), 5);
    assert!(matches!(
        at5.apply_rotation(&good.to_bytes()),
        Err(Error::RotationNotApplicable { .. })
    ));

    assert_eq!(
        state.apply_rotation(&good.to_bytes()).unwrap(),
        RotationOutcome::Rotated {
            from: old.key_id(),
            to: new.key_id(),
            version: 2
        }
    );
    assert_eq!(
        state.apply_rotation(&good.to_bytes()).unwrap(),
        RotationOutcome::AlreadyApplied
    );

    // The superseded root cannot introduce a second successor, even with
    // the other key's cooperation.
    let rival = key(3);
    let fork = sign_rotation(&old, &rival, 2, T0 + 5).unwrap();
    let e = state.apply_rotation(&fork.to_bytes()).unwrap_err();
    assert!(
        matches!(e, Error::RootSuperseded { old: o, successor: s, attempted: a }
            if o == old.key_id() && s == new.key_id() && a == rival.key_id()),
        "{e}"
    );
    // A statement from a root never pinned.
    let stranger = sign_rotation(&key(8), &key(9), 2, T0).unwrap();
    assert!(matches!(
        state.apply_rotation(&stranger.to_bytes()),
        Err(Error::UntrustedRoot { .. })
    ));
    // The new root continues the line; going back to a superseded root is refused.
    let back = sign_rotation(&new, &old, 3, T0 + 9).unwrap();
    assert!(matches!(
        state.apply_rotation(&back.to_bytes()),
        Err(Error::RotationNotApplicable { .. })
    ));
}

#[test]
fn after_rotation_only_the_new_root_certifies() {
    let (old, new) = (key(1), key(2));
    let mut state = TrustState::new(old.verifying_key());
    let rel_old = release(&old, 5, 1);
    let rel_new = release(&new, 6, 2);
    verify(&manifest_by(&rel_old, "stable", T0 + 1), &state, T0 + 2).unwrap();
    state
        .apply_rotation(&sign_rotation(&old, &new, 2, T0).unwrap().to_bytes())
        .unwrap();
    verify(&manifest_by(&rel_new, "stable", T0 + 1), &state, T0 + 2).unwrap();
    let e = verify(&manifest_by(&rel_old, "stable", T0 + 1), &state, T0 + 2).unwrap_err();
    assert!(matches!(e, Error::UntrustedRoot { .. }), "{e}");
    // Revocation lists must now come from the new root.
    let stale = issue_revocation_list(&old, 1, T0, vec![], vec![])
        .unwrap()
        .to_bytes();
    assert!(matches!(
        state.apply_revocation_list(&stale),
        Err(Error::UntrustedRoot { .. })
    ));
}

#[test]
fn trust_state_persists_and_corruption_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.trust");
    let (old, new) = (key(1), key(2));
    TrustStateFile::update(&path, Some(&old.verifying_key()), |state| {
        state.apply_rotation(&sign_rotation(&old, &new, 2, T0)?.to_bytes())?;
        let l = issue_revocation_list(&new, 4, T0, vec![7], vec![])?;
        state.apply_revocation_list(&l.to_bytes())
    })
    .unwrap();

    let mut back = TrustStateFile::load(&path).unwrap();
    assert_eq!(back.root().key_id(), new.key_id());
    assert_eq!(back.root_version(), 2);
    assert_eq!(back.revocation_sequence(), 4);
    assert!(back.revocations().unwrap().revokes_serial(7));
    // Replay and second successor are still refused after a restart.
    let l3 = issue_revocation_list(&new, 3, T0, vec![], vec![]).unwrap();
    assert!(matches!(
        back.apply_revocation_list(&l3.to_bytes()),
        Err(Error::RevocationReplay {
            found: 3,
            current: 4
        })
    ));
    let fork = sign_rotation(&old, &key(3), 2, T0).unwrap();
    assert!(matches!(
        back.apply_rotation(&fork.to_bytes()),
        Err(Error::RootSuperseded { .. })
    ));

    let mut bytes = std::fs::read(&path).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let e = TrustStateFile::load(&path).unwrap_err();
    assert!(matches!(e, Error::TrustState { .. }), "{e}");
    assert!(e.to_string().contains("checksum"), "{e}");
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(
        TrustStateFile::load(&path),
        Err(Error::TrustState { .. })
    ));
}

/// Two trust updates at once: one brings a newer revocation list, the other
/// none, and the second read the state before the first saved. Without one
/// lock over load+apply+save the slow one saves its stale copy last and the
/// revoked key verifies again (issue 9, item 2).
#[test]
fn concurrent_trust_updates_never_lose_a_revocation() {
    let root = key(1);
    let rel = release(&root, 2, 77);
    let m = manifest_by(&rel, "stable", T0 + 1);
    let list = issue_revocation_list(&root, 1, T0, vec![77], vec![])
        .unwrap()
        .to_bytes();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.trust");
    let vk = root.verifying_key();
    TrustStateFile::update(&path, Some(&vk), |_| Ok(())).unwrap();

    let (loaded_tx, loaded_rx) = std::sync::mpsc::channel();
    let (p, k) = (path.clone(), vk);
    let slow = std::thread::spawn(move || {
        TrustStateFile::update(&p, Some(&k), |_| {
            // The slow update has read the state; hold it while the other runs.
            loaded_tx.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(400));
            Ok(())
        })
        .unwrap();
    });
    loaded_rx.recv().unwrap();
    let (state, outcome) =
        TrustStateFile::update(&path, Some(&vk), |s| s.apply_revocation_list(&list)).unwrap();
    assert_eq!(outcome, RevocationOutcome::Accepted { sequence: 1 });
    assert_eq!(state.revocation_sequence(), 1);
    slow.join().unwrap();

    let saved = TrustStateFile::load(&path).unwrap();
    assert_eq!(saved.revocation_sequence(), 1);
    let e = verify(&m, &saved, T0 + 2).unwrap_err();
    assert!(matches!(e, Error::KeyRevoked { serial: 77, .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::Revoked);
}

#[test]
fn trust_state_file_pins_once_and_refuses_a_foreign_root() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.trust");
    // Neither a file nor a root to pin: nothing to trust.
    assert!(matches!(
        TrustStateFile::update(&path, None, |_| Ok(())),
        Err(Error::Io { .. })
    ));
    let root = key(1);
    let (state, ()) =
        TrustStateFile::update(&path, Some(&root.verifying_key()), |_| Ok(())).unwrap();
    assert_eq!(state.root().key_id(), root.key_id());
    // The file now pins the root; no --root is needed, another root is refused.
    TrustStateFile::update(&path, None, |_| Ok(())).unwrap();
    assert!(matches!(
        TrustStateFile::update(&path, Some(&key(9).verifying_key()), |_| Ok(())),
        Err(Error::TrustState { .. })
    ));
    // `create` never overwrites an existing state.
    let before = std::fs::read(&path).unwrap();
    assert!(matches!(
        TrustStateFile::create(&path, key(9).verifying_key()),
        Err(Error::Io { .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let fresh = dir.path().join("fresh.trust");
    let created = TrustStateFile::create(&fresh, key(9).verifying_key()).unwrap();
    assert_eq!(
        TrustStateFile::load(&fresh).unwrap().root().key_id(),
        created.root().key_id()
    );
}

mod fuzz {
    use otaseal::format::cert::Certificate;
    use otaseal::format::revocation::RevocationList;
    use otaseal::format::rotation::RotationStatement;
    use otaseal::keys::trust::TrustState;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Certificate::parse(&bytes);
            let _ = RevocationList::parse(&bytes);
            let _ = RotationStatement::parse(&bytes);
            let _ = TrustState::from_bytes(&bytes);
        }

        #[test]
        fn mutated_certificates_never_panic(flip in 0usize..200, bit in 0u8..8) {
            let root = super::key(1);
            let cert = otaseal::keys::trust::issue_certificate(&root, super::fields(&super::key(2), 9)).unwrap();
            let mut bytes = cert.to_bytes();
            let i = flip % bytes.len();
            bytes[i] ^= 1 << bit;
            let _ = Certificate::parse(&bytes);
        }
    }
}
