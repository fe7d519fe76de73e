//! `otaseal install-check`: the device's install step. Verify the manifest,
//! apply the device policy, verify and decrypt the whole payload, and only
//! then record the new release in the state file.

use super::args::{self, print_json};
use super::policy_args::PolicyArgs;
use super::{CliError, CliResult, ExitCode};
use otaseal::files::{self, AtomicFile};
use otaseal::open::verify_manifest;
use std::path::PathBuf;
use zeroize::Zeroizing;

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
    #[command(flatten)]
    policy: PolicyArgs,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: Args) -> CliResult {
    if a.policy.state.is_none() {
        return Err(CliError::usage("install-check needs --state FILE"));
    }
    let trust = a.trust.anchor()?;
    let device = args::device_key(&a.device_key, &a.unlock)?;
    let bytes = std::fs::read(&a.manifest).map_err(|e| otaseal::Error::Io {
        path: a.manifest.clone(),
        source: e,
    })?;
    // Policy first, so a refused bundle is not even decrypted...
    let verified = verify_manifest(&bytes, &trust)?;
    let Some(mut decision) = a.policy.evaluate(&verified, &trust)? else {
        unreachable!("--state was checked above");
    };
    // ...then the full verified open of this same manifest; the state
    // changes only if every chunk verifies and decrypts.
    let payload = files::read_input(&a.payload)?;
    verified.verify_payload(&payload)?;
    let opener = verified.opener(&device)?;
    let mut file = AtomicFile::create(&a.out)?;
    let mut buf = Zeroizing::new(vec![0u8; verified.manifest().chunk_size.bytes() as usize]);
    for index in 0..verified.chunk_count() {
        let r = verified.chunk_range(index)?;
        let plain = &mut buf[..(r.end - r.start) as usize];
        opener.decrypt_chunk(index, &payload[r.start as usize..r.end as usize], plain)?;
        file.write_all(plain)?;
    }
    file.commit(0o600)?;
    let (len, root) = (verified.payload_len(), verified.manifest().root);
    decision
        .state
        .state
        .record(&decision.approval, decision.now);
    decision.state.save()?;
    if a.json {
        print_json(&serde_json::json!({
            "manifest": a.manifest, "payload": a.payload, "out": a.out,
            "bytes": len, "root": hex::encode(root), "verdict": "installed",
            "policy": decision.approval.to_string(),
            "state": decision.state.path(),
        }));
    } else {
        println!(
            "installed {} -> {} ({len} bytes): {}",
            a.payload.display(),
            a.out.display(),
            decision.approval
        );
        println!("  state {} updated", decision.state.path().display());
    }
    Ok(ExitCode::Ok)
}
