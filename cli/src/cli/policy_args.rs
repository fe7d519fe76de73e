//! Device-policy arguments shared by `verify`, `fetch` and `install-check`,
//! and the expiry check every verifying command makes (`open` too).

use super::args;
use super::{CliError, CliResult};
use otaseal::device::{self, Install, StateFile};
use otaseal::format::{AppId, Channel, rollback};
use otaseal::open::{TrustAnchor, VerifiedManifest};
use otaseal::policy::{self, PolicyOptions, RollbackTrust, VerifiedRollback};
use otaseal::session::InstallPolicy;
use std::path::{Path, PathBuf};

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
    /// `None`. With `--state`: the whole device policy (which includes
    /// both), as [`decide`](Self::decide).
    pub(crate) fn evaluate(
        &self,
        manifest: &VerifiedManifest,
        trust: &TrustAnchor,
    ) -> CliResult<Option<Install>> {
        let Some(path) = &self.state else {
            if let Some(app) = &self.app {
                policy::check_app(manifest.manifest(), app).map_err(otaseal::Error::from)?;
            }
            self.fresh.check(manifest)?;
            return Ok(None);
        };
        self.decide(path, manifest, trust).map(Some)
    }

    /// What every use of `--state` needs: no `--ignore-expiry`, an `--app`,
    /// and the rollback authorisation if one is given.
    fn device_args(&self) -> CliResult<(AppId, Option<VerifiedRollback>)> {
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
        Ok((app, self.rollback()?))
    }

    /// The install policy of a device session (`install-check`), with the
    /// state file `path` loaded and locked: the caller saves the session's
    /// new device state into it, and the lock is held until it is dropped.
    pub(crate) fn install_policy(&self, path: &Path) -> CliResult<(StateFile, InstallPolicy)> {
        let (app, rollback) = self.device_args()?;
        let file = StateFile::load(path)?;
        let policy = InstallPolicy {
            state: file.state.to_bytes(),
            app,
            switch_channel: self.switch_channel.clone(),
            require_expiry: self.require_expiry,
            rollback,
        };
        Ok((file, policy))
    }

    /// The device's install decision over the state file `path`: holds its
    /// lock until the returned install is committed or dropped.
    pub(crate) fn decide(
        &self,
        path: &Path,
        manifest: &VerifiedManifest,
        trust: &TrustAnchor,
    ) -> CliResult<Install> {
        let (app, rollback) = self.device_args()?;
        let opts = PolicyOptions {
            switch_channel: self.switch_channel.clone(),
            require_expiry: self.require_expiry,
            ..PolicyOptions::new(app, self.now())
        };
        Ok(device::decide(
            path,
            manifest,
            trust,
            rollback.as_ref(),
            opts,
        )?)
    }
}
