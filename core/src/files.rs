//! Files in and out: memory-mapped input and all-or-nothing output.
//!
//! Output is written under a temporary name in the destination directory and
//! renamed into place only when complete, so a crash or Ctrl-C never leaves a
//! file that looks valid.

use crate::error::{Error, Result};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::prelude::rust_2024::*;

/// Inputs to seal of at least this size are memory-mapped; smaller ones
/// are read. (Payloads to verify or open are read at offsets in bounded
/// pieces by `open::file`, never mapped.) 256 KiB is one default
/// chunk: docs/PERFORMANCE.md ("Inputs: mapping vs `pread` vs prefaulting")
/// measured a mapping and `pread` within run-to-run noise of each other
/// even on a 1 GiB input, so a mapping buys nothing that a read of one
/// chunk does not, and below a chunk its `mmap`/`munmap` and page faults
/// are pure overhead. (The device side used to map from 64 KiB, with no
/// measurement behind the difference.)
pub const MMAP_THRESHOLD: u64 = 256 * 1024;

/// Maps `file` (opened from `path`, named in errors) read-only for reading
/// front to back: the crate's one memory mapping.
pub fn map_readonly(file: &File, path: &Path) -> Result<memmap2::Mmap> {
    // SAFETY: the mapping is read-only and private to this process, and
    // nothing writes through it. If another process truncates the file
    // while it is mapped, reading the lost pages raises SIGBUS and the
    // process dies (no output is committed: outputs are renamed into place
    // only when complete). If it rewrites bytes, a reader sees old or new
    // bytes: a verifier then fails (every chunk is hashed, and decrypted
    // from a copy whose GCM tag is checked) and a sealer seals the bytes it
    // happened to read, which still verify as what was sealed. Inputs are
    // files nobody modifies while we read them: the trade-off `b3sum`
    // makes for the same speed.
    let map = unsafe { memmap2::Mmap::map(file) }.map_err(|e| Error::io(path, e))?;
    // Only a hint to the kernel's read-ahead: nothing to report if refused.
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(map)
}

/// Reads a whole document of kind `what`, refusing anything over `max` bytes
/// without reading more than `max + 1`: a file that grows, a FIFO or
/// `/dev/zero` given as a manifest costs at most its format's limit.
pub fn read_capped(path: &Path, what: &'static str, max: u64) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let hint = file.metadata().map_or(0, |m| m.len().min(max));
    let mut buf = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
    read_capped_from(file, path, what, max, &mut buf)?;
    Ok(buf)
}

/// Appends what `reader` yields to `buf` until the end, refusing with
/// [`Error::TooLarge`] as soon as `buf` would hold more than `max` bytes
/// (reading at most one byte past it). `path` names the source in errors.
/// The one bounded read behind [`read_capped`], standard-input lists and keys,
/// and the batch index's second, header-bounded step.
pub fn read_capped_from(
    reader: impl std::io::Read,
    path: &Path,
    what: &'static str,
    max: u64,
    buf: &mut Vec<u8>,
) -> Result<()> {
    use std::io::Read;
    let room = max.saturating_add(1).saturating_sub(buf.len() as u64);
    reader
        .take(room)
        .read_to_end(buf)
        .map_err(|e| Error::io(path, e))?;
    if buf.len() as u64 > max {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            what,
            max,
        });
    }
    Ok(())
}

/// A file being written under a temporary name next to its destination
/// (`.<name>.<random>.partial`, which batch discovery skips). Dropped
/// without [`commit`](Self::commit) or
/// [`rename_into_place`](Self::rename_into_place), it is deleted.
///
/// Written front to back with [`write_all`](Self::write_all), or at offsets
/// through [`file`](Self::file) (the batch `pwrite`s chunks from several
/// threads at once).
#[derive(Debug)]
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl AtomicFile {
    /// Starts a new file that will become `dest`. Mode 0600 until committed:
    /// it may hold plaintext or a secret.
    pub fn create(dest: &Path) -> Result<Self> {
        Self::with_mode(dest, 0o600)
    }

    /// Starts a new file that will become `dest`, created with `mode`
    /// (subject to the umask), for outputs that are public from the start.
    pub fn with_mode(dest: &Path, mode: u32) -> Result<Self> {
        Ok(Self {
            tmp: temp_beside(dest, mode)?,
            dest: dest.to_owned(),
        })
    }

    pub fn file(&self) -> &File {
        self.tmp.as_file()
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.tmp
            .write_all(bytes)
            .map_err(|e| Error::io(self.tmp.path(), e))
    }

    /// Sets the file's length (a sparse extension where the file system
    /// allows), before its parts are written at their offsets.
    pub fn set_len(&self, len: u64) -> Result<()> {
        self.tmp
            .as_file()
            .set_len(len)
            .map_err(|e| Error::io(self.tmp.path(), e))
    }

    /// Writes all of `bytes` at `offset` (`pwrite`), through `&self`: several
    /// threads may each write their own part of the file at once.
    pub fn write_at(&self, offset: u64, bytes: &[u8]) -> Result<()> {
        write_all_at(self.tmp.as_file(), bytes, offset).map_err(|e| Error::io(self.tmp.path(), e))
    }

    /// Sets `mode`, flushes to disk, renames into place and makes the
    /// rename durable (`sync_dir`). An error from that last step means the
    /// file is in place but might not survive a power loss.
    pub fn commit(self, mode: u32) -> Result<()> {
        set_mode(self.tmp.as_file(), mode).map_err(|e| Error::io(self.tmp.path(), e))?;
        self.tmp
            .as_file()
            .sync_all()
            .map_err(|e| Error::io(self.tmp.path(), e))?;
        let dest = self.dest.clone();
        self.rename_into_place(false)?;
        sync_dir(parent_dir(&dest))
    }

    /// Renames into place, with `flush` after flushing the data, but does
    /// not sync the directory: for a caller that orders several renames and
    /// makes them durable itself (the batch commits a payload, then its
    /// manifest, and syncs the directory once per bundle or the whole file
    /// system once per batch: a directory `fsync` per file would be
    /// thousands of journal commits).
    pub fn rename_into_place(self, flush: bool) -> Result<()> {
        if flush {
            self.tmp
                .as_file()
                .sync_data()
                .map_err(|e| Error::io(self.tmp.path(), e))?;
        }
        self.tmp
            .persist(&self.dest)
            .map_err(|e| Error::io(&self.dest, e.error))?;
        Ok(())
    }
}

/// Reads exactly `buf.len()` bytes of `file` at `offset` (`pread`), without
/// moving its cursor: several threads may read one file at once. A file
/// that ends first is [`std::io::ErrorKind::UnexpectedEof`].
pub fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        let (mut buf, mut offset) = (buf, offset);
        while !buf.is_empty() {
            match file.seek_read(buf, offset)? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }
}

/// Writes all of `buf` to `file` at `offset` (`pwrite`), without moving its
/// cursor.
pub fn write_all_at(file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        let (mut buf, mut offset) = (buf, offset);
        while !buf.is_empty() {
            let n = file.seek_write(buf, offset)?;
            buf = &buf[n..];
            offset += n as u64;
        }
        Ok(())
    }
}

/// Writes `bytes` to `dest` atomically.
pub fn write_atomic(dest: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut f = AtomicFile::create(dest)?;
    f.write_all(bytes)?;
    f.commit(mode)
}

/// Takes an exclusive `flock(2)` on `file`, waiting while another process
/// (or another open of the same file) holds it. Closing the file releases it.
pub fn lock_exclusive(file: &File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        loop {
            // SAFETY: flock takes only the descriptor number; `file` is open
            // for the whole call.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(());
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(())
    }
}

/// Opens `<path>.lock` and takes [`lock_exclusive`] on it: the lock a
/// read-modify-write of a state file (device state, trust state) holds from
/// before the read until after the save. The lock file is created 0600 and
/// left in place: one that is deleted and re-created excludes no one.
pub fn lock_beside(path: &Path) -> Result<File> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let file = open_lock_file(&lock_path)?;
    lock_exclusive(&file).map_err(|e| Error::io(&lock_path, e))?;
    Ok(file)
}

/// Which lock [`try_lock`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// Any number of holders, none of them exclusive.
    Shared,
    /// One holder.
    Exclusive,
}

/// Takes a `flock(2)` on `file` without waiting. `Ok(false)` when another
/// process (or another open of the same file) holds a conflicting lock.
/// Closing the file releases it. Always `Ok(true)` where `flock` does not
/// exist.
pub fn try_lock(file: &File, kind: LockKind) -> std::io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let op = match kind {
            LockKind::Shared => libc::LOCK_SH,
            LockKind::Exclusive => libc::LOCK_EX,
        } | libc::LOCK_NB;
        loop {
            // SAFETY: flock takes only the descriptor number; `file` is open
            // for the whole call.
            if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
                return Ok(true);
            }
            let err = std::io::Error::last_os_error();
            match err.kind() {
                std::io::ErrorKind::Interrupted => {}
                std::io::ErrorKind::WouldBlock => return Ok(false),
                _ => return Err(err),
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, kind);
        Ok(true)
    }
}

/// Opens (creating it, mode 0600, never truncating) a file used only for
/// its lock, for reading and writing: NFS grants shared and exclusive
/// locks only on files open for reading and writing respectively.
pub fn open_lock_file(path: &Path) -> Result<File> {
    let mut oo = std::fs::OpenOptions::new();
    oo.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        oo.mode(0o600);
    }
    oo.open(path).map_err(|e| Error::io(path, e))
}

/// Temporaries are named `.<destination file name>.<TEMP_RANDOM_LEN
/// alphanumerics>.partial`, beside their destination: hidden (batch
/// discovery skips them), never mistaken for a finished file, and
/// recognisable by [`remove_stale_temporaries`].
const TEMP_RANDOM_LEN: usize = 6;
const TEMP_SUFFIX: &str = ".partial";

/// A new temporary file for `dest`, created with `mode` (subject to the
/// umask). Deleted when dropped unless persisted.
pub fn temp_beside(dest: &Path, mode: u32) -> Result<tempfile::NamedTempFile> {
    let dir = parent_dir(dest);
    // Built from the raw name (not a lossy string) so that
    // `remove_stale_temporaries` recognises it byte for byte.
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(dest.file_name().unwrap_or_default());
    prefix.push(".");
    let mut b = tempfile::Builder::new();
    b.prefix(&prefix)
        .rand_bytes(TEMP_RANDOM_LEN)
        .suffix(TEMP_SUFFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    b.tempfile_in(dir).map_err(|e| Error::io(dir, e))
}

/// Deletes the temporaries that a killed run left behind for the output
/// files `dests` (a crash, SIGKILL or power loss skips the cleanup a clean
/// stop does). Only exact matches of [`temp_beside`]'s naming for these
/// files are touched, so another process's temporaries for other files in
/// the same directory (another shard's) are not. Each directory is listed
/// once. Returns how many were deleted.
pub fn remove_stale_temporaries<'a>(dests: impl IntoIterator<Item = &'a Path>) -> usize {
    let mut by_dir: HashMap<&Path, HashSet<&[u8]>> = HashMap::new();
    for d in dests {
        if let Some(name) = d.file_name() {
            by_dir
                .entry(parent_dir(d))
                .or_default()
                .insert(name.as_encoded_bytes());
        }
    }
    let mut removed = 0;
    for (dir, names) in by_dir {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let entry = e.file_name();
            if temporary_of(entry.as_encoded_bytes()).is_some_and(|n| names.contains(n))
                && std::fs::remove_file(e.path()).is_ok()
            {
                removed += 1;
            }
        }
    }
    removed
}

/// The destination file name (encoded bytes) that a directory entry is a
/// temporary of, if it is named like one of [`temp_beside`]'s.
fn temporary_of(entry: &[u8]) -> Option<&[u8]> {
    let inner = entry
        .strip_prefix(b".")?
        .strip_suffix(TEMP_SUFFIX.as_bytes())?;
    let (name, random) = inner.split_at_checked(inner.len().checked_sub(TEMP_RANDOM_LEN + 1)?)?;
    let random = random.strip_prefix(b".")?;
    (!name.is_empty() && random.iter().all(u8::is_ascii_alphanumeric)).then_some(name)
}

pub fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

#[cfg(unix)]
fn set_mode(file: &File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &File, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// Makes the renames and removals in `dir` durable (`fsync` of the
/// directory).
///
/// Errors propagate: a failed directory sync means an entry that was just
/// renamed or removed may come back or vanish after a power loss, and a
/// caller relying on it (a state file's rollback counter, a batch's commit
/// order) must hear of it. Best effort is right only where no sync is
/// possible at all, which is not a failure of this write: a file system
/// that does not sync directories (`EINVAL`/`ENOTSUP` from `fsync`, e.g.
/// some FUSE and network mounts), a directory this process may write into
/// but not open for reading (the rename itself succeeded), and platforms
/// where a directory cannot be opened as a file (not Unix).
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = match File::open(dir) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Ok(()),
            Err(e) => return Err(Error::io(dir, e)),
        };
        match d.sync_all() {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOTSUP)) => Ok(()),
            r => r.map_err(|e| Error::io(dir, e)),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_capped_stops_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc");
        std::fs::write(&path, [7u8; 100]).unwrap();
        assert_eq!(read_capped(&path, "a test", 100).unwrap().len(), 100);
        assert!(matches!(
            read_capped(&path, "a test", 99),
            Err(Error::TooLarge { max: 99, .. })
        ));
        #[cfg(unix)]
        assert!(matches!(
            read_capped(Path::new("/dev/zero"), "a test", 1 << 20),
            Err(Error::TooLarge { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn try_lock_refuses_a_conflicting_lock_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let (a, b) = (
            open_lock_file(&path).unwrap(),
            open_lock_file(&path).unwrap(),
        );
        assert!(try_lock(&a, LockKind::Shared).unwrap());
        assert!(try_lock(&b, LockKind::Shared).unwrap());
        let c = open_lock_file(&path).unwrap();
        assert!(!try_lock(&c, LockKind::Exclusive).unwrap());
        drop((a, b));
        assert!(try_lock(&c, LockKind::Exclusive).unwrap());
        let d = open_lock_file(&path).unwrap();
        assert!(!try_lock(&d, LockKind::Shared).unwrap());
        assert!(!try_lock(&d, LockKind::Exclusive).unwrap());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn dropped_atomic_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.bin");
        {
            let mut f = AtomicFile::create(&dest).unwrap();
            f.write_all(b"half").unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        write_atomic(&dest, b"whole", 0o644).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // Written at offsets, renamed without a directory sync.
        let f = AtomicFile::with_mode(&dest, 0o644).unwrap();
        f.file().write_all(b"renamed").unwrap();
        f.rename_into_place(true).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"renamed");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn directory_sync_reports_failures() {
        let dir = tempfile::tempdir().unwrap();
        sync_dir(dir.path()).unwrap();
        assert!(matches!(
            sync_dir(&dir.path().join("missing")),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn stale_temporaries_of_the_named_files_only_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Real temporaries, as a killed run leaves them.
        let (a, b) = (d.join("a.bin.payload"), d.join("b.bin.manifest"));
        let keep_a = temp_beside(&a, 0o644).unwrap().keep().unwrap().1;
        let keep_b = temp_beside(&b, 0o600).unwrap().keep().unwrap().1;
        // Lookalikes that are not temporaries of a.bin.payload or b.bin.manifest.
        let others = [
            ".c.bin.payload.Ab12Cd.partial",   // another file's (another shard's)
            ".a.bin.payload.x.Ab12Cd.partial", // a file named a.bin.payload.x
            ".a.bin.payload.Ab12C.partial",    // 5 random characters
            ".a.bin.payload.Ab-2Cd.partial",   // not alphanumeric
            "a.bin.payload.Ab12Cd.partial",    // not hidden
            ".a.bin.payload.Ab12Cd",           // no suffix
            "a.bin.payload",
        ];
        for o in others {
            std::fs::write(d.join(o), b"x").unwrap();
        }
        let removed = remove_stale_temporaries([a.as_path(), b.as_path()]);
        assert_eq!(removed, 2);
        assert!(!keep_a.exists() && !keep_b.exists());
        for o in others {
            assert!(d.join(o).exists(), "{o} was removed");
        }
        assert_eq!(temporary_of(b".x.123456.partial"), Some(&b"x"[..]));
        assert_eq!(temporary_of(b"..123456.partial"), None);
        assert_eq!(temporary_of(b".partial"), None);
    }
}
