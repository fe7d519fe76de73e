//! Device-policy arguments shared by `verify --state` and `install-check`.

use super::CliResult;
use super::args;
use otaseal::format::{Channel, rollback};
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
        let key = args::signing_public(key)?;
        let bytes = otaseal::files::read_capped(path, "rollback authorisation", rollback::MAX_LEN)?;
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
        let mut state = StateFile::load(path)?;
        if let TrustAnchor::Root(root) = trust {
            // The trust state's revocation list may not be older than one
            // this device has already used (a restored old trust state).
            state
                .state
                .observe_revocation_sequence(root.state.revocation_sequence())
                .map_err(otaseal::Error::from)?;
        }
        let rollback = self.rollback()?;
        let now = self.now();
        let opts = PolicyOptions {
            now,
            switch_channel: self.switch_channel.clone(),
            require_expiry: self.require_expiry,
            anchors: anchor_ids(trust),
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

/// The key ids a trust anchor stands for, as a state pin sees them: a
/// signing key's id; for a root, the current root and every root it
/// superseded (so a pin survives root rotations).
pub(crate) fn anchor_ids(trust: &TrustAnchor) -> Vec<otaseal::keys::KeyId> {
    match trust {
        TrustAnchor::SigningKey(k) => vec![k.key_id()],
        TrustAnchor::Root(r) => std::iter::once(r.state.root().key_id())
            .chain(r.state.superseded().iter().map(|s| s.key_id))
            .collect(),
        _ => Vec::new(),
    }
}
