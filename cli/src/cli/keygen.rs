//! `otaseal keygen`: the short form of `otaseal keys generate`, kept for
//! scripts: `keygen signing` is `keys generate --kind release`, `keygen
//! device` is `keys generate --kind device`.

use super::CliResult;
use super::keys::{self, Alg, GenerateArgs, Role};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// What the key is for.
    kind: KeyKind,
    /// Writes OUT.key (secret, mode 0600) and OUT.pub (public). Never overwrites.
    #[arg(long, value_name = "PREFIX")]
    out: PathBuf,
    /// Device key algorithm: x25519, or p256 for keys in a phone's secure hardware.
    #[arg(long, value_enum, default_value = "x25519")]
    alg: DeviceAlg,
    #[command(flatten)]
    protection: keys::NewKeyProtection,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum KeyKind {
    /// An Ed25519 release key that signs manifests.
    Signing,
    /// A device (recipient) key to which data keys are wrapped.
    Device,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DeviceAlg {
    X25519,
    P256,
}

pub(crate) fn run(a: Args) -> CliResult {
    let (kind, alg) = match (a.kind, a.alg) {
        (KeyKind::Signing, _) => (Role::Release, Alg::Ed25519),
        (KeyKind::Device, DeviceAlg::X25519) => (Role::Device, Alg::X25519),
        (KeyKind::Device, DeviceAlg::P256) => (Role::Device, Alg::P256),
    };
    keys::generate(&GenerateArgs {
        kind,
        alg: Some(alg),
        out: a.out,
        protection: a.protection,
        pkcs11: None,
        json: a.json,
    })
}
