//! A payload being downloaded: a partial file that only ever receives
//! verified chunks, and a record of which chunks those are.
//!
//! `OUT.part` has the payload's final length; each chunk is written at its
//! own offset after it verified against the signed manifest, so bytes that
//! did not verify are never written anywhere. `OUT.part.record` (a
//! [`FetchRecord`]) lists the chunks written. On resume the record is only a
//! hint: every listed chunk is read back and verified again, and so is every
//! unlisted chunk whose region is not all zeros (written after the record was
//! last saved); a missing, damaged or foreign record means every chunk of the
//! partial file is checked. Regions that hold bytes which do not verify are
//! erased, so `OUT.part` only ever holds verified chunks and zeros. [`PartialPayload::finish`] verifies the whole file once
//! more and renames it to `OUT`.
//!
//! Every verification is the device [`Session`]'s: a chunk is written only
//! after [`Session::check_chunk`] passed and is recorded by
//! [`Session::accept_checked`]; chunks found on disk are
//! [`Session::recheck`]ed; the record is the session's
//! [`Session::export`].

use super::plan::{ChunkSet, DEFAULT_MAX_REQUEST_BYTES, FetchRequest, Geometry, plan_requests};
use crate::error::{Error, Result};
use crate::files;
use crate::format::fetch_record::FetchRecord;
use crate::open::VerifiedManifest;
use crate::session::Session;
use core::ops::Range;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::prelude::rust_2024::*;

/// By default the record is rewritten after this many newly verified bytes.
pub const DEFAULT_RECORD_INTERVAL: u64 = 1 << 20;

/// What a resume found on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResumeInfo {
    /// Chunks found on disk that verified again and are kept.
    pub chunks_reused: u32,
    /// Their total size.
    pub bytes_reused: u64,
    /// Chunks found on disk that did not verify: erased, missing again.
    pub chunks_discarded: u32,
    /// Chunks written after the record was last saved (not listed in it)
    /// that were found on disk and verified.
    pub chunks_recovered: u32,
    /// Whether a usable record was found (otherwise every chunk was scanned).
    pub record_used: bool,
}

/// A partially downloaded payload on disk.
#[derive(Debug)]
pub struct PartialPayload {
    /// Verifies every chunk and knows which are on disk.
    session: Session,
    geometry: Geometry,
    dest: PathBuf,
    data_path: PathBuf,
    record_path: PathBuf,
    file: File,
    unrecorded_bytes: u64,
    record_interval: u64,
    resume: ResumeInfo,
}

impl PartialPayload {
    /// Opens the partial download for `dest`, resuming from `dest.part` and
    /// `dest.part.record` when they exist (after re-verifying their chunks).
    pub fn open(verified: VerifiedManifest, dest: &Path) -> Result<Self> {
        let m = verified.manifest();
        let geometry = Geometry {
            payload_len: m.plaintext_len,
            chunk_size: m.chunk_size,
        };
        let data_path = with_suffix(dest, ".part");
        let record_path = with_suffix(dest, ".part.record");
        // Both files are checked before either is created or written, so a
        // refused plant leaves nothing behind. The record is read at most to
        // the length a record of this bundle has.
        let record = read_own(
            &record_path,
            FetchRecord::encoded_len(geometry.chunk_count()),
        )?;
        let file = open_own(&data_path)?;
        let existing_len = file.metadata().map_err(|e| Error::io(&data_path, e))?.len();
        if existing_len != geometry.payload_len {
            // A partial file of another length cannot hold this payload's
            // chunks at their offsets: start over.
            file.set_len(0).map_err(|e| Error::io(&data_path, e))?;
            file.set_len(geometry.payload_len)
                .map_err(|e| Error::io(&data_path, e))?;
        }
        let mut p = Self {
            session: Session::with_verified(verified, DEFAULT_MAX_REQUEST_BYTES, None),
            geometry,
            dest: dest.to_owned(),
            data_path,
            record_path,
            file,
            unrecorded_bytes: 0,
            record_interval: DEFAULT_RECORD_INTERVAL,
            resume: ResumeInfo::default(),
        };
        if existing_len == geometry.payload_len {
            p.reverify_from_disk(record.as_deref())?;
        }
        p.save_record()?;
        Ok(p)
    }

    fn reverify_from_disk(&mut self, record: Option<&[u8]>) -> Result<()> {
        let m = self.session.verified().manifest();
        let listed: Vec<bool> = match record.and_then(|b| FetchRecord::parse(b).ok()) {
            Some(r) if r.check_bundle(m).is_ok() => {
                self.resume.record_used = true;
                r.have
            }
            _ => vec![true; self.session.have().len() as usize],
        };
        // Chunks the record lists are verified again. Chunks it does not list
        // may still have been written after the record was last saved: a
        // region that is not all zeros (never-written regions of the sparse
        // file read as zeros) is verified too, so nothing that reached the
        // disk is fetched twice.
        let mut buf = vec![0u8; self.geometry.chunk_size.bytes() as usize];
        for (i, &was_listed) in listed.iter().enumerate() {
            let index = i as u32;
            let r = self.geometry.chunk_range(index);
            let chunk = &mut buf[..(r.end - r.start) as usize];
            self.read_at(r.start, chunk)?;
            if !was_listed && chunk.iter().all(|b| *b == 0) && !chunk.is_empty() {
                continue;
            }
            if self.session.recheck(index, chunk)? {
                self.resume.chunks_reused += 1;
                self.resume.bytes_reused += r.end - r.start;
                if !was_listed && self.resume.record_used {
                    self.resume.chunks_recovered += 1;
                }
            } else if chunk.iter().any(|b| *b != 0) {
                // Bytes that do not verify (damaged, or left from another
                // bundle) are erased, so the partial file only ever holds
                // verified chunks and zeros.
                chunk.fill(0);
                self.write_at(r.start, chunk)?;
                self.resume.chunks_discarded += 1;
            }
        }
        Ok(())
    }

    /// Sets how many newly verified bytes trigger a record rewrite (each
    /// rewrite is an fsync'd atomic replace). 0 rewrites after every chunk.
    pub fn set_record_interval(&mut self, bytes: u64) {
        self.record_interval = bytes;
    }

    pub fn verified(&self) -> &VerifiedManifest {
        self.session.verified()
    }

    /// The session verifying this download.
    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// What resuming found.
    pub fn resume_info(&self) -> ResumeInfo {
        self.resume
    }

    /// The chunks verified and written so far.
    pub fn have(&self) -> &ChunkSet {
        self.session.have()
    }

    pub fn is_complete(&self) -> bool {
        self.session.is_complete()
    }

    /// Bytes of the payload verified so far.
    pub fn bytes_have(&self) -> u64 {
        let have = self.session.have();
        (0..have.len())
            .filter(|&i| have.contains(i))
            .map(|i| {
                let r = self.geometry.chunk_range(i);
                r.end - r.start
            })
            .sum()
    }

    /// The requests that fetch the missing chunks holding payload bytes
    /// `range` (plaintext and payload offsets are the same), coalesced up to
    /// `max_request_bytes` each.
    pub fn requests_for(
        &self,
        range: Range<u64>,
        max_request_bytes: u64,
    ) -> Result<Vec<FetchRequest>> {
        let chunks = self.session.verified().chunks_covering(range)?;
        Ok(plan_requests(
            &self.geometry,
            self.session.have(),
            chunks,
            max_request_bytes,
        ))
    }

    /// The requests that fetch every missing chunk.
    pub fn missing_requests(&self, max_request_bytes: u64) -> Vec<FetchRequest> {
        let have = self.session.have();
        plan_requests(&self.geometry, have, 0..have.len(), max_request_bytes)
    }

    /// Verifies chunk `index` against the manifest and, only if it matches,
    /// writes it at its place. Returns `Ok(false)` if the chunk was already
    /// present (nothing is written). A chunk that does not verify is an error
    /// and nothing of it is kept.
    pub fn accept_chunk(&mut self, index: u32, bytes: &[u8]) -> Result<bool> {
        let checked = self.session.check_chunk(index, bytes)?;
        if self.session.have().contains(index) {
            return Ok(false);
        }
        let start = self.geometry.chunk_range(index).start;
        self.write_at(start, bytes)?;
        self.session.accept_checked(checked)?;
        self.unrecorded_bytes += bytes.len() as u64;
        if self.unrecorded_bytes >= self.record_interval {
            self.save_record()?;
        }
        Ok(true)
    }

    /// Rewrites the record of verified chunks (atomically).
    pub fn save_record(&mut self) -> Result<()> {
        files::write_atomic(&self.record_path, &self.session.export()?, 0o644)?;
        self.unrecorded_bytes = 0;
        Ok(())
    }

    /// Verifies the complete partial file once more, renames it to the
    /// destination and removes the record. Fails if chunks are missing.
    pub fn finish(mut self) -> Result<PathBuf> {
        if !self.is_complete() {
            let have = self.session.have();
            return Err(Error::ChunkTableIncomplete {
                expected: have.len(),
                found: have.count() as usize,
            });
        }
        self.file
            .sync_all()
            .map_err(|e| Error::io(&self.data_path, e))?;
        // Read back through the handle that was checked at open, not by
        // path: what is verified is what was written. Every chunk verifying
        // against the signed table is the whole payload verifying (the table
        // was checked against the root when the manifest was).
        let mut buf = vec![0u8; self.geometry.chunk_size.bytes() as usize];
        for index in 0..self.session.have().len() {
            let r = self.geometry.chunk_range(index);
            let chunk = &mut buf[..(r.end - r.start) as usize];
            self.read_at(r.start, chunk)?;
            // Recorded already: the check is all that is needed.
            drop(self.session.check_chunk(index, chunk)?);
        }
        std::fs::rename(&self.data_path, &self.dest).map_err(|e| Error::io(&self.dest, e))?;
        let _ = std::fs::remove_file(&self.record_path);
        files::sync_dir(files::parent_dir(&self.dest))?;
        Ok(core::mem::take(&mut self.dest))
    }

    /// Deletes the partial file and its record.
    pub fn discard(self) -> Result<()> {
        std::fs::remove_file(&self.data_path).map_err(|e| Error::io(&self.data_path, e))?;
        let _ = std::fs::remove_file(&self.record_path);
        Ok(())
    }

    /// Path of the partial payload file.
    pub fn data_path(&self) -> &Path {
        &self.data_path
    }

    /// Path of the record file.
    pub fn record_path(&self) -> &Path {
        &self.record_path
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<()> {
        self.file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.file.write_all(bytes))
            .map_err(|e| Error::io(&self.data_path, e))
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.file.read_exact(buf))
            .map_err(|e| Error::io(&self.data_path, e))
    }
}

/// Opens (or creates) the partial payload file for reading and writing
/// without following a symbolic link, and only if it is a regular file of
/// this user with a single name: someone who can write to the directory must
/// not be able to make the download truncate or overwrite another file, or
/// keep a handle on (or a second name for) the file that becomes `OUT`.
fn open_own(path: &Path) -> Result<File> {
    let mut existing = OpenOptions::new();
    existing.read(true).write(true);
    no_follow(&mut existing);
    match existing.open(path) {
        Ok(file) => {
            check_own(&file, path)?;
            Ok(file)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // O_CREAT|O_EXCL never follows a link, even a dangling one.
            let mut new = OpenOptions::new();
            new.read(true).write(true).create_new(true);
            no_follow(&mut new);
            new.open(path)
                .map_err(|e| refusal(path).unwrap_or(Error::io(path, e)))
        }
        Err(e) => Err(refusal(path).unwrap_or(Error::io(path, e))),
    }
}

/// Reads the record at `path` if there is one, under the same rules as the
/// partial file; a record longer than `max` is not read further and counts
/// as damaged (`None`), like any record that does not parse.
fn read_own(path: &Path, max: u64) -> Result<Option<Vec<u8>>> {
    let mut o = OpenOptions::new();
    o.read(true);
    no_follow(&mut o);
    let file = match o.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(refusal(path).unwrap_or(Error::io(path, e))),
    };
    check_own(&file, path)?;
    let mut buf = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, e))?;
    Ok((buf.len() as u64 <= max).then_some(buf))
}

/// `O_NOFOLLOW` (a link as the last component fails instead of being
/// followed) and `O_NONBLOCK` (opening a FIFO does not wait for a writer; it
/// has no effect on the regular files that are accepted).
fn no_follow(o: &mut OpenOptions) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    #[cfg(not(unix))]
    let _ = o;
}

/// The refusal for whatever non-regular thing sits at `path`, if it is one
/// (explains an open that failed on a link or a directory).
fn refusal(path: &Path) -> Option<Error> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let what = describe(&meta.file_type())?;
    Some(Error::RefusedFile {
        path: path.to_owned(),
        what,
    })
}

/// What a non-regular file is, or `None` for a regular file.
fn describe(t: &std::fs::FileType) -> Option<&'static str> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a FIFO");
        }
        if t.is_socket() {
            return Some("a socket");
        }
        if t.is_block_device() || t.is_char_device() {
            return Some("a device");
        }
    }
    if t.is_symlink() {
        Some("a symbolic link")
    } else if t.is_dir() {
        Some("a directory")
    } else if !t.is_file() {
        Some("not a regular file")
    } else {
        None
    }
}

/// Checks an opened file: a regular file, one name, owned by this user.
fn check_own(file: &File, path: &Path) -> Result<()> {
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    let refuse = |what| {
        Err(Error::RefusedFile {
            path: path.to_owned(),
            what,
        })
    };
    if let Some(what) = describe(&meta.file_type()) {
        return refuse(what);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.nlink() != 1 {
            return refuse("a hard link (the file has other names)");
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        if meta.uid() != unsafe { libc::geteuid() } {
            return refuse("owned by another user");
        }
    }
    Ok(())
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Paths of the partial file and record a download to `dest` uses.
pub fn partial_paths(dest: &Path) -> (PathBuf, PathBuf) {
    (
        with_suffix(dest, ".part"),
        with_suffix(dest, ".part.record"),
    )
}
