//! `otaseal keygen`: a signing key pair or a device key pair, from the OS CSPRNG.

use super::args::print_json;
use super::{CliResult, ExitCode};
use otaseal::keys::file::{AnyKey, write_key_file};
use otaseal::keys::{KemId, RecipientSecretKey, SigningKey, os_rng};
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
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum KeyKind {
    /// An Ed25519 key that signs manifests.
    Signing,
    /// A device (recipient) key to which data keys are wrapped.
    Device,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DeviceAlg {
    X25519,
    P256,
}

pub(crate) fn run(args: Args) -> CliResult {
    let mut rng = os_rng();
    let (secret, public, key_id) = match args.kind {
        KeyKind::Signing => {
            let sk = SigningKey::generate(&mut rng);
            let vk = sk.verifying_key();
            (
                AnyKey::SigningSecret(sk),
                AnyKey::SigningPublic(vk),
                vk.key_id(),
            )
        }
        KeyKind::Device => {
            let kem = match args.alg {
                DeviceAlg::X25519 => KemId::X25519,
                DeviceAlg::P256 => KemId::P256,
            };
            let sk = RecipientSecretKey::generate(kem, &mut rng);
            let pk = sk.public_key().clone();
            let id = sk.key_id();
            (AnyKey::RecipientSecret(sk), AnyKey::RecipientPublic(pk), id)
        }
    };
    let secret_path = with_suffix(&args.out, "key");
    let public_path = with_suffix(&args.out, "pub");
    let label = public.to_text().label();
    write_key_file(
        &secret_path,
        &secret,
        &format!("otaseal secret key {key_id}\nkeep private"),
    )?;
    write_key_file(&public_path, &public, &format!("otaseal {label} {key_id}"))?;
    if args.json {
        print_json(&serde_json::json!({
            "kind": label,
            "key_id": key_id.to_string(),
            "secret": secret_path,
            "public": public_path,
            "public_key": public.to_text().encode().as_str(),
        }));
    } else {
        println!("{label} key {key_id}");
        println!("  secret: {} (mode 0600)", secret_path.display());
        println!("  public: {}", public_path.display());
    }
    Ok(ExitCode::Ok)
}

fn with_suffix(prefix: &std::path::Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}
