//! Device policy: what a device agrees to install, given what it runs.
//!
//! Checked after a manifest's signature ([`crate::open::verify_manifest`]):
//!
//! 1. **Trust pin.** A state pinned to a trust anchor is only used with it.
//! 2. **Freshness.** A manifest at or past its `expires` is refused (a replay
//!    of a stale but validly signed release: the freeze attack). Optionally a
//!    manifest without an expiry is refused too.
//! 3. **Channel.** The device follows one channel per application; a
//!    manifest for another channel is refused unless the device is configured
//!    to switch to it, and the switch is recorded when the bundle installs.
//! 4. **Anti-downgrade.** A manifest whose sequence is not greater than the
//!    one installed from its application and channel is refused, unless a
//!    [`VerifiedRollback`] names exactly this application, channel, sequence
//!    and bundle, has not expired, and was issued after the last rollback used
//!    on that channel (so it cannot be replayed).
//!
//! [`evaluate`] is pure: it takes the state, the manifest and a clock reading
//! and returns an [`Approval`]; [`DeviceState::record`] applies an approval
//! once the bundle has been fully verified and opened. The state's files,
//! their locks and the install transaction are [`crate::device`]'s.

use crate::error::{Error, Result};
use crate::format::device_state::{AppState, ChannelRecord, DeviceState, MAX_APPS, MAX_CHANNELS};
use crate::format::rollback::{RollbackAuthorisation, RollbackBody};
use crate::format::{AppId, Channel, Manifest};
use crate::keys::{KeyId, Signer, VerifyingKey, sign_document};
use crate::open::VerifiedManifest;
use crate::prelude::*;
use alloc::collections::BTreeMap;

/// Why the policy refused a manifest or a state change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyViolation {
    #[error(
        "{app} on channel {channel}: sequence {offered} is not greater than the installed {installed} (downgrade or replay)"
    )]
    NotNewer {
        app: AppId,
        channel: Channel,
        installed: u64,
        offered: u64,
    },
    #[error(
        "{app}: manifest is for channel `{offered}` but the device follows `{expected}` (configure a channel switch to accept it)"
    )]
    WrongChannel {
        app: AppId,
        expected: Channel,
        offered: Channel,
    },
    #[error("{app} is not installed on this device; name its channel to provision it")]
    NotProvisioned { app: AppId },
    #[error("manifest is for application `{offered}` but this install is for `{expected}`")]
    WrongApp { expected: AppId, offered: AppId },
    #[error("manifest expired at {expires} (now {now})")]
    Expired { expires: u64, now: u64 },
    #[error("manifest has no expiry and this device requires one")]
    NoExpiry,
    #[error("the trust anchor is not the one this state is pinned to ({pinned})")]
    TrustPinMismatch { pinned: KeyId, found: Option<KeyId> },
    #[error("the rollback authorisation does not match the manifest: {field} differs")]
    RollbackMismatch { field: &'static str },
    #[error("the rollback authorisation expired at {expires} (now {now})")]
    RollbackExpired { expires: u64, now: u64 },
    #[error(
        "the rollback authorisation was issued at {issued}, not after the last one used on this channel ({last}); it cannot be reused"
    )]
    RollbackReplayed { issued: u64, last: u64 },
    #[error("revocation list sequence {offered} is older than the {seen} already seen")]
    RevocationListRollback { seen: u64, offered: u64 },
    #[error("the device state is full: {what}")]
    StateFull { what: &'static str },
}

/// Who may sign rollback authorisations.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RollbackTrust {
    /// A dedicated rollback key, trusted directly (chain must be empty).
    Key(VerifyingKey),
}

/// A rollback authorisation whose signature has been verified.
#[derive(Debug, Clone)]
pub struct VerifiedRollback(RollbackAuthorisation);

impl VerifiedRollback {
    pub fn authorisation(&self) -> &RollbackAuthorisation {
        &self.0
    }
}

/// Parses and verifies a rollback authorisation's signature. Whether it
/// applies to a given manifest is decided by [`evaluate`].
pub fn verify_rollback(bytes: &[u8], trust: &RollbackTrust) -> Result<VerifiedRollback> {
    let (auth, signed_len) = RollbackAuthorisation::parse(bytes)?;
    match trust {
        RollbackTrust::Key(key) => {
            key.verify_document(&auth, &bytes[..signed_len])?;
            if !auth.signer.chain.is_empty() {
                return Err(Error::InvalidRequest(
                    "the rollback authorisation carries a certificate chain, but this verifier trusts a rollback key directly"
                        .into(),
                ));
            }
        }
    }
    Ok(VerifiedRollback(auth))
}

/// Signs an authorisation for devices to go back to exactly `manifest`
/// (its application, channel, sequence and bundle id) until `expires`.
pub fn authorise_rollback(
    manifest: &Manifest,
    issued: u64,
    expires: u64,
    signer: &dyn Signer,
) -> Result<Vec<u8>> {
    let body = RollbackBody {
        app_id: manifest.app_id.clone(),
        channel: manifest.channel.clone(),
        target_sequence: manifest.sequence,
        bundle_id: manifest.bundle_id,
        issued,
        expires,
    };
    Ok(sign_document(body, signer)?.1)
}

/// The manifest must be for `app`, the application the install names.
pub fn check_app(m: &Manifest, app: &AppId) -> Result<(), PolicyViolation> {
    if m.app_id == *app {
        Ok(())
    } else {
        Err(PolicyViolation::WrongApp {
            expected: app.clone(),
            offered: m.app_id.clone(),
        })
    }
}

/// The one expiry rule (FORMAT.md §7, §11.5 rule 2), for every verifier,
/// with or without device state: a manifest with an `expires` is refused at
/// and after it, by the verifier's clock `now`. A stale but validly signed
/// manifest replayed to hold a device on an old release (a freeze attack)
/// fails here. The exception: a verified rollback authorisation naming this
/// exact bundle (application, channel, sequence, bundle id) and itself
/// unexpired is a fresh signed statement, so it vouches for the old
/// manifest past its own expiry.
pub fn check_fresh(
    m: &Manifest,
    now: u64,
    rollback: Option<&VerifiedRollback>,
) -> Result<(), PolicyViolation> {
    let Some(expires) = m.expires else {
        return Ok(());
    };
    let vouched = rollback.is_some_and(|r| {
        let a = &r.0;
        a.app_id == m.app_id
            && a.channel == m.channel
            && a.target_sequence == m.sequence
            && a.bundle_id == m.bundle_id
            && now < a.expires
    });
    if now >= expires && !vouched {
        return Err(PolicyViolation::Expired { expires, now });
    }
    Ok(())
}

/// How the device is configured for one check.
#[derive(Debug, Clone)]
pub struct PolicyOptions {
    /// The application this install is for. A device state records several
    /// applications; without naming the one expected, a validly signed
    /// bundle of another application would install in its place.
    pub app: AppId,
    /// The current time, Unix seconds (injected so tests control the clock).
    pub now: u64,
    /// The channel the device should follow from now on. `None`: stay on the
    /// recorded channel. Required to provision an application not yet installed.
    pub switch_channel: Option<Channel>,
    /// Refuse manifests without an expiry.
    pub require_expiry: bool,
    /// Key ids the trust anchor the manifest was verified with stands for
    /// (a signing key: its id; a root: the current root and every root it
    /// superseded). A pinned state requires its pin to be among them.
    pub anchors: Vec<KeyId>,
}

impl PolicyOptions {
    /// Options for an install of `app` at `now`: stay on the recorded
    /// channel, accept manifests without an expiry, no trust pin anchors.
    pub fn new(app: AppId, now: u64) -> Self {
        Self {
            app,
            now,
            switch_channel: None,
            require_expiry: false,
            anchors: Vec::new(),
        }
    }
}

/// Why a manifest was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApprovalKind {
    /// The application was not installed; the device is provisioned for it.
    FirstInstall,
    /// First bundle from a channel the device switches to.
    NewChannel,
    /// A newer sequence than the installed one.
    Upgrade { from: u64 },
    /// An authorised rollback to an older sequence.
    Rollback { from: u64, issued: u64 },
}

/// A manifest the policy accepts, and how the state changes once it installs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub kind: ApprovalKind,
    pub app: AppId,
    pub channel: Channel,
    /// The channel followed before, if it changes.
    pub switched_from: Option<Channel>,
    sequence: u64,
    version: crate::format::VersionLabel,
    bundle_id: [u8; 16],
}

impl Approval {
    pub fn sequence(&self) -> u64 {
        self.sequence
    }
}

impl core::fmt::Display for Approval {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let what = match self.kind {
            ApprovalKind::FirstInstall => "first install".to_owned(),
            ApprovalKind::NewChannel => "first bundle on this channel".to_owned(),
            ApprovalKind::Upgrade { from } => format!("upgrade from sequence {from}"),
            ApprovalKind::Rollback { from, .. } => {
                format!("authorised rollback from sequence {from}")
            }
        };
        write!(
            f,
            "{} {} sequence {}: {what}",
            self.app, self.channel, self.sequence
        )?;
        if let Some(prev) = &self.switched_from {
            write!(f, " (switching from channel {prev})")?;
        }
        Ok(())
    }
}

/// Decides whether `manifest` may be installed on a device in `state`.
pub fn evaluate(
    state: &DeviceState,
    manifest: &VerifiedManifest,
    rollback: Option<&VerifiedRollback>,
    opts: &PolicyOptions,
) -> Result<Approval, PolicyViolation> {
    let m = manifest.manifest();
    if let Some(pinned) = state.trust_pin {
        if !opts.anchors.contains(&pinned) {
            return Err(PolicyViolation::TrustPinMismatch {
                pinned,
                found: opts.anchors.first().copied(),
            });
        }
    }
    check_app(m, &opts.app)?;
    check_fresh(m, opts.now, rollback)?;
    if m.expires.is_none() && opts.require_expiry {
        return Err(PolicyViolation::NoExpiry);
    }

    let app_state = state.apps.get(&m.app_id);
    let follow = match (&opts.switch_channel, app_state) {
        (Some(ch), _) => ch.clone(),
        (None, Some(a)) => a.current.clone(),
        (None, None) => {
            return Err(PolicyViolation::NotProvisioned {
                app: m.app_id.clone(),
            });
        }
    };
    if m.channel != follow {
        return Err(PolicyViolation::WrongChannel {
            app: m.app_id.clone(),
            expected: follow,
            offered: m.channel.clone(),
        });
    }
    let switched_from = app_state
        .filter(|a| a.current != m.channel)
        .map(|a| a.current.clone());

    let record = app_state.and_then(|a| a.channels.get(&m.channel));
    let kind = match (app_state, record) {
        (None, _) => {
            if state.apps.len() >= MAX_APPS {
                return Err(PolicyViolation::StateFull {
                    what: "too many applications",
                });
            }
            ApprovalKind::FirstInstall
        }
        (Some(a), None) => {
            if a.channels.len() >= MAX_CHANNELS {
                return Err(PolicyViolation::StateFull {
                    what: "too many channels for this application",
                });
            }
            ApprovalKind::NewChannel
        }
        (Some(_), Some(rec)) if m.sequence > rec.sequence => {
            ApprovalKind::Upgrade { from: rec.sequence }
        }
        (Some(_), Some(rec)) => {
            let not_newer = PolicyViolation::NotNewer {
                app: m.app_id.clone(),
                channel: m.channel.clone(),
                installed: rec.sequence,
                offered: m.sequence,
            };
            let Some(auth) = rollback.map(|r| &r.0) else {
                return Err(not_newer);
            };
            if m.sequence == rec.sequence {
                // Reinstalling the running release is not a rollback.
                return Err(not_newer);
            }
            check_rollback(auth, m, rec, opts.now)?;
            ApprovalKind::Rollback {
                from: rec.sequence,
                issued: auth.issued,
            }
        }
    };
    Ok(Approval {
        kind,
        app: m.app_id.clone(),
        channel: m.channel.clone(),
        switched_from,
        sequence: m.sequence,
        version: m.version.clone(),
        bundle_id: m.bundle_id,
    })
}

fn check_rollback(
    auth: &RollbackAuthorisation,
    m: &Manifest,
    rec: &ChannelRecord,
    now: u64,
) -> Result<(), PolicyViolation> {
    let mismatch = |field| Err(PolicyViolation::RollbackMismatch { field });
    if auth.app_id != m.app_id {
        return mismatch("application");
    }
    if auth.channel != m.channel {
        return mismatch("channel");
    }
    if auth.target_sequence != m.sequence {
        return mismatch("target sequence");
    }
    if auth.bundle_id != m.bundle_id {
        return mismatch("bundle id");
    }
    if now >= auth.expires {
        return Err(PolicyViolation::RollbackExpired {
            expires: auth.expires,
            now,
        });
    }
    if auth.issued <= rec.last_rollback_issued {
        return Err(PolicyViolation::RollbackReplayed {
            issued: auth.issued,
            last: rec.last_rollback_issued,
        });
    }
    Ok(())
}

impl DeviceState {
    /// Records that the approved bundle is now installed (call only after the
    /// bundle has been fully verified and opened).
    pub fn record(&mut self, approval: &Approval, now: u64) {
        let app = self
            .apps
            .entry(approval.app.clone())
            .or_insert_with(|| AppState {
                current: approval.channel.clone(),
                channels: BTreeMap::new(),
            });
        app.current = approval.channel.clone();
        let last_rollback_issued = match approval.kind {
            ApprovalKind::Rollback { issued, .. } => issued,
            _ => app
                .channels
                .get(&approval.channel)
                .map_or(0, |r| r.last_rollback_issued),
        };
        app.channels.insert(
            approval.channel.clone(),
            ChannelRecord {
                sequence: approval.sequence,
                version: approval.version.clone(),
                bundle_id: approval.bundle_id,
                installed_at: now,
                last_rollback_issued,
            },
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::keys::{KemId, RecipientSecretKey, SigningKey};
    use crate::open::{TrustAnchor, verify_manifest};
    use crate::seal::{SealOptions, seal_with_rng};
    use rand_core::SeedableRng;

    pub(crate) const NOW: u64 = 1_800_000_000;

    pub(crate) struct Fixture {
        pub(crate) signer: SigningKey,
        rollback_key: SigningKey,
        device: RecipientSecretKey,
        rng: rand_chacha::ChaCha20Rng,
    }

    impl Fixture {
        pub(crate) fn new() -> Self {
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
            Self {
                signer: SigningKey::generate(&mut rng),
                rollback_key: SigningKey::generate(&mut rng),
                device: RecipientSecretKey::generate(KemId::X25519, &mut rng),
                rng,
            }
        }

        pub(crate) fn manifest(
            &mut self,
            channel: &str,
            seq: u64,
            expires: Option<u64>,
        ) -> VerifiedManifest {
            let mut o = SealOptions::new(
                "com.example.app".parse().unwrap(),
                channel.parse().unwrap(),
                format!("1.{seq}").parse().unwrap(),
                seq,
            );
            o.created = NOW - 1000;
            o.expires = expires;
            o.chunk_size = crate::format::ChunkSize::from_log2(14).unwrap();
            let sealed = seal_with_rng(
                b"payload",
                &o,
                &[self.device.public_key().clone()],
                &self.signer,
                &mut self.rng,
            )
            .unwrap();
            let trust = TrustAnchor::SigningKey(self.signer.verifying_key());
            verify_manifest(&sealed.manifest_bytes, &trust).unwrap()
        }

        fn rollback(&self, m: &VerifiedManifest, issued: u64, expires: u64) -> VerifiedRollback {
            let bytes =
                authorise_rollback(m.manifest(), issued, expires, &self.rollback_key).unwrap();
            verify_rollback(
                &bytes,
                &RollbackTrust::Key(self.rollback_key.verifying_key()),
            )
            .unwrap()
        }
    }

    pub(crate) fn opts() -> PolicyOptions {
        PolicyOptions::new("com.example.app".parse().unwrap(), NOW)
    }

    pub(crate) fn switch(ch: &str) -> PolicyOptions {
        PolicyOptions {
            switch_channel: Some(ch.parse().unwrap()),
            ..opts()
        }
    }

    pub(crate) fn install(
        state: &mut DeviceState,
        m: &VerifiedManifest,
        o: &PolicyOptions,
    ) -> Approval {
        let a = evaluate(state, m, None, o).unwrap();
        state.record(&a, o.now);
        a
    }

    #[test]
    fn first_install_needs_a_channel_then_only_newer_sequences() {
        let mut f = Fixture::new();
        let mut state = DeviceState::default();
        let m5 = f.manifest("stable", 5, None);
        assert!(matches!(
            evaluate(&state, &m5, None, &opts()),
            Err(PolicyViolation::NotProvisioned { .. })
        ));
        assert_eq!(
            install(&mut state, &m5, &switch("stable")).kind,
            ApprovalKind::FirstInstall
        );
        // Same sequence (replay) and older sequence (downgrade) are refused.
        for seq in [5, 4, 0] {
            let m = f.manifest("stable", seq, None);
            assert!(matches!(
                evaluate(&state, &m, None, &opts()),
                Err(PolicyViolation::NotNewer { installed: 5, .. })
            ));
        }
        let m6 = f.manifest("stable", 6, None);
        assert_eq!(
            install(&mut state, &m6, &opts()).kind,
            ApprovalKind::Upgrade { from: 5 }
        );
        // The exact same manifest cannot be installed twice.
        assert!(evaluate(&state, &m6, None, &opts()).is_err());
    }

    #[test]
    fn other_channels_need_a_switch_which_is_recorded() {
        let mut f = Fixture::new();
        let mut state = DeviceState::default();
        install(
            &mut state,
            &f.manifest("stable", 10, None),
            &switch("stable"),
        );
        let beta = f.manifest("beta", 3, None);
        assert!(matches!(
            evaluate(&state, &beta, None, &opts()),
            Err(PolicyViolation::WrongChannel { .. })
        ));
        let a = install(&mut state, &beta, &switch("beta"));
        assert_eq!(a.kind, ApprovalKind::NewChannel);
        assert_eq!(
            a.switched_from.as_ref().map(Channel::as_str),
            Some("stable")
        );
        let app = &state.apps[&beta.manifest().app_id];
        assert_eq!(app.current.as_str(), "beta");
        // Now stable manifests are refused without a switch back...
        let stable11 = f.manifest("stable", 11, None);
        assert!(evaluate(&state, &stable11, None, &opts()).is_err());
        // ...and switching back still enforces stable's own sequence.
        let stable9 = f.manifest("stable", 9, None);
        assert!(matches!(
            evaluate(&state, &stable9, None, &switch("stable")),
            Err(PolicyViolation::NotNewer { installed: 10, .. })
        ));
        assert!(evaluate(&state, &stable11, None, &switch("stable")).is_ok());
        // A switch to one channel refuses manifests of the current one.
        let beta4 = f.manifest("beta", 4, None);
        assert!(evaluate(&state, &beta4, None, &switch("stable")).is_err());
    }

    /// Issue 9 item 1: with two applications installed (or a channel
    /// switch), a validly signed bundle of application A must not install
    /// where the device expected application B.
    #[test]
    fn a_manifest_for_another_app_is_refused() {
        let mut f = Fixture::new();
        let mut state = DeviceState::default();
        let m = f.manifest("stable", 5, None);
        install(&mut state, &m, &switch("stable"));
        let app = m.manifest().app_id.clone();
        // The device runs a second application on the same channel.
        let mut other = opts();
        other.app = "com.example.other".parse().unwrap();
        state
            .apps
            .insert(other.app.clone(), state.apps[&app].clone());
        let newer = f.manifest("stable", 6, None);
        let wrong = PolicyViolation::WrongApp {
            expected: other.app.clone(),
            offered: app,
        };
        assert_eq!(evaluate(&state, &newer, None, &other), Err(wrong.clone()));
        // A channel switch (which provisions) does not open the door either.
        other.switch_channel = Some("stable".parse().unwrap());
        assert_eq!(evaluate(&state, &newer, None, &other), Err(wrong.clone()));
        assert_eq!(Error::from(wrong).kind(), crate::ErrorKind::Policy);
        // The expected application still installs.
        assert!(evaluate(&state, &newer, None, &opts()).is_ok());
    }

    #[test]
    fn expiry_is_enforced_at_the_injected_time() {
        let mut f = Fixture::new();
        let mut state = DeviceState::default();
        let m = f.manifest("stable", 1, Some(NOW + 10));
        let mut o = switch("stable");
        o.now = NOW + 10;
        assert_eq!(
            evaluate(&state, &m, None, &o),
            Err(PolicyViolation::Expired {
                expires: NOW + 10,
                now: NOW + 10
            })
        );
        o.now = NOW + 9;
        install(&mut state, &m, &o);
        let no_expiry = f.manifest("stable", 2, None);
        let mut strict = opts();
        strict.require_expiry = true;
        assert_eq!(
            evaluate(&state, &no_expiry, None, &strict),
            Err(PolicyViolation::NoExpiry)
        );
    }

    #[test]
    fn rollback_needs_a_matching_fresh_unused_authorisation() {
        let mut f = Fixture::new();
        let mut state = DeviceState::default();
        let old = f.manifest("stable", 7, Some(NOW - 1)); // old and expired
        let other_old = f.manifest("stable", 7, None); // same sequence, another bundle
        install(
            &mut state,
            &f.manifest("stable", 9, None),
            &switch("stable"),
        );
        assert!(matches!(
            evaluate(&state, &old, None, &opts()),
            Err(PolicyViolation::Expired { .. })
        ));

        let auth = f.rollback(&old, NOW - 100, NOW + 100);
        assert!(matches!(
            evaluate(&state, &other_old, Some(&auth), &opts()),
            Err(PolicyViolation::RollbackMismatch { field: "bundle id" })
        ));
        let mut late = opts();
        late.now = NOW + 100;
        assert!(evaluate(&state, &old, Some(&auth), &late).is_err());

        let a = evaluate(&state, &old, Some(&auth), &opts()).unwrap();
        assert_eq!(
            a.kind,
            ApprovalKind::Rollback {
                from: 9,
                issued: NOW - 100
            }
        );
        state.record(&a, NOW);
        let rec = &state.apps[&old.manifest().app_id].channels[&old.manifest().channel];
        assert_eq!((rec.sequence, rec.last_rollback_issued), (7, NOW - 100));

        // Upgrade again, then replaying the same authorisation fails.
        install(&mut state, &f.manifest("stable", 10, None), &opts());
        assert!(matches!(
            evaluate(&state, &old, Some(&auth), &opts()),
            Err(PolicyViolation::RollbackReplayed { .. })
        ));
        // A newer authorisation works, and an upgrade keeps the replay floor.
        let again = f.rollback(&old, NOW - 50, NOW + 100);
        assert!(evaluate(&state, &old, Some(&again), &opts()).is_ok());
    }

    #[test]
    fn rollback_signatures_are_checked() {
        let mut f = Fixture::new();
        let m = f.manifest("stable", 1, None);
        let bytes = authorise_rollback(m.manifest(), 1, 2, &f.rollback_key).unwrap();
        // Signed by the release key: not trusted for rollbacks.
        let trust_release = RollbackTrust::Key(f.signer.verifying_key());
        assert!(matches!(
            verify_rollback(&bytes, &trust_release),
            Err(Error::UntrustedSigner { .. })
        ));
        let trust = RollbackTrust::Key(f.rollback_key.verifying_key());
        let mut tampered = bytes.clone();
        tampered[30] ^= 1;
        assert!(verify_rollback(&tampered, &trust).is_err());
        let mut sig = bytes.clone();
        let last = sig.len() - 1;
        sig[last] ^= 1;
        assert!(matches!(
            verify_rollback(&sig, &trust),
            Err(Error::BadSignature)
        ));
        verify_rollback(&bytes, &trust).unwrap();
    }

    /// The revocation floor beside the pin is [`crate::device::decide`]'s
    /// (tested there).
    #[test]
    fn trust_pin() {
        let mut f = Fixture::new();
        let pin = f.signer.verifying_key().key_id();
        let mut state = DeviceState::new(Some(pin));
        let m = f.manifest("stable", 1, None);
        let mut o = switch("stable");
        assert!(matches!(
            evaluate(&state, &m, None, &o),
            Err(PolicyViolation::TrustPinMismatch { .. })
        ));
        o.anchors = vec![KeyId([9; 16]), pin];
        install(&mut state, &m, &o);
        assert_eq!(state.trust_pin, Some(pin));
    }
}
