//! `otaseal fetch`: download a sealed payload over HTTP in chunk-aligned
//! `Range` requests, verifying every chunk before it is written, resuming
//! after an interruption, and optionally decrypting the verified result.

use super::args::{self, json_opt_path, json_path, print_json};
use super::policy_args::PolicyArgs;
use super::{CliError, CliResult, ExitCode};
use crate::http::{self, HttpSource, MAX_MANIFEST_BYTES};
use otaseal::fetch::{self, FetchOptions, FetchReport, PartialPayload, TransferLimits};
use otaseal::files;
use otaseal::open::{open_payload_file, verify_payload_file};
use otaseal::session::Session;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How `fetch` ends, in its `--help` (the same codes as README.md).
const EXIT_HELP: &str = "\
Exit codes of fetch:
  0  the payload is complete and verified (and decrypted, with --decrypt-to)
  9  download failed (network, server, slower than --min-rate, --deadline passed);
     the verified chunks are kept: rerun the same command to resume
  3  a chunk failed --max-bad times and the server sent bytes for it that did not
     match the signed manifest: the file served is wrong, retrying it will not help;
     the verified chunks are kept for a rerun against a good copy
  4  malformed manifest, 6  I/O error (or OUT.part is a link or not this user's file),
  8  refused by device policy, 20-22 trust (see `otaseal --help`)";

#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_HELP)]
pub(crate) struct Args {
    /// The manifest: an http(s) URL or a local file.
    #[arg(long, value_name = "URL_OR_FILE")]
    manifest: String,
    /// URL of the payload.
    #[arg(long, value_name = "URL")]
    payload: String,
    #[command(flatten)]
    trust: super::trust_args::TrustArgs,
    /// Where the verified payload goes. `OUT.part` and `OUT.part.record` hold
    /// an interrupted download; rerunning the same command resumes it.
    #[arg(long, short, value_name = "FILE")]
    out: PathBuf,
    /// This device's secret key, to decrypt the payload once it is complete.
    /// A file, `env:NAME` or `-` (standard input); secret key text is never taken inline.
    #[arg(long, value_name = "FILE", requires = "decrypt_to")]
    device_key: Option<String>,
    #[command(flatten)]
    unlock: args::Unlock,
    /// Where to write the decrypted plaintext (mode 0600).
    #[arg(long, value_name = "FILE", requires = "device_key")]
    decrypt_to: Option<PathBuf>,
    /// For a delta bundle: the installed version it applies to; the
    /// decoded bundle goes to --decrypt-to (FORMAT.md §17).
    #[arg(long, value_name = "INSTALLED_FILE", requires = "decrypt_to")]
    base: Option<PathBuf>,
    /// Give up when one chunk has failed this many times.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    max_bad: u32,
    /// Largest span of one range request (adjacent chunks are coalesced).
    #[arg(long, value_name = "SIZE", default_value = "8M", value_parser = args::parse_size)]
    max_request: u64,
    /// Seconds without data before a request counts as failed.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
    /// Pause before the n-th retry of a chunk: n times this many milliseconds (at most 60 s).
    #[arg(long, value_name = "MS", default_value_t = 250)]
    retry_delay_ms: u64,
    /// Abandon a response that brings fewer bytes per second than this,
    /// averaged over --min-rate-window (it is retried like a cut one, and
    /// counts towards --max-bad). 0 disables the check.
    #[arg(long, value_name = "BYTES_PER_SEC", default_value = "1K", value_parser = args::parse_size)]
    min_rate: u64,
    /// The window --min-rate is averaged over, and the grace a response gets
    /// before it is first measured (e.g. 60s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = args::parse_duration)]
    min_rate_window: Duration,
    /// Give up (exit 9, verified chunks kept) when the whole fetch, manifest
    /// included, has taken this long (e.g. 90s, 30m, 2h) [default: no deadline].
    #[arg(long, value_name = "DURATION", value_parser = args::parse_duration)]
    deadline: Option<Duration>,
    /// Check the device policy (see `verify --state`) before downloading.
    #[command(flatten)]
    policy: PolicyArgs,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: Args) -> CliResult {
    // The deadline covers the whole command, manifest download included.
    let limits = TransferLimits {
        min_rate: a.min_rate,
        rate_window: a.min_rate_window,
        deadline: a.deadline.map(|d| Instant::now() + d),
    };
    let trust = a.trust.anchor()?;
    let device = a
        .device_key
        .as_deref()
        .map(|k| args::device_key(k, &a.unlock))
        .transpose()?;
    let agent = http::agent(Duration::from_secs(a.timeout.max(1)));
    let manifest_bytes = if a.manifest.starts_with("http://") || a.manifest.starts_with("https://")
    {
        http::get_bytes(&agent, &a.manifest, MAX_MANIFEST_BYTES, &limits)
            .map_err(otaseal::Error::from)?
    } else {
        files::read_capped(Path::new(&a.manifest), "a manifest", MAX_MANIFEST_BYTES)?
    };
    let mut session = Session::inspect(&manifest_bytes, &trust, a.policy.now())?;
    let verified = session.verified().clone();
    // Expiry (and, with --app/--state, the device policy) before any download.
    a.policy.evaluate(&verified, &trust)?;
    let payload_len = verified.payload_len();
    let started = Instant::now();
    // A rerun after success: a complete, verifying OUT needs no download.
    let done = a.out.is_file() && verify_payload_file(&mut session, &a.out, 0).is_ok();
    if done {
        if let (Some(device), Some(dest)) = (&device, &a.decrypt_to) {
            open_payload_file(&mut session, &a.out, device, a.base.as_deref(), dest, 0)?;
        }
        if a.json {
            print_json(&serde_json::json!({
                "verdict": "ok", "already_complete": true, "out": json_path(&a.out),
                "payload_len": payload_len, "bytes_received": 0, "requests": 0,
                "decrypted_to": json_opt_path(a.decrypt_to.as_ref()),
                "root": hex::encode(verified.manifest().root),
            }));
        } else {
            println!("{} is already complete and verified", a.out.display());
        }
        return Ok(ExitCode::Ok);
    }
    let mut partial = PartialPayload::open(verified.clone(), &a.out)?;
    let resumed = partial.resume_info();
    let mut report = FetchReport::default();
    let opts = FetchOptions {
        max_request_bytes: a.max_request.max(1),
        max_bad: a.max_bad,
        retry_delay: Duration::from_millis(a.retry_delay_ms),
        limits,
    };
    let mut source =
        HttpSource::new(agent, a.payload.clone(), payload_len).with_deadline(limits.deadline);
    let result = fetch::fetch_missing(&mut source, &mut partial, &opts, &mut report);
    let have = partial.bytes_have();
    let summary = serde_json::json!({
        "payload_len": payload_len,
        "chunks": verified.chunk_count(),
        "chunks_reused": resumed.chunks_reused,
        "bytes_reused": resumed.bytes_reused,
        "chunks_discarded_on_resume": resumed.chunks_discarded,
        "chunks_recovered_on_resume": resumed.chunks_recovered,
        "requests": report.requests,
        "bytes_received": report.bytes_received,
        "chunks_fetched": report.chunks_fetched,
        "bytes_fetched": report.bytes_fetched,
        "bad_chunks": report.bad_chunks,
        "failed_requests": report.failed_requests,
        "whole_responses": report.whole_responses,
        "bytes_verified": have,
        "seconds": started.elapsed().as_secs_f64(),
    });
    if let Err(e) = result {
        let e = CliError::from(e);
        if a.json {
            let mut j = summary;
            j["verdict"] = serde_json::json!("failed");
            j["error"] = serde_json::json!(e.message());
            j["exit_code"] = serde_json::json!(e.code() as u8);
            print_json(&j);
            return Ok(e.code());
        }
        eprintln!(
            "otaseal: {have} of {payload_len} bytes verified and kept in {}",
            partial.data_path().display()
        );
        return Err(e);
    }
    let out = partial.finish()?;
    if let (Some(device), Some(dest)) = (&device, &a.decrypt_to) {
        open_payload_file(&mut session, &out, device, a.base.as_deref(), dest, 0)?;
    }
    if a.json {
        let mut j = summary;
        j["verdict"] = serde_json::json!("ok");
        j["out"] = json_path(&out);
        j["decrypted_to"] = json_opt_path(a.decrypt_to.as_ref());
        j["root"] = serde_json::json!(hex::encode(verified.manifest().root));
        print_json(&j);
    } else {
        println!(
            "fetched {} -> {} ({payload_len} bytes): {} bytes downloaded in {} requests, {} bytes reused from an earlier run, {} bad chunks discarded",
            a.payload,
            out.display(),
            report.bytes_received,
            report.requests,
            resumed.bytes_reused,
            report.bad_chunks
        );
        if let Some(dest) = &a.decrypt_to {
            println!("  decrypted to {}", dest.display());
        }
    }
    Ok(ExitCode::Ok)
}
