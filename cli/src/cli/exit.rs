//! Exit codes (documented in the README and `otaseal --help`) and the one
//! readable line each error becomes.

use otaseal::ErrorKind;

/// Process exit codes. Scripts may rely on these values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitCode {
    Ok = 0,
    /// Some inputs of a batch failed; the others succeeded.
    Partial = 1,
    Usage = 2,
    /// A signature, hash, tag or length did not verify.
    Verification = 3,
    /// A manifest or key file is malformed.
    Malformed = 4,
    /// A key cannot be used (not a recipient, invalid, readable by others).
    Key = 5,
    /// Reading or writing a file failed.
    Io = 6,
    /// The device policy refused the manifest (downgrade, app, channel, expiry).
    Policy = 8,
    /// A download failed (network, server, too slow, deadline); it can be
    /// resumed. A chunk that keeps failing verification is exit 3 instead.
    Network = 9,
    /// A passphrase or PIN did not unlock a key.
    Unlock = 7,
    /// Another `seal` run holds the output directory's lock.
    Busy = 10,
    /// A delta's base is not the installed version it was made against.
    WrongBase = 11,
    /// An encoded bundle did not decode to its signed result.
    BadDelta = 12,
    /// Stopped by SIGINT/SIGTERM; finished bundles were kept.
    Interrupted = 130,
    /// A certificate chain was rejected (expired, not yet valid, wrong
    /// channel or usage, untrusted root, bad chain signature).
    Trust = 20,
    /// The signing key or its certificate is revoked.
    Revoked = 21,
    /// A trust update was refused: replayed revocation list, bad root
    /// rotation statement, corrupt trust state.
    TrustUpdate = 22,
    /// The key is suspended and refuses to sign.
    Suspended = 23,
    /// The audit log was tampered with or is torn.
    AuditLog = 24,
    /// `audit alerts`: the highest alert level found.
    AlertLow = 30,
    AlertMedium = 31,
    AlertHigh = 32,
    AlertCritical = 33,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        std::process::ExitCode::from(c as u8)
    }
}

pub(crate) const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  some bundles of a batch failed (the others were sealed)
  2  usage error
  3  verification failed (signature, hash, tag, length; a fetched chunk that kept failing)
  4  malformed manifest or key file
  5  key unusable (not a recipient, invalid, file readable by others, Argon2 cost over the unlock limit)
  6  I/O error
  7  wrong passphrase or PIN (or an altered encrypted key file)
  8  refused by device policy (downgrade, other app or channel, expired)
  9  download failed (network, server, too slow, deadline; rerun to resume)
  10 output directory busy: another `seal` run holds its lock (nothing was written)
  11 wrong base: a delta's base is not the installed version it applies to (fetch the full bundle)
  12 bad delta: an encoded bundle did not decode to its signed result (nothing installed)
  20 certificate chain rejected (expired, not yet valid, channel, app, usage, untrusted root)
  21 signing key revoked
  22 trust update refused (replayed revocation list, bad root rotation, corrupt trust state)
  23 key suspended (run `otaseal keys resume` after investigating)
  24 audit log tampered or torn
  30-33 `audit alerts`: highest level low, medium, high, critical
  130  interrupted (SIGINT/SIGTERM); finished bundles and the index were kept";

/// An error on its way to the user: a message, an optional hint, a code.
#[derive(Debug)]
pub(crate) struct CliError {
    message: String,
    hint: Option<String>,
    code: ExitCode,
}

pub(crate) type CliResult<T = ExitCode> = Result<T, CliError>;

impl CliError {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
            code: ExitCode::Usage,
        }
    }

    /// Prefixes the message with what it is about, e.g. a file name.
    pub(crate) fn context(mut self, what: &str) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    pub(crate) fn code(&self) -> ExitCode {
        self.code
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    /// Prints `otaseal: <message>` (and a hint) to stderr; returns the code.
    pub(crate) fn report(self) -> std::process::ExitCode {
        eprintln!("otaseal: {}", self.message);
        if let Some(hint) = self.hint {
            eprintln!("hint: {hint}");
        }
        self.code.into()
    }
}

impl From<otaseal::Error> for CliError {
    fn from(e: otaseal::Error) -> Self {
        let code = code_for(e.kind());
        let hint = match &e {
            otaseal::Error::UntrustedSigner { .. } => {
                Some("pass the signer's public key with --trust".to_owned())
            }
            otaseal::Error::UntrustedRoot { .. } => Some(
                "pin the right --root, or follow the root rotation with --rotation FILE".to_owned(),
            ),
            otaseal::Error::KeyRevoked { .. } => {
                Some("the signing key is revoked: re-seal with a current release key".to_owned())
            }
            otaseal::Error::CertExpired { .. } | otaseal::Error::CertNotYetValid { .. } => Some(
                "re-seal with a key whose certificate is valid now (`otaseal keys rotate`)"
                    .to_owned(),
            ),
            otaseal::Error::RevocationReplay { .. } => Some(
                "an older revocation list cannot replace a newer one; fetch the newest list"
                    .to_owned(),
            ),
            otaseal::Error::WrongPassphrase { .. } => Some(
                "check $OTASEAL_PASSPHRASE or --passphrase-file; the file may also have been altered"
                    .to_owned(),
            ),
            otaseal::Error::KdfTooCostly { .. } => Some(
                "if the key file is yours, raise the limit with --max-kdf-memory SIZE or $OTASEAL_MAX_KDF_MEMORY (docs/OPERATIONS.md, Passphrases)"
                    .to_owned(),
            ),
            otaseal::Error::PassphraseRequired { .. } => {
                Some("set $OTASEAL_PASSPHRASE or pass --passphrase-file".to_owned())
            }
            otaseal::Error::NotARecipient { .. } => {
                Some("the bundle was sealed for other --recipient keys".to_owned())
            }
            otaseal::Error::CorruptState { .. } => Some(
                "restore the state file from a backup; it is never reset automatically".to_owned(),
            ),
            otaseal::Error::Fetch(f) if f.kind() == ErrorKind::Network => {
                Some("rerun the same command to resume; verified chunks are kept".to_owned())
            }
            otaseal::Error::Fetch(_) => Some(
                "the payload served does not match the signed manifest; verified chunks are kept, rerun against a good copy".to_owned(),
            ),
            _ => None,
        };
        Self {
            message: e.to_string(),
            hint,
            code,
        }
    }
}

pub(crate) fn code_for(kind: ErrorKind) -> ExitCode {
    match kind {
        ErrorKind::Verification => ExitCode::Verification,
        ErrorKind::Malformed => ExitCode::Malformed,
        ErrorKind::Key => ExitCode::Key,
        ErrorKind::Io => ExitCode::Io,
        ErrorKind::Policy => ExitCode::Policy,
        ErrorKind::Network => ExitCode::Network,
        ErrorKind::Unlock => ExitCode::Unlock,
        ErrorKind::Interrupted => ExitCode::Interrupted,
        ErrorKind::Trust => ExitCode::Trust,
        ErrorKind::Revoked => ExitCode::Revoked,
        ErrorKind::TrustUpdate => ExitCode::TrustUpdate,
        ErrorKind::Suspended => ExitCode::Suspended,
        ErrorKind::AuditLog => ExitCode::AuditLog,
        ErrorKind::Busy => ExitCode::Busy,
        ErrorKind::WrongBase => ExitCode::WrongBase,
        ErrorKind::BadDelta => ExitCode::BadDelta,
        ErrorKind::Request => ExitCode::Usage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every exit code. The match below stops compiling when a variant is
    /// added, which is the reminder to list it here (and document it).
    const ALL: [ExitCode; 23] = {
        use ExitCode::*;
        [
            Ok,
            Partial,
            Usage,
            Verification,
            Malformed,
            Key,
            Io,
            Unlock,
            Policy,
            Network,
            Trust,
            Revoked,
            TrustUpdate,
            Suspended,
            AuditLog,
            AlertLow,
            AlertMedium,
            AlertHigh,
            AlertCritical,
            Interrupted,
            Busy,
            WrongBase,
            BadDelta,
        ]
    };

    fn listed(c: ExitCode) -> bool {
        use ExitCode::*;
        match c {
            Ok | Partial | Usage | Verification | Malformed | Key | Io | Unlock | Policy
            | Network | Trust | Revoked | TrustUpdate | Suspended | AuditLog | AlertLow
            | AlertMedium | AlertHigh | AlertCritical | Interrupted | Busy | WrongBase
            | BadDelta => ALL.contains(&c),
        }
    }

    /// Codes named by a documentation line that starts with a number or a
    /// range `A-B` / `A–B`.
    fn codes_in(line: &str) -> Vec<u8> {
        if !line.starts_with(|c: char| c.is_ascii_digit()) {
            return Vec::new();
        }
        let word: String = line
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '-' || *c == '–')
            .collect();
        match word.split_once(['-', '–']) {
            Some((a, b)) => (a.parse().unwrap()..=b.parse().unwrap()).collect(),
            None => word.parse().ok().into_iter().collect(),
        }
    }

    #[test]
    fn the_enum_help_and_readme_list_the_same_codes() {
        let all: BTreeSet<u8> = ALL.iter().map(|c| *c as u8).collect();
        assert!(ALL.iter().all(|c| listed(*c)));
        let help: BTreeSet<u8> = EXIT_CODES_HELP
            .lines()
            .skip(1)
            .flat_map(|l| codes_in(l.trim_start()))
            .collect();
        assert_eq!(
            help, all,
            "`otaseal --help` exit codes differ from the enum"
        );
        let readme = include_str!("../../../README.md");
        let table = readme
            .split("### Exit codes")
            .nth(1)
            .expect("README has an exit-code table");
        let documented: BTreeSet<u8> = table
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .flat_map(|l| codes_in(l.trim_start_matches(['|', ' '])))
            .collect();
        assert_eq!(
            documented, all,
            "the README's exit codes differ from the enum"
        );
    }

    #[test]
    fn every_error_kind_has_its_own_code() {
        const KINDS: &[ErrorKind] = ErrorKind::ALL;
        let codes: BTreeSet<u8> = KINDS.iter().map(|k| code_for(*k) as u8).collect();
        assert_eq!(
            codes.len(),
            KINDS.len(),
            "two error kinds share an exit code"
        );
        // The library's numbers, which the C ABI returns, are these.
        for k in KINDS {
            assert_eq!(code_for(*k) as u8, k.code(), "{k:?}");
        }
    }
}
