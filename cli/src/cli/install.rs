//! `otaseal install-check`: the device's install step. Verify the manifest,
//! apply the device policy, verify and decrypt the whole payload, and only
//! then record the new release in the state file.

use super::args::{self, json_path, print_json};
use super::open::OpenTarget;
use super::policy_args::PolicyArgs;
use super::{CliError, CliResult, ExitCode};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    target: OpenTarget,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: Args) -> CliResult {
    let Some(state) = &a.policy.state else {
        return Err(CliError::usage("install-check needs --state FILE"));
    };
    let t = &a.target;
    let trust = t.trust.anchor()?;
    let device = args::device_key(&t.device_key, &t.unlock)?;
    // Policy first, so a refused bundle is not even decrypted...
    let verified = otaseal::open::verify_manifest_file(&t.manifest, &trust)?;
    let install = a.policy.decide(state, &verified, &trust)?;
    // ...then the full verified open of this same manifest; the state
    // changes only if every chunk verifies and decrypts.
    verified.decrypt_file(&t.payload, &device, &t.out)?;
    let approval = install.commit()?;
    let (len, root) = (verified.payload_len(), verified.manifest().root);
    if a.json {
        print_json(&serde_json::json!({
            "manifest": json_path(&t.manifest), "payload": json_path(&t.payload), "out": json_path(&t.out),
            "bytes": len, "root": hex::encode(root), "verdict": "installed",
            "policy": approval.to_string(),
            "state": json_path(state),
        }));
    } else {
        println!(
            "installed {} -> {} ({len} bytes): {approval}",
            t.payload.display(),
            t.out.display(),
        );
        println!("  state {} updated", state.display());
    }
    Ok(ExitCode::Ok)
}
