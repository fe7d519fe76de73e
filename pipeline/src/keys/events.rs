//! Key-use events, for an audit log to record.
//!
//! The key code does not write logs. Every library operation that uses a
//! key — generating, unlocking, certifying, rotating, revoking, verifying a
//! manifest — takes an `Option<&dyn KeyEventSink>` and reports its own
//! [`KeyEvent`]; the audit log is the sink (`audit::AuditLog`, which also
//! decides how each event is written). Callers only choose the sink.
//! Signatures are recorded by `audit::AuditedSigner`, which also enforces
//! suspension. Events carry identifiers only, never secret material.

use super::KeyId;
use crate::Error;
use crate::format::cert::Certificate;
use crate::format::keystore::{KeyAlg, KeyRole};
use std::path::Path;

/// Where a key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyBackend {
    /// A key file without encryption.
    PlainFile,
    /// A passphrase-encrypted key file.
    EncryptedFile,
    /// A PKCS#11 token.
    Pkcs11,
    /// In memory only (generated or passed by the caller).
    Memory,
}

impl KeyBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PlainFile => "file",
            Self::EncryptedFile => "encrypted-file",
            Self::Pkcs11 => "pkcs11",
            Self::Memory => "memory",
        }
    }
}

/// One key operation. `path` is the key file or the `pkcs11:` URI (without
/// any PIN), when there is one.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum KeyEvent<'a> {
    /// A key pair was generated.
    Generated {
        key_id: KeyId,
        alg: KeyAlg,
        role: KeyRole,
        backend: KeyBackend,
        path: Option<&'a Path>,
    },
    /// An encrypted key file was unlocked with the right passphrase.
    UnlockOk {
        key_id: KeyId,
        path: Option<&'a Path>,
    },
    /// An unlock failed: wrong passphrase or altered ciphertext, or a wrong
    /// PKCS#11 PIN. Repeated failures are what an alert rule counts.
    UnlockFailed {
        key_id: KeyId,
        path: Option<&'a Path>,
        backend: KeyBackend,
    },
    /// `issuer` signed `certificate` (`keys::lifecycle::certify`).
    Certified {
        issuer: KeyId,
        certificate: &'a Certificate,
    },
    /// The release key `key` was certified as the successor of `previous`
    /// (the rotated-out key's certificate, when known).
    Rotated {
        key: KeyId,
        previous: Option<&'a Certificate>,
    },
    /// The root `from` handed trust to `to`, which becomes root `version`.
    RootRotated {
        from: KeyId,
        to: KeyId,
        version: u64,
    },
    /// Revocation list `sequence`, signed by `root`, newly revokes every
    /// certificate of `key`.
    KeyRevoked {
        key: KeyId,
        root: KeyId,
        sequence: u64,
    },
    /// Revocation list `sequence`, signed by `root`, newly revokes the
    /// certificate `serial`.
    SerialRevoked {
        serial: u64,
        root: KeyId,
        sequence: u64,
    },
    /// A manifest was checked; `error` says why it failed. `signer` is the
    /// key the manifest claims (if it could be read): failures against a
    /// key are what an alert rule counts.
    Verified {
        signer: Option<KeyId>,
        manifest: &'a Path,
        error: Option<&'a str>,
    },
}

/// Receives key events. Implementations must not block for long: signing
/// reports from the sealing path.
///
/// An error from `record` vetoes the operation it reports where that is
/// still possible: an unlocked key is dropped (zeroized) instead of being
/// returned, a new signature is withheld, a key generation is reported as
/// failed. A failed unlock or failed signature is reported as it happened
/// and its own error is returned; the sink's error is then dropped.
pub trait KeyEventSink: Send + Sync {
    fn record(&self, event: &KeyEvent<'_>) -> Result<(), Error>;
}

/// Reports `event` to `sink` if there is one.
pub fn report(sink: Option<&dyn KeyEventSink>, event: KeyEvent<'_>) -> Result<(), Error> {
    match sink {
        Some(sink) => sink.record(&event),
        None => Ok(()),
    }
}

/// Reports a manifest check to `sink`: `error` says why it failed. The
/// signer the event names is read from the manifest file itself, and only
/// when there is a sink; a manifest that cannot be read or parsed names no
/// key.
pub fn report_verification(
    sink: Option<&dyn KeyEventSink>,
    manifest: &Path,
    error: Option<&str>,
) -> Result<(), Error> {
    let Some(sink) = sink else {
        return Ok(());
    };
    let signer = crate::files::read_capped(manifest, "manifest", crate::format::manifest::MAX_LEN)
        .ok()
        .and_then(|b| crate::format::Manifest::parse(&b).ok())
        .map(|(m, _)| m.signer.key_id);
    sink.record(&KeyEvent::Verified {
        signer,
        manifest,
        error,
    })
}

/// A sink that keeps events in memory as text, for tests.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct Recorded(pub std::sync::Mutex<Vec<String>>);

#[cfg(test)]
impl KeyEventSink for Recorded {
    fn record(&self, event: &KeyEvent<'_>) -> Result<(), Error> {
        self.0.lock().unwrap().push(format!("{event:?}"));
        Ok(())
    }
}

/// A sink that refuses everything, as an unwritable audit log would.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct Refusing;

#[cfg(test)]
impl KeyEventSink for Refusing {
    fn record(&self, _: &KeyEvent<'_>) -> Result<(), Error> {
        Err(Error::InvalidRequest("audit log unavailable".into()))
    }
}
