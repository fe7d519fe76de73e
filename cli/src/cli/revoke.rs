//! `otaseal revoke`: the root issues the next revocation list, adding
//! certificates, serials or keys to everything the previous list revoked.

use super::args::{json_path, key_events, print_json};
use super::trust_args::{key_id_arg, read_cert};
use super::{CliResult, ExitCode};
use otaseal::clock::Clock;
use otaseal::keys::lifecycle::revoke;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The root's secret key.
    /// A file, `env:NAME` or `-` (standard input); secret key text is never taken inline.
    #[arg(long, value_name = "FILE")]
    root_key: String,
    /// The revocation list: read as the previous list if it exists, then
    /// replaced atomically by the next one (sequence + 1).
    #[arg(long, value_name = "FILE")]
    list: PathBuf,
    /// Revoke this certificate (its serial and its key); repeatable.
    #[arg(long = "cert", value_name = "FILE")]
    certs: Vec<PathBuf>,
    /// Revoke every certificate for this key (key id, key file or text); repeatable.
    #[arg(long = "key", value_name = "KEY")]
    keys: Vec<String>,
    /// Revoke one certificate serial; repeatable.
    #[arg(long = "serial", value_name = "N")]
    serials: Vec<u64>,
    /// Audit log (default: $OTASEAL_AUDIT_LOG).
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: Args) -> CliResult {
    let root = super::args::signing_key(&a.root_key, a.audit_log.as_deref())?;
    let mut serials = a.serials.clone();
    let mut keys = a
        .keys
        .iter()
        .map(|k| key_id_arg(k))
        .collect::<CliResult<Vec<_>>>()?;
    for path in &a.certs {
        let (cert, _) = read_cert(path)?;
        serials.push(cert.serial);
        keys.push(cert.subject_key_id());
    }
    let previous = match otaseal::files::read_capped(
        &a.list,
        "revocation list",
        otaseal::format::revocation::MAX_LEN,
    ) {
        Ok(bytes) => Some(bytes),
        // No list yet: this one is the first.
        Err(otaseal::Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            None
        }
        Err(e) => return Err(e.into()),
    };
    let events = key_events(a.audit_log.as_deref());
    let list = revoke(
        &root,
        previous.as_deref(),
        &serials,
        &keys,
        Clock::System,
        events.as_deref(),
    )?;
    let sequence = list.sequence;
    otaseal::files::write_atomic(&a.list, &list.to_bytes(), 0o644)?;
    if a.json {
        print_json(&serde_json::json!({
            "list": json_path(&a.list), "sequence": sequence,
            "serials": list.serials,
            "key_ids": list.key_ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }));
    } else {
        println!(
            "revocation list {sequence} written to {}: {} serials, {} keys revoked",
            a.list.display(),
            list.serials.len(),
            list.key_ids.len()
        );
    }
    Ok(ExitCode::Ok)
}
