//! `otaseal open`: verify everything, then decrypt to a file that appears
//! only once every chunk has verified and decrypted.

use super::args::{self, json_path, print_json};
use super::{CliResult, ExitCode};
use otaseal::files::{self, AtomicFile};
use otaseal::keys::RecipientSecretKey;
use otaseal::open::{TrustAnchor, VerifiedManifest, verify_manifest};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    target: OpenTarget,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    fresh: super::policy_args::FreshnessArgs,
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
}

/// Reads a manifest file and verifies it against `trust`.
pub(crate) fn read_verified(manifest: &Path, trust: &TrustAnchor) -> CliResult<VerifiedManifest> {
    let bytes = files::read_capped(manifest, "manifest", otaseal::format::manifest::MAX_LEN)?;
    Ok(verify_manifest(&bytes, trust)?)
}

/// Verifies the whole payload, then decrypts it into `out`, which appears
/// (mode 0600) only once every chunk has verified and decrypted; on any
/// failure the partial file is deleted.
pub(crate) fn decrypt_to_file(
    verified: &VerifiedManifest,
    payload: &Path,
    device: &RecipientSecretKey,
    out: &Path,
) -> CliResult<()> {
    let payload = files::read_input(payload, verified.payload_len())?;
    verified.verify_payload(&payload)?;
    let opener = verified.opener(device)?;
    let mut file = AtomicFile::create(out)?;
    opener.decrypt_chunks(&payload, |plain| file.write_all(plain))?;
    file.commit(0o600)?;
    Ok(())
}

/// [`read_verified`] then [`decrypt_to_file`]; returns the plaintext length
/// and the payload root.
pub(crate) fn open_files(
    manifest: &Path,
    payload: &Path,
    trust: &TrustAnchor,
    device: &RecipientSecretKey,
    out: &Path,
) -> CliResult<(u64, [u8; 32])> {
    let verified = read_verified(manifest, trust)?;
    decrypt_to_file(&verified, payload, device, out)?;
    Ok((verified.payload_len(), verified.manifest().root))
}

pub(crate) fn run(a: Args) -> CliResult {
    let Args {
        target: a,
        json,
        fresh,
    } = a;
    let trust = a.trust.anchor()?;
    let device = args::device_key(&a.device_key, &a.unlock)?;
    let verified = read_verified(&a.manifest, &trust)?;
    fresh.check(&verified)?;
    decrypt_to_file(&verified, &a.payload, &device, &a.out)?;
    let (len, root) = (verified.payload_len(), verified.manifest().root);
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
