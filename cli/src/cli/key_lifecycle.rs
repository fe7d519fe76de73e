//! `otaseal keys rotate|suspend|resume`: rotate a release key, and the
//! suspension switch the audit alerts flip.

use super::args::{json_path, key_events, print_json, with_suffix};
use super::keys::{NewKeyProtection, new_signing_key_pair};
use super::trust_args::{CertTerms, audit_log, cert_json, key_id_arg, random_serial, read_cert};
use super::{CliError, CliResult, ExitCode};
use otaseal::audit::AuditLog;
use otaseal::keys::KeyRole;
use otaseal::keys::lifecycle::certify_successor;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct RotateArgs {
    /// The root's (or an intermediate's) secret key.
    /// A file, `env:NAME` or `-` (standard input); secret key text is never taken inline.
    #[arg(long, value_name = "FILE")]
    root_key: String,
    /// The previous key's certificate: channels, usage and validity length
    /// are carried over unless given.
    #[arg(long, value_name = "FILE")]
    previous: Option<PathBuf>,
    #[command(flatten)]
    terms: CertTerms,
    /// Writes PREFIX.key (0600, encrypted unless --unencrypted), PREFIX.pub
    /// and PREFIX.cert. Never overwrites keys.
    #[arg(long, value_name = "PREFIX")]
    out: PathBuf,
    #[command(flatten)]
    protection: NewKeyProtection,
    /// Audit log (default: $OTASEAL_AUDIT_LOG).
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SuspendArgs {
    /// Key id (32 hex digits), or a key file or text.
    key: String,
    /// Why (recorded in the log and the suspension state).
    #[arg(long, default_value = "suspended by operator")]
    reason: String,
    /// Audit log whose `<log>.suspended` state is changed (default: $OTASEAL_AUDIT_LOG).
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ResumeArgs {
    /// Key id (32 hex digits), or a key file or text.
    key: String,
    /// Audit log whose `<log>.suspended` state is changed (default: $OTASEAL_AUDIT_LOG).
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
}

pub(crate) fn rotate(a: RotateArgs) -> CliResult {
    let root = super::args::signing_key(&a.root_key, a.audit_log.as_deref())?;
    let previous = a.previous.as_deref().map(read_cert).transpose()?;
    let terms = a.terms.resolve(previous.as_ref().map(|(c, _)| c))?;
    let cert_path = with_suffix(&a.out, "cert");
    if cert_path.exists() {
        return Err(CliError::usage(format!(
            "{}: exists; choose another --out",
            cert_path.display()
        )));
    }
    let events = key_events(a.audit_log.as_deref());
    let (vk, secret, public) =
        new_signing_key_pair(&a.out, KeyRole::Release, &a.protection, events.as_deref())?;
    let new_id = vk.key_id();
    let serial = a.terms.serial.unwrap_or_else(random_serial);
    let cert = certify_successor(
        &root,
        terms.fields(serial, &vk),
        previous.as_ref().map(|(p, _)| p),
        events.as_deref(),
    )?;
    otaseal::files::write_atomic(&cert_path, &cert.to_bytes(), 0o644)?;
    if a.json {
        let mut j = cert_json(&cert);
        j["secret"] = json_path(&secret);
        j["public"] = json_path(&public);
        j["cert"] = json_path(&cert_path);
        j["previous_key_id"] = serde_json::json!(
            previous
                .as_ref()
                .map(|(p, _)| p.subject_key_id().to_string())
        );
        print_json(&j);
    } else {
        println!("new release key {new_id}");
        println!("  secret: {} (mode 0600)", secret.display());
        println!("  public: {}", public.display());
        println!(
            "  cert:   {} (serial {}, channels {}, valid {}..{})",
            cert_path.display(),
            cert.serial,
            cert.channels,
            cert.not_before,
            cert.not_after
        );
        if let Some((p, _)) = &previous {
            println!(
                "  previous key {} stays valid until {} unless revoked (`otaseal revoke --cert ...`)",
                p.subject_key_id(),
                p.not_after
            );
        }
    }
    Ok(ExitCode::Ok)
}

fn required_log(arg: Option<&std::path::Path>) -> CliResult<AuditLog> {
    audit_log(arg).ok_or_else(|| {
        CliError::usage("suspension lives next to the audit log: pass --audit-log FILE or set OTASEAL_AUDIT_LOG")
    })
}

pub(crate) fn suspend(a: SuspendArgs) -> CliResult {
    let key = key_id_arg(&a.key)?;
    let log = required_log(a.audit_log.as_deref())?;
    if !log.suspend_keys([(key, a.reason.clone())])?.is_empty() {
        println!("key {key} suspended: {}", a.reason);
    } else {
        println!("key {key} was already suspended");
    }
    Ok(ExitCode::Ok)
}

pub(crate) fn resume(a: ResumeArgs) -> CliResult {
    let key = key_id_arg(&a.key)?;
    let log = required_log(a.audit_log.as_deref())?;
    if log.resume_key(&key)? {
        println!("key {key} resumed");
    } else {
        println!("key {key} was not suspended (resume recorded)");
    }
    Ok(ExitCode::Ok)
}
