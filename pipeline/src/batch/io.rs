//! The batch's file I/O: inputs (mapped or read with `pread`), outputs
//! written at chunk offsets into temporaries committed by rename, per-worker
//! chunk buffers, and the durability points. The mapping, the temporary
//! files and the directory sync are [`crate::files`]'s.

use crate::error::{Error, Result};
use crate::files::{AtomicFile, MMAP_THRESHOLD};
use std::cell::RefCell;
use std::fs::File;
use std::path::Path;

/// An open input bundle.
#[derive(Debug)]
pub(crate) struct Source {
    len: u64,
    inner: SourceKind,
}

#[derive(Debug)]
enum SourceKind {
    Mapped(memmap2::Mmap),
    File(File),
    /// Encoded bytes (a compressed bundle, a delta), wiped when dropped.
    Memory(zeroize::Zeroizing<Vec<u8>>),
}

impl Source {
    /// Opens `path` if it is a regular file. The file is opened with
    /// `O_NONBLOCK` and checked with `fstat` on the descriptor, so a FIFO put
    /// in place of a file can neither block the batch nor be read.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let mut oo = std::fs::OpenOptions::new();
        oo.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            oo.custom_flags(libc::O_NONBLOCK);
        }
        let file = oo.open(path).map_err(|e| Error::io(path, e))?;
        let meta = file.metadata().map_err(|e| Error::io(path, e))?;
        if !meta.is_file() {
            return Err(Error::NotRegularFile {
                path: path.to_owned(),
                what: if meta.is_dir() {
                    "a directory"
                } else {
                    "a FIFO, socket or device"
                },
            });
        }
        let len = meta.len();
        if len >= MMAP_THRESHOLD {
            return Ok(Self {
                len,
                inner: SourceKind::Mapped(crate::files::map_readonly(&file, path)?),
            });
        }
        Ok(Self {
            len,
            inner: SourceKind::File(file),
        })
    }

    /// Bytes held in memory (an encoded payload), sealed like a file.
    pub(crate) fn memory(bytes: Vec<u8>) -> Self {
        Self {
            len: bytes.len() as u64,
            inner: SourceKind::Memory(zeroize::Zeroizing::new(bytes)),
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// All of it: in place when mapped or in memory, else read (encoders
    /// need the whole input).
    pub(crate) fn bytes(&self, path: &Path) -> Result<std::borrow::Cow<'_, [u8]>> {
        let len = usize::try_from(self.len).map_err(|_| short(path))?;
        if let Some(b) = self.mapped(0, len, path)? {
            return Ok(std::borrow::Cow::Borrowed(b));
        }
        let mut buf = vec![0; len];
        self.read_at(0, &mut buf, path)?;
        Ok(std::borrow::Cow::Owned(buf))
    }

    /// The `len` bytes at `offset`, in place, when the input is mapped;
    /// `None` when it is read with `pread` (use [`read_at`](Self::read_at)).
    pub(crate) fn mapped(&self, offset: u64, len: usize, path: &Path) -> Result<Option<&[u8]>> {
        match &self.inner {
            SourceKind::Mapped(m) => range_of(m, offset, len, path).map(Some),
            SourceKind::Memory(m) => range_of(m, offset, len, path).map(Some),
            SourceKind::File(_) => Ok(None),
        }
    }

    /// Fills `buf` with the bytes at `offset`.
    pub(crate) fn read_at(&self, offset: u64, buf: &mut [u8], path: &Path) -> Result<()> {
        match &self.inner {
            SourceKind::Mapped(m) => {
                buf.copy_from_slice(range_of(m, offset, buf.len(), path)?);
                Ok(())
            }
            SourceKind::Memory(m) => {
                buf.copy_from_slice(range_of(m, offset, buf.len(), path)?);
                Ok(())
            }
            SourceKind::File(f) => read_exact_at(f, buf, offset).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    short(path)
                } else {
                    Error::io(path, e)
                }
            }),
        }
    }
}

/// `len` bytes of `map` at `offset`, or the error for an input that became
/// shorter than planned.
fn range_of<'m>(map: &'m [u8], offset: u64, len: usize, path: &Path) -> Result<&'m [u8]> {
    usize::try_from(offset)
        .ok()
        .and_then(|start| map.get(start..start.checked_add(len)?))
        .ok_or_else(|| short(path))
}

fn short(path: &Path) -> Error {
    Error::io(
        path,
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "input became shorter while it was being sealed",
        ),
    )
}

#[cfg(unix)]
fn read_exact_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(f: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match f.seek_read(buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(unix)]
pub(crate) fn write_all_at(f: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, buf, offset)
}

#[cfg(windows)]
pub(crate) fn write_all_at(f: &File, mut buf: &[u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        let n = f.seek_write(buf, offset)?;
        buf = &buf[n..];
        offset += n as u64;
    }
    Ok(())
}

/// A page-aligned, zeroized-on-drop chunk buffer. Page alignment matters
/// because the kernel copies between the page cache and whole pages of the
/// buffer: `read()`/`pwrite()` on an unaligned buffer measured several times
/// slower when the batch was first written (not re-measured since; the
/// `batch` criterion bench is where to check it).
struct ChunkBuf {
    ptr: std::ptr::NonNull<u8>,
    layout: std::alloc::Layout,
}

const PAGE: usize = 4096;

impl ChunkBuf {
    fn new(len: usize) -> Self {
        let layout = std::alloc::Layout::from_size_align(len.max(PAGE), PAGE)
            .expect("chunk sizes are at most 16 MiB");
        // SAFETY: the layout has a non-zero size. Zeroed memory, so the
        // buffer is initialised before any `&mut [u8]` is formed over it.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr =
            std::ptr::NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        Self { ptr, layout }
    }

    fn capacity(&self) -> usize {
        self.layout.size()
    }

    fn as_mut_slice(&mut self, len: usize) -> &mut [u8] {
        assert!(len <= self.capacity());
        // SAFETY: `ptr` is valid for `capacity()` initialised bytes, uniquely
        // borrowed through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), len) }
    }
}

impl Drop for ChunkBuf {
    fn drop(&mut self) {
        // Plaintext passed through this buffer: wipe it before freeing.
        zeroize::Zeroize::zeroize(self.as_mut_slice(self.capacity()));
        // SAFETY: allocated in `new` with this very layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

thread_local! {
    /// One chunk buffer per worker thread: anonymous memory is
    /// `threads x chunk size`, whatever the bundle sizes.
    static CHUNK_BUF: RefCell<Option<ChunkBuf>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's chunk buffer, `len` bytes long.
/// `f` must not re-enter (it does not: sealing a chunk spawns no work).
pub(crate) fn with_chunk_buf<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    CHUNK_BUF.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|b| b.capacity() < len) {
            *slot = Some(ChunkBuf::new(len));
        }
        let buf = slot.as_mut().expect("just filled");
        f(buf.as_mut_slice(len))
    })
}

/// Frees this thread's chunk buffer (workers call it when a run ends).
pub(crate) fn release_chunk_buf() {
    CHUNK_BUF.with(|cell| cell.borrow_mut().take());
}

/// A new output file (payload, manifest, index) under its temporary name.
/// Payloads are ciphertext and manifests and indexes are public:
/// world-readable like any published file (subject to the umask).
pub(crate) fn create_output(dest: &Path) -> Result<AtomicFile> {
    AtomicFile::with_mode(dest, 0o644)
}

pub(crate) use crate::files::{parent_dir, remove_stale_temporaries, sync_dir};

/// Deletes `path` if it exists; returns whether it did. Anything but "not
/// found" is an error (e.g. a directory in the way).
pub(crate) fn remove_if_present(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Starts writeback of `file`'s dirty pages without waiting for it
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`), so the disk works while the
/// batch goes on sealing and the final flush has little left to wait for.
/// Not a durability point by itself; a no-op where unsupported.
/// `offset, len` of 0, 0 means the whole file.
pub(crate) fn start_writeback(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let (Ok(off), Ok(n)) = (
            libc::off64_t::try_from(offset),
            libc::off64_t::try_from(len),
        ) else {
            return;
        };
        // SAFETY: `file` is an open descriptor for the duration of the call;
        // the call only schedules I/O. Errors are ignored: the final
        // `syncfs` reports any that matter.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), off, n, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// Flushes everything written to the file system holding `dir`: one
/// `syncfs(2)` instead of an `fsync` per file, which on a journaling file
/// system is thousands of journal commits for thousands of small bundles.
/// Elsewhere it syncs each of `files` and their directories.
pub(crate) fn sync_filesystem(dir: &Path, files: &[&Path]) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        let _ = files;
        use std::os::fd::AsRawFd;
        let d = File::open(dir).map_err(|e| Error::io(dir, e))?;
        // SAFETY: `d` is an open descriptor for the duration of the call.
        if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
            return Err(Error::io(dir, std::io::Error::last_os_error()));
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        let mut dirs = std::collections::BTreeSet::new();
        for f in files {
            File::open(f)
                .and_then(|h| h.sync_all())
                .map_err(|e| Error::io(f, e))?;
            dirs.insert(parent_dir(f).to_owned());
        }
        for d in dirs {
            sync_dir(&d)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_removed_unless_committed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x.payload");
        {
            let p = create_output(&dest).unwrap();
            write_all_at(p.file(), b"half", 0).unwrap();
            assert!(crate::batch::discover::is_ignored(
                p.path().file_name().unwrap()
            ));
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let p = create_output(&dest).unwrap();
        write_all_at(p.file(), b"whole", 0).unwrap();
        p.rename_into_place(true).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"whole");
        sync_filesystem(dir.path(), &[&dest]).unwrap();
    }

    #[test]
    fn sources_read_the_same_mapped_or_not() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 10, MMAP_THRESHOLD as usize + 5] {
            let p = dir.path().join(format!("f{len}"));
            let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            std::fs::write(&p, &data).unwrap();
            let s = Source::open(&p).unwrap();
            assert_eq!(s.len(), len as u64);
            let mut buf = vec![0; len / 2];
            s.read_at((len - len / 2) as u64, &mut buf, &p).unwrap();
            assert_eq!(buf, data[len - len / 2..]);
            let mut past = vec![0; 4];
            assert!(s.read_at(len as u64, &mut past, &p).is_err());
        }
        assert!(matches!(
            Source::open(dir.path()),
            Err(Error::NotRegularFile { .. }) | Err(Error::Io { .. })
        ));
    }

    #[test]
    fn chunk_buffers_are_aligned_and_reused() {
        let a = with_chunk_buf(100, |b| b.as_ptr() as usize);
        let b = with_chunk_buf(4000, |b| b.as_ptr() as usize);
        assert_eq!(a, b);
        assert_eq!(a % PAGE, 0);
        release_chunk_buf();
    }
}
