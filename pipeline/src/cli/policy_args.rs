//! Device-policy arguments shared by `verify`, `fetch` and `install-check`,
//! and the expiry check every verifying command makes (`open` too).

use super::args;
use super::{CliError, CliResult};
use otaseal::format::{AppId, Channel, rollback};
use otaseal::open::{TrustAnchor, VerifiedManifest};
use otaseal::policy::{self, Approval, PolicyOptions, RollbackTrust, StateFile, VerifiedRollback};
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct PolicyArgs {
    /// Device state file: apply the anti-downgrade, channel and expiry policy.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// The application this device expects (required with --state): a
    /// manifest for another application is refused (exit 8).
    #[arg(long, value_name = "APP")]
    pub app: Option<AppId>,
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
    #[command(flatten)]
    pub fresh: FreshnessArgs,
}

/// The manifest expiry check, made with or without device state.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct FreshnessArgs {
    /// Accept a manifest past its expiry (forensics only: an expired manifest
    /// may be a replayed old release). Not allowed with --state.
    #[arg(long)]
    pub ignore_expiry: bool,
    /// Check expiry and policy at this Unix time instead of now (for testing).
    #[arg(long, value_name = "UNIX_SECONDS", hide = true)]
    pub now: Option<u64>,
}

impl FreshnessArgs {
    /// The one clock every check of a run reads.
    pub(crate) fn now(&self) -> u64 {
        otaseal::clock::Clock::fixed_or_system(self.now).now()
    }

    /// Refuses (exit 8) a manifest at or past its `expires`, unless
    /// `--ignore-expiry`.
    pub(crate) fn check(&self, manifest: &VerifiedManifest) -> CliResult<()> {
        if !self.ignore_expiry {
            manifest.check_fresh(self.now())?;
        }
        Ok(())
    }
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
        self.fresh.now()
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

    /// Checks a verified manifest. Without `--state`: the expiry (unless
    /// `--ignore-expiry`) and, with `--app`, the application; returns
    /// `None`. With `--state`: loads it and evaluates the whole device
    /// policy (which includes both).
    pub(crate) fn evaluate(
        &self,
        manifest: &VerifiedManifest,
        trust: &TrustAnchor,
    ) -> CliResult<Option<Decision>> {
        let Some(path) = &self.state else {
            if let Some(app) = &self.app {
                policy::check_app(manifest.manifest(), app).map_err(otaseal::Error::from)?;
            }
            self.fresh.check(manifest)?;
            return Ok(None);
        };
        if self.fresh.ignore_expiry {
            return Err(CliError::usage(
                "--ignore-expiry is for inspecting a manifest, not with --state",
            ));
        }
        let Some(app) = self.app.clone() else {
            return Err(CliError::usage(
                "--state needs --app APP: the application this device expects",
            ));
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
            switch_channel: self.switch_channel.clone(),
            require_expiry: self.require_expiry,
            anchors: anchor_ids(trust),
            ..PolicyOptions::new(app, now)
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
