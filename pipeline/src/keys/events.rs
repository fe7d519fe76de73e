//! Key-use events, for an audit log to record.
//!
//! The key code does not write logs. Operations that generate, unlock or
//! use a key take an `Option<&dyn KeyEventSink>` (or, for signing, are
//! wrapped in [`AuditedSigner`]) and report one [`KeyEvent`] per operation.
//! Events carry identifiers and digests only, never secret material.

use super::{KeyId, SigAlg, Signer};
use crate::Error;
use crate::format::keystore::{KeyAlg, KeyRole};
use std::path::Path;
use std::sync::Arc;

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
    /// A signature was requested. `message` is the BLAKE3 hash of the
    /// signed bytes; `ok` is false if the signer failed.
    Sign {
        key_id: KeyId,
        alg: SigAlg,
        backend: KeyBackend,
        message: [u8; 32],
        ok: bool,
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

/// A [`Signer`] that reports every signature to a sink.
pub struct AuditedSigner {
    inner: Box<dyn Signer>,
    backend: KeyBackend,
    sink: Arc<dyn KeyEventSink>,
}

impl AuditedSigner {
    pub fn new(inner: Box<dyn Signer>, backend: KeyBackend, sink: Arc<dyn KeyEventSink>) -> Self {
        Self {
            inner,
            backend,
            sink,
        }
    }
}

impl Signer for AuditedSigner {
    fn algorithm(&self) -> SigAlg {
        self.inner.algorithm()
    }

    fn key_id(&self) -> KeyId {
        self.inner.key_id()
    }

    fn chain(&self) -> &[Vec<u8>] {
        self.inner.chain()
    }

    /// Signs, then records the signature before releasing it: a signature
    /// the sink refuses to record is withheld.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let result = self.inner.sign(message);
        let recorded = self.sink.record(&KeyEvent::Sign {
            key_id: self.inner.key_id(),
            alg: self.inner.algorithm(),
            backend: self.backend,
            message: *blake3::hash(message).as_bytes(),
            ok: result.is_ok(),
        });
        let signature = result?;
        recorded?;
        Ok(signature)
    }
}

impl std::fmt::Debug for AuditedSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AuditedSigner({}, {})",
            self.inner.key_id(),
            self.backend.as_str()
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningKey;
    use rand_core::SeedableRng;

    #[test]
    fn audited_signer_reports_each_signature() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let key = SigningKey::generate(&mut rng);
        let vk = key.verifying_key();
        let sink = Arc::new(Recorded::default());
        let signer = AuditedSigner::new(Box::new(key), KeyBackend::Memory, sink.clone());
        let sig = signer.sign(b"manifest").unwrap();
        vk.verify(b"manifest", &sig).unwrap();
        let events = sink.0.lock().unwrap();
        assert_eq!(events.len(), 1);
        assert!(events[0].starts_with("Sign {"), "{}", events[0]);
        assert!(events[0].contains(&vk.key_id().to_string()));
        assert!(events[0].contains("ok: true"));
    }

    #[test]
    fn a_signature_the_sink_refuses_is_withheld() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(6);
        let key = SigningKey::generate(&mut rng);
        let signer = AuditedSigner::new(Box::new(key), KeyBackend::Memory, Arc::new(Refusing));
        assert!(matches!(
            signer.sign(b"manifest"),
            Err(Error::InvalidRequest(_))
        ));
    }
}
