//! Device-policy arguments shared by `verify --state` and `install-check`.

use super::args;
use super::{CliError, CliResult};
use otaseal::format::Channel;
use otaseal::keys::file::AnyKey;
use otaseal::open::{TrustAnchor, VerifiedManifest};
use otaseal::policy::{self, Approval, PolicyOptions, RollbackTrust, StateFile, VerifiedRollback};
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct PolicyArgs {
    /// Device state file: apply the anti-downgrade, channel and expiry policy.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Follow this channel from now on (required the first time an app is installed).
    #[arg(long, value_name = "CHANNEL", requires = "state")]
    pub switch_channel: Option<Channel>,
    /// A rollback authorisation allowing an older sequence.
    #[arg(long, value_name = "FILE", requires_all = ["state", "rollback_key"])]
    pub rollback: Option<PathBuf>,
    /// The public key trusted to sign rollback authorisations.
    #[arg(long, value_name = "KEY", requires = "rollback")]
    pub rollback_key: Option<String>,
    /// Refuse manifests without an expiry.
    #[arg(long, requires = "state")]
    pub require_expiry: bool,
    /// Evaluate the policy at this Unix time instead of now (for testing).
    #[arg(long, value_name = "UNIX_SECONDS", hide = true)]
    pub now: Option<u64>,
}

/// A policy decision and the loaded state it applies to.
#[derive(Debug)]
pub(crate) struct Decision {
    pub state: StateFile,
    pub approval: Approval,
    pub now: u64,
}

impl PolicyArgs {
    pub(crate) fn now(&self) -> u64 {
        self.now.unwrap_or_else(otaseal::seal::unix_now)
    }

    fn rollback(&self) -> CliResult<Option<VerifiedRollback>> {
        let (Some(path), Some(key)) = (&self.rollback, &self.rollback_key) else {
            return Ok(None);
        };
        let key = match args::load_key(key)? {
            AnyKey::SigningPublic(k) => k,
            AnyKey::SigningSecret(k) => k.verifying_key(),
            _ => {
                return Err(CliError::usage(
                    "--rollback-key: expected an ed25519 signing public key",
                ));
            }
        };
        let bytes = std::fs::read(path).map_err(|e| otaseal::Error::Io {
            path: path.clone(),
            source: e,
        })?;
        Ok(Some(policy::verify_rollback(
            &bytes,
            &RollbackTrust::Key(key),
        )?))
    }

    /// Loads the state (if `--state`) and evaluates the policy for a
    /// verified manifest. `None` when no state file was given.
    pub(crate) fn evaluate(
        &self,
        manifest: &VerifiedManifest,
        trust: &TrustAnchor,
    ) -> CliResult<Option<Decision>> {
        let Some(path) = &self.state else {
            return Ok(None);
        };
        let state = StateFile::load(path)?;
        let rollback = self.rollback()?;
        let now = self.now();
        let opts = PolicyOptions {
            now,
            switch_channel: self.switch_channel.clone(),
            require_expiry: self.require_expiry,
            anchor: anchor_id(trust),
        };
        let approval = policy::evaluate(&state.state, manifest, rollback.as_ref(), &opts)
            .map_err(otaseal::Error::from)?;
        Ok(Some(Decision {
            state,
            approval,
            now,
        }))
    }
}

/// The key id a state file is pinned to for this trust anchor (`None` for
/// anchor kinds this build cannot pin, which a pinned state then refuses).
pub(crate) fn anchor_id(trust: &TrustAnchor) -> Option<otaseal::keys::KeyId> {
    match trust {
        TrustAnchor::SigningKey(k) => Some(k.key_id()),
        _ => None,
    }
}
