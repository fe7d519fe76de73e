//! A publisher's key operations, each reporting its own [`KeyEvent`]:
//! saving a newly generated secret key, certifying a key, certifying a
//! release key's successor, rotating the root, and issuing the next
//! revocation list. The signing primitives they build on live in
//! [`super::trust`]. Callers choose the event sink (the audit log) and pass
//! it down; nothing above this layer records key use.
//!
//! Each operation reports before it returns what it made, so an event the
//! sink refuses (an unwritable audit log) withholds the certificate, list or
//! statement: key use is never unrecorded (`docs/FORMAT.md` §16.4).

use super::events::{KeyBackend, KeyEvent, KeyEventSink, report};
use super::file::{AnyKey, write_encrypted_key_file, write_key_file};
use super::keystore::{EncryptedKey, Passphrase};
use super::trust::{
    issue_certificate, issue_revocation_list, sign_rotation, verify_revocation_list,
};
use super::{KdfParams, KeyAlg, KeyId, KeyRole, Signer, SigningKey};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::format::cert::{Certificate, CertificateBody};
use crate::format::revocation::RevocationList;
use crate::format::rotation::RotationStatement;
use std::path::Path;

/// Writes a newly generated secret key to `path` (mode 0600, never
/// replacing a file): encrypted under `passphrase` (Argon2id with the
/// default parameters), or in the clear under a warning comment when there
/// is none. Reports the generation; returns where the key lives.
pub fn save_new_secret_key(
    path: &Path,
    secret: &AnyKey,
    (role, alg, key_id): (KeyRole, KeyAlg, KeyId),
    passphrase: Option<&Passphrase>,
    events: Option<&dyn KeyEventSink>,
) -> Result<KeyBackend> {
    let backend = match passphrase {
        None => {
            write_key_file(
                path,
                secret,
                &format!(
                    "otaseal {role} secret key {key_id}\nUNENCRYPTED: for tests only; keep private"
                ),
            )?;
            KeyBackend::PlainFile
        }
        Some(pass) => {
            let enc = EncryptedKey::encrypt(
                secret,
                role,
                pass,
                KdfParams::DEFAULT,
                &mut super::os_rng(),
            )?;
            write_encrypted_key_file(path, &enc)?;
            KeyBackend::EncryptedFile
        }
    };
    report(
        events,
        KeyEvent::Generated {
            key_id,
            alg,
            role,
            backend,
            path: Some(path),
        },
    )?;
    Ok(backend)
}

/// `issuer` (the root, or an intermediate) certifies a key for `fields`.
pub fn certify(
    issuer: &dyn Signer,
    fields: CertificateBody,
    events: Option<&dyn KeyEventSink>,
) -> Result<Certificate> {
    let cert = issue_certificate(issuer, fields)?;
    report(
        events,
        KeyEvent::Certified {
            issuer: issuer.key_id(),
            certificate: &cert,
        },
    )?;
    Ok(cert)
}

/// [`certify`]s a new release key as the successor of the key `previous`
/// certified (if known), and reports the rotation too.
pub fn certify_successor(
    issuer: &dyn Signer,
    fields: CertificateBody,
    previous: Option<&Certificate>,
    events: Option<&dyn KeyEventSink>,
) -> Result<Certificate> {
    let cert = certify(issuer, fields, events)?;
    report(
        events,
        KeyEvent::Rotated {
            key: cert.subject_key_id(),
            previous,
        },
    )?;
    Ok(cert)
}

/// The old and the new root both sign the statement that `new` becomes root
/// version `new_version`, issued at `clock`'s time.
pub fn rotate_root(
    old: &SigningKey,
    new: &SigningKey,
    new_version: u64,
    clock: Clock,
    events: Option<&dyn KeyEventSink>,
) -> Result<RotationStatement> {
    let st = sign_rotation(old, new, new_version, clock.now())?;
    report(
        events,
        KeyEvent::RootRotated {
            from: st.old_key_id(),
            to: st.new_key_id(),
            version: new_version,
        },
    )?;
    Ok(st)
}

/// The root issues the revocation list after `previous` (the current list's
/// bytes; `None` for the first list): sequence + 1, revoking everything
/// `previous` did plus `serials` and every certificate of `keys`, issued at
/// `clock`'s time. `previous` must be signed by `root`. Each serial and key
/// added is reported.
pub fn revoke(
    root: &SigningKey,
    previous: Option<&[u8]>,
    serials: &[u64],
    keys: &[KeyId],
    clock: Clock,
    events: Option<&dyn KeyEventSink>,
) -> Result<RevocationList> {
    let (mut all_serials, mut all_keys) = (serials.to_vec(), keys.to_vec());
    let sequence = match previous {
        None => 1,
        Some(bytes) => {
            let previous = verify_revocation_list(bytes, &root.verifying_key())?;
            let next = previous
                .sequence
                .checked_add(1)
                .ok_or_else(|| Error::InvalidRequest("revocation sequence exhausted".into()))?;
            all_serials.extend(previous.body.serials);
            all_keys.extend(previous.body.key_ids);
            next
        }
    };
    let list = issue_revocation_list(root, sequence, clock.now(), all_serials, all_keys)?;
    let by = root.key_id();
    for &key in keys {
        report(
            events,
            KeyEvent::KeyRevoked {
                key,
                root: by,
                sequence,
            },
        )?;
    }
    for &serial in serials {
        report(
            events,
            KeyEvent::SerialRevoked {
                serial,
                root: by,
                sequence,
            },
        )?;
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::cert::{AppScope, ChannelScope, KeyUsage};
    use crate::keys::events::{Recorded, Refusing};
    use rand_core::SeedableRng;

    fn key(seed: u64) -> SigningKey {
        SigningKey::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(seed))
    }

    fn fields(serial: u64, subject: &SigningKey) -> CertificateBody {
        CertificateBody {
            serial,
            subject_alg: super::super::SigAlg::Ed25519,
            subject_public_key: subject.verifying_key().to_bytes().to_vec(),
            not_before: 1,
            not_after: 2,
            usage: KeyUsage::SIGN_MANIFESTS,
            channels: ChannelScope::Any,
            apps: AppScope::Any,
        }
    }

    fn events(r: &Recorded) -> Vec<String> {
        std::mem::take(&mut *r.0.lock().unwrap())
    }

    #[test]
    fn each_operation_reports_its_own_events() {
        let (root, old, new) = (key(1), key(2), key(3));
        let r = Recorded::default();
        let first = certify(&root, fields(7, &old), Some(&r)).unwrap();
        let seen = events(&r);
        assert_eq!(seen.len(), 1);
        assert!(seen[0].starts_with("Certified"), "{seen:?}");
        assert!(seen[0].contains("serial: 7"), "{seen:?}");

        certify_successor(&root, fields(8, &new), Some(&first), Some(&r)).unwrap();
        let seen = events(&r);
        assert!(seen[0].starts_with("Certified"), "{seen:?}");
        assert!(seen[1].starts_with("Rotated"), "{seen:?}");
        assert!(seen[1].contains(&format!("{:?}", new.verifying_key().key_id())));

        let st = rotate_root(&root, &new, 2, Clock::Fixed(50), Some(&r)).unwrap();
        assert_eq!(st.issued_at, 50);
        let seen = events(&r);
        assert!(seen[0].starts_with("RootRotated"), "{seen:?}");
        assert!(seen[0].contains("version: 2"), "{seen:?}");
    }

    /// The next list carries everything the previous one revoked, and only
    /// what it adds is reported.
    #[test]
    fn revocation_lists_follow_each_other_and_report_what_they_add() {
        let root = key(1);
        let (a, b) = (KeyId([0xa; 16]), KeyId([0xb; 16]));
        let r = Recorded::default();
        let one = revoke(&root, None, &[5], &[a], Clock::Fixed(10), Some(&r)).unwrap();
        assert_eq!((one.sequence, one.issued_at), (1, 10));
        let seen = events(&r);
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen[0].starts_with("KeyRevoked") && seen[0].contains("sequence: 1"));
        assert!(seen[1].starts_with("SerialRevoked") && seen[1].contains("serial: 5"));

        let two = revoke(
            &root,
            Some(&one.to_bytes()),
            &[6],
            &[b],
            Clock::Fixed(11),
            Some(&r),
        )
        .unwrap();
        assert_eq!(two.sequence, 2);
        assert_eq!(two.serials, [5, 6]);
        assert_eq!(two.key_ids, [a, b]);
        let seen = events(&r);
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen.iter().all(|e| e.contains("sequence: 2")), "{seen:?}");
        assert!(!seen.iter().any(|e| e.contains("serial: 5")), "{seen:?}");

        // A previous list by another root is refused, and nothing reported.
        let other = revoke(&key(9), None, &[1], &[], Clock::Fixed(1), None).unwrap();
        assert!(
            revoke(
                &root,
                Some(&other.to_bytes()),
                &[2],
                &[],
                Clock::Fixed(2),
                Some(&r)
            )
            .is_err()
        );
        assert!(events(&r).is_empty());
    }

    /// A sink that refuses (an unwritable audit log) withholds what the
    /// operation made.
    #[test]
    fn a_refused_event_withholds_the_result() {
        let (root, k) = (key(1), key(2));
        assert!(certify(&root, fields(1, &k), Some(&Refusing)).is_err());
        assert!(rotate_root(&root, &k, 2, Clock::Fixed(1), Some(&Refusing)).is_err());
        assert!(revoke(&root, None, &[1], &[], Clock::Fixed(1), Some(&Refusing)).is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        let secret = AnyKey::SigningSecret(key(2));
        let id = (
            KeyRole::Release,
            KeyAlg::Ed25519,
            k.verifying_key().key_id(),
        );
        let r = Recorded::default();
        assert_eq!(
            save_new_secret_key(&path, &secret, id, None, Some(&r)).unwrap(),
            KeyBackend::PlainFile
        );
        assert!(events(&r)[0].contains("PlainFile"));
        // Never replaces a key file.
        assert!(save_new_secret_key(&path, &secret, id, None, Some(&r)).is_err());
        assert!(events(&r).is_empty());
    }
}
