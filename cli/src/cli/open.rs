//! `otaseal open`: verify everything, then decrypt to a file that appears
//! only once every chunk has verified and decrypted.

use super::args::{self, json_path, print_json};
use super::{CliResult, ExitCode};
use otaseal::open::{open_payload_file, read_manifest_file};
use otaseal::session::{Session, SessionOptions};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    target: OpenTarget,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    fresh: super::policy_args::FreshnessArgs,
    /// Threads verifying and decrypting chunks (default: one per CPU).
    #[arg(long, value_name = "N", default_value_t = 0)]
    threads: usize,
}

/// What to open and with which keys: shared by `open` and `install-check`.
#[derive(Debug, clap::Args)]
pub(crate) struct OpenTarget {
    /// The manifest file.
    pub(crate) manifest: PathBuf,
    /// The payload file.
    #[arg(long, value_name = "FILE")]
    pub(crate) payload: PathBuf,
    #[command(flatten)]
    pub(crate) trust: super::trust_args::TrustArgs,
    /// This device's secret key file (encrypted or not).
    /// A file, `env:NAME` or `-` (standard input); secret key text is never taken inline.
    #[arg(long, value_name = "FILE")]
    pub(crate) device_key: String,
    #[command(flatten)]
    pub(crate) unlock: args::Unlock,
    /// Where to write the plaintext (mode 0600).
    #[arg(long, short, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// For a delta bundle: the installed version it applies to (mapped, and
    /// checked against the signed base before anything is decoded).
    #[arg(long, value_name = "INSTALLED_FILE")]
    pub(crate) base: Option<PathBuf>,
}

pub(crate) fn run(a: Args) -> CliResult {
    let Args {
        target: a,
        json,
        fresh,
        threads,
    } = a;
    let trust = a.trust.anchor()?;
    let device = args::device_key(&a.device_key, &a.unlock)?;
    let manifest = read_manifest_file(&a.manifest)?;
    // The session checks the expiry at creation, unless --ignore-expiry.
    let (now, ignore_expiry) = (fresh.now(), fresh.ignore_expiry);
    let mut session = if ignore_expiry {
        Session::inspect(&manifest, &trust, now)?
    } else {
        Session::new(&manifest, &trust, SessionOptions::new(now))?
    };
    let len = open_payload_file(
        &mut session,
        &a.payload,
        &device,
        a.base.as_deref(),
        &a.out,
        threads,
    )?;
    let root = session.verified().manifest().root;
    if json {
        print_json(&serde_json::json!({
            "manifest": json_path(&a.manifest), "payload": json_path(&a.payload), "out": json_path(&a.out),
            "bytes": len, "root": hex::encode(root), "verdict": "ok",
        }));
    } else {
        println!(
            "opened {} -> {} ({len} bytes)",
            a.payload.display(),
            a.out.display()
        );
    }
    Ok(ExitCode::Ok)
}
