//! The lock that keeps concurrent `seal` runs into one output directory from
//! mixing their outputs.
//!
//! Two runs sealing the same bundle at once interleave their renames and
//! leave one run's manifest beside the other's payload; a `--resume` run
//! deletes the live temporaries of the other. Shards of one batch, though,
//! write disjoint bundles into one shared directory and must run together.
//! So the lock is per shard, with the shard count as a second level:
//!
//! - `OUT/.otaseal.lock` (the gate) is held exclusively only while a run
//!   takes its locks, a few system calls, so that two runs cannot both see
//!   the directory free;
//! - `OUT/.otaseal.locks/count-N` is held *shared* by every run with shard
//!   count `N` (a whole batch is count 1): runs of other counts probe it and
//!   refuse while anyone holds it, because shards of different counts
//!   overlap;
//! - `OUT/.otaseal.locks/shard-K-of-N` is held *exclusively* by the run
//!   sealing shard `K/N`: two runs of one shard refuse each other.
//!
//! A run holds its two locks from before it deletes stale temporaries until
//! its index is written. Lock files are `flock(2)`ed (the kernel releases
//! them when the process dies, even by SIGKILL), created 0600 and never
//! deleted: deleting a lock file lets two processes lock two different
//! files of the same name.
//!
//! A run that finds a lock taken fails at once with
//! `Error::OutputBusy` (exit 10) instead of
//! waiting: the usual cause is a retried pod whose first attempt still runs
//! on a lost node, and waiting would hide that. The retry (with `--resume`)
//! succeeds once the other run has ended.

use crate::error::{Error, Result};
use crate::files::{self, LockKind};
use crate::format::batch_index::ShardId;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The gate, relative to the output directory.
pub const GATE: &str = ".otaseal.lock";
/// The directory of count and shard locks, relative to the output directory.
pub const LOCK_DIR: &str = ".otaseal.locks";

/// How long to wait for the gate, which is held only for a few system calls
/// at a time; only a stopped (SIGSTOP) or hung process holds it longer.
const GATE_WAIT: Duration = Duration::from_secs(10);

/// The locks of one run on an output directory; dropping it releases them.
#[derive(Debug)]
pub struct OutDirLock {
    _count: File,
    _shard: File,
}

impl OutDirLock {
    /// Locks `out_dir` (which must exist) for a run sealing `shard`, or
    /// fails with [`Error::OutputBusy`] naming the lock that is taken.
    pub fn acquire(out_dir: &Path, shard: ShardId) -> Result<Self> {
        let gate_path = out_dir.join(GATE);
        let gate = files::open_lock_file(&gate_path)?;
        take_gate(&gate, &gate_path)?;
        let dir = out_dir.join(LOCK_DIR);
        create_private_dir(&dir)?;
        let n = shard.count();
        // Runs of any other count overlap this one's bundles.
        for (m, path) in count_locks(&dir)? {
            if m == n {
                continue;
            }
            let probe = files::open_lock_file(&path)?;
            if !files::try_lock(&probe, LockKind::Exclusive).map_err(|e| Error::io(&path, e))? {
                return Err(busy(path, &format!("sealing shards of {m}")));
            }
        }
        let count_path = dir.join(format!("count-{n}"));
        let count = files::open_lock_file(&count_path)?;
        // Only a probe holds a count lock exclusively, and probes run under
        // the gate we hold: this cannot fail but for a broken flock.
        if !files::try_lock(&count, LockKind::Shared).map_err(|e| Error::io(&count_path, e))? {
            return Err(busy(count_path, &format!("sealing shards of {n}")));
        }
        let shard_path = dir.join(format!("shard-{}-of-{n}", shard.index()));
        let shard_file = files::open_lock_file(&shard_path)?;
        if !files::try_lock(&shard_file, LockKind::Exclusive)
            .map_err(|e| Error::io(&shard_path, e))?
        {
            let what = if shard.is_whole() {
                "sealing the whole batch".to_owned()
            } else {
                format!("sealing shard {shard}")
            };
            return Err(busy(shard_path, &what));
        }
        drop(gate);
        Ok(Self {
            _count: count,
            _shard: shard_file,
        })
    }
}

fn busy(lock: PathBuf, holder: &str) -> Error {
    Error::OutputBusy {
        lock,
        holder: holder.to_owned(),
    }
}

fn take_gate(gate: &File, path: &Path) -> Result<()> {
    let start = Instant::now();
    loop {
        if files::try_lock(gate, LockKind::Exclusive).map_err(|e| Error::io(path, e))? {
            return Ok(());
        }
        if start.elapsed() > GATE_WAIT {
            return Err(busy(path.to_owned(), "holding the gate for over 10 s"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The `count-M` lock files in `dir`, with their `M`.
fn count_locks(dir: &Path) -> Result<Vec<(u32, PathBuf)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let name = e.file_name();
        if let Some(m) = name
            .to_str()
            .and_then(|n| n.strip_prefix("count-"))
            .and_then(|m| m.parse::<u32>().ok())
        {
            out.push((m, e.path()));
        }
    }
    Ok(out)
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    match b.create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(dir, e)),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn shard(k: u32, n: u32) -> ShardId {
        ShardId::new(k, n).unwrap()
    }

    fn busy_lock(r: Result<OutDirLock>) -> PathBuf {
        match r {
            Err(Error::OutputBusy { lock, .. }) => lock,
            other => panic!("expected OutputBusy, got {other:?}"),
        }
    }

    #[test]
    fn runs_that_would_mix_outputs_refuse_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let locks = out.join(LOCK_DIR);

        // A whole batch excludes another whole batch and every shard.
        let whole = OutDirLock::acquire(out, ShardId::WHOLE).unwrap();
        assert_eq!(
            busy_lock(OutDirLock::acquire(out, ShardId::WHOLE)),
            locks.join("shard-1-of-1")
        );
        assert_eq!(
            busy_lock(OutDirLock::acquire(out, shard(2, 3))),
            locks.join("count-1")
        );
        drop(whole);

        // Shards of one count run together, each at most once, and keep
        // out whole batches and shards of other counts.
        let a = OutDirLock::acquire(out, shard(1, 3)).unwrap();
        let b = OutDirLock::acquire(out, shard(2, 3)).unwrap();
        assert_eq!(
            busy_lock(OutDirLock::acquire(out, shard(2, 3))),
            locks.join("shard-2-of-3")
        );
        assert_eq!(
            busy_lock(OutDirLock::acquire(out, ShardId::WHOLE)),
            locks.join("count-3")
        );
        assert_eq!(
            busy_lock(OutDirLock::acquire(out, shard(1, 2))),
            locks.join("count-3")
        );
        drop(a);
        // One shard of 3 still runs.
        assert!(OutDirLock::acquire(out, ShardId::WHOLE).is_err());
        drop(b);

        // Everything released: any run may start, and lock files stay.
        drop(OutDirLock::acquire(out, shard(1, 2)).unwrap());
        drop(OutDirLock::acquire(out, ShardId::WHOLE).unwrap());
        for f in [
            "count-1",
            "count-2",
            "count-3",
            "shard-1-of-1",
            "shard-2-of-3",
        ] {
            assert!(locks.join(f).exists(), "{f}");
        }
        assert!(out.join(GATE).exists());
    }

    #[test]
    fn a_briefly_held_gate_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let gate = files::open_lock_file(&dir.path().join(GATE)).unwrap();
        assert!(files::try_lock(&gate, LockKind::Exclusive).unwrap());
        // Released soon: the run waits and gets its locks.
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(gate);
        });
        OutDirLock::acquire(dir.path(), ShardId::WHOLE).unwrap();
        release.join().unwrap();
    }
}
