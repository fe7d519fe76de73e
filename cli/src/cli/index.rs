//! `otaseal index`: merge shard indexes, show an index, check a batch
//! against its index.

use super::args::{self, json_path, print_json};
use super::{CliError, CliResult, ExitCode};
use otaseal::batch::{self, MergeOptions};
use otaseal::format::batch_index::BatchIndex;
use otaseal::open::TrustAnchor;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Combine the indexes of `seal --shard K/N` runs into one signed index,
    /// identical to what a single run over all inputs writes.
    Merge(MergeArgs),
    /// Verify an index's signature and list its bundles.
    Show(ShowArgs),
    /// Verify an index and every bundle it lists (manifest hash and
    /// signature, payload length and hash).
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
struct MergeArgs {
    /// Shard index files (`batch-shard-K-of-N.index`).
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// Signing key (file, `env:NAME`, `-` or `pkcs11:` URI): verifies the shards and signs the result.
    #[arg(long, value_name = "FILE|URI")]
    signing_key: String,
    #[command(flatten)]
    unlock: args::Unlock,
    /// Trust shards signed by this public key instead of the signing key's.
    #[arg(long, value_name = "KEY")]
    trust: Option<String>,
    /// Output file.
    #[arg(long, short, default_value = "batch.index")]
    out: PathBuf,
    /// Merge even if some shards are missing.
    #[arg(long)]
    allow_missing: bool,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    index: PathBuf,
    /// Signing public key (or secret key file) the index must be signed by.
    #[arg(long, value_name = "KEY")]
    trust: String,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    index: PathBuf,
    #[arg(long, value_name = "KEY")]
    trust: String,
    /// Directory holding the payloads and manifests [default: the index's directory].
    #[arg(long)]
    dir: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: Args) -> CliResult {
    match a.command {
        Command::Merge(m) => merge(m),
        Command::Show(s) => show(s),
        Command::Verify(v) => verify(v),
    }
}

fn read(path: &Path, trust: &TrustAnchor) -> CliResult<BatchIndex> {
    let bytes = batch::read_index_file(path)?;
    batch::verify_index(&bytes, trust)
        .map_err(|e| CliError::from(e).context(&path.display().to_string()))
}

fn merge(a: MergeArgs) -> CliResult {
    let (signer, public) = args::signer(&a.signing_key, &a.unlock, None)?;
    let trust = match &a.trust {
        Some(t) => args::trust(t)?,
        None => TrustAnchor::SigningKey(public),
    };
    let shards = a
        .shards
        .iter()
        .map(|p| read(p, &trust))
        .collect::<CliResult<Vec<_>>>()?;
    let merged = batch::merge(
        shards,
        signer.as_ref(),
        MergeOptions {
            allow_missing: a.allow_missing,
        },
    )?;
    otaseal::files::write_atomic(&a.out, &merged.to_bytes(), 0o644)?;
    if a.json {
        print_json(&serde_json::json!({
            "index": json_path(&a.out),
            "shards": a.shards.len(),
            "entries": merged.entries.len(),
            "bytes": merged.entries.iter().map(|e| e.plaintext_len).sum::<u64>(),
        }));
    } else {
        println!(
            "merged {} shard indexes ({} bundles) into {}",
            a.shards.len(),
            merged.entries.len(),
            a.out.display()
        );
    }
    Ok(ExitCode::Ok)
}

fn entry_json(e: &otaseal::format::batch_index::IndexEntry) -> serde_json::Value {
    serde_json::json!({
        "name": e.name.as_str(),
        "bytes": e.plaintext_len,
        "bundle_id": hex::encode(e.bundle_id),
        "root": hex::encode(e.root),
        "manifest_bytes": e.manifest_len,
        "manifest_hash": hex::encode(e.manifest_hash),
        "encoding": e.encoding.map_or("none", |x| x.name()),
        "result_bytes": e.result_len,
        "deltas": e.deltas.iter().map(|d| serde_json::json!({
            "base_sequence": d.base_sequence,
            "base_version": d.base_version.as_str(),
            "encoding": d.encoding.name(),
            "bytes": d.payload_len,
            "bundle_id": hex::encode(d.bundle_id),
            "root": hex::encode(d.root),
            "manifest_bytes": d.manifest_len,
            "manifest_hash": hex::encode(d.manifest_hash),
        })).collect::<Vec<_>>(),
    })
}

fn header_json(idx: &BatchIndex) -> serde_json::Value {
    serde_json::json!({
        "app": idx.release.app_id.as_str(),
        "channel": idx.release.channel.as_str(),
        "version": idx.release.version.as_str(),
        "sequence": idx.release.sequence,
        "shard": idx.shard.to_string(),
        "signer": idx.signer.key_id.to_string(),
        "entries": idx.entries.len(),
        "bytes": idx.entries.iter().map(|e| e.plaintext_len).sum::<u64>(),
    })
}

fn show(a: ShowArgs) -> CliResult {
    let idx = read(&a.index, &args::trust(&a.trust)?)?;
    if a.json {
        let mut v = header_json(&idx);
        v["bundles"] = idx.entries.iter().map(entry_json).collect();
        print_json(&v);
    } else {
        let r = &idx.release;
        println!(
            "{} {} {} #{} shard {}: {} bundles, signed by {}",
            r.app_id,
            r.channel,
            r.version,
            r.sequence,
            idx.shard,
            idx.entries.len(),
            idx.signer.key_id
        );
        for e in &idx.entries {
            println!(
                "{}  {:>12}  {}",
                hex::encode(e.root),
                e.plaintext_len,
                e.name
            );
            for d in &e.deltas {
                println!(
                    "{}  {:>12}  {}.from-{} ({} from {} #{})",
                    hex::encode(d.root),
                    d.payload_len,
                    e.name,
                    d.base_sequence,
                    d.encoding,
                    d.base_version,
                    d.base_sequence
                );
            }
        }
    }
    Ok(ExitCode::Ok)
}

fn verify(a: VerifyArgs) -> CliResult {
    let trust = args::trust(&a.trust)?;
    let idx = read(&a.index, &trust)?;
    let dir = a.dir.clone().unwrap_or_else(|| {
        a.index
            .parent()
            .map_or_else(|| ".".into(), Path::to_path_buf)
    });
    let results = batch::check_bundles(&idx, &dir, &trust);
    let bad: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
    for (e, r) in &bad {
        if let Err(err) = r {
            eprintln!("otaseal: {}: {err}", e.name);
        }
    }
    if a.json {
        let mut v = header_json(&idx);
        v["verified"] = (results.len() - bad.len()).into();
        v["failed"] = bad.len().into();
        v["failures"] = bad
            .iter()
            .map(|(e, r)| {
                serde_json::json!({
                    "name": e.name.as_str(),
                    "error": r.as_ref().err().map(ToString::to_string),
                })
            })
            .collect();
        print_json(&v);
    } else {
        println!(
            "{} of {} bundles verify against {}",
            results.len() - bad.len(),
            results.len(),
            a.index.display()
        );
    }
    Ok(match bad.first() {
        None => ExitCode::Ok,
        Some((_, Err(e))) => super::exit::code_for(e.kind()),
        Some(_) => ExitCode::Verification,
    })
}
