//! Files in and out: memory-mapped input and all-or-nothing output.
//!
//! Output is written under a temporary name in the destination directory and
//! renamed into place only when complete, so a crash or Ctrl-C never leaves a
//! file that looks valid.

use crate::error::{Error, Result};
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
pub fn read_input(path: &Path) -> Result<Input> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_file() && meta.len() >= MMAP_THRESHOLD {
        // SAFETY: the mapping is read-only and private to this process. If
        // another process truncates or rewrites the file while it is mapped,
        // reads may fault or see changed bytes; changed bytes only produce a
        // payload that fails verification, never memory unsafety in our code
        // beyond what the OS reports as SIGBUS. Publishers seal files they
        // own and do not modify during a run; the same trade-off b3sum makes.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        #[cfg(unix)]
        let _ = map.advise(memmap2::Advice::Sequential);
        return Ok(Input::Mapped(map));
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    std::io::Read::read_to_end(&mut file, &mut buf).map_err(|e| Error::io(path, e))?;
    Ok(Input::Read(buf))
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
        let dir = parent_dir(dest);
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".partial")
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, e))?;
        Ok(Self {
            tmp,
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

fn parent_dir(path: &Path) -> &Path {
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
    fn small_and_large_inputs_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 10, 200_000] {
            let p = dir.path().join(format!("f{len}"));
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            std::fs::write(&p, &data).unwrap();
            assert_eq!(&*read_input(&p).unwrap(), &data[..]);
        }
        assert!(matches!(
            read_input(&dir.path().join("missing")),
            Err(Error::Io { .. })
        ));
    }
}
