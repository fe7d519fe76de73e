//! Key suspension (`docs/FORMAT.md` §16.5): a small JSON state file next to
//! the audit log, `<log>.suspended`, listing suspended key ids. Signing
//! through [`AuditedSigner`](super::AuditedSigner) reads it before every
//! signature and refuses a suspended key until `otaseal keys resume`.
//!
//! A missing file means nothing is suspended. A file that cannot be read or
//! parsed is an error (signing stops), never an empty list.

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

/// The suspension state loaded from one file.
#[derive(Debug, Clone)]
pub struct Suspensions {
    path: PathBuf,
    entries: Vec<Suspension>,
}

impl Suspensions {
    /// Loads `path`; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<Self> {
        let bad = |reason: String| Error::SuspensionState {
            path: path.to_owned(),
            reason,
        };
        let entries = match std::fs::read(path) {
            Ok(bytes) => {
                let f: SuspensionFile = serde_json::from_slice(&bytes)
                    .map_err(|e| bad(format!("not a suspension file: {e}")))?;
                if f.version != 1 {
                    return Err(bad(format!("unsupported version {}", f.version)));
                }
                for s in &f.suspended {
                    let mut id = [0u8; 16];
                    hex::decode_to_slice(&s.key, &mut id)
                        .map_err(|_| bad(format!("`{}` is not a key id", s.key)))?;
                }
                f.suspended
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io(path, e)),
        };
        Ok(Self {
            path: path.to_owned(),
            entries,
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

    /// Suspends `key`; returns false if it already was.
    pub fn suspend(&mut self, key: &KeyId, since: u64, reason: &str) -> Result<bool> {
        if self.get(key).is_some() {
            return Ok(false);
        }
        self.entries.push(Suspension {
            key: key.to_string(),
            since,
            reason: reason.to_owned(),
        });
        self.save()?;
        Ok(true)
    }

    /// Lifts the suspension of `key`; returns false if it was not suspended.
    pub fn resume(&mut self, key: &KeyId) -> Result<bool> {
        let hex_id = key.to_string();
        let before = self.entries.len();
        self.entries.retain(|s| s.key != hex_id);
        if self.entries.len() == before {
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
