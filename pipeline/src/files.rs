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

/// Below this size a plain read is cheaper than setting up a mapping.
const MMAP_THRESHOLD: u64 = 64 * 1024;

/// The bytes of an input file: mapped when large, read when small or special.
#[derive(Debug)]
pub enum Input {
    Mapped(memmap2::Mmap),
    Read(Vec<u8>),
}

impl std::ops::Deref for Input {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Mapped(m) => m,
            Self::Read(v) => v,
        }
    }
}

/// Opens `path` for reading, memory-mapping regular files of 64 KiB or more.
/// What is read rather than mapped (small files, FIFOs, devices) stops after
/// `expected_len + 1` bytes: enough for the caller's length check to see the
/// input is too long, without reading `/dev/zero` forever.
pub fn read_input(path: &Path, expected_len: u64) -> Result<Input> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_file() && meta.len() >= MMAP_THRESHOLD {
        // SAFETY: the mapping is read-only and private to this process. If
        // another process truncates or rewrites the file while it is mapped,
        // reads may fault or see changed bytes; changed bytes can only make
        // verification or decryption fail (every chunk is decrypted from a
        // copy whose GCM tag is checked), never memory unsafety in our code
        // beyond what the OS reports as SIGBUS: the trade-off b3sum makes.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        #[cfg(unix)]
        let _ = map.advise(memmap2::Advice::Sequential);
        return Ok(Input::Mapped(map));
    }
    let limit = expected_len.saturating_add(1);
    let mut buf = Vec::with_capacity(usize::try_from(meta.len().min(limit)).unwrap_or(0));
    std::io::Read::read_to_end(&mut std::io::Read::take(&mut file, limit), &mut buf)
        .map_err(|e| Error::io(path, e))?;
    Ok(Input::Read(buf))
}

/// Reads a whole document of kind `what`, refusing anything over `max` bytes
/// without reading more than `max + 1`: a file that grows, a FIFO or
/// `/dev/zero` given as a manifest costs at most its format's limit.
pub fn read_capped(path: &Path, what: &'static str, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let hint = file.metadata().map_or(0, |m| m.len().min(max));
    let mut buf = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
    file.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, e))?;
    if buf.len() as u64 > max {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            what,
            max,
        });
    }
    Ok(buf)
}

/// A file being written under a temporary name next to its destination.
/// Dropped without [`commit`](Self::commit), it is deleted.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl AtomicFile {
    /// Starts a new file that will become `dest`. Mode 0600 until committed.
    pub fn create(dest: &Path) -> Result<Self> {
        Ok(Self {
            tmp: temp_beside(dest, 0o600)?,
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

    /// Flushes to disk, sets `mode` and renames into place.
    pub fn commit(self, mode: u32) -> Result<()> {
        set_mode(self.tmp.as_file(), mode).map_err(|e| Error::io(self.tmp.path(), e))?;
        self.tmp
            .as_file()
            .sync_all()
            .map_err(|e| Error::io(self.tmp.path(), e))?;
        self.tmp
            .persist(&self.dest)
            .map_err(|e| Error::io(&self.dest, e.error))?;
        sync_dir(parent_dir(&self.dest));
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
pub(crate) fn temp_beside(dest: &Path, mode: u32) -> Result<tempfile::NamedTempFile> {
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
pub(crate) fn remove_stale_temporaries<'a>(dests: impl IntoIterator<Item = &'a Path>) -> usize {
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

pub(crate) fn parent_dir(path: &Path) -> &Path {
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

/// Makes a rename durable. Best effort: some filesystems refuse to fsync a
/// directory, and the data itself is already on disk.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
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

    #[test]
    fn small_and_large_inputs_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 10, 200_000] {
            let p = dir.path().join(format!("f{len}"));
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            std::fs::write(&p, &data).unwrap();
            assert_eq!(&*read_input(&p, len as u64).unwrap(), &data[..]);
        }
        assert!(matches!(
            read_input(&dir.path().join("missing"), 0),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    #[cfg(unix)]
    fn endless_inputs_are_read_one_byte_past_the_expected_length() {
        let endless = read_input(Path::new("/dev/zero"), 1 << 20).unwrap();
        assert_eq!(endless.len(), (1 << 20) + 1);
        // A short file is read whole: its length check is the caller's.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("short");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(&*read_input(&p, 100).unwrap(), b"abc");
    }
}
