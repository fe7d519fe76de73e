//! What a device keeps, and the two operations that change it: updating
//! trust, and deciding then recording an install.
//!
//! A device keeps two files, each replaced atomically and changed only
//! under an exclusive lock of `FILE.lock` (`docs/FORMAT.md` §10.5, §11.4):
//!
//! - the **trust state** ([`TrustStateFile`], kind `TRST`): the pinned root,
//!   its version, the roots it superseded and the newest revocation list
//!   accepted. Verifiers that install nothing keep it too (`open`, `verify
//!   --trust-state`).
//! - the **device state** ([`StateFile`], kind `DVST`): per application and
//!   channel what is installed and the last rollback authorisation used,
//!   the channel followed, the trust anchor the device is pinned to (a key
//!   id, which a device trusting a signing key directly has without any
//!   trust state), and the revocation floor.
//!
//! They stay two files because each is kept without the other (a verifier
//! with only a trust state, a device trusting a key directly with only a
//! device state) and their layouts are fixed; one merged document would need
//! both halves optional and a migration of every file in the field.
//!
//! No fact is kept twice. The revocation list lives in the trust state. The
//! device state's `revocation_sequence` is not a copy of it but a floor: the
//! sequence of the list the last install was checked against, so a restored
//! older trust state, or `--root` given with an older list or none, cannot
//! make a revoked key good again on this device. [`decide`] is the only
//! place that compares the floor and [`Install::commit`] the only place
//! that raises it.
//!
//! Lock order: the two locks are never held together. The trust state's
//! lock is held for one read-modify-write ([`update_trust`]) and released
//! before the manifest is verified; the device state's from [`decide`] until
//! the [`Install`] is committed or dropped. So two processes can never
//! wait on each other, and each file's own lock keeps its updates serial.

#[cfg(feature = "std")]
use crate::error::Error;
use crate::error::Result;
#[cfg(feature = "std")]
use crate::files;
#[cfg(feature = "std")]
use crate::format::{revocation, rotation, trust_state};
use crate::keys::KeyId;
use crate::keys::VerifyingKey;
use crate::keys::trust::{RevocationOutcome, RotationOutcome, TrustState};
use crate::open::{TrustAnchor, VerifiedManifest};
use crate::policy::{self, Approval, PolicyOptions, PolicyViolation, VerifiedRollback};
use crate::prelude::*;
#[cfg(feature = "std")]
use std::path::{Path, PathBuf};

pub use crate::format::device_state::DeviceState;

#[cfg(feature = "std")]
/// A verifier's trust state file. Every change is one read-modify-write
/// under an exclusive lock of `<file>.lock`, so two verifications that
/// update it at once run one after the other: the second sees the first's
/// revocation list and can only replace it with a newer one. Without the
/// lock, an update that read the state before another saved would write its
/// stale copy back, and a key revoked in between would verify again.
#[derive(Debug)]
pub struct TrustStateFile;

#[cfg(feature = "std")]
impl TrustStateFile {
    /// Creates a trust state file pinning `root`, under the lock; fails if
    /// `path` already exists (a trust state is never overwritten).
    pub fn create(path: &Path, root: VerifyingKey) -> Result<TrustState> {
        let _lock = files::lock_beside(path)?;
        refuse_existing(
            path,
            "a trust state already exists; it is never overwritten",
        )?;
        let state = TrustState::new(root);
        Self::save(path, &state)?;
        Ok(state)
    }

    /// Reads a trust state file as it stands (without the lock: the file is
    /// only ever replaced whole, so a read sees one complete state). A
    /// missing, unreadable or corrupt file is an error: the state is never
    /// silently reset.
    pub fn load(path: &Path) -> Result<TrustState> {
        let bytes = files::read_capped(path, "trust state", trust_state::MAX_LEN)?;
        TrustState::from_bytes(&bytes).map_err(|e| Error::TrustState {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Under the lock: loads `path` (if it does not exist, pins `pin` as a
    /// fresh state), runs `apply` (rotations, a revocation list), checks
    /// the stored revocation sequence did not go down, saves, and returns
    /// the state saved and what `apply` returned. If `apply` fails nothing
    /// is saved. `pin` given with an existing file must be its root or one
    /// it superseded; a missing file and no `pin` is an I/O error (not found).
    pub fn update<T>(
        path: &Path,
        pin: Option<&VerifyingKey>,
        apply: impl FnOnce(&mut TrustState) -> Result<T>,
    ) -> Result<(TrustState, T)> {
        // Held until this function returns, i.e. until after the save.
        let _lock = files::lock_beside(path)?;
        let mut state = match (path.symlink_metadata().is_ok(), pin) {
            (true, pin) => {
                let state = Self::load(path)?;
                if let Some(root) = pin
                    && !state.knows_root(&root.key_id())
                {
                    return Err(Error::TrustState {
                        path: path.to_owned(),
                        reason: format!(
                            "it pins root {}, which is not the given root {} nor a root it superseded",
                            state.root().key_id(),
                            root.key_id()
                        ),
                    });
                }
                state
            }
            (false, Some(root)) => TrustState::new(*root),
            (false, None) => {
                return Err(Error::io(
                    path,
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no trust state file, and no root given to pin",
                    ),
                ));
            }
        };
        let stored = state.revocation_sequence();
        let out = apply(&mut state)?;
        // `apply_revocation_list` already refuses older lists; this keeps
        // the invariant whatever `apply` did.
        if state.revocation_sequence() < stored {
            return Err(Error::RevocationReplay {
                found: state.revocation_sequence(),
                current: stored,
            });
        }
        Self::save(path, &state)?;
        Ok((state, out))
    }

    /// Writes the state atomically (temporary file, fsync, rename); only
    /// under the lock.
    fn save(path: &Path, state: &TrustState) -> Result<()> {
        files::write_atomic(path, &state.to_bytes(), 0o644)
    }
}

/// A state file is created once and never overwritten (overwriting would
/// reset what it records): refuses `path` if anything, even a dangling
/// link, is there. Called under the file's lock.
#[cfg(feature = "std")]
fn refuse_existing(path: &Path, message: &'static str) -> Result<()> {
    if path.symlink_metadata().is_ok() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::AlreadyExists, message),
        ));
    }
    Ok(())
}

/// Trust updates a verifier was handed: root rotation statements (oldest
/// first) and a revocation list. Each is authenticated on its own (by the
/// roots, by the pinned root), so they are applied before any manifest is
/// looked at.
#[derive(Debug, Clone, Default)]
pub struct TrustUpdates {
    pub rotations: Vec<Vec<u8>>,
    pub revocations: Option<Vec<u8>>,
}

impl TrustUpdates {
    #[cfg(feature = "std")]
    /// Reads the update files (bounded by their formats' largest sizes),
    /// before any state is locked: the lock is held only for load, apply
    /// and save.
    pub fn read(rotations: &[PathBuf], revocations: Option<&Path>) -> Result<Self> {
        Ok(Self {
            rotations: rotations
                .iter()
                .map(|p| files::read_capped(p, "root rotation statement", rotation::MAX_LEN))
                .collect::<Result<_>>()?,
            revocations: revocations
                .map(|p| files::read_capped(p, "revocation list", revocation::MAX_LEN))
                .transpose()?,
        })
    }

    /// Applies the rotations (in order), then the revocation list, to
    /// `state`; on error `state` may hold the updates applied before it, so
    /// a caller that keeps it applies to a copy.
    pub fn apply_to(&self, state: &mut TrustState) -> Result<TrustChanges> {
        let mut changes = TrustChanges::default();
        for bytes in &self.rotations {
            changes.rotations.push(state.apply_rotation(bytes)?);
        }
        if let Some(bytes) = &self.revocations {
            changes.revocations = Some(state.apply_revocation_list(bytes)?);
        }
        Ok(changes)
    }
}

/// What applying [`TrustUpdates`] did: one outcome per rotation statement,
/// in order, and the revocation list's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustChanges {
    pub rotations: Vec<RotationOutcome>,
    pub revocations: Option<RevocationOutcome>,
}

/// Where a verifier's trust comes from.
#[derive(Debug, Clone, Copy)]
pub enum TrustSource<'a> {
    #[cfg(feature = "std")]
    /// A trust state file, kept across runs. `pin` pins a fresh state if
    /// the file does not exist, and must otherwise be its root or one it
    /// superseded.
    File {
        path: &'a Path,
        pin: Option<&'a VerifyingKey>,
    },
    /// A root given for this run only: the updates apply to a fresh state
    /// pinning it, and nothing is kept.
    Root(&'a VerifyingKey),
    /// A trust state the caller keeps itself (the session's trust state
    /// bytes): the updates apply to a copy, which is returned for the caller
    /// to store.
    State(&'a TrustState),
}

/// Update trust: applies `updates` to the trust state `source` names (for
/// a file, one read-modify-write under its lock; nothing is saved if any
/// update is refused) and returns the state to verify with.
pub fn update_trust(
    source: TrustSource<'_>,
    updates: &TrustUpdates,
) -> Result<(TrustState, TrustChanges)> {
    match source {
        #[cfg(feature = "std")]
        TrustSource::File { path, pin } => {
            TrustStateFile::update(path, pin, |state| updates.apply_to(state))
        }
        TrustSource::Root(root) => {
            let mut state = TrustState::new(*root);
            let changes = updates.apply_to(&mut state)?;
            Ok((state, changes))
        }
        TrustSource::State(kept) => {
            let mut state = kept.clone();
            let changes = updates.apply_to(&mut state)?;
            Ok((state, changes))
        }
    }
}

#[cfg(feature = "std")]
/// A device state file on disk, locked while this value lives.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    pub state: DeviceState,
    /// `<state>.lock`, locked from before the state is read until this value
    /// is dropped: two install steps on one device run one after the other,
    /// and the second sees what the first saved.
    _lock: std::fs::File,
}

#[cfg(feature = "std")]
impl StateFile {
    /// Loads an existing state file. A missing, unreadable or corrupt file is
    /// an error; it is never replaced by an empty state, which would re-open
    /// every downgrade.
    pub fn load(path: &Path) -> Result<Self> {
        let lock = files::lock_beside(path)?;
        let bytes = files::read_capped(path, "device state", crate::format::device_state::MAX_LEN)?;
        let state = DeviceState::parse(&bytes).map_err(|source| Error::CorruptState {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            path: path.to_owned(),
            state,
            _lock: lock,
        })
    }

    /// Creates a new state file; fails if `path` already exists.
    pub fn create(path: &Path, state: DeviceState) -> Result<Self> {
        let lock = files::lock_beside(path)?;
        refuse_existing(
            path,
            "a state file already exists; it is never overwritten by `init`",
        )?;
        let f = Self {
            path: path.to_owned(),
            state,
            _lock: lock,
        };
        f.save()?;
        Ok(f)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the state atomically: temporary file, fsync, rename, fsync of
    /// the directory. A crash leaves either the old or the new state.
    pub fn save(&self) -> Result<()> {
        files::write_atomic(&self.path, &self.state.to_bytes(), 0o644)
    }
}

/// The key ids a trust anchor stands for, as a state's trust pin sees them:
/// a signing key's id; for a root, the current root and every root it
/// superseded (so a pin survives root rotations).
pub fn anchor_ids(trust: &TrustAnchor) -> Vec<KeyId> {
    match trust {
        TrustAnchor::SigningKey(k) => vec![k.key_id()],
        TrustAnchor::Root(r) => core::iter::once(r.state.root().key_id())
            .chain(r.state.superseded().iter().map(|s| s.key_id))
            .collect(),
    }
}

/// An install decision over a device state in memory: what the policy
/// approved, and what recording it changes. The one decision both the state
/// file ([`decide`], [`Install`]) and the sans-I/O session
/// (`crate::session`) make; neither does I/O here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    approval: Approval,
    /// The sequence of the revocation list the manifest was checked
    /// against; `None` for a directly trusted key, which no list covers.
    revocation_sequence: Option<u64>,
    now: u64,
}

impl Decision {
    pub fn approval(&self) -> &Approval {
        &self.approval
    }

    /// Records the approved bundle as installed in `state` and raises its
    /// revocation floor to the list the manifest was checked against. Apply
    /// only once the bundle has been fully verified and opened.
    pub fn apply(&self, state: &mut DeviceState) {
        state.record(&self.approval, self.now);
        if let Some(seq) = self.revocation_sequence {
            state.revocation_sequence = state.revocation_sequence.max(seq);
        }
    }
}

/// Decides an install on a device in `state` (`docs/FORMAT.md` §11.5) of
/// `manifest`, which was verified with `trust`. First the revocation floor:
/// with a root, its revocation list may not be older than the one this
/// device last installed with (a restored older trust state). Then
/// [`policy::evaluate`], with `opts.anchors` taken from `trust`. Pure: the
/// state is only read.
pub fn decide_state(
    state: &DeviceState,
    manifest: &VerifiedManifest,
    trust: &TrustAnchor,
    rollback: Option<&VerifiedRollback>,
    mut opts: PolicyOptions,
) -> Result<Decision> {
    let revocation_sequence = match trust {
        TrustAnchor::Root(root) => Some(root.state.revocation_sequence()),
        TrustAnchor::SigningKey(_) => None,
    };
    if let Some(offered) = revocation_sequence {
        let seen = state.revocation_sequence;
        if offered < seen {
            return Err(PolicyViolation::RevocationListRollback { seen, offered }.into());
        }
    }
    opts.anchors = anchor_ids(trust);
    let approval = policy::evaluate(state, manifest, rollback, &opts)?;
    Ok(Decision {
        approval,
        revocation_sequence,
        now: opts.now,
    })
}

#[cfg(feature = "std")]
/// An install the device policy approved. It holds the device state's lock
/// until it is committed or dropped, so nothing else can install on this
/// device in between; dropping it (`verify --state`, `fetch --state`)
/// changes nothing.
#[derive(Debug)]
pub struct Install {
    state: StateFile,
    decision: Decision,
}

#[cfg(feature = "std")]
impl Install {
    pub fn approval(&self) -> &Approval {
        self.decision.approval()
    }

    pub fn state_path(&self) -> &Path {
        self.state.path()
    }

    /// Records the approved bundle as installed, raises the revocation floor
    /// to the list it was checked against ([`Decision::apply`]), and
    /// replaces the state file. Call only once the bundle has been fully
    /// verified and opened.
    pub fn commit(mut self) -> Result<Approval> {
        self.decision.apply(&mut self.state.state);
        self.state.save()?;
        Ok(self.decision.approval)
    }
}

#[cfg(feature = "std")]
/// Decide an install: locks and loads the device state at `path` and makes
/// the decision of [`decide_state`] on it.
///
/// The caller then opens the bundle and, only if every chunk verified and
/// decrypted, calls [`Install::commit`].
pub fn decide(
    path: &Path,
    manifest: &VerifiedManifest,
    trust: &TrustAnchor,
    rollback: Option<&VerifiedRollback>,
    opts: PolicyOptions,
) -> Result<Install> {
    let state = StateFile::load(path)?;
    let decision = decide_state(&state.state, manifest, trust, rollback, opts)?;
    Ok(Install { state, decision })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningKey;
    use crate::keys::trust::{RootTrust, issue_revocation_list, sign_rotation};
    use crate::policy::ApprovalKind;
    use crate::policy::tests::{Fixture, NOW, install, switch};

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn state_file_is_atomic_and_corruption_is_an_error() {
        let mut f = Fixture::new();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        assert!(matches!(StateFile::load(&path), Err(Error::Io { .. })));
        let mut sf = StateFile::create(&path, DeviceState::default()).unwrap();
        install(
            &mut sf.state,
            &f.manifest("stable", 3, None),
            &switch("stable"),
        );
        sf.save().unwrap();
        let saved = sf.state.clone();
        drop(sf); // releases the lock
        assert!(StateFile::create(&path, DeviceState::default()).is_err());
        assert_eq!(StateFile::load(&path).unwrap().state, saved);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[40] ^= 4;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            StateFile::load(&path),
            Err(Error::CorruptState { .. })
        ));
        std::fs::write(&path, b"").unwrap();
        assert!(matches!(
            StateFile::load(&path),
            Err(Error::CorruptState { .. })
        ));
        // The state and its lock file; no temporary is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_second_user_of_the_state_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        let first = StateFile::create(&path, DeviceState::default()).unwrap();
        let second = load_after(&path, || drop(first));
        assert_eq!(second, DeviceState::default());
    }

    /// Loads the state at `path` on another thread, checks that the load
    /// cannot finish while this thread holds the lock, then runs `release`
    /// and returns what the other thread loaded.
    fn load_after(path: &Path, release: impl FnOnce()) -> DeviceState {
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.to_owned();
        let second = std::thread::spawn(move || {
            let sf = StateFile::load(&p).unwrap();
            tx.send(()).unwrap();
            sf.state
        });
        assert!(
            rx.recv_timeout(core::time::Duration::from_millis(300))
                .is_err()
        );
        release();
        rx.recv_timeout(core::time::Duration::from_secs(10))
            .unwrap();
        second.join().unwrap()
    }

    /// The policy fixture and an empty device state file in a temporary
    /// directory (kept while the returned guard lives).
    fn empty_state() -> (Fixture, tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        drop(StateFile::create(&path, DeviceState::default()).unwrap());
        (Fixture::new(), dir, path)
    }

    /// Decide, then commit: nothing changes until the commit, a dropped
    /// decision changes nothing, and the decision holds the lock.
    #[test]
    fn an_install_is_recorded_only_when_committed() {
        let (mut f, _dir, path) = empty_state();
        let trust = TrustAnchor::SigningKey(f.signer.verifying_key());
        let m3 = f.manifest("stable", 3, None);
        assert!(matches!(
            decide(&path, &m3, &trust, None, crate::policy::tests::opts()),
            Err(Error::Refused(PolicyViolation::NotProvisioned { .. }))
        ));
        let before = std::fs::read(&path).unwrap();
        let decided = decide(&path, &m3, &trust, None, switch("stable")).unwrap();
        assert_eq!(decided.approval().kind, ApprovalKind::FirstInstall);
        assert_eq!(decided.state_path(), path);
        drop(decided);
        assert_eq!(std::fs::read(&path).unwrap(), before);

        let decided = decide(&path, &m3, &trust, None, switch("stable")).unwrap();
        // The lock is held from the decision to the commit.
        let seen = load_after(&path, || {
            decided.commit().unwrap();
        });
        let rec = &seen.apps[&m3.manifest().app_id].channels[&m3.manifest().channel];
        assert_eq!(rec.sequence, 3);
        // The committed state refuses the same bundle again.
        assert!(matches!(
            decide(&path, &m3, &trust, None, switch("stable")),
            Err(Error::Refused(PolicyViolation::NotNewer {
                installed: 3,
                ..
            }))
        ));
        // A pin on another key refuses this trust anchor.
        let mut pinned = StateFile::load(&path).unwrap();
        pinned.state.trust_pin = Some(KeyId([9; 16]));
        pinned.save().unwrap();
        drop(pinned);
        let m4 = f.manifest("stable", 4, None);
        assert!(matches!(
            decide(&path, &m4, &trust, None, switch("stable")),
            Err(Error::Refused(PolicyViolation::TrustPinMismatch { .. }))
        ));
    }

    /// The revocation floor: an install records the sequence of the list
    /// its manifest was checked against, and a later decision with an
    /// older list (or none) is refused before anything else.
    #[test]
    fn the_revocation_floor_only_rises() {
        let (mut f, _dir, path) = empty_state();
        let root = key(1);
        let list = |seq| {
            issue_revocation_list(&root, seq, NOW, vec![], vec![])
                .unwrap()
                .to_bytes()
        };
        let with_list = |seq: Option<u64>| {
            let updates = TrustUpdates {
                rotations: vec![],
                revocations: seq.map(list),
            };
            let rv = root.verifying_key();
            let (state, _) = update_trust(TrustSource::Root(&rv), &updates).unwrap();
            TrustAnchor::Root(RootTrust::new(state))
        };
        // The policy's decision does not depend on the chain here: the
        // manifest was verified with the fixture's key, the floor with a root.
        let m = f.manifest("stable", 1, None);
        decide(&path, &m, &with_list(Some(4)), None, switch("stable"))
            .unwrap()
            .commit()
            .unwrap();
        assert_eq!(StateFile::load(&path).unwrap().state.revocation_sequence, 4);
        let m2 = f.manifest("stable", 2, None);
        for older in [Some(3), None] {
            let e = decide(&path, &m2, &with_list(older), None, switch("stable")).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::Refused(PolicyViolation::RevocationListRollback { seen: 4, offered })
                        if offered == older.unwrap_or(0)
                ),
                "{e}"
            );
        }
        // The same list still installs, and a directly trusted key is not
        // covered by any list, so it leaves the floor alone.
        decide(&path, &m2, &with_list(Some(4)), None, switch("stable"))
            .unwrap()
            .commit()
            .unwrap();
        let direct = TrustAnchor::SigningKey(f.signer.verifying_key());
        decide(
            &path,
            &f.manifest("stable", 3, None),
            &direct,
            None,
            switch("stable"),
        )
        .unwrap()
        .commit()
        .unwrap();
        assert_eq!(StateFile::load(&path).unwrap().state.revocation_sequence, 4);
    }

    #[test]
    fn trust_updates_apply_in_order_and_only_a_file_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trust");
        let (old, new) = (key(1), key(2));
        let updates = TrustUpdates {
            rotations: vec![sign_rotation(&old, &new, 2, NOW).unwrap().to_bytes()],
            revocations: Some(
                issue_revocation_list(&new, 3, NOW, vec![5], vec![])
                    .unwrap()
                    .to_bytes(),
            ),
        };
        let ov = old.verifying_key();
        let (state, changes) = update_trust(TrustSource::Root(&ov), &updates).unwrap();
        assert_eq!(state.root().key_id(), new.verifying_key().key_id());
        assert!(!path.exists());
        let file = TrustSource::File {
            path: &path,
            pin: Some(&ov),
        };
        let (saved, same) = update_trust(file, &updates).unwrap();
        assert_eq!(same, changes);
        assert_eq!(
            changes.rotations,
            [RotationOutcome::Rotated {
                from: old.verifying_key().key_id(),
                to: new.verifying_key().key_id(),
                version: 2
            }]
        );
        assert_eq!(
            changes.revocations,
            Some(RevocationOutcome::Accepted { sequence: 3 })
        );
        assert_eq!(
            TrustStateFile::load(&path).unwrap().to_bytes(),
            saved.to_bytes()
        );
        // Applied again: nothing new, and the file is unchanged.
        let (_, again) = update_trust(file, &updates).unwrap();
        assert_eq!(again.rotations, [RotationOutcome::AlreadyApplied]);
        assert_eq!(again.revocations, Some(RevocationOutcome::AlreadyCurrent));
        // A refused update (an older list) saves nothing.
        let stale = TrustUpdates {
            rotations: vec![],
            revocations: Some(
                issue_revocation_list(&new, 2, NOW, vec![], vec![])
                    .unwrap()
                    .to_bytes(),
            ),
        };
        assert!(matches!(
            update_trust(file, &stale),
            Err(Error::RevocationReplay { .. })
        ));
        assert_eq!(
            TrustStateFile::load(&path).unwrap().to_bytes(),
            saved.to_bytes()
        );
    }
}
