//! The library's error type. Authentication failures say *which* chunk or
//! field failed but never leak why beyond that (no partial plaintext, no key
//! material).

use crate::format::FormatError;
use crate::keys::KeyId;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes that are not a well-formed document.
    #[error("malformed manifest or key: {0}")]
    Format(#[from] FormatError),

    /// The manifest's signature does not verify under the signer's key.
    #[error("manifest signature is invalid")]
    BadSignature,
    /// The manifest names a signer the verifier does not trust.
    #[error("manifest is signed by key {found}, which is not trusted (expected {expected})")]
    UntrustedSigner { found: KeyId, expected: KeyId },
    /// The signed chunk table does not merge to the signed root hash.
    #[error("manifest chunk table does not match its root hash")]
    TableRootMismatch,

    /// The payload is shorter or longer than the manifest says.
    #[error("payload is {found} bytes, manifest says {expected} (truncated or extended)")]
    PayloadLength { expected: u64, found: u64 },
    /// A chunk has the wrong number of bytes for its position.
    #[error("chunk {index} is {found} bytes, expected {expected}")]
    ChunkLength {
        index: u32,
        expected: u64,
        found: u64,
    },
    /// A chunk's BLAKE3 chaining value differs from the signed table: the
    /// bytes were altered, reordered, or come from another bundle.
    #[error("chunk {index} does not match the manifest (altered, moved or from another bundle)")]
    ChunkHashMismatch { index: u32 },
    /// AES-GCM rejected a chunk whose hash matched: the manifest's tag or the
    /// data key is wrong.
    #[error("chunk {index} failed authenticated decryption")]
    ChunkTagMismatch { index: u32 },
    #[error("chunk index {index} is out of range (bundle has {count} chunks)")]
    ChunkIndexOutOfRange { index: u64, count: u32 },
    #[error("byte range {start}..{end} is outside the {len}-byte payload")]
    RangeOutOfBounds { start: u64, end: u64, len: u64 },
    #[error("expected {expected} chunk entries, got {found}")]
    ChunkTableIncomplete { expected: u32, found: usize },

    /// No recipient stanza is addressed to this device key.
    #[error("this key ({key_id}) is not a recipient of the bundle")]
    NotARecipient { key_id: KeyId },
    /// The stanza for this key did not decrypt.
    #[error("the data key could not be unwrapped with key {key_id}")]
    KeyUnwrapFailed { key_id: KeyId },
    #[error("invalid key: {what}")]
    InvalidKey { what: &'static str },
    #[error("{path}: secret key file is readable by others (mode {mode:o}); run `chmod 600` on it")]
    InsecureKeyFile { path: PathBuf, mode: u32 },
    /// The passphrase did not decrypt an encrypted key file. A wrong
    /// passphrase and an altered file cannot be told apart.
    #[error("wrong passphrase for encrypted key {key_id} (or the key file was altered)")]
    WrongPassphrase { key_id: KeyId },
    /// An encrypted key file was read where no passphrase can be asked for.
    #[error("{path}: key file is encrypted; a passphrase is needed to unlock it")]
    PassphraseRequired { path: PathBuf },
    /// The PKCS#11 token refused the PIN.
    #[error("PKCS#11 token `{token}` refused the PIN")]
    Pkcs11PinIncorrect { token: String },
    /// A PKCS#11 module, token or key could not be used.
    #[error("PKCS#11: {what}: {detail}")]
    Pkcs11 { what: &'static str, detail: String },
    /// A `pkcs11:` URI (RFC 7512) that cannot be used.
    #[error("invalid pkcs11: URI: {0}")]
    Pkcs11Uri(String),
    #[error("invalid sealing request: {0}")]
    InvalidRequest(String),

    /// A batch input that is not a regular file (FIFO, socket, device,
    /// link to a directory): it cannot be sized or mapped, so it is skipped.
    #[error("{path}: not a regular file ({what})")]
    NotRegularFile { path: PathBuf, what: &'static str },
    /// A bundle on disk is not the one a batch index lists.
    #[error("{name}: {what} does not match the batch index")]
    IndexMismatch { name: String, what: &'static str },
    /// The run was interrupted (SIGINT/SIGTERM) before this bundle finished.
    #[error("interrupted before this bundle was complete")]
    Interrupted,

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Broad classes of failure, for callers that map errors to exit codes or
/// retry policies without matching every variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Something failed authentication: do not trust or use it.
    Verification,
    /// Bytes that are not a well-formed document or key.
    Malformed,
    /// The key cannot be used: wrong recipient, invalid, or badly protected.
    Key,
    /// The request itself is invalid.
    Request,
    /// A passphrase or PIN did not unlock a key.
    Unlock,
    /// The file system failed.
    Io,
    /// The operation was stopped by a signal before it completed.
    Interrupted,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::BadSignature
            | Self::UntrustedSigner { .. }
            | Self::TableRootMismatch
            | Self::PayloadLength { .. }
            | Self::ChunkLength { .. }
            | Self::ChunkHashMismatch { .. }
            | Self::ChunkTagMismatch { .. }
            | Self::IndexMismatch { .. } => ErrorKind::Verification,
            Self::Format(_) => ErrorKind::Malformed,
            Self::NotARecipient { .. }
            | Self::KeyUnwrapFailed { .. }
            | Self::InvalidKey { .. }
            | Self::InsecureKeyFile { .. }
            | Self::PassphraseRequired { .. }
            | Self::Pkcs11 { .. } => ErrorKind::Key,
            Self::WrongPassphrase { .. } | Self::Pkcs11PinIncorrect { .. } => ErrorKind::Unlock,
            Self::ChunkIndexOutOfRange { .. }
            | Self::RangeOutOfBounds { .. }
            | Self::ChunkTableIncomplete { .. }
            | Self::InvalidRequest(_)
            | Self::Pkcs11Uri(_) => ErrorKind::Request,
            Self::Io { .. } | Self::NotRegularFile { .. } => ErrorKind::Io,
            Self::Interrupted => ErrorKind::Interrupted,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
