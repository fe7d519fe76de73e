//! `otaseal state`: create and inspect a device state file.

use super::args::{self, print_json};
use super::{CliResult, ExitCode};
use otaseal::device::{DeviceState, StateFile};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Create an empty state file (never overwrites one).
    Init {
        /// The state file to create.
        file: PathBuf,
        /// Pin the state to this trust anchor (a signing public key for
        /// `--trust`, or the root public key for `--root`): manifests verified
        /// with any other anchor are then refused. A root pin survives rotations.
        #[arg(long, value_name = "KEY")]
        pin_trust: Option<String>,
    },
    /// Print what a state file records.
    Show {
        /// The state file.
        file: PathBuf,
        /// Print a JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(a: Args) -> CliResult {
    match a.command {
        Command::Init { file, pin_trust } => {
            let pin = match pin_trust {
                Some(k) => Some(args::signing_public(&k)?.key_id()),
                None => None,
            };
            StateFile::create(&file, DeviceState::new(pin))?;
            println!("created {}", file.display());
        }
        Command::Show { file, json } => {
            let s = StateFile::load(&file)?.state;
            if json {
                print_json(&to_json(&s));
            } else {
                println!("revocation list sequence: {}", s.revocation_sequence);
                if let Some(pin) = s.trust_pin {
                    println!("pinned trust anchor: {pin}");
                }
                for (app, st) in &s.apps {
                    println!("{app} (follows {})", st.current);
                    for (ch, r) in &st.channels {
                        println!(
                            "  {ch}: sequence {} version {} bundle {} installed {}",
                            r.sequence,
                            r.version,
                            hex::encode(r.bundle_id),
                            r.installed_at
                        );
                    }
                }
            }
        }
    }
    Ok(ExitCode::Ok)
}

fn to_json(s: &DeviceState) -> serde_json::Value {
    let apps: serde_json::Map<String, serde_json::Value> = s
        .apps
        .iter()
        .map(|(app, st)| {
            let channels: serde_json::Map<String, serde_json::Value> = st
                .channels
                .iter()
                .map(|(ch, r)| {
                    (
                        ch.to_string(),
                        serde_json::json!({
                            "sequence": r.sequence,
                            "version": r.version.as_str(),
                            "bundle_id": hex::encode(r.bundle_id),
                            "installed_at": r.installed_at,
                            "last_rollback_issued": r.last_rollback_issued,
                        }),
                    )
                })
                .collect();
            (
                app.to_string(),
                serde_json::json!({"channel": st.current.as_str(), "channels": channels}),
            )
        })
        .collect();
    serde_json::json!({
        "revocation_sequence": s.revocation_sequence,
        "trust_pin": s.trust_pin.map(|k| k.to_string()),
        "apps": apps,
    })
}
