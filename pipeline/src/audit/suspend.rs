//! Key suspension (`docs/FORMAT.md` §16.5): a small JSON state file next to
//! the audit log, `<log>.suspended`, listing suspended key ids. Signing
//! through [`AuditedSigner`](super::AuditedSigner) reads it before every
//! signature and refuses a suspended key until `otaseal keys resume`.
//!
//! A missing file means nothing is suspended. A file that cannot be read or
//! parsed is an error (signing stops), never an empty list.
//!
//! Changes are read-modify-write under an exclusive `flock(2)` on
//! `<log>.suspended.lock` (the state file itself is replaced by rename, so
//! it cannot carry the lock): two `keys suspend` runs at once, or a suspend
//! next to `audit alerts`, each see what the other saved.

use super::{AuditLog, Event, Op};
use crate::error::{Error, Result};
use crate::keys::KeyId;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One suspended key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suspension {
    /// Key id, 32 hex digits.
    pub key: String,
    /// Unix seconds.
    pub since: u64,
    pub reason: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuspensionFile {
    version: u32,
    suspended: Vec<Suspension>,
}

/// Largest suspension file read: about 40 000 suspensions with short
/// reasons. A larger file is refused (signing stops), never truncated.
pub const MAX_STATE_LEN: u64 = 4 << 20;

/// Reads the suspension file at `path` (a missing file is an empty list).
fn read_entries(path: &Path) -> Result<Vec<Suspension>> {
    let bad = |reason: String| Error::SuspensionState {
        path: path.to_owned(),
        reason,
    };
    let bytes = match crate::files::read_capped(path, "a suspension file", MAX_STATE_LEN) {
        Ok(bytes) => bytes,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let f: SuspensionFile =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a suspension file: {e}")))?;
    if f.version != 1 {
        return Err(bad(format!("unsupported version {}", f.version)));
    }
    for s in &f.suspended {
        let mut id = [0u8; 16];
        hex::decode_to_slice(&s.key, &mut id)
            .map_err(|_| bad(format!("`{}` is not a key id", s.key)))?;
    }
    Ok(f.suspended)
}

/// The suspension state loaded from one file.
#[derive(Debug, Clone)]
pub struct Suspensions {
    path: PathBuf,
    entries: Vec<Suspension>,
}

impl Suspensions {
    /// Loads `path`; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<Self> {
        Ok(Self {
            path: path.to_owned(),
            entries: read_entries(path)?,
        })
    }

    pub fn entries(&self) -> &[Suspension] {
        &self.entries
    }

    pub fn get(&self, key: &KeyId) -> Option<&Suspension> {
        let hex_id = key.to_string();
        self.entries.iter().find(|s| s.key == hex_id)
    }

    /// Fails with [`Error::KeySuspended`] if `key` is suspended.
    pub fn check(&self, key: &KeyId) -> Result<()> {
        match self.get(key) {
            None => Ok(()),
            Some(s) => Err(Error::KeySuspended {
                key_id: *key,
                since: s.since,
                reason: s.reason.clone(),
            }),
        }
    }

    /// Suspends `key`; returns false if it already was. The file is
    /// re-read under the lock, so suspensions saved by others since
    /// [`load`](Self::load) are kept (and `self` is refreshed with them).
    pub fn suspend(&mut self, key: &KeyId, since: u64, reason: &str) -> Result<bool> {
        let hex_id = key.to_string();
        self.update(|entries| {
            if entries.iter().any(|s| s.key == hex_id) {
                return false;
            }
            entries.push(Suspension {
                key: hex_id.clone(),
                since,
                reason: reason.to_owned(),
            });
            true
        })
    }

    /// Lifts the suspension of `key`; returns false if it was not suspended.
    /// Read-modify-write under the lock, as [`suspend`](Self::suspend).
    pub fn resume(&mut self, key: &KeyId) -> Result<bool> {
        let hex_id = key.to_string();
        self.update(|entries| {
            let before = entries.len();
            entries.retain(|s| s.key != hex_id);
            entries.len() != before
        })
    }

    /// Locks, re-reads, applies `change` and saves if it reports a change.
    fn update(&mut self, change: impl FnOnce(&mut Vec<Suspension>) -> bool) -> Result<bool> {
        let _lock = crate::files::lock_beside(&self.path)?;
        self.entries = read_entries(&self.path)?;
        if !change(&mut self.entries) {
            return Ok(false);
        }
        self.save()?;
        Ok(true)
    }

    fn save(&self) -> Result<()> {
        let body = serde_json::to_vec_pretty(&SuspensionFile {
            version: 1,
            suspended: self.entries.clone(),
        })
        .map_err(|e| Error::SuspensionState {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        crate::files::write_atomic(&self.path, &body, 0o600)
    }
}

/// Suspension as an operator or an alert rule changes it: the state next
/// to the log, and an entry in the log for every change.
impl AuditLog {
    /// Suspends each key for its reason and records a `suspend` entry for
    /// each one that was not suspended yet; returns those. The state is read
    /// first, so an unreadable state fails even with nothing to suspend.
    pub fn suspend_keys(
        &self,
        keys: impl IntoIterator<Item = (KeyId, String)>,
    ) -> Result<Vec<KeyId>> {
        let mut state = Suspensions::load(&self.suspension_path())?;
        let mut suspended = Vec::new();
        for (key, reason) in keys {
            if state.suspend(&key, self.clock.now(), &reason)? {
                self.append(&Event::ok(Op::Suspend, key).detail("reason", reason))?;
                suspended.push(key);
            }
        }
        Ok(suspended)
    }

    /// Lifts the suspension of `key`; returns whether it was suspended. The
    /// `resume` entry is recorded either way: it also marks the point after
    /// which the key's earlier failures no longer count towards alerts.
    pub fn resume_key(&self, key: &KeyId) -> Result<bool> {
        let was = Suspensions::load(&self.suspension_path())?.resume(key)?;
        self.append(&Event::ok(Op::Resume, *key).detail("was_suspended", was))?;
        Ok(was)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspend_check_resume() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.suspended");
        let key = KeyId([7; 16]);
        let mut s = Suspensions::load(&path).unwrap();
        s.check(&key).unwrap();
        assert!(s.suspend(&key, 10, "3 failed unlocks").unwrap());
        assert!(!s.suspend(&key, 11, "again").unwrap());
        let again = Suspensions::load(&path).unwrap();
        assert!(matches!(
            again.check(&key),
            Err(Error::KeySuspended { since: 10, .. })
        ));
        again.check(&KeyId([8; 16])).unwrap();
        let mut again = again;
        assert!(again.resume(&key).unwrap());
        assert!(!again.resume(&key).unwrap());
        Suspensions::load(&path).unwrap().check(&key).unwrap();
    }

    /// Two `keys suspend` (or `audit alerts`) runs at once: each loaded the
    /// state before the other saved. Every suspension must survive.
    #[test]
    fn concurrent_suspensions_are_all_kept() {
        const THREADS: u8 = 4;
        for round in 0..25u8 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("log.suspended");
            let barrier = std::sync::Barrier::new(THREADS.into());
            std::thread::scope(|s| {
                for t in 0..THREADS {
                    let (path, barrier) = (&path, &barrier);
                    s.spawn(move || {
                        let mut state = Suspensions::load(path).unwrap();
                        barrier.wait();
                        assert!(state.suspend(&KeyId([t; 16]), 1, "x").unwrap());
                        barrier.wait();
                        // A resume also keeps what others added meanwhile.
                        if t == 0 {
                            state.resume(&KeyId([0; 16])).unwrap();
                        }
                    });
                }
            });
            let after = Suspensions::load(&path).unwrap();
            for t in 1..THREADS {
                assert!(
                    after.get(&KeyId([t; 16])).is_some(),
                    "round {round}: suspension of key {t} lost: {:?}",
                    after.entries()
                );
            }
            assert!(after.get(&KeyId([0; 16])).is_none(), "round {round}");
        }
    }

    /// Each change is in the state and in the log, stamped by the log's clock.
    #[test]
    fn suspend_and_resume_through_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path().join("audit.log"))
            .with_clock(crate::clock::Clock::Fixed(1_700_000_000));
        let (a, b) = (KeyId([1; 16]), KeyId([2; 16]));
        let done = log
            .suspend_keys([(a, "first".into()), (a, "again".into()), (b, "x".into())])
            .unwrap();
        assert_eq!(done, [a, b]);
        let state = Suspensions::load(&log.suspension_path()).unwrap();
        assert_eq!(state.get(&a).unwrap().since, 1_700_000_000);
        assert_eq!(state.get(&a).unwrap().reason, "first");
        assert!(log.resume_key(&a).unwrap());
        assert!(!log.resume_key(&a).unwrap());
        let (entries, _) = super::super::read_verified(log.path()).unwrap();
        let seen: Vec<_> = entries
            .iter()
            .map(|e| (e.op.as_str(), e.key_id(), e.ts, e.detail.clone()))
            .collect();
        let detail =
            |k: &str, v: serde_json::Value| serde_json::Map::from_iter([(k.to_owned(), v)]);
        let ts = 1_700_000_000;
        assert_eq!(
            seen,
            [
                ("suspend", Some(a), ts, detail("reason", "first".into())),
                ("suspend", Some(b), ts, detail("reason", "x".into())),
                ("resume", Some(a), ts, detail("was_suspended", true.into())),
                ("resume", Some(a), ts, detail("was_suspended", false.into())),
            ]
        );
        // An unreadable state stops the suspension before anything is logged.
        std::fs::write(log.suspension_path(), b"garbage").unwrap();
        assert!(log.suspend_keys([]).is_err());
        assert_eq!(super::super::verify(log.path()).unwrap().entries, 4);
    }

    #[test]
    fn oversized_state_is_refused_before_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.suspended");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(64 << 20).unwrap();
        assert!(matches!(
            Suspensions::load(&path),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn corrupt_state_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.suspended");
        for junk in [
            &b"garbage"[..],
            b"{\"version\":2,\"suspended\":[]}",
            b"{\"version\":1,\"suspended\":[{\"key\":\"zz\",\"since\":1,\"reason\":\"\"}]}",
        ] {
            std::fs::write(&path, junk).unwrap();
            assert!(matches!(
                Suspensions::load(&path),
                Err(Error::SuspensionState { .. })
            ));
        }
    }
}
