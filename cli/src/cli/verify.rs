//! `otaseal verify`: the manifest against a trusted key, and optionally the
//! whole payload or the chunks covering a byte range of it.

use super::args::{self, json_path, print_json};
use super::{CliError, CliResult, ExitCode};
use otaseal::open::{TrustAnchor, read_manifest_file, verify_payload_file, verify_range_file};
use otaseal::session::Session;
use std::ops::Range;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The manifest file.
    manifest: PathBuf,
    #[command(flatten)]
    trust: super::trust_args::TrustArgs,
    /// Record the verification in this audit log (default: $OTASEAL_AUDIT_LOG).
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// Also verify this payload file.
    #[arg(long, value_name = "FILE")]
    payload: Option<PathBuf>,
    /// With --payload: verify only the chunks covering bytes START..END.
    #[arg(long, value_name = "START-END", requires = "payload", value_parser = args::parse_range)]
    range: Option<Range<u64>>,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    policy: super::policy_args::PolicyArgs,
}

/// Which part of the payload to check.
#[derive(Debug, Clone)]
enum PayloadCheck {
    None,
    Whole(PathBuf),
    Range(PathBuf, Range<u64>),
}

/// Verifies a manifest file and, as asked, its payload, with a device
/// session checking at `now` (the expiry and policy are checked after, by
/// the caller). Returns the session and the number of chunks checked.
fn verify_files(
    manifest: &Path,
    trust: &TrustAnchor,
    check: &PayloadCheck,
    now: u64,
) -> CliResult<(Session, u32)> {
    let mut session = Session::inspect(&read_manifest_file(manifest)?, trust, now)?;
    let chunks = match check {
        PayloadCheck::None => 0,
        PayloadCheck::Whole(p) => {
            verify_payload_file(&mut session, p, 0)?;
            session.verified().chunk_count()
        }
        PayloadCheck::Range(p, r) => {
            let covered = verify_range_file(&mut session, p, r.clone(), 0)?;
            covered.end - covered.start
        }
    };
    Ok((session, chunks))
}

pub(crate) fn run(a: Args) -> CliResult {
    let trust = a.trust.anchor()?;
    let check = match (a.payload, a.range) {
        (None, _) => PayloadCheck::None,
        (Some(p), None) => PayloadCheck::Whole(p),
        (Some(p), Some(r)) => PayloadCheck::Range(p, r),
    };
    let mut result = verify_files(&a.manifest, &trust, &check, a.policy.now());
    // With --state, a verified manifest must also pass the device policy.
    let mut policy = None;
    if let Ok((s, _)) = &result {
        match a.policy.evaluate(s.verified(), &trust) {
            Ok(d) => policy = d.map(|d| d.approval().to_string()),
            Err(e) => result = Err(e),
        }
    }
    let failure = result.as_ref().err().map(|e| e.message().to_owned());
    // Failures of bundles claiming a key count towards that key's alert.
    otaseal::keys::events::report_verification(
        args::key_events(a.audit_log.as_deref()).as_deref(),
        &a.manifest,
        failure.as_deref(),
    )?;
    if a.json {
        let mut report = report_json(&a.manifest, &check, &result);
        if let Some(p) = &policy {
            report["policy"] = serde_json::json!(p);
        }
        print_json(&report);
    } else if let Ok((s, chunks)) = &result {
        let v = s.verified();
        let m = v.manifest();
        println!(
            "OK {} {} {} (sequence {}, channel {}) signed by {}",
            a.manifest.display(),
            m.app_id,
            m.version,
            m.sequence,
            m.channel,
            m.signer.key_id
        );
        println!("  root {}", hex::encode(m.root));
        if !matches!(check, PayloadCheck::None) {
            println!("  payload: {chunks} of {} chunks verified", v.chunk_count());
        }
        if let Some(p) = &policy {
            println!("  policy: accepted ({p})");
        }
    }
    match result {
        Ok(_) => Ok(ExitCode::Ok),
        Err(e) if a.json => Ok(e.code()),
        Err(e) => Err(e),
    }
}

fn report_json(
    manifest: &Path,
    check: &PayloadCheck,
    result: &Result<(Session, u32), CliError>,
) -> serde_json::Value {
    let scope = match check {
        PayloadCheck::None => serde_json::json!("manifest"),
        PayloadCheck::Whole(_) => serde_json::json!("payload"),
        PayloadCheck::Range(_, r) => serde_json::json!({"range": [r.start, r.end]}),
    };
    match result {
        Ok((s, chunks)) => {
            let v = s.verified();
            let m = v.manifest();
            serde_json::json!({
                "manifest": json_path(manifest),
                "verdict": "ok",
                "scope": scope,
                "app": m.app_id.as_str(),
                "channel": m.channel.as_str(),
                "version": m.version.as_str(),
                "sequence": m.sequence,
                "created": m.created,
                "expires": m.expires,
                "root": hex::encode(m.root),
                "plaintext_len": m.plaintext_len,
                "chunk_size": m.chunk_size.bytes(),
                "chunks": v.chunk_count(),
                "chunks_verified": chunks,
                "signer": m.signer.key_id.to_string(),
                "recipients": m.recipients.iter().map(|r| r.recipient.to_string()).collect::<Vec<_>>(),
            })
        }
        Err(e) => serde_json::json!({
            "manifest": json_path(manifest),
            "verdict": "failed",
            "scope": scope,
            "error": e.message(),
            "exit_code": e.code() as u8,
        }),
    }
}
