//! Argument parsing, dispatch, and how errors become messages and exit codes.
//! Each subcommand lives in its own module with an `Args` struct and `run()`.

mod args;
mod audit;
mod cert;
mod demo;
mod exit;
mod fetch;
mod index;
mod install;
mod key_lifecycle;
mod keygen;
mod keys;
mod open;
mod policy_args;
mod revoke;
mod rollback;
mod root;
mod seal;
mod state;
mod trust_args;
mod verify;

use clap::{Parser, Subcommand};
pub(crate) use exit::{CliError, CliResult, ExitCode};
use std::process;

#[derive(Debug, Parser)]
#[command(
    name = "otaseal",
    version,
    about = "Seal and verify over-the-air update bundles"
)]
#[command(after_help = exit::EXIT_CODES_HELP)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a signing key pair or a device (recipient) key pair (short for `keys generate`).
    Keygen(keygen::Args),
    /// Keys: generate, list, change passphrase; rotate release keys; suspend, resume.
    Keys(keys::Args),
    /// Seal bundles: encrypt, hash and sign each into a payload and a manifest.
    Seal(seal::Args),
    /// Verify a manifest's signature, and optionally its payload or a byte range.
    Verify(verify::Args),
    /// Verify and decrypt a sealed bundle to a file.
    Open(open::Args),
    /// Batch indexes: merge shard indexes, show one, verify a batch against one.
    Index(index::Args),
    /// Run the whole flow on generated sample bundles and report what happened.
    Demo(demo::Args),
    /// Download a payload over HTTP in verified, resumable chunk ranges.
    Fetch(fetch::Args),
    /// Install step: verify, apply the device policy, open, then update the state.
    InstallCheck(install::Args),
    /// Create or inspect a device state file.
    State(state::Args),
    /// Sign an authorisation for devices to roll back to an older bundle.
    AuthorizeRollback(rollback::Args),
    /// Root of trust: create the root key, rotate to a new root.
    Root(root::Args),
    /// Release-key certificates: issue (root signs), show.
    Cert(cert::Args),
    /// Issue the next revocation list (certificates, serials, keys).
    Revoke(revoke::Args),
    /// Audit log: verify the hash chain, apply alert rules, record reports.
    Audit(audit::Args),
}

pub(crate) fn main() -> process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout and errors to stderr itself.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::Usage.into()
            } else {
                ExitCode::Ok.into()
            };
        }
    };
    let result = match cli.command {
        Command::Keygen(a) => keygen::run(a),
        Command::Keys(a) => keys::run(a),
        Command::Seal(a) => seal::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Open(a) => open::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Fetch(a) => fetch::run(a),
        Command::InstallCheck(a) => install::run(a),
        Command::State(a) => state::run(a),
        Command::AuthorizeRollback(a) => rollback::run(a),
        Command::Index(a) => index::run(a),
        Command::Root(a) => root::run(a),
        Command::Cert(a) => cert::run(a),
        Command::Revoke(a) => revoke::run(a),
        Command::Audit(a) => audit::run(a),
    };
    match result {
        Ok(code) => code.into(),
        Err(e) => e.report(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
