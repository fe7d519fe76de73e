//! `otaseal seal`: seal files and directory trees (recursively) into
//! `<name>.payload` + `<name>.manifest` each, plus a signed batch index.
//! The work is done by [`otaseal::batch`]; this module parses arguments,
//! shows progress on a terminal and reports.

use super::args::{self, json_path, print_json};
use super::{CliError, CliResult, ExitCode};
use otaseal::batch::{
    self, Batch, BatchOptions, BatchReport, BundleReport, BundleStatus, DeltaBase, DeltaOutputs,
    Durability, Progress,
};
use otaseal::cipher::Backend;
use otaseal::delta::Effort;
use otaseal::format::batch_index::ShardId;
use otaseal::format::{AppId, Channel, ChunkSize, VersionLabel};
use otaseal::seal::{Lifetime, SealOptions};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Bundle files and directories to seal. Directories are walked
    /// recursively (dot-files and `*.partial` skipped); bundles are named by
    /// their path relative to the directory, files by their file name.
    #[arg(required_unless_present = "from_list")]
    inputs: Vec<PathBuf>,
    /// Read more input paths from FILE, one per line (`-` for stdin).
    #[arg(long, value_name = "FILE|-")]
    from_list: Option<PathBuf>,
    /// Signing key: a secret key file (encrypted or not), `env:NAME`, `-`
    /// (standard input), or an RFC 7512 `pkcs11:` URI naming a key in a
    /// token. Secret key text is never taken inline.
    #[arg(long, value_name = "FILE|URI")]
    signing_key: String,
    /// Certificate of the signing key, then its issuers (leaf first); repeatable.
    /// Manifests carry the chain so devices that pin the root can verify them.
    #[arg(long = "cert", value_name = "FILE")]
    certs: Vec<PathBuf>,
    /// Audit log recording each signature and wrap; a suspended key refuses
    /// to sign (default: $OTASEAL_AUDIT_LOG).
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    #[command(flatten)]
    unlock: args::Unlock,
    /// Device public key (file or `otaseal1:` text); repeat for each recipient.
    #[arg(long = "recipient", value_name = "KEY", required = true)]
    recipients: Vec<String>,
    /// Application id, e.g. com.example.maps.
    #[arg(long)]
    app: AppId,
    /// Release channel.
    #[arg(long, default_value = "stable")]
    channel: Channel,
    /// Human version label, e.g. 4.2.0.
    #[arg(long)]
    version: VersionLabel,
    /// Release sequence number; devices refuse anything not above what they run.
    #[arg(long)]
    sequence: u64,
    /// Payload chunk size: a power of two from 16K to 16M.
    #[arg(long, default_value = "256K", value_parser = args::parse_size)]
    chunk_size: u64,
    /// Devices refuse the manifest this long after it is sealed: seconds,
    /// or a number with a unit s, m, h, d, w or y (`90d`), or `never` for no
    /// expiry [default: 90d]. Zero is refused.
    #[arg(long, value_name = "DURATION|never", value_parser = parse_lifetime)]
    expires_in: Option<Lifetime>,
    /// Directory for payloads, manifests and the batch index.
    #[arg(long, short, default_value = ".")]
    out_dir: PathBuf,
    /// Worker threads (default: one per CPU).
    #[arg(long, short = 'j', default_value_t = 0, hide_default_value = true)]
    threads: usize,
    /// Seal only shard K of N (1-based); the split depends on bundle names only.
    #[arg(long, value_name = "K/N")]
    shard: Option<ShardId>,
    /// Skip bundles whose existing outputs verify; seal the rest.
    #[arg(long)]
    resume: bool,
    /// Where to write the signed batch index
    /// [default: OUT_DIR/batch.index, or OUT_DIR/batch-shard-K-of-N.index].
    #[arg(long, value_name = "FILE")]
    index: Option<PathBuf>,
    /// When outputs are flushed: `batch` = one syncfs before the index is
    /// written; `bundle` = fsync every file; `none` = never.
    #[arg(long, value_name = "WHEN", default_value = "batch", value_parser = parse_sync)]
    sync: Durability,
    /// AES-256-GCM implementation: aws-lc, ring or aes-gcm (pure Rust), as
    /// compiled in; all produce the same bytes.
    #[arg(long, value_name = "NAME", value_parser = parse_backend, default_value = Backend::default().name())]
    backend: Backend,
    /// No progress bar and no summary line (errors are still printed).
    #[arg(long, short)]
    quiet: bool,
    /// Print a line per bundle.
    #[arg(long, short)]
    verbose: bool,
    /// Print one JSON summary object instead of text.
    #[arg(long)]
    json: bool,
    /// Seal every full bundle as a zstd encoding of its input (manifest
    /// version 2); devices decompress while installing.
    #[arg(long)]
    compress: bool,
    /// A previous release to build deltas from: `SEQ:VERSION=DIR` (DIR holds
    /// its plaintext bundles under the same names as the inputs), or a FILE
    /// of `SEQ VERSION DIR` lines. Repeatable; a bundle without a file of its
    /// name in DIR gets no delta from it. The full bundle is always sealed.
    #[arg(long = "delta-from", value_name = "SEQ:VERSION=DIR|FILE")]
    delta_from: Vec<String>,
    /// Keep a delta only if its encoded size is below FRACTION of the full
    /// bundle's payload size.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.5)]
    delta_threshold: f64,
    /// `fast` (zstd patch and a fast bsdiff, the smaller kept) or `best`
    /// (zstd at its highest level, and one bsdiff compressed with zstd and
    /// with xz; the smallest kept): build time against delta size.
    #[arg(long, value_name = "EFFORT", default_value = "fast", value_parser = parse_effort)]
    delta_effort: Effort,
}

fn parse_effort(s: &str) -> Result<Effort, String> {
    match s {
        "fast" => Ok(Effort::Fast),
        "best" => Ok(Effort::Best),
        _ => Err(format!("`{s}`: expected fast or best")),
    }
}

/// `SEQ:VERSION=DIR`, or `None` if `spec` does not have that shape.
fn parse_base_spec(spec: &str) -> Option<CliResult<DeltaBase>> {
    let (head, dir) = spec.split_once('=')?;
    let (seq, version) = head.split_once(':')?;
    let sequence = seq.parse::<u64>().ok()?;
    Some(base(sequence, version, dir, spec))
}

fn base(sequence: u64, version: &str, dir: &str, what: &str) -> CliResult<DeltaBase> {
    let version = version
        .parse()
        .map_err(|e| CliError::usage(format!("--delta-from `{what}`: {e}")))?;
    if dir.is_empty() {
        return Err(CliError::usage(format!(
            "--delta-from `{what}`: no directory"
        )));
    }
    Ok(DeltaBase {
        sequence,
        version,
        dir: PathBuf::from(dir),
    })
}

/// The bases `--delta-from` names: specs, and files of `SEQ VERSION DIR`
/// lines (blank lines and `#` comments skipped; DIR may contain spaces).
fn delta_bases(specs: &[String]) -> CliResult<Vec<DeltaBase>> {
    let mut out = Vec::new();
    for spec in specs {
        if let Some(b) = parse_base_spec(spec) {
            out.push(b?);
            continue;
        }
        let path = Path::new(spec);
        let text = String::from_utf8(otaseal::files::read_capped(
            path,
            "a list of delta bases",
            1 << 20,
        )?)
        .map_err(|_| CliError::usage(format!("{spec}: not UTF-8")))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let what = format!("{spec}:{}", n + 1);
            let mut parts = line.splitn(3, char::is_whitespace);
            let (Some(seq), Some(version), Some(dir)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(CliError::usage(format!(
                    "{what}: expected `SEQ VERSION DIR`"
                )));
            };
            let sequence = seq
                .parse::<u64>()
                .map_err(|_| CliError::usage(format!("{what}: `{seq}` is not a sequence")))?;
            out.push(base(sequence, version, dir.trim(), &what)?);
        }
    }
    Ok(out)
}

fn parse_sync(s: &str) -> Result<Durability, String> {
    match s {
        "batch" => Ok(Durability::Batch),
        "bundle" => Ok(Durability::Bundle),
        "none" => Ok(Durability::None),
        _ => Err(format!("`{s}`: expected batch, bundle or none")),
    }
}

fn parse_backend(s: &str) -> Result<Backend, String> {
    Backend::ALL
        .iter()
        .copied()
        .find(|b| b.name() == s)
        .ok_or_else(|| {
            let names: Vec<_> = Backend::ALL.iter().map(|b| b.name()).collect();
            format!("`{s}`: this build has {}", names.join(", "))
        })
}

/// What sealing one bundle produced, as `seal --json` and `demo --json`
/// report it.
#[derive(Debug)]
pub(crate) struct Sealed {
    pub input: PathBuf,
    pub payload: PathBuf,
    pub manifest: PathBuf,
    pub root: [u8; 32],
    pub bytes: u64,
    pub manifest_bytes: u64,
    pub seconds: f64,
    /// Existing outputs verified and were kept (`--resume`).
    pub verified: bool,
    /// `zstd` with `--compress`; `None` otherwise.
    pub encoding: Option<otaseal::delta::Encoding>,
    /// The length the payload decodes to.
    pub result_bytes: u64,
    pub deltas: Vec<DeltaOutputs>,
    /// Deltas built but not kept (not below the threshold): base sequence
    /// and encoded length.
    pub too_large: Vec<(u64, u64)>,
}

impl Sealed {
    /// `None` for a bundle that failed.
    pub(crate) fn from_report(r: &BundleReport) -> Option<Self> {
        let (o, verified) = match &r.status {
            BundleStatus::Sealed(o) => (o, false),
            BundleStatus::Verified(o) => (o, true),
            _ => return None,
        };
        Some(Self {
            input: r.input.path.clone(),
            payload: o.payload.clone(),
            manifest: o.manifest.clone(),
            root: o.entry.root,
            bytes: o.entry.plaintext_len,
            manifest_bytes: u64::from(o.entry.manifest_len),
            seconds: r.seconds,
            verified,
            encoding: o.entry.encoding,
            result_bytes: o.entry.result_len,
            deltas: o.deltas.clone(),
            too_large: o
                .too_large
                .iter()
                .map(|t| (t.base_sequence, t.encoded_len))
                .collect(),
        })
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "input": json_path(&self.input),
            "payload": json_path(&self.payload),
            "manifest": json_path(&self.manifest),
            "root": hex::encode(self.root),
            "bytes": self.bytes,
            "manifest_bytes": self.manifest_bytes,
            "seconds": self.seconds,
            "resumed": self.verified,
            "encoding": self.encoding.map_or("none", |e| e.name()),
            "result_bytes": self.result_bytes,
            "deltas": self.deltas.iter().map(|d| serde_json::json!({
                "base_sequence": d.entry.base_sequence,
                "base_version": d.entry.base_version.as_str(),
                "encoding": d.entry.encoding.name(),
                "payload": json_path(&d.payload),
                "manifest": json_path(&d.manifest),
                "root": hex::encode(d.entry.root),
                "bytes": d.entry.payload_len,
                "manifest_bytes": d.entry.manifest_len,
                "resumed": d.verified,
            })).collect::<Vec<_>>(),
            "deltas_not_kept": self.too_large.iter().map(|(seq, len)| serde_json::json!({
                "base_sequence": seq,
                "bytes": len,
            })).collect::<Vec<_>>(),
        })
    }
}

/// A progress bar on a terminal, counting bytes and bundles.
struct Bar {
    bar: indicatif::ProgressBar,
    total: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
}

impl Bar {
    fn new() -> Self {
        let bar = indicatif::ProgressBar::with_draw_target(
            None,
            indicatif::ProgressDrawTarget::stderr_with_hz(8),
        );
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Self {
            bar,
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    fn message(&self) {
        let failed = self.failed.load(Ordering::Relaxed);
        let mut m = format!(
            "{}/{} bundles",
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed)
        );
        if failed > 0 {
            m.push_str(&format!(", {failed} failed"));
        }
        self.bar.set_message(m);
    }
}

impl Progress for Bar {
    fn planned(&self, bundles: u64, bytes: u64) {
        self.total.store(bundles, Ordering::Relaxed);
        self.bar.set_length(bytes);
        self.message();
    }

    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn bundle_done(&self, report: &BundleReport) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if let BundleStatus::Failed(e) = &report.status {
            if !matches!(e, otaseal::Error::Interrupted) {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.bar
                    .suspend(|| eprintln!("otaseal: {}: {e}", report.input.path.display()));
            }
        }
        self.message();
    }
}

/// Prints per-bundle lines (and failures) when there is no bar.
struct Lines {
    verbose: bool,
}

impl Progress for Lines {
    fn bundle_done(&self, r: &BundleReport) {
        match &r.status {
            BundleStatus::Failed(otaseal::Error::Interrupted) => {}
            BundleStatus::Failed(e) => eprintln!("otaseal: {}: {e}", r.input.path.display()),
            BundleStatus::Sealed(o) if self.verbose => {
                println!(
                    "sealed {} -> {} (root {})",
                    r.input.path.display(),
                    o.payload.display(),
                    hex::encode(o.entry.root)
                );
                for d in &o.deltas {
                    println!(
                        "  delta from #{} -> {} ({} B, {})",
                        d.entry.base_sequence,
                        d.payload.display(),
                        d.entry.payload_len,
                        d.entry.encoding
                    );
                }
            }
            BundleStatus::Verified(o) if self.verbose => println!(
                "kept {} -> {} (outputs verify)",
                r.input.path.display(),
                o.payload.display()
            ),
            _ => {}
        }
    }
}

/// Installs SIGINT/SIGTERM handling: the first signal sets `flag` (the batch
/// stops cleanly); a second one exits at once with 130.
fn install_signal_handlers(flag: &Arc<AtomicBool>) -> CliResult<()> {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        for sig in [SIGINT, SIGTERM] {
            signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(flag))
                .and_then(|_| signal_hook::flag::register(sig, Arc::clone(flag)))
                .map_err(|e| CliError::usage(format!("cannot install a signal handler: {e}")))?;
        }
    }
    #[cfg(not(unix))]
    let _ = flag;
    Ok(())
}

/// The paths listed in `path` (`-` is stdin), at most
/// [`batch::MAX_LIST_BYTES`] of them.
fn read_list(path: &Path) -> CliResult<Vec<PathBuf>> {
    let list = if path == Path::new("-") {
        batch::read_list(std::io::stdin().lock(), path, batch::MAX_LIST_BYTES)
    } else {
        std::fs::File::open(path)
            .map_err(|e| otaseal::Error::io(path, e))
            .and_then(|f| batch::read_list(f, path, batch::MAX_LIST_BYTES))
    };
    Ok(list?)
}

pub(crate) fn run(a: Args) -> CliResult {
    let (signer, verifier) = args::signer(&a.signing_key, &a.unlock, a.audit_log.as_deref())?;
    let recipients = a
        .recipients
        .iter()
        .map(|r| args::recipient(r))
        .collect::<CliResult<Vec<_>>>()?;
    // Resume checks existing outputs against the bare key (`verifier`): a
    // chain, if any, vouches for that same key.
    let created = otaseal::clock::Clock::System.now();
    let terms = super::trust_args::SealTerms {
        app: &a.app,
        channel: &a.channel,
        created,
    };
    let signer = super::trust_args::seal_signer(
        signer,
        &a.certs,
        a.audit_log.as_deref(),
        &recipients,
        terms,
    )?;
    let chunk_size =
        ChunkSize::from_bytes(a.chunk_size).map_err(|e| CliError::usage(e.to_string()))?;
    let mut opts = SealOptions::new(a.app, a.channel, a.version, a.sequence);
    opts.chunk_size = chunk_size;
    opts.backend = a.backend;
    opts.created = created;
    opts.expires = a
        .expires_in
        .unwrap_or(Lifetime::DEFAULT)
        .expires(opts.created);

    let mut roots = a.inputs.clone();
    if let Some(list) = &a.from_list {
        roots.extend(read_list(list)?);
    }
    let shard = a.shard.unwrap_or(ShardId::WHOLE);
    let discovery = batch::discover(&roots, Some(&a.out_dir))?;
    for r in &discovery.rejected {
        eprintln!("otaseal: {}", r.error);
    }
    let inputs = batch::filter_shard(discovery.inputs, shard);

    let mut bo = BatchOptions::new(opts, &a.out_dir);
    bo.threads = a.threads;
    bo.resume = a.resume;
    bo.durability = a.sync;
    bo.shard = shard;
    bo.index_path = a.index.clone();
    bo.encode.compress = a.compress;
    bo.encode.bases = delta_bases(&a.delta_from)?;
    bo.encode.threshold = a.delta_threshold;
    bo.encode.effort = a.delta_effort;
    bo.encode
        .check(bo.seal.sequence)
        .map_err(|e| CliError::usage(e.to_string()))?;

    let cancel = Arc::new(AtomicBool::new(false));
    install_signal_handlers(&cancel)?;
    let bar = (!a.quiet && std::io::stderr().is_terminal()).then(Bar::new);
    let lines = Lines {
        verbose: a.verbose && !a.json,
    };
    let progress: &dyn Progress = match &bar {
        Some(b) => b,
        None => &lines,
    };
    let b = Batch::new(bo, &recipients, signer.as_ref())
        .with_verifier(verifier)
        .with_cancel(&cancel)
        .with_progress(progress);
    let start = Instant::now();
    let report = b.run(&inputs)?;
    if let Some(bar) = &bar {
        bar.bar.finish_and_clear();
    }
    let seconds = start.elapsed().as_secs_f64();
    let rejected: Vec<(PathBuf, String)> = discovery
        .rejected
        .into_iter()
        .map(|r| (r.path, r.error.to_string()))
        .collect();
    if a.json {
        print_json(&summary_json(&report, &rejected, seconds, shard));
    } else if !a.quiet {
        println!("{}", summary_line(&report, rejected.len(), seconds));
    }
    let failed = report.failed() + rejected.len();
    Ok(if report.interrupted {
        eprintln!(
            "otaseal: interrupted: {} bundles not sealed; finished ones are kept (rerun with --resume)",
            report.interrupted_bundles()
        );
        ExitCode::Interrupted
    } else if failed == 0 {
        ExitCode::Ok
    } else if report.sealed() + report.verified() == 0 {
        first_failure_code(&report).unwrap_or(ExitCode::Io)
    } else {
        ExitCode::Partial
    })
}

fn first_failure_code(report: &BatchReport) -> Option<ExitCode> {
    report.bundles.iter().find_map(|b| match &b.status {
        BundleStatus::Failed(e) => Some(super::exit::code_for(e.kind())),
        _ => None,
    })
}

fn rate(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / 1e6 / seconds.max(1e-9)
}

fn summary_line(r: &BatchReport, rejected: usize, seconds: f64) -> String {
    let bytes = r.sealed_bytes();
    let mut s = format!(
        "sealed {} bundles ({} B) in {:.3} s: {:.0} MB/s, {:.0} bundles/s, {} threads",
        r.sealed(),
        bytes,
        seconds,
        rate(bytes, seconds),
        r.sealed() as f64 / seconds.max(1e-9),
        r.threads,
    );
    if r.deltas() > 0 {
        s.push_str(&format!("; {} deltas", r.deltas()));
    }
    if r.verified() > 0 {
        s.push_str(&format!("; {} kept (outputs verify)", r.verified()));
    }
    let failed = r.failed() + rejected;
    if failed > 0 {
        s.push_str(&format!("; {failed} failed"));
    }
    s.push_str(&format!("; index {}", r.index_path.display()));
    s
}

fn summary_json(
    r: &BatchReport,
    rejected: &[(PathBuf, String)],
    seconds: f64,
    shard: ShardId,
) -> serde_json::Value {
    let bundles: Vec<_> = r
        .bundles
        .iter()
        .filter_map(Sealed::from_report)
        .map(|s| s.to_json())
        .collect();
    let mut failures: Vec<_> = rejected
        .iter()
        .map(|(p, e)| serde_json::json!({ "input": json_path(p), "error": e }))
        .collect();
    failures.extend(r.bundles.iter().filter_map(|b| match &b.status {
        BundleStatus::Failed(e) if !matches!(e, otaseal::Error::Interrupted) => {
            Some(serde_json::json!({ "input": json_path(&b.input.path), "error": e.to_string() }))
        }
        _ => None,
    }));
    let bytes = r.sealed_bytes();
    serde_json::json!({
        "bundles": bundles,
        "sealed": r.sealed(),
        "resumed": r.verified(),
        "failed": failures.len(),
        "interrupted": r.interrupted,
        "not_started": r.interrupted_bundles(),
        "failures": failures,
        "bytes": bytes,
        "seconds": seconds,
        "mb_per_s": rate(bytes, seconds),
        "bundles_per_s": r.sealed() as f64 / seconds.max(1e-9),
        "threads": r.threads,
        "shard": shard.to_string(),
        "index": json_path(&r.index_path),
        "index_entries": r.index.entries.len(),
        "index_version": if r.index.needs_v2() { 2 } else { 1 },
        "deltas": r.deltas(),
    })
}

/// `never`, or a duration in whole seconds (never zero).
fn parse_lifetime(text: &str) -> Result<Lifetime, String> {
    if text == "never" {
        return Ok(Lifetime::Never);
    }
    args::parse_seconds(text)
        .ok()
        .and_then(Lifetime::from_secs)
        .ok_or_else(|| format!("`{text}`: expected `never` or a duration such as 90d (never zero)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_parse_with_units_and_refuse_zero() {
        let secs = |n| Lifetime::from_secs(n).unwrap();
        assert_eq!(parse_lifetime("never"), Ok(Lifetime::Never));
        assert_eq!(parse_lifetime("3600"), Ok(secs(3600)));
        assert_eq!(parse_lifetime("12h"), Ok(secs(43_200)));
        assert_eq!(parse_lifetime("90d"), Ok(Lifetime::DEFAULT));
        for bad in [
            "0",
            "0d",
            "",
            "d",
            "-1",
            "1.5d",
            "500ms",
            "99999999999999999999w",
        ] {
            assert!(parse_lifetime(bad).is_err(), "{bad:?} parsed");
        }
    }
}
