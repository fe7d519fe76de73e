//! `otaseal authorize-rollback`: sign a rollback authorisation that lets
//! devices go back to exactly one older bundle until an expiry.

use super::args::{self, json_path, print_json};
use super::{CliError, CliResult, ExitCode};
use otaseal::clock::Clock;
use otaseal::files;
use otaseal::format::Manifest;
use otaseal::policy::authorise_rollback;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The manifest of the older bundle devices may go back to.
    #[arg(long, value_name = "FILE")]
    manifest: PathBuf,
    /// The rollback signing key (secret key file, encrypted or not).
    /// A file, `env:NAME` or `-` (standard input); secret key text is never taken inline.
    #[arg(long, value_name = "FILE")]
    key: String,
    #[command(flatten)]
    unlock: args::Unlock,
    /// The authorisation is refused this many seconds after it is issued.
    #[arg(long, value_name = "SECONDS", default_value_t = 86_400)]
    expires_in: u64,
    /// Where to write the authorisation.
    #[arg(long, short, value_name = "FILE")]
    out: PathBuf,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: Args) -> CliResult {
    if a.expires_in == 0 {
        return Err(CliError::usage("--expires-in must be at least 1 second"));
    }
    let key = args::signing_key_with(&a.key, &a.unlock, None)?;
    let bytes = files::read_capped(&a.manifest, "manifest", otaseal::format::manifest::MAX_LEN)?;
    // Only the manifest's identifying fields are copied; the publisher signs
    // for a bundle it names, so the manifest's own signature is not needed.
    let (m, _) = Manifest::parse(&bytes).map_err(otaseal::Error::from)?;
    let issued = Clock::System.now();
    let expires = issued.saturating_add(a.expires_in);
    let auth = authorise_rollback(&m, issued, expires, &key)?;
    files::write_atomic(&a.out, &auth, 0o644)?;
    if a.json {
        print_json(&serde_json::json!({
            "out": json_path(&a.out), "app": m.app_id.as_str(), "channel": m.channel.as_str(),
            "target_sequence": m.sequence, "bundle_id": hex::encode(m.bundle_id),
            "issued": issued, "expires": expires,
        }));
    } else {
        println!(
            "authorised rollback of {} {} to sequence {} (bundle {}) until {expires} -> {}",
            m.app_id,
            m.channel,
            m.sequence,
            hex::encode(m.bundle_id),
            a.out.display()
        );
    }
    Ok(ExitCode::Ok)
}
