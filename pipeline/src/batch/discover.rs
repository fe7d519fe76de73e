//! Finding the bundles of a batch: files and directories (recursive), in a
//! stable order, each with the name it carries in outputs and the index, and
//! the deterministic shard filter.

use crate::error::{Error, Result};
use crate::format::batch_index::{BundleName, ShardId};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// One bundle to seal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// Where to read it.
    pub path: PathBuf,
    /// Its name in the batch: the path relative to the directory argument it
    /// was found under, or the file name of a file argument.
    pub name: BundleName,
}

/// A path that was named or found but cannot be sealed.
#[derive(Debug)]
pub struct Rejected {
    pub path: PathBuf,
    pub error: Error,
}

/// What [`discover`] found: inputs sorted by name, and the paths it refused.
#[derive(Debug, Default)]
pub struct Discovery {
    pub inputs: Vec<Discovered>,
    pub rejected: Vec<Rejected>,
}

/// Whether discovery skips a directory entry: dot-files and dot-directories
/// (which include our own `.<name>.*.partial` temporaries) and `*.partial`.
pub fn is_ignored(file_name: &OsStr) -> bool {
    let b = file_name.as_encoded_bytes();
    b.first() == Some(&b'.') || b.ends_with(b".partial")
}

/// Expands `roots` (files or directories) into the bundles to seal.
///
/// - A file argument is one bundle named by its file name. Symbolic links
///   given as arguments are followed.
/// - A directory argument is walked recursively; each regular file is a
///   bundle named by its path relative to the directory. Dot-files,
///   dot-directories and `*.partial` files are skipped. Symbolic links to
///   files are followed; links to directories are not (no cycles) and are
///   rejected, as are dangling links, FIFOs, sockets and devices (opening a
///   FIFO would block the batch).
/// - `exclude` (the output directory) is never entered.
///
/// The result is sorted by name (byte order) so that every run, shard and
/// thread count sees the same order. Two inputs with the same name would
/// overwrite each other's outputs: that is an error for the whole batch.
pub fn discover(roots: &[PathBuf], exclude: Option<&Path>) -> Result<Discovery> {
    let exclude = exclude.and_then(|p| dir_id(p, &std::fs::metadata(p).ok()?));
    let mut d = Discovery::default();
    for root in roots {
        match std::fs::metadata(root) {
            Ok(m) if m.is_dir() => {
                if exclude.is_some() && dir_id(root, &m) == exclude {
                    return Err(Error::InvalidRequest(format!(
                        "{}: the output directory cannot also be an input directory",
                        root.display()
                    )));
                }
                walk(root, exclude.as_ref(), &mut d);
            }
            Ok(_) => match root.file_name() {
                Some(n) => push_file(root.clone(), Path::new(n), &mut d),
                None => d.rejected.push(Rejected {
                    path: root.clone(),
                    error: Error::InvalidRequest("not a file name".into()),
                }),
            },
            Err(e) => d.rejected.push(Rejected {
                path: root.clone(),
                error: Error::io(root, e),
            }),
        }
    }
    d.inputs
        .sort_by(|a, b| a.name.as_str().as_bytes().cmp(b.name.as_str().as_bytes()));
    if let Some(w) = d.inputs.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(Error::InvalidRequest(format!(
            "{} and {} are both named {}: their outputs would collide",
            w[0].path.display(),
            w[1].path.display(),
            w[0].name
        )));
    }
    Ok(d)
}

/// Most bytes a list of input paths (`seal --from-list`) may hold: 256 MiB,
/// about two million paths of 128 bytes. A larger list (or `/dev/zero`) is
/// refused before it fills memory.
pub const MAX_LIST_BYTES: u64 = 256 << 20;

/// Reads a list of input paths from `reader` (named `path` in errors): one
/// path per line, `\n` or `\r\n`, empty lines skipped. On Unix a line is
/// taken byte for byte (paths need not be UTF-8); elsewhere it must be
/// UTF-8. More than `max` bytes is [`Error::TooLarge`].
pub fn read_list(reader: impl std::io::Read, path: &Path, max: u64) -> Result<Vec<PathBuf>> {
    let mut buf = Vec::new();
    crate::files::read_capped_from(reader, path, "a list of inputs", max, &mut buf)?;
    let mut out = Vec::new();
    for line in buf.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        #[cfg(unix)]
        let p = PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(line));
        #[cfg(not(unix))]
        let p = PathBuf::from(std::str::from_utf8(line).map_err(|_| {
            Error::InvalidRequest(format!("{}: a line is not UTF-8", path.display()))
        })?);
        out.push(p);
    }
    Ok(out)
}

fn push_file(path: PathBuf, rel: &Path, d: &mut Discovery) {
    match bundle_name(rel) {
        Ok(name) => d.inputs.push(Discovered { path, name }),
        Err(error) => d.rejected.push(Rejected { path, error }),
    }
}

/// The `/`-separated name of a relative path, validated for the index.
pub(crate) fn bundle_name(rel: &Path) -> Result<BundleName> {
    let mut s = String::new();
    for c in rel.components() {
        let part = c.as_os_str().to_str().ok_or_else(|| {
            Error::InvalidRequest(format!("{}: file name is not UTF-8", rel.display()))
        })?;
        if !s.is_empty() {
            s.push('/');
        }
        s.push_str(part);
    }
    s.parse()
        .map_err(|e| Error::InvalidRequest(format!("{}: {e}", rel.display())))
}

/// Walks the tree under `root` with an explicit stack: a deep tree costs
/// heap, not call stack. Every check per entry is O(1) in the depth.
fn walk(root: &Path, exclude: Option<&DirId>, d: &mut Discovery) {
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        walk_one(root, &dir, exclude, d, &mut pending);
    }
}

/// Lists one directory: files go into `d`, subdirectories onto `pending`.
fn walk_one(
    root: &Path,
    dir: &Path,
    exclude: Option<&DirId>,
    d: &mut Discovery,
    pending: &mut Vec<PathBuf>,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            d.rejected.push(Rejected {
                path: dir.to_owned(),
                error: Error::io(dir, e),
            });
            return;
        }
    };
    let mut children: Vec<_> = Vec::new();
    for entry in entries {
        match entry {
            Ok(e) => children.push(e),
            Err(e) => d.rejected.push(Rejected {
                path: dir.to_owned(),
                error: Error::io(dir, e),
            }),
        }
    }
    for entry in children {
        let name = entry.file_name();
        if is_ignored(&name) {
            continue;
        }
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap_or(&path).to_owned();
        let ft = match entry.file_type() {
            Ok(ft) => ft,
            Err(e) => {
                d.rejected.push(Rejected {
                    error: Error::io(&path, e),
                    path,
                });
                continue;
            }
        };
        if ft.is_dir() {
            // Identified by the entry's own metadata (one `fstatat`), not by
            // resolving its whole path: that made deep trees quadratic.
            if let Some(ex) = exclude
                && entry
                    .metadata()
                    .ok()
                    .and_then(|m| dir_id(&path, &m))
                    .as_ref()
                    == Some(ex)
            {
                continue;
            }
            pending.push(path);
        } else if ft.is_file() {
            push_file(path, &rel, d);
        } else if ft.is_symlink() {
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => push_file(path, &rel, d),
                Ok(m) if m.is_dir() => d.rejected.push(Rejected {
                    error: Error::NotRegularFile {
                        path: path.clone(),
                        what: "a symbolic link to a directory (not followed)",
                    },
                    path,
                }),
                Ok(_) => d.rejected.push(Rejected {
                    error: Error::NotRegularFile {
                        path: path.clone(),
                        what: "a link to a special file",
                    },
                    path,
                }),
                Err(e) => d.rejected.push(Rejected {
                    error: Error::io(&path, e),
                    path,
                }),
            }
        } else {
            d.rejected.push(Rejected {
                error: Error::NotRegularFile {
                    path: path.clone(),
                    what: "a FIFO, socket or device",
                },
                path,
            });
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Tests: path components resolved to identify directories.
    static EXCLUDE_WORK: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// What identifies a directory whatever path names it: device and inode.
#[cfg(unix)]
type DirId = (u64, u64);
#[cfg(not(unix))]
type DirId = PathBuf;

#[cfg(unix)]
fn dir_id(_path: &Path, meta: &std::fs::Metadata) -> Option<DirId> {
    use std::os::unix::fs::MetadataExt;
    #[cfg(test)]
    EXCLUDE_WORK.with(|w| w.set(w.get() + 1));
    Some((meta.dev(), meta.ino()))
}

/// Without inode numbers, the canonical path (O(depth) per call).
#[cfg(not(unix))]
fn dir_id(path: &Path, _meta: &std::fs::Metadata) -> Option<DirId> {
    #[cfg(test)]
    EXCLUDE_WORK.with(|w| w.set(w.get() + path.components().count()));
    path.canonicalize().ok()
}

/// The shard (1-based, of `count`) a bundle name belongs to. It depends on
/// the name alone, so shards stay stable when other inputs come and go and
/// every process of a scale-out computes the same split:
/// `1 + (le64(BLAKE3(name)[0..8]) mod count)`.
pub fn shard_of(name: &BundleName, count: u32) -> u32 {
    let h = blake3::hash(name.as_str().as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.as_bytes()[..8]);
    (u64::from_le_bytes(first) % u64::from(count.max(1))) as u32 + 1
}

/// Keeps the inputs that belong to `shard`.
pub fn filter_shard(inputs: Vec<Discovered>, shard: ShardId) -> Vec<Discovered> {
    if shard.is_whole() {
        return inputs;
    }
    inputs
        .into_iter()
        .filter(|i| shard_of(&i.name, shard.count()) == shard.index())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(d: &Discovery) -> Vec<&str> {
        d.inputs.iter().map(|i| i.name.as_str()).collect()
    }

    #[test]
    fn walks_recursively_in_stable_order_and_skips_hidden_and_partial() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for p in [
            "b/z.bin",
            "b/a.bin",
            "a.bin",
            "c/d/e.bin",
            ".hidden/x",
            "b/.dot",
            "b/y.partial",
        ] {
            let p = r.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let d = discover(&[r.to_owned()], None).unwrap();
        assert_eq!(names(&d), ["a.bin", "b/a.bin", "b/z.bin", "c/d/e.bin"]);
        assert!(d.rejected.is_empty());
    }

    #[test]
    fn output_directory_is_excluded_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("out")).unwrap();
        std::fs::write(r.join("out/x.payload"), b"x").unwrap();
        std::fs::write(r.join("in.bin"), b"x").unwrap();
        let d = discover(&[r.to_owned()], Some(&r.join("out"))).unwrap();
        assert_eq!(names(&d), ["in.bin"]);
        assert!(discover(&[r.join("out")], Some(&r.join("out"))).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn special_files_and_links_are_rejected_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::write(r.join("ok.bin"), b"x").unwrap();
        std::os::unix::fs::symlink(r.join("missing"), r.join("dangling")).unwrap();
        std::os::unix::fs::symlink(r.join("ok.bin"), r.join("link.bin")).unwrap();
        std::fs::create_dir(r.join("sub")).unwrap();
        std::os::unix::fs::symlink(r.join("sub"), r.join("dirlink")).unwrap();
        let d = discover(&[r.to_owned(), r.join("nope")], None).unwrap();
        assert_eq!(names(&d), ["link.bin", "ok.bin"]);
        assert_eq!(d.rejected.len(), 3);
    }

    /// Discovery of a deep tree with the output directory present does
    /// work linear in the entries: the output-directory check must not
    /// resolve every directory's whole path (1,200 levels took 17 s).
    #[test]
    fn deep_tree_with_an_existing_out_dir_is_linear() {
        const DEPTH: usize = 1200;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("in");
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let mut p = root.clone();
        for _ in 0..DEPTH {
            p.push("d");
        }
        std::fs::create_dir_all(&p).unwrap();
        // Names are at most 1024 bytes: the deepest file is refused, one
        // 400 levels down is found.
        std::fs::write(p.join("leaf.bin"), b"x").unwrap();
        let mid: PathBuf = std::iter::once(root.clone())
            .chain(std::iter::repeat_n(PathBuf::from("d"), 400))
            .collect();
        std::fs::write(mid.join("mid.bin"), b"x").unwrap();
        std::fs::write(root.join("top.bin"), b"x").unwrap();
        // Run on a thread with a small stack, as a deep tree must not need
        // a deep call stack either.
        let (d, work) = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                EXCLUDE_WORK.with(|w| w.set(0));
                let d = discover(&[root], Some(&out)).unwrap();
                (d, EXCLUDE_WORK.with(|w| w.get()))
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(names(&d).len(), 2, "{:?}", names(&d));
        assert_eq!(d.inputs[0].name.as_str().matches('/').count(), 400);
        assert_eq!(d.inputs[1].name.as_str(), "top.bin");
        assert_eq!(d.rejected.len(), 1, "{:?}", d.rejected);
        // One unit of work per entry, plus the arguments themselves.
        assert!(work <= 4 * (DEPTH + 2), "{work} path components resolved");
    }

    #[test]
    fn lists_are_read_line_by_line_up_to_their_limit() {
        let list = b"a/b.bin\r\n\n/abs/c d.bin\nlast";
        let got = read_list(&list[..], Path::new("list"), list.len() as u64).unwrap();
        let want: Vec<PathBuf> = ["a/b.bin", "/abs/c d.bin", "last"]
            .map(PathBuf::from)
            .into();
        assert_eq!(got, want);
        assert!(matches!(
            read_list(&list[..], Path::new("list"), list.len() as u64 - 1),
            Err(Error::TooLarge { max, .. }) if max == list.len() as u64 - 1
        ));
        // An endless source costs at most the limit.
        let zeros = std::io::repeat(0);
        assert!(matches!(
            read_list(zeros, Path::new("/dev/zero"), 1 << 20),
            Err(Error::TooLarge { .. })
        ));
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let got = read_list(&b"caf\xe9.bin\n"[..], Path::new("list"), 100).unwrap();
            assert_eq!(got[0].as_os_str().as_bytes(), b"caf\xe9.bin");
        }
    }

    #[test]
    fn duplicate_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("a")).unwrap();
        std::fs::write(r.join("a/x.bin"), b"x").unwrap();
        std::fs::write(r.join("x.bin"), b"x").unwrap();
        assert!(discover(&[r.join("x.bin"), r.join("a/x.bin")], None).is_err());
    }

    #[test]
    fn shards_partition_the_inputs() {
        let inputs: Vec<Discovered> = (0..200)
            .map(|i| Discovered {
                path: format!("/in/{i}").into(),
                name: format!("app/{i}.zip").parse().unwrap(),
            })
            .collect();
        let n = 3;
        let mut seen = 0;
        for k in 1..=n {
            let part = filter_shard(inputs.clone(), ShardId::new(k, n).unwrap());
            assert!(part.len() > 40, "shard {k} has {}", part.len());
            assert!(part.iter().all(|i| shard_of(&i.name, n) == k));
            seen += part.len();
        }
        assert_eq!(seen, inputs.len());
        assert_eq!(filter_shard(inputs.clone(), ShardId::WHOLE), inputs);
    }
}
