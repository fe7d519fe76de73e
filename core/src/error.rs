//! The library's error type. Authentication failures say *which* chunk or
//! field failed but never leak why beyond that (no partial plaintext, no key
//! material).

use crate::format::FormatError;
use crate::keys::KeyId;
use crate::prelude::*;
#[cfg(feature = "std")]
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
    #[cfg(feature = "std")]
    #[error("{path}: secret key file is readable by others (mode {mode:o}); run `chmod 600` on it")]
    InsecureKeyFile { path: PathBuf, mode: u32 },
    /// The passphrase did not decrypt an encrypted key file. A wrong
    /// passphrase and an altered file cannot be told apart.
    #[error("wrong passphrase for encrypted key {key_id} (or the key file was altered)")]
    WrongPassphrase { key_id: KeyId },
    /// An encrypted key file asks for more Argon2id work than this reader's
    /// limit allows (`keys::keystore::KdfLimit`): refused before deriving
    /// anything, so a hostile file cannot cost 1 GiB and seconds per try.
    #[error(
        "encrypted key {key_id} asks for Argon2id m={m_cost_kib} KiB, t={t_cost}, over the unlock limit of {max_m_cost_kib} KiB and {max_work_kib} KiB x passes"
    )]
    KdfTooCostly {
        key_id: KeyId,
        m_cost_kib: u32,
        t_cost: u32,
        max_m_cost_kib: u64,
        max_work_kib: u64,
    },
    #[cfg(feature = "std")]
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

    /// A delta's base is not the one it was made against: another length,
    /// or another keyed digest (FORMAT.md §17.4). Checked before decoding.
    #[error(
        "the base offered is not the version this delta applies to ({reason}); fetch the full bundle"
    )]
    WrongBase { reason: String },
    /// An encoded bundle that does not decode to its signed result.
    #[error("encoded bundle did not decode to the signed result: {reason}")]
    BadDelta { reason: String },
    /// What a bundle was sealed as does not fit the request: a delta given
    /// no base, a bundle sealed as itself given one, or an encoded bundle
    /// asked to be decrypted as if its plaintext were the bundle.
    #[error("{0}")]
    EncodingMismatch(&'static str),

    /// The device policy refused a manifest (downgrade, channel, expiry, ...).
    #[error("refused by device policy: {0}")]
    Refused(#[from] crate::policy::PolicyViolation),
    #[cfg(feature = "std")]
    /// The device state file is damaged. It is never reset silently.
    #[error("{path}: corrupt device state file: {source}")]
    CorruptState { path: PathBuf, source: FormatError },
    /// A device session (`crate::session`) was used out of turn or handed
    /// state that is not its own.
    #[error("{0}")]
    Session(#[from] crate::session::SessionError),
    /// A download could not be completed. Only a network failure (exit 9)
    /// says "download failed"; data that kept failing verification (exit 3)
    /// says so instead.
    #[error("{prefix}{0}", prefix = if .0.kind() == ErrorKind::Network { "download failed: " } else { "" })]
    Fetch(#[from] crate::fetch::FetchError),
    #[cfg(feature = "std")]
    /// A batch input that is not a regular file (FIFO, socket, device,
    /// link to a directory): it cannot be sized or mapped, so it is skipped.
    #[error("{path}: not a regular file ({what})")]
    NotRegularFile { path: PathBuf, what: &'static str },
    #[cfg(feature = "std")]
    /// A file a download keeps (`OUT.part`, its record) that it did not
    /// make: a symbolic link, a hard link, a FIFO, a device, a directory or
    /// another user's file. It is neither read nor written.
    #[error("{path}: refusing to use it: it is {what}")]
    RefusedFile { path: PathBuf, what: &'static str },
    /// Another `seal` run holds the lock on this output directory (the
    /// same shard, another shard count, or a whole batch against a shard).
    #[cfg(feature = "std")]
    #[error(
        "{lock}: another `otaseal seal` run ({holder}) is writing to this output directory; wait for it to end (or stop it), then rerun with --resume"
    )]
    OutputBusy { lock: PathBuf, holder: String },
    /// A bundle on disk is not the one a batch index lists.
    #[error("{name}: {what} does not match the batch index")]
    IndexMismatch { name: String, what: &'static str },
    /// The run was interrupted (SIGINT/SIGTERM) before this bundle finished.
    #[error("interrupted before this bundle was complete")]
    Interrupted,
    // ---- Root of trust (keys::trust) ----
    /// The verifier pins a root but the manifest carries no certificates.
    #[error("manifest carries no certificate chain, but the verifier trusts a root key")]
    MissingChain,
    /// A certificate in the chain does not decode.
    #[error("certificate {position} of the chain is malformed: {source}")]
    MalformedCertificate {
        position: usize,
        source: FormatError,
    },
    /// The chain does not link up: the leaf is not the manifest's signer, or
    /// a certificate's issuer is not the next certificate's subject.
    #[error("certificate chain is broken at certificate {position}: {reason}")]
    ChainBroken { position: usize, reason: String },
    /// A certificate's issuer signature does not verify.
    #[error("certificate {serial} (chain position {position}) has an invalid issuer signature")]
    BadChainSignature { serial: u64, position: usize },
    /// The chain ends at (or a document is signed by) a root that is not pinned.
    #[error("{what} is signed by key {issuer}, which is not the pinned root {pinned}")]
    UntrustedRoot {
        what: &'static str,
        issuer: KeyId,
        pinned: KeyId,
    },
    #[error("certificate {serial} expired at {not_after}; {clock} is {at}")]
    CertExpired {
        serial: u64,
        not_after: u64,
        clock: &'static str,
        at: u64,
    },
    #[error("certificate {serial} is not valid before {not_before}; {clock} is {at}")]
    CertNotYetValid {
        serial: u64,
        not_before: u64,
        clock: &'static str,
        at: u64,
    },
    #[error("certificate {serial} does not allow channel `{channel}` (allowed: {allowed})")]
    CertWrongChannel {
        serial: u64,
        channel: String,
        allowed: String,
    },
    #[error("certificate {serial} does not allow application `{app}` (allowed: {allowed})")]
    CertWrongApp {
        serial: u64,
        app: String,
        allowed: String,
    },
    #[error("certificate {serial} does not allow `{needed}` (allowed: {allowed})")]
    UsageNotAllowed {
        serial: u64,
        needed: &'static str,
        allowed: String,
    },
    /// A key or certificate in the chain is on the revocation list.
    #[error(
        "key {key_id} (certificate {serial}) is revoked by revocation list {list_sequence} ({by})"
    )]
    KeyRevoked {
        key_id: KeyId,
        serial: u64,
        list_sequence: u64,
        by: &'static str,
    },
    /// A revocation list older than the newest one already accepted.
    #[error(
        "revocation list {found} is older than list {current} already accepted (replay refused)"
    )]
    RevocationReplay { found: u64, current: u64 },
    #[error("revocation list {sequence} differs from the list {sequence} already accepted")]
    RevocationConflict { sequence: u64 },
    #[error("revocation list {sequence} has an invalid root signature")]
    BadRevocationSignature { sequence: u64 },
    /// One of the two signatures of a root rotation statement is missing or wrong.
    #[error("root rotation statement lacks a valid signature by the {which} root {key_id}")]
    BadRotationSignature { which: &'static str, key_id: KeyId },
    /// A superseded root tries to introduce a second successor.
    #[error(
        "root {old} was already superseded by {successor}; it cannot introduce another successor {attempted}"
    )]
    RootSuperseded {
        old: KeyId,
        successor: KeyId,
        attempted: KeyId,
    },
    #[error("root rotation statement does not apply: {reason}")]
    RotationNotApplicable { reason: String },
    #[cfg(feature = "std")]
    #[error("{path}: trust state is unusable: {reason}")]
    TrustState { path: PathBuf, reason: String },

    // ---- Audit log and suspension (audit) ----
    #[error(
        "key {key_id} is suspended since {since} ({reason}); run `otaseal keys resume {key_id}` after investigating"
    )]
    KeySuspended {
        key_id: KeyId,
        since: u64,
        reason: String,
    },
    #[cfg(feature = "std")]
    #[error("{path}: suspension state is unusable: {reason}")]
    SuspensionState { path: PathBuf, reason: String },
    #[cfg(feature = "std")]
    #[error("{path}: audit log line {line}: {reason}")]
    AuditLog {
        path: PathBuf,
        line: u64,
        reason: String,
    },

    #[cfg(feature = "std")]
    /// A file is larger than any valid document of its kind, so it is
    /// refused before it is read into memory (`/dev/zero` as a manifest).
    #[error("{path}: larger than the {max}-byte limit for {what}")]
    TooLarge {
        path: PathBuf,
        what: &'static str,
        max: u64,
    },

    #[cfg(feature = "std")]
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Defines `ErrorKind`, its codes and `ErrorKind::ALL` from one list, so a
/// kind can never be missing from the table callers build from `ALL`.
macro_rules! error_kinds {
    ($($(#[$doc:meta])* $kind:ident = $code:literal,)*) => {
        /// Broad classes of failure, for callers that map errors to exit codes or
        /// retry policies without matching every variant. Deliberately exhaustive:
        /// a new class must be handled by every such mapping (the CLI's exit codes,
        /// a C caller's error codes), not fall into a catch-all.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorKind {
            $($(#[$doc])* $kind,)*
        }

        impl ErrorKind {
            /// Every kind, for callers that tabulate them (exit codes, C error codes).
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$kind,)*];

            /// The kind's number: the `otaseal` command's exit code and the
            /// C ABI's error code (README, "Exit codes"). Scripts rely on it.
            pub const fn code(self) -> u8 {
                match self {
                    $(ErrorKind::$kind => $code,)*
                }
            }
        }
    };
}

error_kinds! {
    /// Something failed authentication: do not trust or use it.
    Verification = 3,
    /// Bytes that are not a well-formed document or key.
    Malformed = 4,
    /// The key cannot be used: wrong recipient, invalid, or badly protected.
    Key = 5,
    /// The request itself is invalid (the command line's usage error).
    Request = 2,
    /// A passphrase or PIN did not unlock a key.
    Unlock = 7,
    /// The file system failed.
    Io = 6,
    /// The device policy refused an otherwise valid manifest.
    Policy = 8,
    /// The network or the server failed (a download may be resumed).
    Network = 9,
    /// The operation was stopped by a signal before it completed.
    Interrupted = 130,
    /// A certificate chain was rejected: expired, not yet valid, wrong
    /// channel or usage, untrusted root, bad chain signature.
    Trust = 20,
    /// The signing key or one of its certificates is revoked.
    Revoked = 21,
    /// A trust update (revocation list, root rotation, trust state) was refused.
    TrustUpdate = 22,
    /// The key is suspended and refuses to sign.
    Suspended = 23,
    /// The audit log is damaged or was tampered with.
    AuditLog = 24,
    /// Another process is using the resource (a batch output directory).
    Busy = 10,
    /// A delta bundle's base is not the installed version it was made
    /// against (FORMAT.md §17.4): fetch the full bundle instead.
    WrongBase = 11,
    /// An encoded bundle did not decode to the signed result: a corrupt
    /// patch, a decompression bomb, or a result whose length or digest
    /// differs (FORMAT.md §17.4). Nothing was installed.
    BadDelta = 12,
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
            | Self::KdfTooCostly { .. }
            | Self::Pkcs11 { .. } => ErrorKind::Key,
            Self::WrongPassphrase { .. } | Self::Pkcs11PinIncorrect { .. } => ErrorKind::Unlock,
            Self::ChunkIndexOutOfRange { .. }
            | Self::RangeOutOfBounds { .. }
            | Self::ChunkTableIncomplete { .. }
            | Self::InvalidRequest(_)
            | Self::EncodingMismatch(_)
            | Self::Pkcs11Uri(_) => ErrorKind::Request,
            Self::Refused(_) => ErrorKind::Policy,
            Self::Fetch(e) => e.kind(),
            Self::Session(e) => e.kind(),
            Self::Interrupted => ErrorKind::Interrupted,
            Self::MissingChain
            | Self::MalformedCertificate { .. }
            | Self::ChainBroken { .. }
            | Self::BadChainSignature { .. }
            | Self::UntrustedRoot { .. }
            | Self::CertExpired { .. }
            | Self::CertNotYetValid { .. }
            | Self::CertWrongChannel { .. }
            | Self::CertWrongApp { .. }
            | Self::UsageNotAllowed { .. } => ErrorKind::Trust,
            Self::KeyRevoked { .. } => ErrorKind::Revoked,
            Self::WrongBase { .. } => ErrorKind::WrongBase,
            Self::BadDelta { .. } => ErrorKind::BadDelta,
            Self::RevocationReplay { .. }
            | Self::RevocationConflict { .. }
            | Self::BadRevocationSignature { .. }
            | Self::BadRotationSignature { .. }
            | Self::RootSuperseded { .. }
            | Self::RotationNotApplicable { .. } => ErrorKind::TrustUpdate,
            Self::KeySuspended { .. } => ErrorKind::Suspended,
            #[cfg(feature = "std")]
            Self::InsecureKeyFile { .. } | Self::PassphraseRequired { .. } => ErrorKind::Key,
            #[cfg(feature = "std")]
            Self::CorruptState { .. } | Self::TooLarge { .. } => ErrorKind::Malformed,
            #[cfg(feature = "std")]
            Self::Io { .. } | Self::NotRegularFile { .. } | Self::RefusedFile { .. } => {
                ErrorKind::Io
            }
            #[cfg(feature = "std")]
            Self::TrustState { .. } => ErrorKind::TrustUpdate,
            #[cfg(feature = "std")]
            Self::SuspensionState { .. } => ErrorKind::Suspended,
            #[cfg(feature = "std")]
            Self::AuditLog { .. } => ErrorKind::AuditLog,
            #[cfg(feature = "std")]
            Self::OutputBusy { .. } => ErrorKind::Busy,
        }
    }

    #[cfg(feature = "std")]
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = core::result::Result<T, E>;
