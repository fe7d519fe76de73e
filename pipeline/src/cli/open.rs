//! `otaseal open`: verify everything, then decrypt to a file that appears
//! only once every chunk has verified and decrypted.

use super::args::{self, print_json};
use super::{CliResult, ExitCode};
use otaseal::files::{self, AtomicFile};
use otaseal::keys::RecipientSecretKey;
use otaseal::open::{TrustAnchor, verify_manifest};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The manifest file.
    manifest: PathBuf,
    /// The payload file.
    #[arg(long, value_name = "FILE")]
    payload: PathBuf,
    #[command(flatten)]
    trust: super::trust_args::TrustArgs,
    /// This device's secret key file (encrypted or not).
    #[arg(long, value_name = "FILE")]
    device_key: String,
    #[command(flatten)]
    unlock: args::Unlock,
    /// Where to write the plaintext (mode 0600).
    #[arg(long, short, value_name = "FILE")]
    out: PathBuf,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Verifies and decrypts `payload` into `out`; returns the plaintext length.
/// On any failure `out` is not created (the partial file is deleted).
pub(crate) fn open_files(
    manifest: &Path,
    payload: &Path,
    trust: &TrustAnchor,
    device: &RecipientSecretKey,
    out: &Path,
) -> CliResult<(u64, [u8; 32])> {
    let bytes = std::fs::read(manifest).map_err(|e| otaseal::Error::Io {
        path: manifest.to_owned(),
        source: e,
    })?;
    let verified = verify_manifest(&bytes, trust)?;
    let payload = files::read_input(payload)?;
    verified.verify_payload(&payload)?;
    let opener = verified.opener(device)?;
    let mut file = AtomicFile::create(out)?;
    let mut buf = vec![0u8; verified.manifest().chunk_size.bytes() as usize];
    for index in 0..verified.chunk_count() {
        let r = verified.chunk_range(index)?;
        let plain = &mut buf[..(r.end - r.start) as usize];
        opener.decrypt_chunk(index, &payload[r.start as usize..r.end as usize], plain)?;
        file.write_all(plain)?;
    }
    buf.fill(0);
    file.commit(0o600)?;
    Ok((verified.payload_len(), verified.manifest().root))
}

pub(crate) fn run(a: Args) -> CliResult {
    let trust = a.trust.anchor()?;
    let device = args::device_key(&a.device_key, &a.unlock)?;
    let (len, root) = open_files(&a.manifest, &a.payload, &trust, &device, &a.out)?;
    if a.json {
        print_json(&serde_json::json!({
            "manifest": a.manifest, "payload": a.payload, "out": a.out,
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
