//! Writing a plan to disk: parallel, resumable, never a half-written file
//! under a final name.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::{ContentStream, Error, FileSpec, Preset, Spec, plan};

/// Name of the manifest written at the top of the output directory.
pub const MANIFEST_NAME: &str = "dataset.json";

/// Version of the manifest's layout.
pub const MANIFEST_FORMAT: u32 = 1;

/// Size of each write (and of each thread's buffer).
const WRITE_BUF: usize = 1 << 20;

/// How to generate (as opposed to what: that is the [`Spec`]).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Worker threads; 0 means one per available core.
    pub threads: usize,
    /// `fsync` every file and directory before reporting success.
    pub fsync: bool,
    /// Incremented by the number of bytes of each file as it is written or
    /// found already present, for progress display.
    pub progress: Option<Arc<AtomicU64>>,
}

/// `dataset.json`: the spec and every file, so consumers need not re-plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: u32,
    /// The spec the files were generated from.
    pub spec: Spec,
    /// Number of files.
    pub file_count: usize,
    /// Sum of the file sizes.
    pub total_bytes: u64,
    /// Every file, in plan order.
    pub files: Vec<FileSpec>,
}

impl Manifest {
    /// The manifest of `spec`'s plan.
    pub fn new(spec: &Spec) -> Result<Self, Error> {
        let files = plan(spec)?;
        Ok(Self {
            format: MANIFEST_FORMAT,
            spec: spec.clone(),
            file_count: files.len(),
            total_bytes: files.iter().map(|f| f.size).sum(),
            files,
        })
    }
}

/// Reads `<dir>/dataset.json`.
pub fn read_manifest(dir: &Path) -> Result<Manifest, Error> {
    let path = dir.join(MANIFEST_NAME);
    let bytes = fs::read(&path).map_err(Error::io("reading", &path))?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Manifest { path, source })
}

/// What [`generate`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The preset generated.
    pub preset: Preset,
    /// Files in the dataset.
    pub files: usize,
    /// Bytes in the dataset.
    pub total_bytes: u64,
    /// Files written by this run.
    pub written_files: usize,
    /// Bytes written by this run.
    pub written_bytes: u64,
    /// Files already present with the right size, left alone.
    pub skipped_files: usize,
    /// Wall-clock time of the run.
    pub seconds: f64,
}

/// Generates `spec`'s dataset under `out` with default [`Options`].
pub fn generate(spec: &Spec, out: &Path) -> Result<Summary, Error> {
    generate_with(spec, out, &Options::default())
}

/// Generates `spec`'s dataset under `out`.
///
/// Each file is written to `.<name>.partial` next to its final path and
/// renamed into place when complete. Files already present with the planned
/// size are kept as they are (their contents are not re-read); files of any
/// other size are regenerated. `dataset.json` is written last, also by
/// rename. An `out` whose `dataset.json` records a different spec is refused
/// with [`Error::SpecMismatch`] rather than mixed with the new files.
///
/// A `versions` spec builds each pair in memory once (on `threads` workers)
/// and writes its `old/` and `new/` files the same way.
pub fn generate_with(spec: &Spec, out: &Path, options: &Options) -> Result<Summary, Error> {
    let start = Instant::now();
    if spec.preset == Preset::Versions {
        // Planning builds the pairs: do it once, while writing.
        spec.file_count()?;
        check_existing(spec, out)?;
        fs::create_dir_all(out).map_err(Error::io("creating directory", out))?;
        let (files, written) = write_pairs(spec, out, options)?;
        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            spec: spec.clone(),
            file_count: files.len(),
            total_bytes: files.iter().map(|f| f.size).sum(),
            files,
        };
        return finish(spec, out, options, manifest, written, start);
    }
    let manifest = Manifest::new(spec)?;
    check_existing(spec, out)?;
    fs::create_dir_all(out).map_err(Error::io("creating directory", out))?;

    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(manifest.files.len())
    .max(1);
    let written = run_workers(spec, out, options, &manifest.files, threads)?;
    finish(spec, out, options, manifest, written, start)
}

/// Refuses an `out` whose `dataset.json` records another spec.
fn check_existing(spec: &Spec, out: &Path) -> Result<(), Error> {
    let manifest_path = out.join(MANIFEST_NAME);
    match read_manifest(out) {
        Ok(old) if old.spec != *spec => {
            return Err(Error::SpecMismatch {
                path: manifest_path,
                found: old.spec.preset.to_string(),
            });
        }
        Ok(_) => {}
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Syncs, writes `dataset.json` and sums up.
fn finish(
    spec: &Spec,
    out: &Path,
    options: &Options,
    manifest: Manifest,
    written: Vec<usize>,
    start: Instant,
) -> Result<Summary, Error> {
    let manifest_path = out.join(MANIFEST_NAME);
    if options.fsync {
        sync_dirs(out, &manifest.files)?;
    }
    let mut json = serde_json::to_vec_pretty(&manifest).map_err(|source| Error::Manifest {
        path: manifest_path.clone(),
        source,
    })?;
    json.push(b'\n');
    write_atomically(&manifest_path, options.fsync, |f| f.write_all(&json))?;
    if options.fsync {
        sync_dir(out)?;
    }

    Ok(Summary {
        preset: spec.preset,
        files: manifest.file_count,
        total_bytes: manifest.total_bytes,
        written_files: written.len(),
        written_bytes: written.iter().map(|&i| manifest.files[i].size).sum(),
        skipped_files: manifest.file_count - written.len(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Writes the files on `threads` workers; returns the indices it wrote.
fn run_workers(
    spec: &Spec,
    out: &Path,
    options: &Options,
    files: &[FileSpec],
    threads: usize,
) -> Result<Vec<usize>, Error> {
    // Biggest first, so one huge file does not end up running alone at the end.
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(files[i].size));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Vec<Result<Vec<usize>, Error>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut buf = Vec::new();
                    let mut written = Vec::new();
                    while !failed.load(Ordering::Relaxed) {
                        let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            break;
                        };
                        let file = &files[i];
                        match write_file(spec, out, file, options.fsync, &mut buf) {
                            Ok(wrote) => {
                                if wrote {
                                    written.push(i);
                                }
                                if let Some(p) = &options.progress {
                                    p.fetch_add(file.size, Ordering::Relaxed);
                                }
                            }
                            Err(e) => {
                                failed.store(true, Ordering::Relaxed);
                                return Err(e);
                            }
                        }
                    }
                    Ok(written)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut written = Vec::new();
    for r in results {
        written.extend(r?);
    }
    written.sort_unstable();
    Ok(written)
}

/// Builds and writes the pairs of a `versions` spec on `options.threads`
/// workers; returns the plan and the indices of the files it wrote.
fn write_pairs(
    spec: &Spec,
    out: &Path,
    options: &Options,
) -> Result<(Vec<FileSpec>, Vec<usize>), Error> {
    let pairs = spec.file_count()?;
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(pairs)
    .max(1);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    type Built = Vec<(usize, [FileSpec; 2], [bool; 2])>;
    let results: Vec<Result<Built, Error>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut built = Vec::new();
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= pairs {
                            break;
                        }
                        let pair = crate::versions::version_pair(spec, i);
                        let files = crate::versions::pair_files(&pair);
                        let mut wrote = [false; 2];
                        for (k, bytes) in [&pair.old, &pair.new].into_iter().enumerate() {
                            match write_bytes(out, &files[k], options.fsync, bytes) {
                                Ok(w) => wrote[k] = w,
                                Err(e) => {
                                    failed.store(true, Ordering::Relaxed);
                                    return Err(e);
                                }
                            }
                            if let Some(p) = &options.progress {
                                p.fetch_add(files[k].size, Ordering::Relaxed);
                            }
                        }
                        built.push((i, files, wrote));
                    }
                    Ok(built)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut built = Vec::new();
    for r in results {
        built.extend(r?);
    }
    built.sort_by_key(|b| b.0);
    let mut files = Vec::with_capacity(2 * pairs);
    let mut written = Vec::new();
    for (_, pair_files, wrote) in built {
        for (f, w) in pair_files.into_iter().zip(wrote) {
            if w {
                written.push(files.len());
            }
            files.push(f);
        }
    }
    Ok((files, written))
}

/// Writes `bytes` as `file` unless a file of that size is already there;
/// returns whether it wrote.
fn write_bytes(out: &Path, file: &FileSpec, fsync: bool, bytes: &[u8]) -> Result<bool, Error> {
    let path = out.join(&file.rel_path);
    match fs::metadata(&path) {
        Ok(m) if m.is_file() && m.len() == file.size => return Ok(false),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("inspecting", &path)(e)),
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(Error::io("creating directory", dir))?;
    }
    write_atomically(&path, fsync, |f| f.write_all(bytes))?;
    Ok(true)
}

/// Writes one file unless it is already there with the right size; returns
/// whether it wrote.
fn write_file(
    spec: &Spec,
    out: &Path,
    file: &FileSpec,
    fsync: bool,
    buf: &mut Vec<u8>,
) -> Result<bool, Error> {
    let path = out.join(&file.rel_path);
    match fs::metadata(&path) {
        Ok(m) if m.is_file() && m.len() == file.size => return Ok(false),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("inspecting", &path)(e)),
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(Error::io("creating directory", dir))?;
    }
    let want = usize::try_from(file.size)
        .unwrap_or(usize::MAX)
        .min(WRITE_BUF);
    if buf.len() < want {
        buf.resize(want, 0);
    }
    let mut stream = ContentStream::new(file.seed, spec.content);
    write_atomically(&path, fsync, |f| {
        let mut left = file.size;
        while left > 0 {
            let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
            stream.fill(&mut buf[..n]);
            f.write_all(&buf[..n])?;
            left -= n as u64;
        }
        Ok(())
    })?;
    Ok(true)
}

/// Runs `write` on `.<name>.partial` beside `path`, then renames it to `path`.
/// On failure the partial file is removed.
fn write_atomically(
    path: &Path,
    fsync: bool,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), Error> {
    let tmp = partial_path(path);
    let result = File::create(&tmp)
        .and_then(|mut f| {
            write(&mut f)?;
            if fsync { f.sync_all() } else { Ok(()) }
        })
        .map_err(Error::io("writing", &tmp))
        .and_then(|()| fs::rename(&tmp, path).map_err(Error::io("renaming into", path)));
    if result.is_err() {
        // Best effort: the original error is the one worth reporting.
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(".partial");
    path.with_file_name(name)
}

fn sync_dirs(out: &Path, files: &[FileSpec]) -> Result<(), Error> {
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| Path::new(&f.rel_path).parent().map(|d| out.join(d)))
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs.iter().try_for_each(|d| sync_dir(d))
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("syncing directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Content, fill, fill_content};

    fn tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    out.push((
                        path.strip_prefix(root).unwrap().to_owned(),
                        fs::read(&path).unwrap(),
                    ));
                }
            }
        }
        let mut out = Vec::new();
        walk(root, root, &mut out);
        out.sort();
        out
    }

    fn small_spec() -> Spec {
        // 10 files of 16 KiB..2 MiB (~1.5 MiB in all: debug-build ChaCha is slow).
        Spec::new(Preset::ManySmall).count(10)
    }

    #[test]
    fn same_spec_gives_byte_identical_trees() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let spec = small_spec();
        let sa = generate(&spec, a.path()).unwrap();
        let sb = generate_with(
            &spec,
            b.path(),
            &Options {
                threads: 1,
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!((sa.files, sa.written_files, sa.skipped_files), (10, 10, 0));
        assert_eq!(sa.total_bytes, sb.total_bytes);
        assert_eq!(sa.written_bytes, sa.total_bytes);
        let (ta, tb) = (tree(a.path()), tree(b.path()));
        assert_eq!(ta.len(), 11, "10 bundles and dataset.json");
        assert!(ta == tb, "trees differ");

        let other = tempfile::tempdir().unwrap();
        generate(&small_spec().seed(99), other.path()).unwrap();
        assert!(tree(other.path()) != ta);
    }

    #[test]
    fn files_match_plan_fill_and_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let spec = Spec::new(Preset::Mixed).count(3).size(100_003);
        generate(&spec, dir.path()).unwrap();
        let manifest = read_manifest(dir.path()).unwrap();
        assert_eq!(manifest, Manifest::new(&spec).unwrap());
        assert_eq!(manifest.total_bytes, 300_009);
        for f in plan(&spec).unwrap() {
            let mut want = vec![0; f.size as usize];
            fill(f.seed, &mut want);
            assert!(
                fs::read(dir.path().join(&f.rel_path)).unwrap() == want,
                "{}",
                f.rel_path
            );
        }
    }

    #[test]
    fn text_content_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let spec = Spec::new(Preset::Large).scale(1e-5).content(Content::Text);
        generate(&spec, dir.path()).unwrap();
        for f in plan(&spec).unwrap() {
            let mut want = vec![0; f.size as usize];
            fill_content(f.seed, Content::Text, &mut want);
            assert!(fs::read(dir.path().join(&f.rel_path)).unwrap() == want);
        }
        assert_eq!(
            read_manifest(dir.path()).unwrap().spec.content,
            Content::Text
        );
    }

    #[test]
    fn resume_skips_good_files_and_fixes_wrong_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let spec = Spec::new(Preset::ManySmall).count(6).size(5000);
        generate(&spec, dir.path()).unwrap();
        let before = tree(dir.path());
        let files = plan(&spec).unwrap();

        // A truncated file, a missing one, and a leftover partial file.
        let truncated = dir.path().join(&files[1].rel_path);
        File::options()
            .write(true)
            .open(&truncated)
            .unwrap()
            .set_len(10)
            .unwrap();
        fs::remove_file(dir.path().join(&files[4].rel_path)).unwrap();
        let stale = partial_path(&dir.path().join(&files[2].rel_path));
        fs::write(&stale, b"junk").unwrap();

        let progress = Arc::new(AtomicU64::new(0));
        let options = Options {
            progress: Some(progress.clone()),
            ..Options::default()
        };
        let s = generate_with(&spec, dir.path(), &options).unwrap();
        assert_eq!(
            (s.written_files, s.skipped_files, s.written_bytes),
            (2, 4, 10_000)
        );
        assert_eq!(progress.load(Ordering::Relaxed), 30_000);
        fs::remove_file(&stale).unwrap();
        assert!(tree(dir.path()) == before);

        // Same size but other bytes: kept as is (contents are not re-read).
        fs::write(&truncated, vec![0u8; 5000]).unwrap();
        let s = generate(&spec, dir.path()).unwrap();
        assert_eq!((s.written_files, s.skipped_files), (0, 6));
    }

    #[test]
    fn refuses_to_mix_datasets_and_grows_same_spec() {
        let dir = tempfile::tempdir().unwrap();
        let spec = Spec::new(Preset::Mixed).count(2).size(10);
        generate(&spec, dir.path()).unwrap();
        let err = generate(&spec.clone().count(3), dir.path()).unwrap_err();
        assert!(matches!(err, Error::SpecMismatch { .. }), "{err}");
        assert!(err.to_string().contains("dataset.json"));

        // A run interrupted before dataset.json was written resumes fine.
        fs::remove_file(dir.path().join(MANIFEST_NAME)).unwrap();
        let s = generate(&spec.clone().count(3), dir.path()).unwrap();
        assert_eq!((s.written_files, s.skipped_files), (1, 2));
    }

    #[test]
    fn no_partial_files_left_and_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let spec = Spec::new(Preset::Large).count(2).size(3);
        // A directory where a file should go cannot be replaced.
        let blocker = dir.path().join(&plan(&spec).unwrap()[1].rel_path);
        fs::create_dir_all(&blocker).unwrap();
        let err = generate_with(
            &spec,
            dir.path(),
            &Options {
                threads: 1,
                fsync: true,
                ..Options::default()
            },
        )
        .unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(err.to_string().contains("firmware"), "{err}");
        let names: Vec<String> = fs::read_dir(dir.path().join("firmware"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".partial")), "{names:?}");
        assert!(!dir.path().join(MANIFEST_NAME).exists());
    }

    #[test]
    fn empty_dataset() {
        let dir = tempfile::tempdir().unwrap();
        let s = generate(
            &Spec::new(Preset::Mixed).count(0),
            dir.path().join("new").as_path(),
        )
        .unwrap();
        assert_eq!((s.files, s.total_bytes), (0, 0));
        assert!(dir.path().join("new").join(MANIFEST_NAME).is_file());
    }
}
