//! `otaseal revoke`: the root issues the next revocation list, adding
//! certificates, serials or keys to everything the previous list revoked.

use super::args::{json_path, print_json};
use super::trust_args::{audit_log, key_id_arg, read_cert, record};
use super::{CliError, CliResult, ExitCode};
use otaseal::audit::{Event, Op};
use otaseal::keys::Signer;
use otaseal::keys::trust::{issue_revocation_list, verify_revocation_list};
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
    let added = (serials.clone(), keys.clone());
    let mut sequence = 1;
    match otaseal::files::read_capped(
        &a.list,
        "revocation list",
        otaseal::format::revocation::MAX_LEN,
    ) {
        Ok(bytes) => {
            let previous = verify_revocation_list(&bytes, &root.verifying_key())?;
            sequence = previous
                .sequence
                .checked_add(1)
                .ok_or_else(|| CliError::usage("revocation sequence exhausted"))?;
            serials.extend(previous.body.serials);
            keys.extend(previous.body.key_ids);
        }
        // No list yet: this one is the first.
        Err(otaseal::Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
        }
        Err(e) => return Err(e.into()),
    }
    let list = issue_revocation_list(&root, sequence, otaseal::seal::unix_now(), serials, keys)?;
    otaseal::files::write_atomic(&a.list, &list.to_bytes(), 0o644)?;
    let log = audit_log(a.audit_log.as_deref());
    for k in &added.1 {
        record(
            log.as_ref(),
            &Event::ok(Op::Revoke, *k)
                .detail("root", root.key_id().to_string())
                .detail("list_sequence", sequence),
        )?;
    }
    for s in &added.0 {
        record(
            log.as_ref(),
            &Event::ok(Op::Revoke, root.key_id())
                .detail("serial", *s)
                .detail("list_sequence", sequence),
        )?;
    }
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
