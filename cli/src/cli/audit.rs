//! `otaseal audit verify|alerts|mark`: check the hash chain of an audit log,
//! apply the alert rules (suspending keys at medium and high), and record
//! operator reports of compromise.

use super::args::signing_public;
use super::args::{json_path, print_json};
use super::trust_args::key_id_arg;
use super::{CliError, CliResult, ExitCode};
use otaseal::audit::alerts::{self, Level, Rules};
use otaseal::audit::checkpoint::{
    append_checkpoint, parse_checkpoint_line, verify_with_checkpoints,
};
use otaseal::audit::{AuditLog, OperatorReport, read_verified};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Check the hash chain; name the first bad line of an edited, deleted,
    /// inserted, reordered or torn entry.
    Verify(VerifyArgs),
    /// Apply the alert rules. Exit code: 0 none, 30 low, 31 medium, 32 high, 33 critical.
    Alerts(AlertsArgs),
    /// Record an operator report: a compromised key, a compromised root, an exploit.
    Mark(MarkArgs),
    /// Sign the log's head with a key the signing host does not hold, and
    /// append the checkpoint (keep a copy of it off the host with --out).
    Checkpoint(CheckpointArgs),
}

#[derive(Debug, clap::Args)]
struct CheckpointArgs {
    log: PathBuf,
    /// The auditor's secret signing key.
    /// A file, `env:NAME` or `-` (standard input); secret key text is never taken inline.
    #[arg(long, value_name = "FILE")]
    signing_key: String,
    /// Also write the checkpoint line here, to keep off the host.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    log: PathBuf,
    /// Require every checkpoint to be signed by one of these keys; repeatable.
    #[arg(long = "checkpoint-key", value_name = "KEY")]
    checkpoint_keys: Vec<String>,
    /// A checkpoint line kept off the host: it must be in the log, unchanged; repeatable.
    #[arg(long = "checkpoint", value_name = "FILE")]
    checkpoints: Vec<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct AlertsArgs {
    log: PathBuf,
    /// JSON file of thresholds (see docs/OPERATIONS.md); defaults otherwise.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Report only: do not suspend keys.
    #[arg(long)]
    no_act: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Mark {
    /// A release key is compromised (alert level high; the key is suspended).
    Compromised,
    /// The root key is compromised (alert level critical).
    RootCompromised,
    /// An active exploit is under way (alert level critical).
    Exploit,
}

#[derive(Debug, clap::Args)]
struct MarkArgs {
    log: PathBuf,
    /// What to record.
    #[arg(long = "as", value_enum)]
    what: Mark,
    /// The key concerned (key id, key file or text).
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
    /// A short note (no secrets).
    #[arg(long, default_value = "")]
    note: String,
}

pub(crate) fn run(a: Args) -> CliResult {
    match a.command {
        AuditCommand::Verify(a) => verify(a),
        AuditCommand::Alerts(a) => alerts_cmd(a),
        AuditCommand::Mark(a) => mark(a),
        AuditCommand::Checkpoint(a) => checkpoint(a),
    }
}

fn verify(a: VerifyArgs) -> CliResult {
    let keys = a
        .checkpoint_keys
        .iter()
        .map(|k| signing_public(k))
        .collect::<CliResult<Vec<_>>>()?;
    let mut kept = Vec::new();
    for p in &a.checkpoints {
        // One log line and its line break (CRLF if it travelled by mail).
        let bytes = otaseal::files::read_capped(
            p,
            "a checkpoint line",
            otaseal::audit::MAX_LINE_LEN as u64 + 2,
        )?;
        let text = String::from_utf8(bytes)
            .map_err(|_| CliError::usage(format!("{}: not UTF-8 text", p.display())))?;
        kept.push(
            parse_checkpoint_line(&text)
                .map_err(|e| CliError::usage(format!("{}: {e}", p.display())))?,
        );
    }
    match verify_with_checkpoints(&a.log, &keys, &kept) {
        Ok((head, report)) => {
            if a.json {
                print_json(&serde_json::json!({
                    "log": json_path(&a.log), "verdict": "ok", "entries": head.entries,
                    "head": hex::encode(head.hash),
                    "checkpoints": report.lines,
                    "checkpoint_signatures_checked": !keys.is_empty(),
                    "unanchored_entries": report.unanchored,
                }));
            } else {
                println!(
                    "OK {}: {} entries, head {}",
                    a.log.display(),
                    head.entries,
                    hex::encode(head.hash)
                );
                println!(
                    "  {} checkpoints{}, {} entries after the last one",
                    report.lines.len(),
                    if keys.is_empty() {
                        " (signatures not checked: pass --checkpoint-key)"
                    } else {
                        " (signatures verified)"
                    },
                    report.unanchored
                );
            }
            Ok(ExitCode::Ok)
        }
        Err(e) => {
            let line = match &e {
                otaseal::Error::AuditLog { line, .. } => Some(*line),
                _ => None,
            };
            if a.json {
                let err = CliError::from(e);
                print_json(&serde_json::json!({
                    "log": json_path(&a.log), "verdict": "failed", "first_bad_line": line,
                    "error": err.message(), "exit_code": err.code() as u8,
                }));
                Ok(err.code())
            } else {
                Err(e.into())
            }
        }
    }
}

fn level_code(level: Option<Level>) -> ExitCode {
    match level {
        None => ExitCode::Ok,
        Some(Level::Low) => ExitCode::AlertLow,
        Some(Level::Medium) => ExitCode::AlertMedium,
        Some(Level::High) => ExitCode::AlertHigh,
        Some(Level::Critical) => ExitCode::AlertCritical,
    }
}

fn alerts_cmd(a: AlertsArgs) -> CliResult {
    let rules: Rules = match &a.rules {
        None => Rules::default(),
        Some(p) => {
            let text =
                otaseal::files::read_capped(p, "an alert rules file", alerts::MAX_RULES_LEN)?;
            serde_json::from_slice(&text)
                .map_err(|e| CliError::usage(format!("{}: {e}", p.display())))?
        }
    };
    rules
        .validate()
        .map_err(|e| CliError::usage(format!("rules: {e}")))?;
    let (entries, _) = read_verified(&a.log)?;
    let found = alerts::evaluate(&entries, &rules);
    let log = AuditLog::new(&a.log);
    let suspended = if a.no_act {
        Vec::new()
    } else {
        log.suspend_keys(found.iter().filter(|x| x.suspends()).map(|alert| {
            let key = alert.key.expect("suspending alerts name a key");
            let reason = format!(
                "{} alert `{}` at log line {}",
                alert.level, alert.rule, alert.line
            );
            (key, reason)
        }))?
    };
    let top = alerts::highest(&found);
    if a.json {
        print_json(&serde_json::json!({
            "log": json_path(&a.log),
            "entries": entries.len(),
            "alerts": found,
            "highest": top.map(Level::as_str),
            "suspended": suspended.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }));
    } else {
        for x in &found {
            println!(
                "{:<8} line {:<6} {}: {}",
                x.level, x.line, x.rule, x.message
            );
            println!("         -> {}", x.response);
        }
        for k in &suspended {
            println!("suspended key {k} (lift with `otaseal keys resume {k}`)");
        }
        match top {
            None => println!("no alerts in {} entries", entries.len()),
            Some(l) => println!("highest level: {l} ({})", l.response()),
        }
    }
    Ok(level_code(top))
}

fn checkpoint(a: CheckpointArgs) -> CliResult {
    let key = super::args::signing_key(&a.signing_key, None)?;
    let log = AuditLog::new(&a.log);
    let (head, line) = append_checkpoint(&log, &key)?;
    if let Some(out) = &a.out {
        let mut cp = otaseal::audit::read_line_at(&a.log, line)?;
        cp.push(b'\n');
        otaseal::files::write_atomic(out, &cp, 0o644)?;
    }
    println!(
        "checkpoint at line {line}: entries 1..={} head {} signed by {}",
        head.entries,
        hex::encode(head.hash),
        otaseal::keys::Signer::key_id(&key)
    );
    Ok(ExitCode::Ok)
}

fn mark(a: MarkArgs) -> CliResult {
    let key = a.key.as_deref().map(key_id_arg).transpose()?;
    let report = match (a.what, key) {
        (Mark::Compromised, Some(k)) => OperatorReport::Compromised(k),
        (Mark::Compromised, None) => {
            return Err(CliError::usage("--as compromised needs --key"));
        }
        (Mark::RootCompromised, key) => OperatorReport::RootCompromised(key),
        (Mark::Exploit, key) => OperatorReport::Exploit(key),
    };
    AuditLog::new(&a.log).mark(report, &a.note)?;
    if let OperatorReport::Compromised(k) = report {
        println!("key {k} marked compromised and suspended; rotate now and revoke it");
    } else {
        println!("recorded; run `otaseal audit alerts {}`", a.log.display());
    }
    Ok(ExitCode::Ok)
}
