//! `otaseal root init` and `otaseal root rotate`: the offline root key that
//! certifies release keys, and the statement that hands trust to a new root.

use super::args::signing_public;
use super::args::{json_opt_path, json_path, key_events, print_json};
use super::keys::{NewKeyProtection, new_signing_key_pair};
use super::{CliError, CliResult, ExitCode};
use otaseal::clock::Clock;
use otaseal::device::TrustStateFile;
use otaseal::keys::KeyRole;
use otaseal::keys::lifecycle::rotate_root;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: RootCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RootCommand {
    /// Generate a root key pair (Ed25519). Keep ROOT.key offline.
    Init(InitArgs),
    /// Hand trust to a new root: a statement signed by the old AND the new root.
    Rotate(RotateArgs),
}

#[derive(Debug, clap::Args)]
struct InitArgs {
    /// Writes PREFIX.key (secret, 0600, encrypted unless --unencrypted) and
    /// PREFIX.pub. Never overwrites.
    #[arg(long, value_name = "PREFIX")]
    out: PathBuf,
    #[command(flatten)]
    protection: NewKeyProtection,
    /// Also write a trust state file pinning this root, for provisioning devices.
    #[arg(long, value_name = "FILE")]
    trust_state: Option<PathBuf>,
    /// Audit log (default: $OTASEAL_AUDIT_LOG).
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct RotateArgs {
    /// The current root's secret key.
    /// A file, `env:NAME` or `-` (standard input); secret key text is never taken inline.
    #[arg(long, value_name = "FILE")]
    old_key: String,
    /// The new root's secret key (create it with `otaseal root init`).
    /// A file, `env:NAME` or `-` (standard input); secret key text is never taken inline.
    #[arg(long, value_name = "FILE")]
    new_key: String,
    /// Version the new root becomes: the old root's version + 1 (the first root is 1).
    #[arg(long, value_name = "N")]
    new_version: u64,
    /// Where to write the rotation statement.
    #[arg(long, short, value_name = "FILE")]
    out: PathBuf,
    /// Audit log (default: $OTASEAL_AUDIT_LOG).
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: Args) -> CliResult {
    match a.command {
        RootCommand::Init(a) => init(a),
        RootCommand::Rotate(a) => rotate(a),
    }
}

fn init(a: InitArgs) -> CliResult {
    let events = key_events(a.audit_log.as_deref());
    let (vk, secret, public) =
        new_signing_key_pair(&a.out, KeyRole::Root, &a.protection, events.as_deref())?;
    let id = vk.key_id();
    if let Some(path) = &a.trust_state {
        if path.exists() {
            return Err(CliError::usage(format!(
                "{}: exists; a trust state is never overwritten by `root init`",
                path.display()
            )));
        }
        // Under the trust state's lock, so a verifier creating it at the
        // same moment cannot be overwritten.
        TrustStateFile::create(path, vk)?;
    }
    if a.json {
        print_json(&serde_json::json!({
            "root_key_id": id.to_string(), "secret": json_path(&secret), "public": json_path(&public),
            "trust_state": json_opt_path(a.trust_state.as_ref()),
        }));
    } else {
        println!("root key {id}");
        println!("  secret: {} (mode 0600; keep offline)", secret.display());
        println!("  public: {} (pin this on devices)", public.display());
    }
    Ok(ExitCode::Ok)
}

fn rotate(a: RotateArgs) -> CliResult {
    let old = super::args::signing_key(&a.old_key, a.audit_log.as_deref())?;
    let new = super::args::signing_key(&a.new_key, a.audit_log.as_deref())?;
    // Reject a mistyped pair before signing anything.
    signing_public(&a.new_key)?;
    let events = key_events(a.audit_log.as_deref());
    let st = rotate_root(&old, &new, a.new_version, Clock::System, events.as_deref())?;
    otaseal::files::write_atomic(&a.out, &st.to_bytes(), 0o644)?;
    let (from, to) = (st.old_key_id(), st.new_key_id());
    if a.json {
        print_json(&serde_json::json!({
            "old_root": from.to_string(), "new_root": to.to_string(),
            "new_version": a.new_version, "statement": json_path(&a.out),
        }));
    } else {
        println!(
            "root rotation {from} -> {to} (version {}) written to {}",
            a.new_version,
            a.out.display()
        );
    }
    Ok(ExitCode::Ok)
}
