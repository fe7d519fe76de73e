//! Shared pieces of the root-of-trust commands: how `verify` and `open`
//! choose what to trust (`--trust` or `--root` with rotation, revocation
//! and a persisted trust state), how `seal` wraps its signer (certificate
//! chain, suspension check, audit events), key and time arguments.

use super::{CliError, CliResult};
use otaseal::audit::{AuditLog, AuditedSigner};
use otaseal::clock::Clock;
use otaseal::device::{self, TrustSource, TrustUpdates};
use otaseal::files;
use otaseal::format::cert::{self, AppScope, Certificate, CertificateBody, ChannelScope, KeyUsage};
use otaseal::format::{AppId, Channel};
use otaseal::keys::file::{AnyKey, KeyFile};
use otaseal::keys::trust::{CertifiedSigner, RevocationOutcome, RootTrust, RotationOutcome};
use otaseal::keys::{KeyId, RecipientPublicKey, Signer, VerifyingKey};
use otaseal::open::TrustAnchor;
use std::path::{Path, PathBuf};

/// What a verifier trusts.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TrustArgs {
    /// Trust this signing public key directly (file or `otaseal1:` text).
    #[arg(long, value_name = "KEY", conflicts_with_all = ["root", "rotations", "revocations", "trust_state"])]
    trust: Option<String>,
    /// Pinned root public key: the manifest must carry a certificate chain to it.
    #[arg(long, value_name = "KEY")]
    root: Option<String>,
    /// A root rotation statement to follow; repeat, oldest first.
    #[arg(long = "rotation", value_name = "FILE")]
    rotations: Vec<PathBuf>,
    /// A revocation list signed by the current root.
    #[arg(long, value_name = "FILE")]
    revocations: Option<PathBuf>,
    /// Trust state file (pinned root, superseded roots, newest revocation list).
    /// Created from --root if missing; updated atomically; a corrupt file is an error.
    #[arg(long, value_name = "FILE")]
    trust_state: Option<PathBuf>,
}

impl TrustArgs {
    /// Builds the trust anchor. With `--root`/`--trust-state`: loads or pins
    /// the state, follows rotation statements, applies the revocation list,
    /// and saves the state before any manifest is looked at (the updates are
    /// authenticated on their own).
    pub(crate) fn anchor(&self) -> CliResult<TrustAnchor> {
        if let Some(t) = &self.trust {
            return super::args::trust(t);
        }
        let pinned = self
            .root
            .as_deref()
            .map(super::args::signing_public)
            .transpose()?;
        // Read every update before the state is locked: the lock is held
        // only for load + apply + save.
        let updates = TrustUpdates::read(&self.rotations, self.revocations.as_deref())?;
        let source = match (&self.trust_state, &pinned) {
            (Some(path), pin) if pin.is_some() || path.symlink_metadata().is_ok() => {
                TrustSource::File {
                    path,
                    pin: pin.as_ref(),
                }
            }
            (None, Some(root)) => TrustSource::Root(root),
            _ => {
                return Err(CliError::usage(
                    "say what to trust: --trust KEY, --root ROOT.pub, or an existing --trust-state FILE",
                ));
            }
        };
        let (state, changes) = device::update_trust(source, &updates)?;
        for outcome in changes.rotations {
            if let RotationOutcome::Rotated { from, to, version } = outcome {
                eprintln!(
                    "otaseal: followed root rotation {from} -> {to} (root version {version})"
                );
            }
        }
        if let (TrustSource::File { .. }, Some(RevocationOutcome::Accepted { sequence })) =
            (source, changes.revocations)
        {
            eprintln!("otaseal: accepted revocation list {sequence}");
        }
        Ok(TrustAnchor::Root(RootTrust::new(state)))
    }
}

/// A key id given as 32 hex digits, or the id of a key file / key text.
pub(crate) fn key_id_arg(arg: &str) -> CliResult<KeyId> {
    let mut id = [0u8; 16];
    if arg.len() == 32 && hex::decode_to_slice(arg, &mut id).is_ok() {
        return Ok(KeyId(id));
    }
    Ok(match super::args::load_locked(arg)? {
        KeyFile::Plain(AnyKey::SigningPublic(k)) => k.key_id(),
        KeyFile::Plain(AnyKey::SigningSecret(k)) => k.verifying_key().key_id(),
        KeyFile::Plain(AnyKey::RecipientPublic(k)) => k.key_id(),
        KeyFile::Plain(AnyKey::RecipientSecret(k)) => k.key_id(),
        KeyFile::Encrypted(k) => k.key_id(),
        _ => return Err(CliError::usage(format!("{arg}: not a key id or key"))),
    })
}

/// Reads and decodes a certificate file.
pub(crate) fn read_cert(path: &Path) -> CliResult<(Certificate, Vec<u8>)> {
    let bytes = files::read_capped(path, "certificate", cert::MAX_LEN)?;
    let (cert, _) = Certificate::parse(&bytes).map_err(otaseal::Error::from)?;
    Ok((cert, bytes))
}

/// The audit log from `--audit-log`, else from `OTASEAL_AUDIT_LOG`: the
/// one place a command's log is chosen. Commands pass it down (as a key
/// event sink, `args::key_events`); the library records every event.
pub(crate) fn audit_log(arg: Option<&Path>) -> Option<AuditLog> {
    arg.map(AuditLog::new).or_else(AuditLog::from_env)
}

/// What a run seals: the application, channel and `created` time every
/// certificate of its chain must allow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SealTerms<'a> {
    pub app: &'a AppId,
    pub channel: &'a Channel,
    pub created: u64,
}

/// The signer `seal` uses: the key, with its certificate chain (`--cert`,
/// leaf first) if given — refused (exit 20) before anything is sealed if
/// it does not allow `terms` — and, when an audit log is configured,
/// refusing to sign while suspended and recording every wrap and signature.
pub(crate) fn seal_signer(
    mut signer: Box<dyn Signer>,
    certs: &[PathBuf],
    audit: Option<&Path>,
    recipients: &[RecipientPublicKey],
    terms: SealTerms<'_>,
) -> CliResult<Box<dyn Signer>> {
    if !certs.is_empty() {
        let chain = certs
            .iter()
            .map(|p| read_cert(p).map(|(_, bytes)| bytes))
            .collect::<CliResult<Vec<_>>>()?;
        let certified = CertifiedSigner::new(signer, chain)?;
        certified.check_terms(terms.app, terms.channel, terms.created)?;
        signer = Box::new(certified);
    }
    if let Some(log) = audit_log(audit) {
        let ids = recipients.iter().map(RecipientPublicKey::key_id).collect();
        signer = Box::new(AuditedSigner::new(signer, log, ids)?);
    }
    Ok(signer)
}

/// Parses a point in time: Unix seconds, or `now`.
pub(crate) fn parse_time(s: &str) -> Result<u64, String> {
    if s == "now" {
        return Ok(Clock::System.now());
    }
    s.parse()
        .map_err(|_| format!("`{s}`: expected Unix seconds or `now`"))
}

/// Certificate terms shared by `cert issue` and `keys rotate`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CertTerms {
    /// Channel the key may sign for; repeat for several.
    #[arg(long = "channel", value_name = "CHANNEL")]
    pub channels: Vec<Channel>,
    /// Allow every channel.
    #[arg(long, conflicts_with = "channels")]
    pub any_channel: bool,
    /// Application the key may sign for; repeat for several (a version 2
    /// certificate). Default: every application, or the previous
    /// certificate's applications when rotating.
    #[arg(long = "app", value_name = "APP")]
    pub apps: Vec<AppId>,
    /// Allow every application (a version 1 certificate).
    #[arg(long, conflicts_with = "apps")]
    pub any_app: bool,
    /// Start of validity: Unix seconds or `now` (default: now).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub not_before: Option<u64>,
    /// End of validity, Unix seconds.
    #[arg(long, value_name = "TIME", value_parser = parse_time, conflicts_with = "valid_for")]
    pub not_after: Option<u64>,
    /// Validity length from not-before, e.g. 90d (default 90d).
    #[arg(long, value_name = "DURATION", value_parser = super::args::parse_seconds)]
    pub valid_for: Option<u64>,
    /// Comma-separated usages: sign-manifests, authorise-rollback,
    /// sign-revocations, issue-certificates (default sign-manifests).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub usage: Vec<String>,
    /// Certificate serial (default: random).
    #[arg(long)]
    pub serial: Option<u64>,
}

pub(crate) const DEFAULT_VALIDITY: u64 = 90 * 86_400;

/// Certificate terms with every default applied.
#[derive(Debug, Clone)]
pub(crate) struct Terms {
    pub channels: ChannelScope,
    pub apps: AppScope,
    pub usage: KeyUsage,
    pub not_before: u64,
    pub not_after: u64,
}

impl Terms {
    /// The fields of a certificate with these terms for an Ed25519 `subject`.
    pub(crate) fn fields(self, serial: u64, subject: &VerifyingKey) -> CertificateBody {
        CertificateBody {
            serial,
            subject_alg: otaseal::keys::SigAlg::Ed25519,
            subject_public_key: subject.to_bytes().to_vec(),
            not_before: self.not_before,
            not_after: self.not_after,
            usage: self.usage,
            channels: self.channels,
            apps: self.apps,
        }
    }
}

impl CertTerms {
    /// The scope, usage and window, falling back to `previous` (a rotated
    /// key's old certificate) for anything not given.
    pub(crate) fn resolve(&self, previous: Option<&Certificate>) -> CliResult<Terms> {
        let channels = if self.any_channel {
            ChannelScope::Any
        } else if !self.channels.is_empty() {
            ChannelScope::only(self.channels.clone()).map_err(|e| CliError::usage(e.to_string()))?
        } else if let Some(p) = previous {
            p.channels.clone()
        } else {
            return Err(CliError::usage(
                "say which channels the key may sign for: --channel NAME (repeatable) or --any-channel",
            ));
        };
        let apps = if self.any_app {
            AppScope::Any
        } else if !self.apps.is_empty() {
            AppScope::only(self.apps.clone()).map_err(|e| CliError::usage(e.to_string()))?
        } else if let Some(p) = previous {
            p.apps.clone()
        } else {
            AppScope::Any
        };
        let usage = if !self.usage.is_empty() {
            let mut u = KeyUsage::default();
            for name in &self.usage {
                u = u.union(
                    KeyUsage::from_name(name.trim()).map_err(|e| CliError::usage(e.to_string()))?,
                );
            }
            u
        } else if let Some(p) = previous {
            p.usage
        } else {
            KeyUsage::SIGN_MANIFESTS
        };
        let not_before = self.not_before.unwrap_or_else(|| Clock::System.now());
        let length = self
            .valid_for
            .or_else(|| previous.map(|p| p.not_after - p.not_before))
            .unwrap_or(DEFAULT_VALIDITY);
        let not_after = match self.not_after {
            Some(t) => t,
            None => not_before
                .checked_add(length)
                .ok_or_else(|| CliError::usage("validity window overflows"))?,
        };
        if not_after <= not_before {
            return Err(CliError::usage("--not-after must be after --not-before"));
        }
        Ok(Terms {
            channels,
            apps,
            usage,
            not_before,
            not_after,
        })
    }
}

pub(crate) fn random_serial() -> u64 {
    use rand_core::Rng;
    let mut rng = otaseal::keys::os_rng();
    loop {
        let s = rng.next_u64();
        if s != 0 {
            return s;
        }
    }
}

/// JSON description of a certificate.
pub(crate) fn cert_json(c: &Certificate) -> serde_json::Value {
    serde_json::json!({
        "serial": c.serial,
        "subject_key_id": c.subject_key_id().to_string(),
        "subject_alg": c.subject_alg.to_string(),
        "issuer_key_id": c.signer.key_id.to_string(),
        "not_before": c.not_before,
        "not_after": c.not_after,
        "usage": c.usage.names(),
        "channels": c.channels.to_string(),
        "apps": c.apps.to_string(),
        "version": c.version(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("17"), Ok(17));
        assert!(parse_time("yesterday").is_err());
    }
}
