//! `otaseal seal`: each input file becomes `<name>.payload` and `<name>.manifest`.

use super::args::{self, print_json};
use super::{CliError, CliResult, ExitCode};
use otaseal::files::{self, AtomicFile};
use otaseal::format::{AppId, Channel, ChunkSize, VersionLabel};
use otaseal::keys::{RecipientPublicKey, Signer};
use otaseal::seal::{SealOptions, seal_with_rng, unix_now};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Bundle files to seal.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Signing key: a secret key file (encrypted or not), or an RFC 7512
    /// `pkcs11:` URI naming a key in a token.
    #[arg(long, value_name = "FILE|URI")]
    signing_key: String,
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
    /// Devices refuse the manifest this many seconds after creation.
    #[arg(long, value_name = "SECONDS")]
    expires_in: Option<u64>,
    /// Directory for payloads and manifests.
    #[arg(long, short, default_value = ".")]
    out_dir: PathBuf,
    /// Print one JSON object per run instead of text.
    #[arg(long)]
    json: bool,
}

/// What sealing one bundle produced.
#[derive(Debug)]
pub(crate) struct Sealed {
    pub input: PathBuf,
    pub payload: PathBuf,
    pub manifest: PathBuf,
    pub root: [u8; 32],
    pub bytes: u64,
    pub manifest_bytes: u64,
    pub seconds: f64,
}

impl Sealed {
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "input": self.input,
            "payload": self.payload,
            "manifest": self.manifest,
            "root": hex::encode(self.root),
            "bytes": self.bytes,
            "manifest_bytes": self.manifest_bytes,
            "seconds": self.seconds,
        })
    }
}

/// Seals one file into `out_dir`. The payload is committed first and the
/// manifest last, so a manifest on disk always has its complete payload.
pub(crate) fn seal_file(
    input: &Path,
    out_dir: &Path,
    opts: &SealOptions,
    recipients: &[RecipientPublicKey],
    signer: &dyn Signer,
) -> CliResult<Sealed> {
    let start = Instant::now();
    let data = files::read_input(input)?;
    let sealed = seal_with_rng(
        &data,
        opts,
        recipients,
        signer,
        &mut otaseal::keys::os_rng(),
    )?;
    let name = input
        .file_name()
        .ok_or_else(|| CliError::usage(format!("{}: not a file name", input.display())))?
        .to_string_lossy();
    let payload = out_dir.join(format!("{name}.payload"));
    let manifest = out_dir.join(format!("{name}.manifest"));
    let mut out = AtomicFile::create(&payload)?;
    out.write_all(&sealed.payload)?;
    out.commit(0o644)?;
    files::write_atomic(&manifest, &sealed.manifest_bytes, 0o644)?;
    Ok(Sealed {
        input: input.to_owned(),
        payload,
        manifest,
        root: sealed.manifest.root,
        bytes: data.len() as u64,
        manifest_bytes: sealed.manifest_bytes.len() as u64,
        seconds: start.elapsed().as_secs_f64(),
    })
}

pub(crate) fn run(a: Args) -> CliResult {
    let signer = args::signer(&a.signing_key, &a.unlock)?;
    let recipients = a
        .recipients
        .iter()
        .map(|r| args::recipient(r))
        .collect::<CliResult<Vec<_>>>()?;
    let chunk_size =
        ChunkSize::from_bytes(a.chunk_size).map_err(|e| CliError::usage(e.to_string()))?;
    let mut opts = SealOptions::new(a.app, a.channel, a.version, a.sequence);
    opts.chunk_size = chunk_size;
    opts.created = unix_now();
    opts.expires = a.expires_in.map(|s| opts.created.saturating_add(s.max(1)));
    std::fs::create_dir_all(&a.out_dir).map_err(|e| otaseal::Error::Io {
        path: a.out_dir.clone(),
        source: e,
    })?;
    check_unique_names(&a.inputs)?;

    let start = Instant::now();
    let mut sealed = Vec::new();
    let mut failures = Vec::new();
    for input in &a.inputs {
        match seal_file(input, &a.out_dir, &opts, &recipients, signer.as_ref()) {
            Ok(s) => {
                if !a.json {
                    println!(
                        "sealed {} -> {} (root {})",
                        input.display(),
                        s.payload.display(),
                        hex::encode(s.root)
                    );
                }
                sealed.push(s);
            }
            Err(e) => {
                eprintln!("otaseal: {}: {}", input.display(), e.message());
                failures.push((input.clone(), e));
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let bytes: u64 = sealed.iter().map(|s| s.bytes).sum();
    if a.json {
        print_json(&serde_json::json!({
            "bundles": sealed.iter().map(Sealed::to_json).collect::<Vec<_>>(),
            "sealed": sealed.len(),
            "failed": failures.len(),
            "failures": failures.iter().map(|(p, e)| serde_json::json!({
                "input": p, "error": e.message(),
            })).collect::<Vec<_>>(),
            "bytes": bytes,
            "seconds": seconds,
            "mb_per_s": bytes as f64 / 1e6 / seconds.max(1e-9),
        }));
    }
    Ok(match (failures.len(), sealed.len()) {
        (0, _) => ExitCode::Ok,
        (1, 0) => failures.pop().expect("one failure").1.code(),
        (_, 0) => failures[0].1.code(),
        _ => ExitCode::Partial,
    })
}

/// Two inputs with the same file name would overwrite each other's outputs.
fn check_unique_names(inputs: &[PathBuf]) -> CliResult<()> {
    let mut seen = std::collections::HashSet::new();
    for p in inputs {
        if let Some(name) = p.file_name()
            && !seen.insert(name.to_owned())
        {
            return Err(CliError::usage(format!(
                "two inputs are named {}: their outputs would collide",
                name.to_string_lossy()
            )));
        }
    }
    Ok(())
}
