//! Key-use events, for an audit log to record.
//!
//! The key code does not write logs. Operations that generate or unlock a
//! key take an `Option<&dyn KeyEventSink>` and report one [`KeyEvent`] per
//! operation; the audit log is the sink (`audit::AuditLog`). Signatures are
//! recorded by `audit::AuditedSigner`, which also enforces suspension.
//! Events carry identifiers only, never secret material.

use super::KeyId;
use crate::Error;
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
