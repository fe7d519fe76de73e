//! `otaseal keys`: generate, list and re-protect keys; rotation and
//! suspension live in `key_lifecycle`.
//!
//! Secret keys are written encrypted under a passphrase (Argon2id +
//! AES-256-GCM, `docs/FORMAT.md` §14) unless `--unencrypted` is given,
//! or generated inside a PKCS#11 token with `--pkcs11`.

use super::args::{
    self, PASSPHRASE_ENV, Unlock, json_opt_path, json_path, key_events, print_json, with_suffix,
};
use super::key_lifecycle::{ResumeArgs, RotateArgs, SuspendArgs};
use super::{CliError, CliResult, ExitCode};
use otaseal::keys::events::{KeyBackend, KeyEventSink};
use otaseal::keys::file::{
    AnyKey, KeyFile, load_key_file, replace_with_encrypted_key_file, write_key_file,
};
use otaseal::keys::keystore::{EncryptedKey, Passphrase};
use otaseal::keys::lifecycle::save_new_secret_key;
use otaseal::keys::pkcs11::{Pkcs11Signer, Pkcs11Uri};
use otaseal::keys::{
    KdfParams, KemId, KeyAlg, KeyId, KeyRole, RecipientSecretKey, SigningKey, VerifyingKey, os_rng,
};
use std::path::{Path, PathBuf};

/// Environment variable with the new passphrase for `keys change-passphrase`.
const NEW_PASSPHRASE_ENV: &str = "OTASEAL_NEW_PASSPHRASE";

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, clap::Subcommand)]
enum KeysCommand {
    /// Generate a root, release or device key pair.
    Generate(GenerateArgs),
    /// List keys in files or directories: kind, algorithm, key id, encrypted or not.
    List(ListArgs),
    /// Re-encrypt a secret key under a new passphrase (also encrypts a plain key file).
    ChangePassphrase(ChangePassphraseArgs),
    /// Issue a new release key and its certificate in one step. Bundles signed
    /// by the previous key stay valid until its certificate expires or is revoked.
    Rotate(RotateArgs),
    /// Suspend a key: signing with it is refused until `keys resume`.
    Suspend(SuspendArgs),
    /// Lift a key's suspension (after investigating the alert).
    Resume(ResumeArgs),
}

pub(crate) fn run(a: Args) -> CliResult {
    use super::key_lifecycle::{resume, rotate, suspend};
    match a.command {
        KeysCommand::Generate(g) => generate(&g),
        KeysCommand::List(l) => list(&l),
        KeysCommand::ChangePassphrase(c) => change_passphrase(&c),
        KeysCommand::Rotate(a) => rotate(a),
        KeysCommand::Suspend(a) => suspend(a),
        KeysCommand::Resume(a) => resume(a),
    }
}

/// How a new secret key is protected on disk: shared by every command that
/// creates one (`keys generate`, `keygen`, `keys rotate`, `root init`).
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct NewKeyProtection {
    /// Write the secret key in plain text. For tests and throwaway CI keys
    /// only: anyone who copies the file has the key.
    #[arg(long, conflicts_with = "passphrase_file")]
    pub(crate) unencrypted: bool,
    /// Read the new key's passphrase from this file. Otherwise it comes from
    /// $OTASEAL_PASSPHRASE, or is asked for twice on the terminal.
    #[arg(long, value_name = "FILE")]
    pub(crate) passphrase_file: Option<PathBuf>,
}

/// Writes a new secret key (0600, never overwriting) as `protection` says;
/// the library reports its generation to `events` (the audit log). Returns
/// how the key is protected.
pub(crate) fn write_new_secret_key(
    path: &Path,
    secret: &AnyKey,
    (role, alg, key_id): (KeyRole, KeyAlg, KeyId),
    protection: &NewKeyProtection,
    events: Option<&dyn KeyEventSink>,
) -> CliResult<&'static str> {
    let pass = if protection.unencrypted {
        None
    } else {
        Some(args::passphrase(
            protection.passphrase_file.as_deref(),
            PASSPHRASE_ENV,
            &format!("Passphrase for the new {role} key"),
            true,
        )?)
    };
    let backend = save_new_secret_key(path, secret, (role, alg, key_id), pass.as_ref(), events)?;
    Ok(match backend {
        KeyBackend::EncryptedFile => "passphrase",
        _ => "none",
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Role {
    /// Offline root of trust (Ed25519); certifies release keys.
    Root,
    /// Signs manifests (Ed25519).
    Release,
    /// A device's recipient key (X25519, or P-256 for phone secure hardware).
    Device,
}

impl From<Role> for KeyRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Root => Self::Root,
            Role::Release => Self::Release,
            Role::Device => Self::Device,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Alg {
    Ed25519,
    X25519,
    P256,
}

#[derive(Debug, clap::Args)]
pub(crate) struct GenerateArgs {
    /// What the key is for.
    #[arg(long, value_enum)]
    pub(crate) kind: Role,
    /// Algorithm. Default: ed25519 for root and release keys, x25519 for device keys.
    #[arg(long, value_enum)]
    pub(crate) alg: Option<Alg>,
    /// Writes PREFIX.key (secret, mode 0600) and PREFIX.pub. Never overwrites.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) out: PathBuf,
    #[command(flatten)]
    pub(crate) protection: NewKeyProtection,
    /// Generate the key inside this PKCS#11 token (RFC 7512 URI naming the
    /// new key's `object` and/or `id`); only PREFIX.pub is written.
    #[arg(long, value_name = "URI", conflicts_with_all = ["unencrypted", "passphrase_file"])]
    pub(crate) pkcs11: Option<String>,
    /// Print a JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Generates an Ed25519 key pair for `role` (root or release) and writes
/// PREFIX.key, protected as asked, and PREFIX.pub. Never overwrites.
pub(crate) fn new_signing_key_pair(
    prefix: &Path,
    role: KeyRole,
    protection: &NewKeyProtection,
    events: Option<&dyn KeyEventSink>,
) -> CliResult<(VerifyingKey, PathBuf, PathBuf)> {
    let (secret, public) = (with_suffix(prefix, "key"), with_suffix(prefix, "pub"));
    let sk = SigningKey::generate(&mut os_rng());
    let vk = sk.verifying_key();
    let id = vk.key_id();
    write_new_secret_key(
        &secret,
        &AnyKey::SigningSecret(sk),
        (role, KeyAlg::Ed25519, id),
        protection,
        events,
    )?;
    write_key_file(
        &public,
        &AnyKey::SigningPublic(vk),
        &format!("otaseal {role} ed25519-public {id}"),
    )?;
    Ok((vk, secret, public))
}

/// Generates a key pair as `a` says and writes it out. `keygen` shares this.
pub(crate) fn generate(a: &GenerateArgs) -> CliResult {
    let role = KeyRole::from(a.kind);
    let alg = match (a.alg, a.kind) {
        (Some(Alg::Ed25519), _) | (None, Role::Root | Role::Release) => KeyAlg::Ed25519,
        (Some(Alg::X25519), _) | (None, Role::Device) => KeyAlg::X25519,
        (Some(Alg::P256), _) => KeyAlg::P256,
    };
    if !role.allows(alg) {
        return Err(CliError::usage(format!(
            "a {role} key cannot use {alg}: root and release keys sign (ed25519), device keys are x25519 or p256"
        )));
    }
    let public_path = with_suffix(&a.out, "pub");
    let secret_path = with_suffix(&a.out, "key");
    // Checked up front so a refused write cannot leave half a key pair; the
    // writes themselves still never replace a file that appears meanwhile.
    for p in [&secret_path, &public_path] {
        if p.exists() {
            return Err(otaseal::Error::io(p, std::io::ErrorKind::AlreadyExists.into()).into());
        }
    }
    let events = key_events(None);

    if let Some(uri) = &a.pkcs11 {
        let uri = Pkcs11Uri::parse(uri)?;
        let opts = args::pkcs11_options(&uri)?;
        let signer = Pkcs11Signer::generate(&uri, &opts, role, events.as_deref())?;
        let public = AnyKey::SigningPublic(signer.verifying_key());
        let key_id = signer.verifying_key().key_id();
        write_key_file(
            &public_path,
            &public,
            &format!(
                "otaseal {role} ed25519-public {key_id}\nprivate key in {}",
                signer.uri()
            ),
        )?;
        return print_generated(
            a.json,
            role,
            alg,
            key_id,
            None,
            &public_path,
            &public,
            "pkcs11",
        );
    }

    let mut rng = os_rng();
    let (secret, public, key_id) = match alg {
        KeyAlg::Ed25519 => {
            let sk = SigningKey::generate(&mut rng);
            let vk = sk.verifying_key();
            (
                AnyKey::SigningSecret(sk),
                AnyKey::SigningPublic(vk),
                vk.key_id(),
            )
        }
        _ => {
            let kem = if alg == KeyAlg::P256 {
                KemId::P256
            } else {
                KemId::X25519
            };
            let sk = RecipientSecretKey::generate(kem, &mut rng);
            let pk = sk.public_key().clone();
            let id = sk.key_id();
            (AnyKey::RecipientSecret(sk), AnyKey::RecipientPublic(pk), id)
        }
    };
    let protection = write_new_secret_key(
        &secret_path,
        &secret,
        (role, alg, key_id),
        &a.protection,
        events.as_deref(),
    )?;
    write_key_file(
        &public_path,
        &public,
        &format!("otaseal {role} {} {key_id}", public.to_text().label()),
    )?;
    print_generated(
        a.json,
        role,
        alg,
        key_id,
        Some(&secret_path),
        &public_path,
        &public,
        protection,
    )
}

#[allow(clippy::too_many_arguments)]
fn print_generated(
    json: bool,
    role: KeyRole,
    alg: KeyAlg,
    key_id: KeyId,
    secret: Option<&Path>,
    public_path: &Path,
    public: &AnyKey,
    protection: &str,
) -> CliResult {
    if json {
        print_json(&serde_json::json!({
            "kind": role.to_string(),
            "alg": alg.to_string(),
            "key_id": key_id.to_string(),
            "secret": json_opt_path(secret),
            "protection": protection,
            "public": json_path(public_path),
            "public_key": public.to_text().encode().as_str(),
        }));
    } else {
        println!("{role} {alg} key {key_id}");
        match secret {
            Some(p) => println!(
                "  secret: {} (mode 0600, protection: {protection})",
                p.display()
            ),
            None => println!("  secret: inside the PKCS#11 token"),
        }
        println!("  public: {}", public_path.display());
    }
    Ok(ExitCode::Ok)
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// Key files, directories whose key files to list (not recursive), or
    /// `pkcs11:` URIs of keys in a token.
    #[arg(required = true, value_name = "DIR_OR_FILE_OR_URI")]
    paths: Vec<PathBuf>,
    /// Print a JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// One listed key.
struct Listed {
    path: PathBuf,
    kind: String,
    alg: String,
    key_id: KeyId,
    secret: bool,
    encrypted: Option<KdfParams>,
    /// For a key in a token: whether it is sensitive and not extractable.
    in_token: Option<bool>,
}

impl Listed {
    fn from_file(path: &Path, file: &KeyFile) -> Option<Self> {
        Some(match file {
            KeyFile::Encrypted(k) => Self {
                path: path.to_owned(),
                kind: k.role().to_string(),
                alg: k.alg().to_string(),
                key_id: k.key_id(),
                secret: true,
                encrypted: Some(k.kdf_params()),
                in_token: None,
            },
            KeyFile::Plain(k) => {
                let (kind, alg, key_id, secret) = match k {
                    AnyKey::SigningSecret(s) => (
                        "signing",
                        "ed25519".to_owned(),
                        s.verifying_key().key_id(),
                        true,
                    ),
                    AnyKey::SigningPublic(p) => {
                        ("signing", "ed25519".to_owned(), p.key_id(), false)
                    }
                    AnyKey::RecipientSecret(s) => ("device", s.kem().to_string(), s.key_id(), true),
                    AnyKey::RecipientPublic(p) => {
                        ("device", p.kem().to_string(), p.key_id(), false)
                    }
                    _ => return None,
                };
                Self {
                    path: path.to_owned(),
                    kind: kind.to_owned(),
                    alg,
                    key_id,
                    secret,
                    encrypted: None,
                    in_token: None,
                }
            }
            _ => return None,
        })
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "path": json_path(&self.path),
            "kind": self.kind,
            "alg": self.alg,
            "key_id": self.key_id.to_string(),
            "secret": self.secret,
            "encrypted": self.encrypted.is_some(),
            "kdf": self.encrypted.map(|p| serde_json::json!({
                "alg": "argon2id",
                "m_cost_kib": p.m_cost_kib(),
                "t_cost": p.t_cost(),
                "p_cost": p.p_cost(),
            })),
            "pkcs11": self.in_token.map(|protected| serde_json::json!({
                "sensitive_not_extractable": protected,
            })),
        })
    }
}

fn list(a: &ListArgs) -> CliResult {
    let mut listed = Vec::new();
    let mut failures: Vec<(PathBuf, CliError)> = Vec::new();
    for path in &a.paths {
        if let Some(uri) = path.to_str().filter(|p| p.starts_with(Pkcs11Uri::SCHEME)) {
            match list_token_key(uri) {
                Ok(k) => listed.push(k),
                Err(e) => failures.push((path.clone(), e)),
            }
            continue;
        }
        let in_dir = path.is_dir();
        let files = if in_dir {
            let mut entries = std::fs::read_dir(path)
                .and_then(|d| {
                    d.map(|e| e.map(|e| e.path()))
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(|e| otaseal::Error::io(path, e))?;
            entries.retain(|p| p.is_file());
            entries.sort();
            entries
        } else {
            vec![path.clone()]
        };
        for f in files {
            match load_key_file(&f) {
                Ok(k) => listed.extend(Listed::from_file(&f, &k)),
                // Other files in a directory are not keys (nor are files
                // larger than any key file); skip them quietly.
                Err(otaseal::Error::Format(_) | otaseal::Error::TooLarge { .. }) if in_dir => {}
                Err(e) => failures.push((f, e.into())),
            }
        }
    }
    if a.json {
        print_json(&serde_json::json!({
            "keys": listed.iter().map(Listed::json).collect::<Vec<_>>(),
            "errors": failures.iter().map(|(p, e)| serde_json::json!({
                "path": json_path(p), "error": e.message(), "exit_code": e.code() as u8,
            })).collect::<Vec<_>>(),
        }));
    } else {
        if !listed.is_empty() {
            println!(
                "{:<32}  {:<8}  {:<7}  {:<6}  {:<9}  PATH",
                "KEY ID", "KIND", "ALG", "PART", "ENCRYPTED"
            );
        }
        for k in &listed {
            println!(
                "{:<32}  {:<8}  {:<7}  {:<6}  {:<9}  {}",
                k.key_id.to_string(),
                k.kind,
                k.alg,
                if k.secret { "secret" } else { "public" },
                match (k.secret, k.encrypted.is_some(), k.in_token) {
                    (_, _, Some(true)) => "token",
                    (_, _, Some(false)) => "EXPORTABLE",
                    (false, _, None) => "-",
                    (true, true, None) => "yes",
                    (true, false, None) => "NO",
                },
                k.path.display()
            );
        }
        for (p, e) in &failures {
            eprintln!("otaseal: {}: {}", p.display(), e.message());
        }
    }
    Ok(match (failures.first(), listed.is_empty()) {
        (None, _) => ExitCode::Ok,
        (Some((_, e)), true) => e.code(),
        (Some(_), false) => ExitCode::Partial,
    })
}

/// Describes the key a `pkcs11:` URI names (this logs in to read the
/// private key's protection flags).
fn list_token_key(uri: &str) -> CliResult<Listed> {
    let parsed = Pkcs11Uri::parse(uri)?;
    let opts = args::pkcs11_options(&parsed)?;
    let signer = Pkcs11Signer::open(&parsed, &opts, key_events(None).as_deref())?;
    Ok(Listed {
        path: PathBuf::from(signer.uri()),
        kind: "signing".into(),
        alg: "ed25519".into(),
        key_id: signer.verifying_key().key_id(),
        secret: true,
        encrypted: None,
        in_token: Some(signer.private_key_is_protected()),
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct ChangePassphraseArgs {
    /// The secret key file; replaced atomically.
    file: PathBuf,
    #[command(flatten)]
    unlock: Unlock,
    /// Read the new passphrase from this file. Otherwise it comes from
    /// $OTASEAL_NEW_PASSPHRASE, or is asked for twice on the terminal.
    #[arg(long, value_name = "FILE")]
    new_passphrase_file: Option<PathBuf>,
    /// Role to record when encrypting a plain signing key (default: release).
    #[arg(long, value_enum)]
    kind: Option<Role>,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn change_passphrase(a: &ChangePassphraseArgs) -> CliResult {
    let (secret, role, was) = match load_key_file(&a.file)? {
        KeyFile::Encrypted(k) => {
            if a.kind.is_some_and(|r| KeyRole::from(r) != k.role()) {
                return Err(CliError::usage(format!(
                    "{}: the key is a {} key; its role cannot change",
                    a.file.display(),
                    k.role()
                )));
            }
            (
                args::unlock_key(&a.unlock, &k, None)?,
                k.role(),
                "encrypted",
            )
        }
        KeyFile::Plain(k @ (AnyKey::SigningSecret(_) | AnyKey::RecipientSecret(_))) => {
            let role = match (&k, a.kind) {
                (_, Some(r)) => r.into(),
                (AnyKey::SigningSecret(_), None) => KeyRole::Release,
                _ => KeyRole::Device,
            };
            (k, role, "plain")
        }
        KeyFile::Plain(_) => {
            return Err(CliError::usage(format!(
                "{}: a public key has no passphrase",
                a.file.display()
            )));
        }
        _ => return Err(CliError::usage("unsupported key file")),
    };
    let new: Passphrase = args::passphrase(
        a.new_passphrase_file.as_deref(),
        NEW_PASSPHRASE_ENV,
        "New passphrase",
        true,
    )?;
    let enc = EncryptedKey::encrypt(&secret, role, &new, KdfParams::DEFAULT, &mut os_rng())?;
    replace_with_encrypted_key_file(&a.file, &enc)?;
    if a.json {
        print_json(&serde_json::json!({
            "path": json_path(&a.file),
            "key_id": enc.key_id().to_string(),
            "kind": role.to_string(),
            "was": was,
            "kdf": enc.kdf_params().to_string(),
        }));
    } else {
        println!(
            "{}: {role} key {} re-encrypted ({})",
            a.file.display(),
            enc.key_id(),
            enc.kdf_params()
        );
    }
    Ok(ExitCode::Ok)
}
