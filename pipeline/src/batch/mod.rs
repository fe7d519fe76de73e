//! Sealing many bundles at memory speed.
//!
//! ```text
//! paths -> discover (stable order, shard filter) -> one rayon pool:
//!   for every bundle (in parallel), for every chunk (in parallel):
//!     input chunk (mmap) -> AES-256-GCM out of place -> this worker's
//!     page-aligned buffer (small inputs: pread into it, encrypt in place)
//!     -> BLAKE3 subtree CV while hot -> pwrite at the same offset in the
//!        temporary payload file
//!   per bundle: merge CVs, wrap the data key, sign -> write the manifest
//!               temporary, remove an old manifest, rename payload, then
//!               rename the manifest (its presence = complete and matching)
//! -> durability point (syncfs) -> signed batch index, written last.
//! ```
//!
//! Work is scheduled at chunk granularity across all bundles: the outer
//! parallel iterator hands out bundles (largest first, so workers write
//! different files), each bundle's chunks form a nested
//! parallel iterator, and rayon's work stealing lets idle workers take chunks
//! of a large bundle or whole small bundles alike. A payload is exactly as
//! long as its plaintext (tags live in the manifest), so chunk `i` lands at
//! the same offset it was read from, in any order.
//!
//! Memory: anonymous memory is one chunk buffer per worker plus each open
//! bundle's chunk table (48 bytes per chunk); inputs are file mappings and
//! outputs go straight to the page cache, so neither grows with bundle size.
//!
//! Deltas and compression ([`EncodeOptions`], `seal --compress
//! --delta-from`): the full bundle is always sealed (with `compress`, as a
//! zstd encoding of its input); then, for every base release that has a
//! file of the bundle's name, a patch is built and, if it is below the
//! threshold, sealed as its own bundle `<name>.from-<SEQ>` through the same
//! sealer and commit order (the patch is sealed from memory). A bundle's
//! deltas are built in parallel with each other and with other bundles on
//! the same pool; one bundle's input, bases and patches are in memory (or
//! mapped) at a time per worker. A bundle is listed in the index only with
//! all its deltas: if one fails or the run is cancelled meanwhile, the
//! bundle fails (its finished files stay, for `--resume` to keep).
//!
//! Failures are per bundle: one unreadable input is reported and counted and
//! the rest of the batch goes on. Cancellation (SIGINT) discards bundles in
//! flight (their temporaries are deleted), keeps finished ones, and the index
//! lists what finished.

pub mod discover;
pub mod index;
mod io;
pub mod lock;
mod resume;

pub use discover::{
    Discovered, Discovery, MAX_LIST_BYTES, Rejected, discover, filter_shard, read_list, shard_of,
};
pub use index::{MergeOptions, check_bundles, merge, read_index_file, sign_index, verify_index};
pub use lock::OutDirLock;

use crate::delta::Effort;
use crate::error::{Error, Result};
use crate::format::VersionLabel;
use crate::format::batch_index::{BatchIndex, DeltaEntry, IndexEntry, Release, ShardId};
use crate::format::encoding::Encoding;
use crate::keys::{self, RecipientPublicKey, Signer, VerifyingKey};
use crate::seal::{Base, BundleSealer, EncodedAs, SealOptions, SealedManifest};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Where a batch commits durability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// No per-file `fsync`: writeback of each payload chunk is started (not
    /// awaited) as soon as it is written, so the disk works while sealing
    /// goes on. After the last bundle, one
    /// `syncfs(2)` on the output file system, then the index is written and `fsync`ed with its
    /// directory. Everything the index lists is durable once it exists; a
    /// crash before that may leave bundles whose bytes never reached the
    /// disk, which `--resume` detects (it re-verifies every payload) and
    /// redoes.
    #[default]
    Batch,
    /// `fsync` every payload and manifest before its rename, and the
    /// directory after it: each bundle is durable as soon as it is reported.
    Bundle,
    /// Never flush (tmpfs, benchmarks, or outputs that are copied on anyway).
    None,
}

/// An older release to build deltas from (`seal --delta-from`): its
/// plaintext bundles under `dir`, by the same names as this batch's inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaBase {
    /// The sequence the older release was published as.
    pub sequence: u64,
    pub version: VersionLabel,
    pub dir: PathBuf,
}

/// Compressed full bundles and deltas (FORMAT.md §17, §15.8).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EncodeOptions {
    /// Seal every full bundle as a zstd encoding of its input
    /// (`--compress`); an empty input is sealed as is.
    pub compress: bool,
    /// Build one delta per base that has a bundle of the same name.
    pub bases: Vec<DeltaBase>,
    /// A delta is kept only if its encoded length is below this fraction
    /// of the full bundle's payload length (default 0.5).
    pub threshold: f64,
    pub effort: Effort,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            compress: false,
            bases: Vec::new(),
            threshold: 0.5,
            effort: Effort::Fast,
        }
    }
}

impl EncodeOptions {
    /// Refuses a threshold outside `(0, 1]`, more than 255 bases, two bases
    /// with the same sequence, and a base not older than `sequence`.
    pub fn check(&self, sequence: u64) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidRequest(m));
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return bad(format!(
                "delta threshold {}: must be in (0, 1]",
                self.threshold
            ));
        }
        if self.bases.len() > crate::format::batch_index::MAX_DELTAS {
            return bad(format!("{} delta bases, at most 255", self.bases.len()));
        }
        for (i, b) in self.bases.iter().enumerate() {
            if b.sequence >= sequence {
                return bad(format!(
                    "delta base sequence {} is not older than this release's {sequence}",
                    b.sequence
                ));
            }
            if self.bases[..i].iter().any(|o| o.sequence == b.sequence) {
                return bad(format!("delta base sequence {} given twice", b.sequence));
            }
        }
        Ok(())
    }
}

/// How to run a batch.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    pub seal: SealOptions,
    /// Outputs go to `<out_dir>/<name>.payload` and `<name>.manifest`.
    pub out_dir: PathBuf,
    /// Worker threads; 0 means one per available CPU.
    pub threads: usize,
    /// Skip bundles whose existing outputs verify (needs [`Batch::with_verifier`]).
    pub resume: bool,
    pub durability: Durability,
    /// The part of the batch this run seals (already applied to the inputs
    /// by the caller via [`filter_shard`]); recorded in the index.
    pub shard: ShardId,
    /// Where to write the index; `None` writes [`default_index_name`] in
    /// `out_dir`.
    pub index_path: Option<PathBuf>,
    /// Compression and deltas; the default seals plain full bundles only.
    pub encode: EncodeOptions,
}

impl BatchOptions {
    pub fn new(seal: SealOptions, out_dir: impl Into<PathBuf>) -> Self {
        Self {
            seal,
            out_dir: out_dir.into(),
            threads: 0,
            resume: false,
            durability: Durability::default(),
            shard: ShardId::WHOLE,
            index_path: None,
            encode: EncodeOptions::default(),
        }
    }

    pub fn index_path(&self) -> PathBuf {
        self.index_path
            .clone()
            .unwrap_or_else(|| self.out_dir.join(default_index_name(self.shard)))
    }
}

/// `batch.index`, or `batch-shard-K-of-N.index` for a shard.
pub fn default_index_name(shard: ShardId) -> String {
    if shard.is_whole() {
        "batch.index".to_owned()
    } else {
        format!("batch-shard-{}-of-{}.index", shard.index(), shard.count())
    }
}

/// Receives progress from worker threads. Calls are frequent (one per
/// chunk) and concurrent: keep them cheap.
pub trait Progress: Sync {
    /// The run is about to start: this many bundles and bytes.
    fn planned(&self, _bundles: u64, _bytes: u64) {}
    /// `bytes` more input bytes are sealed (or verified, on resume).
    fn advance(&self, _bytes: u64) {}
    /// A bundle is finished, skipped or failed.
    fn bundle_done(&self, _report: &BundleReport) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// What happened to one bundle.
#[derive(Debug)]
pub struct BundleReport {
    pub input: Discovered,
    pub status: BundleStatus,
    /// Wall-clock seconds spent on it.
    pub seconds: f64,
}

#[derive(Debug)]
#[non_exhaustive]
pub enum BundleStatus {
    /// Sealed by this run.
    Sealed(BundleOutputs),
    /// Existing outputs verified (`--resume`); nothing was written.
    Verified(BundleOutputs),
    /// Not sealed; the error says why. `Error::Interrupted` when the run
    /// was cancelled before this bundle finished.
    Failed(Error),
}

impl BundleStatus {
    pub fn outputs(&self) -> Option<&BundleOutputs> {
        match self {
            Self::Sealed(o) | Self::Verified(o) => Some(o),
            Self::Failed(_) => None,
        }
    }
}

/// The files of one sealed bundle and its index entry.
#[derive(Debug, Clone)]
pub struct BundleOutputs {
    pub payload: PathBuf,
    pub manifest: PathBuf,
    /// Lists the deltas too (`entry.deltas`).
    pub entry: IndexEntry,
    /// The deltas kept, by ascending base sequence.
    pub deltas: Vec<DeltaOutputs>,
    /// Deltas built but not kept: not below the threshold.
    pub too_large: Vec<SkippedDelta>,
}

/// The files of one delta.
#[derive(Debug, Clone)]
pub struct DeltaOutputs {
    /// `<name>.from-<SEQ>.payload`
    pub payload: PathBuf,
    pub manifest: PathBuf,
    pub entry: DeltaEntry,
    /// Existing outputs verified (`--resume`); nothing was written.
    pub verified: bool,
}

/// A delta that was built but not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedDelta {
    pub base_sequence: u64,
    /// Its encoded length.
    pub encoded_len: u64,
    /// The payload length of the full bundle it was compared with.
    pub full_len: u64,
}

/// The result of [`Batch::run`].
#[derive(Debug)]
pub struct BatchReport {
    /// One report per input, in input (name) order.
    pub bundles: Vec<BundleReport>,
    /// Where the signed index was written.
    pub index_path: PathBuf,
    pub index: BatchIndex,
    /// Whether the run was cancelled before every bundle finished.
    pub interrupted: bool,
    pub seconds: f64,
    pub threads: usize,
}

impl BatchReport {
    pub fn sealed(&self) -> usize {
        self.count(|s| matches!(s, BundleStatus::Sealed(_)))
    }

    pub fn verified(&self) -> usize {
        self.count(|s| matches!(s, BundleStatus::Verified(_)))
    }

    pub fn failed(&self) -> usize {
        self.count(|s| matches!(s, BundleStatus::Failed(e) if !matches!(e, Error::Interrupted)))
    }

    pub fn interrupted_bundles(&self) -> usize {
        self.count(|s| matches!(s, BundleStatus::Failed(Error::Interrupted)))
    }

    /// Plaintext bytes sealed by this run (not counting verified bundles):
    /// full bundles' and deltas' payloads.
    pub fn sealed_bytes(&self) -> u64 {
        self.bundles
            .iter()
            .filter_map(|b| b.status.outputs().map(|o| (&b.status, o)))
            .map(|(s, o)| {
                let full = match s {
                    BundleStatus::Sealed(_) => o.entry.plaintext_len,
                    _ => 0,
                };
                let deltas: u64 = o
                    .deltas
                    .iter()
                    .filter(|d| !d.verified)
                    .map(|d| d.entry.payload_len)
                    .sum();
                full + deltas
            })
            .sum()
    }

    /// Deltas listed in the index (sealed or kept).
    pub fn deltas(&self) -> usize {
        self.bundles
            .iter()
            .filter_map(|b| b.status.outputs())
            .map(|o| o.deltas.len())
            .sum()
    }

    fn count(&self, f: impl Fn(&BundleStatus) -> bool) -> usize {
        self.bundles.iter().filter(|b| f(&b.status)).count()
    }
}

/// Tests: see `Batch::commit_hook`.
#[cfg(test)]
type CommitHook<'a> = dyn Fn(&Path, &Path) + Sync + 'a;

/// A batch: options, keys, and the hooks a front end provides.
pub struct Batch<'a> {
    opts: BatchOptions,
    recipients: &'a [RecipientPublicKey],
    signer: &'a dyn Signer,
    verifier: Option<VerifyingKey>,
    cancel: Option<&'a AtomicBool>,
    progress: &'a dyn Progress,
    /// Worker threads, started on first use and kept for later runs (their
    /// chunk buffers are freed when the batch is dropped).
    pool: std::sync::OnceLock<rayon::ThreadPool>,
    /// Tests: called with (payload, manifest) after every step that changes
    /// a bundle's files on disk, to check what a kill at that instant leaves.
    #[cfg(test)]
    commit_hook: Option<&'a CommitHook<'a>>,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("opts", &self.opts)
            .field("recipients", &self.recipients.len())
            .field("signer", &self.signer.key_id())
            .finish_non_exhaustive()
    }
}

impl<'a> Batch<'a> {
    pub fn new(
        opts: BatchOptions,
        recipients: &'a [RecipientPublicKey],
        signer: &'a dyn Signer,
    ) -> Self {
        Self {
            opts,
            recipients,
            signer,
            verifier: None,
            cancel: None,
            progress: &NoProgress,
            pool: std::sync::OnceLock::new(),
            #[cfg(test)]
            commit_hook: None,
        }
    }

    /// Calls the test hook, if any (nothing outside tests).
    fn committed_step(&self, _payload: &Path, _manifest: &Path) {
        #[cfg(test)]
        if let Some(hook) = self.commit_hook {
            hook(_payload, _manifest);
        }
    }

    /// The public key of `signer`, used by `resume` to check the signature
    /// of existing manifests. Resume needs it; without it every bundle is
    /// sealed again.
    pub fn with_verifier(mut self, key: VerifyingKey) -> Self {
        self.verifier = Some(key);
        self
    }

    /// A flag that, once set (e.g. by a SIGINT handler), stops the run:
    /// bundles not started are not started, bundles in flight are discarded.
    pub fn with_cancel(mut self, flag: &'a AtomicBool) -> Self {
        self.cancel = Some(flag);
        self
    }

    pub fn with_progress(mut self, progress: &'a dyn Progress) -> Self {
        self.progress = progress;
        self
    }

    pub fn options(&self) -> &BatchOptions {
        &self.opts
    }

    fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }

    fn threads(&self) -> usize {
        match self.opts.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// Seals `inputs` (already discovered and shard-filtered), then makes
    /// them durable and writes the signed batch index.
    pub fn run(&self, inputs: &[Discovered]) -> Result<BatchReport> {
        if self.recipients.is_empty() {
            return Err(Error::InvalidRequest(
                "a batch needs at least one recipient".into(),
            ));
        }
        let start = Instant::now();
        // Held until the index is written.
        let (bundles, _lock) = self.seal_all_locked(inputs)?;
        let interrupted = self.cancelled();
        let outputs: Vec<&BundleOutputs> =
            bundles.iter().filter_map(|b| b.status.outputs()).collect();
        if self.opts.durability == Durability::Batch && !outputs.is_empty() {
            let files: Vec<&Path> = outputs
                .iter()
                .flat_map(|o| {
                    [o.payload.as_path(), o.manifest.as_path()]
                        .into_iter()
                        .chain(
                            o.deltas
                                .iter()
                                .flat_map(|d| [d.payload.as_path(), d.manifest.as_path()]),
                        )
                })
                .collect();
            io::sync_filesystem(&self.opts.out_dir, &files)?;
        }
        let release = Release {
            app_id: self.opts.seal.app_id.clone(),
            channel: self.opts.seal.channel.clone(),
            version: self.opts.seal.version.clone(),
            sequence: self.opts.seal.sequence,
        };
        let entries = outputs.iter().map(|o| o.entry.clone()).collect();
        let index = sign_index(
            BatchIndex::new(
                release,
                self.opts.shard,
                entries,
                self.signer.algorithm(),
                self.signer.key_id(),
            )?,
            self.signer,
        )?;
        let index_path = self.opts.index_path();
        index::write_index(
            &index_path,
            &index,
            self.opts.durability != Durability::None,
        )?;
        Ok(BatchReport {
            bundles,
            index_path,
            index,
            interrupted,
            seconds: start.elapsed().as_secs_f64(),
            threads: self.threads(),
        })
    }

    /// Seals (or, with resume, verifies) every input, in parallel; no index.
    /// Two inputs with the same name are refused before anything is written
    /// (their outputs would collide), and so is a run into an output
    /// directory that another run of the same shard holds ([`OutDirLock`]).
    pub fn seal_all(&self, inputs: &[Discovered]) -> Result<Vec<BundleReport>> {
        self.seal_all_locked(inputs).map(|(reports, _lock)| reports)
    }

    /// [`seal_all`](Self::seal_all), returning the output directory's lock
    /// for the caller to hold until its index is written.
    fn seal_all_locked(&self, inputs: &[Discovered]) -> Result<(Vec<BundleReport>, OutDirLock)> {
        let mut names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::InvalidRequest(format!(
                "two inputs are named {}: their outputs would collide",
                w[0]
            )));
        }
        self.opts.encode.check(self.opts.seal.sequence)?;
        // `a.from-1` would be both an input's and a delta's output name.
        for name in &names {
            for b in &self.opts.encode.bases {
                let delta = format!("{name}.from-{}", b.sequence);
                if names.binary_search(&delta.as_str()).is_ok() {
                    return Err(Error::InvalidRequest(format!(
                        "input {delta} would collide with the delta of {name} from sequence {}",
                        b.sequence
                    )));
                }
            }
        }
        std::fs::create_dir_all(&self.opts.out_dir)
            .map_err(|e| Error::io(&self.opts.out_dir, e))?;
        // Before anything in the directory is touched, temporaries included.
        let lock = OutDirLock::acquire(&self.opts.out_dir, self.opts.shard)?;
        if self.opts.resume {
            // A run that was killed (not stopped) left its temporaries.
            let outputs: Vec<PathBuf> = inputs
                .iter()
                .flat_map(|i| {
                    let deltas = self
                        .opts
                        .encode
                        .bases
                        .iter()
                        .flat_map(|b| self.delta_paths(i, b.sequence));
                    self.output_paths(i).into_iter().chain(deltas)
                })
                .chain([self.opts.index_path()])
                .collect();
            io::remove_stale_temporaries(outputs.iter().map(PathBuf::as_path));
        }
        let pool = self.pool()?;
        // A file that cannot be stat'ed counts as empty here; sealing it
        // reports the error. Each delta to build counts the input's size
        // again (the progress of a delta is its input, not its patch).
        let (sizes, planned): (Vec<u64>, Vec<u64>) = pool.install(|| {
            inputs
                .par_iter()
                .map(|i| {
                    let len = std::fs::metadata(&i.path).map_or(0, |m| m.len());
                    let bases = self
                        .opts
                        .encode
                        .bases
                        .iter()
                        .filter(|b| b.dir.join(i.name.as_str()).is_file())
                        .count() as u64;
                    (len, len.saturating_mul(1 + bases))
                })
                .unzip()
        });
        self.progress
            .planned(inputs.len() as u64, planned.iter().sum());
        let mut reports: Vec<(usize, BundleReport)> = pool.install(|| {
            largest_first(&sizes)
                .into_par_iter()
                .with_max_len(1)
                .map(|i| {
                    let input = &inputs[i];
                    let t = Instant::now();
                    let status = self.one(input);
                    let report = BundleReport {
                        input: input.clone(),
                        status,
                        seconds: t.elapsed().as_secs_f64(),
                    };
                    self.progress.bundle_done(&report);
                    (i, report)
                })
                .collect()
        });
        reports.sort_unstable_by_key(|(i, _)| *i);
        Ok((reports.into_iter().map(|(_, r)| r).collect(), lock))
    }

    fn pool(&self) -> Result<&rayon::ThreadPool> {
        if let Some(p) = self.pool.get() {
            return Ok(p);
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads())
            .thread_name(|i| format!("otaseal-seal-{i}"))
            .exit_handler(|_| io::release_chunk_buf())
            .build()
            .map_err(|e| Error::InvalidRequest(format!("cannot start worker threads: {e}")))?;
        Ok(self.pool.get_or_init(|| pool))
    }

    /// `<out_dir>/<name>.payload` and `<out_dir>/<name>.manifest`.
    fn output_paths(&self, input: &Discovered) -> [PathBuf; 2] {
        ["payload", "manifest"].map(|ext| {
            self.opts
                .out_dir
                .join(format!("{}.{ext}", input.name.as_str()))
        })
    }

    /// `<out_dir>/<name>.from-<SEQ>.payload` and `.manifest`: the delta
    /// from base `sequence`.
    fn delta_paths(&self, input: &Discovered, sequence: u64) -> [PathBuf; 2] {
        ["payload", "manifest"].map(|ext| {
            self.opts
                .out_dir
                .join(format!("{}.from-{sequence}.{ext}", input.name.as_str()))
        })
    }

    fn one(&self, input: &Discovered) -> BundleStatus {
        if self.cancelled() {
            return BundleStatus::Failed(Error::Interrupted);
        }
        let [payload, manifest] = self.output_paths(input);
        let kept = if self.opts.resume
            && let Some(key) = &self.verifier
        {
            resume::existing_outputs(self, key, input, &payload, &manifest)
        } else {
            None
        };
        let verified = kept.is_some();
        let entry = match kept {
            Some(entry) => entry,
            None => match self.seal_one(input, &payload, &manifest) {
                Ok(entry) => entry,
                Err(e) => return BundleStatus::Failed(e),
            },
        };
        let mut outputs = BundleOutputs {
            payload,
            manifest,
            entry,
            deltas: Vec::new(),
            too_large: Vec::new(),
        };
        if !self.opts.encode.bases.is_empty() {
            match self.deltas(input, &outputs.entry) {
                Ok((deltas, too_large)) => {
                    outputs.entry.deltas = deltas.iter().map(|d| d.entry.clone()).collect();
                    outputs.deltas = deltas;
                    outputs.too_large = too_large;
                }
                // The full bundle's files stay (resume keeps them); the
                // index does not list a bundle without its deltas.
                Err(e) => return BundleStatus::Failed(e),
            }
        }
        if verified {
            BundleStatus::Verified(outputs)
        } else {
            BundleStatus::Sealed(outputs)
        }
    }

    /// Builds (or, with resume, keeps) the deltas of one bundle, from every
    /// base in parallel; `full` is its full bundle's entry.
    fn deltas(
        &self,
        input: &Discovered,
        full: &IndexEntry,
    ) -> Result<(Vec<DeltaOutputs>, Vec<SkippedDelta>)> {
        // Bases without a bundle of this name give no delta (and cost no read).
        let bases: Vec<(&DeltaBase, PathBuf)> = self
            .opts
            .encode
            .bases
            .iter()
            .map(|b| (b, b.dir.join(input.name.as_str())))
            .filter(|(_, p)| std::fs::symlink_metadata(p).is_ok())
            .collect();
        if bases.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let src = io::Source::open(&input.path)?;
        if src.len() != full.result_len {
            return Err(Error::io(
                &input.path,
                std::io::Error::other("input changed while it was being sealed"),
            ));
        }
        let new = src.bytes(&input.path)?;
        let results: Vec<Result<std::result::Result<DeltaOutputs, SkippedDelta>>> = bases
            .par_iter()
            .with_max_len(1)
            .map(|(base, path)| {
                let r = self.one_delta(input, full, base, path, &new);
                self.progress.advance(new.len() as u64);
                r
            })
            .collect();
        let mut kept = Vec::new();
        let mut too_large = Vec::new();
        for r in results {
            match r? {
                Ok(d) => kept.push(d),
                Err(s) => too_large.push(s),
            }
        }
        kept.sort_by_key(|d| d.entry.base_sequence);
        Ok((kept, too_large))
    }

    /// One delta: kept (resume), sealed, or built and found too large (its
    /// old outputs, if any, are removed).
    fn one_delta(
        &self,
        input: &Discovered,
        full: &IndexEntry,
        base: &DeltaBase,
        base_path: &Path,
        new: &[u8],
    ) -> Result<std::result::Result<DeltaOutputs, SkippedDelta>> {
        if self.cancelled() {
            return Err(Error::Interrupted);
        }
        let [payload, manifest] = self.delta_paths(input, base.sequence);
        let full_len = full.plaintext_len;
        let below = |len: u64| (len as f64) < self.opts.encode.threshold * full_len as f64;
        let entry = |enc: Encoding, sealed: &resume::Kept| DeltaEntry {
            base_sequence: base.sequence,
            base_version: base.version.clone(),
            encoding: enc,
            payload_len: sealed.payload_len,
            bundle_id: sealed.bundle_id,
            root: sealed.root,
            manifest_len: sealed.manifest_len,
            manifest_hash: sealed.manifest_hash,
        };
        if self.opts.resume
            && let Some(key) = &self.verifier
            && let Some((enc, kept)) =
                resume::existing_delta(self, key, input, base, base_path, &payload, &manifest)
            && below(kept.payload_len)
        {
            return Ok(Ok(DeltaOutputs {
                entry: entry(enc, &kept),
                payload,
                manifest,
                verified: true,
            }));
        }
        let base_src = io::Source::open(base_path)?;
        let base_bytes = base_src.bytes(base_path)?;
        let encoded = crate::delta::encode(Some(&base_bytes), new, self.opts.encode.effort)
            .map_err(|e| Error::io(&input.path, std::io::Error::other(e.to_string())))?;
        if !below(encoded.bytes.len() as u64) || new.is_empty() {
            // An old delta from this base is not listed: remove it, manifest
            // first (a payload without a manifest is not a bundle).
            io::remove_if_present(&manifest)?;
            io::remove_if_present(&payload)?;
            return Ok(Err(SkippedDelta {
                base_sequence: base.sequence,
                encoded_len: encoded.bytes.len() as u64,
                full_len,
            }));
        }
        let what = EncodedAs {
            encoding: encoded.encoding,
            result: new,
            base: Some(Base {
                sequence: base.sequence,
                version: base.version.clone(),
                bytes: &base_bytes,
            }),
        };
        let enc = encoded.encoding;
        let src = io::Source::memory(encoded.bytes);
        let sealed = self.seal_source(&src, &input.path, Some(what), false, &payload, &manifest)?;
        let kept = resume::Kept::of(&sealed)?;
        Ok(Ok(DeltaOutputs {
            entry: entry(enc, &kept),
            payload,
            manifest,
            verified: false,
        }))
    }

    /// Seals the full bundle: the input itself, or (`compress`) its zstd
    /// encoding.
    fn seal_one(&self, input: &Discovered, payload: &Path, manifest: &Path) -> Result<IndexEntry> {
        let src = io::Source::open(&input.path)?;
        if self.opts.encode.compress && src.len() > 0 {
            let data = src.bytes(&input.path)?;
            let encoded = crate::delta::encode(None, &data, self.opts.encode.effort)
                .map_err(|e| Error::io(&input.path, std::io::Error::other(e.to_string())))?;
            let what = EncodedAs {
                encoding: encoded.encoding,
                result: &data,
                base: None,
            };
            let enc = encoded.encoding;
            let zsrc = io::Source::memory(encoded.bytes);
            let sealed =
                self.seal_source(&zsrc, &input.path, Some(what), false, payload, manifest)?;
            self.progress.advance(data.len() as u64);
            let k = resume::Kept::of(&sealed)?;
            let mut e = IndexEntry::full(
                input.name.clone(),
                k.payload_len,
                k.bundle_id,
                k.root,
                k.manifest_len,
                k.manifest_hash,
            );
            e.encoding = Some(enc);
            e.result_len = data.len() as u64;
            return Ok(e);
        }
        let sealed = self.seal_source(&src, &input.path, None, true, payload, manifest)?;
        let k = resume::Kept::of(&sealed)?;
        Ok(IndexEntry::full(
            input.name.clone(),
            k.payload_len,
            k.bundle_id,
            k.root,
            k.manifest_len,
            k.manifest_hash,
        ))
    }

    /// Seals `src` (read from `input_path`, named in errors) into `payload`
    /// and `manifest`, committed in the batch's order; `encoded` marks it as
    /// an encoding (FORMAT.md §17). With `count`, progress advances per
    /// chunk sealed.
    fn seal_source(
        &self,
        src: &io::Source,
        input_path: &Path,
        encoded: Option<EncodedAs<'_>>,
        count: bool,
        payload: &Path,
        manifest: &Path,
    ) -> Result<SealedManifest> {
        let mut rng = keys::os_rng();
        let mut sealer = BundleSealer::new(&self.opts.seal, src.len(), &mut rng)?;
        if let Some(what) = encoded {
            sealer.encoded_as(what)?;
        }

        if let Some(dir) = payload.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let out = io::create_output(payload)?;
        let early_writeback = self.opts.durability == Durability::Batch;
        let chunk = |i: u32| -> Result<crate::format::ChunkEntry> {
            if self.cancelled() {
                return Err(Error::Interrupted);
            }
            let range = sealer.chunk_range(i);
            let len = (range.end - range.start) as usize;
            let entry = io::with_chunk_buf(len, |buf| {
                let entry = match src.mapped(range.start, len, input_path)? {
                    Some(plaintext) => sealer.seal_chunk_into(i, plaintext, buf)?,
                    None => {
                        src.read_at(range.start, buf, input_path)?;
                        sealer.seal_chunk(i, buf)?
                    }
                };
                io::write_all_at(out.file(), buf, range.start)
                    .map_err(|e| Error::io(out.path(), e))?;
                if early_writeback {
                    io::start_writeback(out.file(), range.start, len as u64);
                }
                Ok::<_, Error>(entry)
            })?;
            if count {
                self.progress.advance(len as u64);
            }
            Ok(entry)
        };
        let chunks: Vec<_> = if sealer.chunk_count() == 1 {
            vec![chunk(0)?]
        } else {
            (0..sealer.chunk_count())
                .into_par_iter()
                .with_max_len(1)
                .map(chunk)
                .collect::<Result<_>>()?
        };
        let sealed = sealer.finish(chunks, self.recipients, self.signer, &mut rng)?;
        if self.cancelled() {
            return Err(Error::Interrupted);
        }
        let sync = self.opts.durability == Durability::Bundle;
        // Commit order, so that a kill at any instant leaves either no
        // manifest or one that matches its payload: the new manifest is
        // written (under its temporary name) first; an old manifest is
        // removed before the new payload replaces the old one; the new
        // manifest is renamed into place last. With per-bundle durability
        // the removal is made durable before the payload's rename, so that
        // a power loss cannot undo it while keeping the rename. (With
        // `Batch`, a power loss before the index may tear any bundle, and
        // resume re-verifies them all: a directory fsync per replaced
        // bundle would buy nothing there.)
        let mut m = io::create_output(manifest)?;
        m.write_all(&sealed.bytes)?;
        if io::remove_if_present(manifest)? && sync {
            io::sync_dir(io::parent_dir(manifest))?;
        }
        self.committed_step(payload, manifest);
        out.rename_into_place(sync)?;
        self.committed_step(payload, manifest);
        m.rename_into_place(sync)?;
        self.committed_step(payload, manifest);
        if sync {
            io::sync_dir(io::parent_dir(manifest))?;
        }
        Ok(sealed)
    }
}

/// Seals one file into `out_dir`, named by its file name as `discover`
/// names a file argument, without a batch index: each output is flushed
/// before it is renamed ([`Durability::Bundle`]), and the commit order is
/// the batch's, so a manifest on disk always has its complete, matching
/// payload. The report's status is [`BundleStatus::Sealed`]; a failure is
/// the error.
pub fn seal_file(
    input: &Path,
    out_dir: &Path,
    opts: &SealOptions,
    recipients: &[RecipientPublicKey],
    signer: &dyn Signer,
) -> Result<BundleReport> {
    let name = input
        .file_name()
        .ok_or_else(|| Error::InvalidRequest(format!("{}: not a file name", input.display())))?;
    let one = Discovered {
        path: input.to_owned(),
        name: discover::bundle_name(Path::new(name))?,
    };
    let mut bo = BatchOptions::new(opts.clone(), out_dir);
    bo.durability = Durability::Bundle;
    let mut reports = Batch::new(bo, recipients, signer).seal_all(std::slice::from_ref(&one))?;
    let report = reports.pop().expect("one input, one report");
    match report.status {
        BundleStatus::Failed(e) => Err(e),
        _ => Ok(report),
    }
}

/// The order bundles are started in: largest first (ties in input order).
///
/// Every `write` into a file holds that file's inode lock, so two workers
/// sealing chunks of the same bundle take turns at the page cache while two
/// workers on different bundles do not. Starting the largest bundles first
/// keeps workers on separate bundles for as long as possible and leaves
/// only small bundles, whose chunks are few, to share at the end (the
/// longest-processing-time-first rule; it also shortens the tail).
fn largest_first(sizes: &[u64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KemId, RecipientSecretKey, SigningKey};
    use std::sync::Mutex;

    /// A kill -9 at any instant while a changed input is sealed again over
    /// its old outputs must leave either no manifest or a manifest whose
    /// root is its payload's hash: never the old manifest beside the new
    /// payload. The hook runs after every step that changes the files.
    #[test]
    fn resealing_never_shows_a_manifest_beside_another_payload() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("a.bin");
        let out = dir.path().join("out");
        let mut rng = keys::os_rng();
        let signer = SigningKey::generate(&mut rng);
        let dev = RecipientSecretKey::generate(KemId::X25519, &mut rng);
        let recipients = [dev.public_key().clone()];
        let opts = SealOptions::new(
            "com.example.app".parse().unwrap(),
            "stable".parse().unwrap(),
            "1".parse().unwrap(),
            1,
        );
        let violations = Mutex::new(Vec::new());
        let steps = Mutex::new(0);
        let check = |payload: &Path, manifest: &Path| {
            *steps.lock().unwrap() += 1;
            let Ok(m) = std::fs::read(manifest) else {
                return; // no manifest: the bundle is simply absent
            };
            let m = crate::format::Manifest::parse(&m).unwrap().0;
            let p = std::fs::read(payload).unwrap_or_default();
            if m.root != *blake3::hash(&p).as_bytes() {
                violations.lock().unwrap().push(format!(
                    "step {}: manifest root does not match the payload",
                    steps.lock().unwrap()
                ));
            }
        };
        for (durability, len) in [
            (Durability::None, 1000),
            (Durability::None, 70_000),
            (Durability::Bundle, 5),
            (Durability::Batch, 300_000),
        ] {
            std::fs::write(&input, vec![len as u8; len]).unwrap();
            let mut bo = BatchOptions::new(opts.clone(), &out);
            bo.durability = durability;
            bo.threads = 1;
            let mut batch = Batch::new(bo, &recipients, &signer);
            batch.commit_hook = Some(&check);
            let d = discover(std::slice::from_ref(&input), Some(&out)).unwrap();
            let r = batch.run(&d.inputs).unwrap();
            assert_eq!(r.sealed(), 1);
        }
        assert!(*steps.lock().unwrap() >= 8, "the hook did not run");
        let v = violations.into_inner().unwrap();
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn a_file_sealed_alone_opens_from_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("fw.img");
        let plain: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        std::fs::write(&input, &plain).unwrap();
        let out = dir.path().join("out");
        let mut rng = keys::os_rng();
        let signer = SigningKey::generate(&mut rng);
        let dev = RecipientSecretKey::generate(KemId::P256, &mut rng);
        let opts = SealOptions::new(
            "com.example.app".parse().unwrap(),
            "stable".parse().unwrap(),
            "1".parse().unwrap(),
            1,
        );
        let to = [dev.public_key().clone()];
        let r = seal_file(&input, &out, &opts, &to, &signer).unwrap();
        let o = r.status.outputs().expect("sealed");
        assert_eq!(o.payload, out.join("fw.img.payload"));
        assert_eq!(o.entry.plaintext_len, plain.len() as u64);
        assert!(o.manifest.is_file());
        // No index for a single file.
        assert!(!out.join(default_index_name(ShardId::WHOLE)).exists());
        let trust = crate::open::TrustAnchor::SigningKey(signer.verifying_key());
        let manifest = crate::open::read_manifest_file(&o.manifest).unwrap();
        let mut s = crate::session::Session::inspect(&manifest, &trust, opts.created).unwrap();
        let opened = dir.path().join("opened");
        crate::open::decrypt_payload_file(&mut s, &o.payload, &dev, &opened, 0).unwrap();
        assert_eq!(std::fs::read(&opened).unwrap(), plain);
        assert!(matches!(
            seal_file(&dir.path().join("missing"), &out, &opts, &to, &signer),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn bundles_start_largest_first_and_ties_keep_input_order() {
        assert_eq!(largest_first(&[5, 9, 0, 9, 7]), [1, 3, 4, 0, 2]);
        assert!(largest_first(&[]).is_empty());
    }
}
