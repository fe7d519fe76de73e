//! `otaseal install-check`: the device's install step. Verify the manifest,
//! apply the device policy, verify and decrypt the whole payload, and only
//! then record the new release in the state file.

use super::args::{self, json_path, print_json};
use super::open::OpenTarget;
use super::policy_args::PolicyArgs;
use super::{CliError, CliResult, ExitCode};
use otaseal::device::DeviceState;
use otaseal::open::{open_payload_file, read_manifest_file};
use otaseal::session::{Session, SessionOptions};

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
    let manifest = read_manifest_file(&t.manifest)?;
    // The state file stays locked from here until the new state is saved.
    let (mut file, policy) = a.policy.install_policy(state)?;
    // The session verifies the manifest and makes the policy decision at
    // creation, so a refused bundle is not even decrypted...
    let mut session = Session::new(
        &manifest,
        &trust,
        SessionOptions {
            install: Some(policy),
            ..SessionOptions::new(a.policy.now())
        },
    )?;
    // ...then the full verified open; the state changes only if every chunk
    // verified and decrypted, as `finish` records it.
    let len = open_payload_file(
        &mut session,
        &t.payload,
        &device,
        t.base.as_deref(),
        &t.out,
        0,
    )?;
    let root = session.verified().manifest().root;
    let finished = session.finish()?;
    let (Some(approval), Some(new_state)) = (finished.approval, finished.device_state) else {
        unreachable!("a session with an install policy finishes with a decision");
    };
    file.state = DeviceState::parse(&new_state).map_err(|source| otaseal::Error::CorruptState {
        path: state.clone(),
        source,
    })?;
    file.save()?;
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
