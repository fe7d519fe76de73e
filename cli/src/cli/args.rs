//! Argument helpers shared by subcommands: key arguments, sizes, ranges,
//! and printing JSON or human output.

use super::{CliError, CliResult};
use otaseal::keys::events::KeyEventSink;
use otaseal::keys::file::{AnyKey, KeyFile, MAX_KEY_FILE_LEN, load_key_file, parse_key_bytes};
use otaseal::keys::keystore::{EncryptedKey, KdfLimit, Passphrase};
use otaseal::keys::pkcs11::{Pkcs11Options, Pkcs11Signer, Pkcs11Uri};
use otaseal::keys::{
    KemId, KeyRole, RecipientPublicKey, RecipientSecretKey, Signer, SigningKey, VerifyingKey,
};
use otaseal::open::TrustAnchor;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Environment variable holding the passphrase of encrypted key files.
pub(crate) const PASSPHRASE_ENV: &str = "OTASEAL_PASSPHRASE";
/// Environment variable holding the PIN of a PKCS#11 token.
pub(crate) const PKCS11_PIN_ENV: &str = "OTASEAL_PKCS11_PIN";
/// Environment variable naming the PKCS#11 module when a URI has no `module-path`.
pub(crate) const PKCS11_MODULE_ENV: &str = "OTASEAL_PKCS11_MODULE";

/// Environment variable with the Argon2 memory limit for unlocking keys.
pub(crate) const MAX_KDF_MEMORY_ENV: &str = "OTASEAL_MAX_KDF_MEMORY";

/// Where the passphrase of an encrypted key comes from. Never a command-line
/// value: arguments are visible to every user through `ps` and `/proc`.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct Unlock {
    /// Read the key passphrase from this file (less one final line break). Otherwise it
    /// comes from $OTASEAL_PASSPHRASE, or is asked for on the terminal.
    #[arg(long, value_name = "FILE")]
    pub(crate) passphrase_file: Option<PathBuf>,
    /// Refuse to unlock an encrypted key whose Argon2id parameters use more memory than
    /// this, or more than 3 passes' worth of it (default 256M, or $OTASEAL_MAX_KDF_MEMORY;
    /// 4G accepts every file the format allows).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) max_kdf_memory: Option<u64>,
}

impl Unlock {
    /// The Argon2 limit: `--max-kdf-memory`, else `$OTASEAL_MAX_KDF_MEMORY`,
    /// else the library default.
    fn kdf_limit(&self) -> CliResult<KdfLimit> {
        let bytes = match self.max_kdf_memory {
            Some(b) => b,
            // An empty variable is unset, as for $OTASEAL_AUDIT_LOG.
            None => match std::env::var_os(MAX_KDF_MEMORY_ENV).filter(|v| !v.is_empty()) {
                None => return Ok(KdfLimit::DEFAULT),
                Some(v) => v
                    .to_str()
                    .ok_or(())
                    .and_then(|v| parse_size(v).map_err(drop))
                    .map_err(|()| {
                        CliError::usage(format!(
                            "${MAX_KDF_MEMORY_ENV} is not a size (e.g. 256M, 1G)"
                        ))
                    })?,
            },
        };
        Ok(KdfLimit::new(bytes / 1024))
    }
}

/// Where key events go: the audit log of `--audit-log` (`audit`), else the
/// one named by `$OTASEAL_AUDIT_LOG`, if any — resolved by
/// `trust_args::audit_log`, so both ways of naming the log record the same
/// events. Commands pass this sink to the library operations, which record
/// their own events; the CLI records none itself.
pub(crate) fn key_events(audit: Option<&Path>) -> Option<Arc<dyn KeyEventSink>> {
    super::trust_args::audit_log(audit).map(|log| Arc::new(log) as Arc<dyn KeyEventSink>)
}

/// A passphrase from `file`, else `env`, else the terminal (no echo; asked
/// twice when `confirm`). Fails when none is available.
pub(crate) fn passphrase(
    file: Option<&Path>,
    env: &str,
    prompt: &str,
    confirm: bool,
) -> CliResult<Passphrase> {
    if let Some(f) = file {
        return Ok(Passphrase::from_file(f)?);
    }
    if let Some(v) = std::env::var_os(env) {
        let v = v
            .into_string()
            .map_err(|_| CliError::usage(format!("${env} is not valid UTF-8")))?;
        return Ok(Passphrase::new(v));
    }
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(format!(
            "{prompt}: no passphrase available; set ${env}, pass a passphrase file, or run on a terminal"
        )));
    }
    let read = |p: &str| {
        rpassword::prompt_password(p)
            .map(Passphrase::new)
            .map_err(|e| CliError::usage(format!("cannot read the passphrase: {e}")))
    };
    let first = read(&format!("{prompt}: "))?;
    if confirm {
        let second = read("Repeat it: ")?;
        if !first.same_as(&second) {
            return Err(CliError::usage("the two passphrases differ"));
        }
    }
    Ok(first)
}

/// The passphrase for unlocking an existing key.
fn unlock_passphrase(unlock: &Unlock, key: &EncryptedKey) -> CliResult<Passphrase> {
    let what = match key.path() {
        Some(p) => format!("Passphrase for {} ({})", p.display(), key.key_id()),
        None => format!("Passphrase for key {}", key.key_id()),
    };
    passphrase(
        unlock.passphrase_file.as_deref(),
        PASSPHRASE_ENV,
        &what,
        false,
    )
}

/// Decrypts an encrypted key within the Argon2 limit, reporting the attempt
/// to the audit log `audit` (`--audit-log`) or `$OTASEAL_AUDIT_LOG`.
pub(crate) fn unlock_key(
    unlock: &Unlock,
    key: &EncryptedKey,
    audit: Option<&Path>,
) -> CliResult<AnyKey> {
    // Checked first: an over-limit file fails the same with or without a
    // passphrase, and no prompt is shown for a key that cannot be unlocked.
    let limit = unlock.kdf_limit()?;
    key.check_kdf(limit)?;
    let pass = unlock_passphrase(unlock, key)?;
    let events = key_events(audit);
    Ok(key.unlock_within(&pass, limit, events.as_deref())?)
}

/// A key argument that names no file: key text from the environment
/// variable NAME.
const ENV_KEY_PREFIX: &str = "env:";
/// A key argument that names no file: key text (or an encrypted key file's
/// bytes) on standard input.
const STDIN_KEY: &str = "-";

/// A key given as a path to a key file, as `env:NAME`, as `-` (standard
/// input), or inline as public `otaseal1:...` text; as read: an encrypted
/// key stays locked. Secret key text inline is refused: arguments are
/// visible to every user through `ps` and `/proc`.
pub(crate) fn load_locked(arg: &str) -> CliResult<KeyFile> {
    use otaseal::format::keytext::PREFIX;
    if let Some(rest) = arg.strip_prefix(PREFIX) {
        // Decided on the type label alone, so that not even a malformed
        // secret is parsed, and the message never repeats the argument.
        let label = rest.split(':').next().unwrap_or_default();
        if label.ends_with("-secret") {
            return Err(CliError::usage(format!(
                "a {label} key was given on the command line, where other users can read it \
                 (ps, /proc); pass a key file path, `env:NAME` (key text in the environment \
                 variable NAME), or `-` (key read from standard input)"
            )));
        }
        return Ok(KeyFile::Plain(AnyKey::parse(arg)?));
    }
    if let Some(name) = arg.strip_prefix(ENV_KEY_PREFIX) {
        let value = std::env::var_os(name)
            .ok_or_else(|| CliError::usage(format!("{arg}: ${name} is not set")))?;
        let value = zeroize::Zeroizing::new(
            value
                .into_string()
                .map_err(|_| CliError::usage(format!("{arg}: ${name} is not UTF-8 key text")))?,
        );
        if value.len() as u64 > MAX_KEY_FILE_LEN {
            return Err(CliError::usage(format!(
                "{arg}: ${name} is too long for a key"
            )));
        }
        return parse_key_bytes(value.as_bytes()).map_err(|e| CliError::from(e).context(arg));
    }
    if arg == STDIN_KEY {
        return parse_key_bytes(&read_stdin_key()?)
            .map_err(|e| CliError::from(e).context("standard input"));
    }
    Ok(load_key_file(Path::new(arg))?)
}

/// Reads a key from standard input, up to the key file limit.
fn read_stdin_key() -> CliResult<zeroize::Zeroizing<Vec<u8>>> {
    let mut buf = zeroize::Zeroizing::new(Vec::with_capacity(4096));
    otaseal::files::read_capped_from(
        std::io::stdin().lock(),
        Path::new("<standard input>"),
        "a key file",
        MAX_KEY_FILE_LEN,
        &mut buf,
    )?;
    Ok(buf)
}

/// A key, unlocking it if it is encrypted.
fn load_key(arg: &str, unlock: &Unlock, audit: Option<&Path>) -> CliResult<AnyKey> {
    unlock_file(arg, load_locked(arg)?, unlock, audit)
}

fn unlock_file(
    arg: &str,
    file: KeyFile,
    unlock: &Unlock,
    audit: Option<&Path>,
) -> CliResult<AnyKey> {
    match file {
        KeyFile::Plain(k) => Ok(k),
        KeyFile::Encrypted(k) => unlock_key(unlock, &k, audit),
        _ => Err(CliError::usage(format!("{arg}: unsupported key file"))),
    }
}

fn wrong_kind(arg: &str, want: &str, got: &AnyKey) -> CliError {
    CliError::usage(format!(
        "{arg}: expected {want}, found a {}",
        got.to_text().label()
    ))
}

fn wrong_locked_kind(arg: &str, want: &str, got: &EncryptedKey) -> CliError {
    CliError::usage(format!(
        "{arg}: expected {want}, found an encrypted {} {} key",
        got.role(),
        got.alg()
    ))
}

pub(crate) fn recipient(arg: &str) -> CliResult<RecipientPublicKey> {
    match load_locked(arg)? {
        KeyFile::Plain(AnyKey::RecipientPublic(k)) => Ok(k),
        KeyFile::Plain(AnyKey::RecipientSecret(k)) => Ok(k.public_key().clone()),
        KeyFile::Plain(other) => Err(wrong_kind(arg, "a device public key", &other)),
        // An encrypted device key's public half is readable without a passphrase.
        KeyFile::Encrypted(k) => {
            let kem = match k.alg() {
                otaseal::keys::KeyAlg::X25519 => KemId::X25519,
                otaseal::keys::KeyAlg::P256 => KemId::P256,
                _ => return Err(wrong_locked_kind(arg, "a device key", &k)),
            };
            Ok(RecipientPublicKey::from_bytes(kem, k.public_key_bytes())?)
        }
        _ => Err(CliError::usage(format!("{arg}: unsupported key file"))),
    }
}

/// A device secret key. Its unlock events go to `$OTASEAL_AUDIT_LOG`: the
/// device-side commands have no `--audit-log`.
pub(crate) fn device_key(arg: &str, unlock: &Unlock) -> CliResult<RecipientSecretKey> {
    match load_key(arg, unlock, None)? {
        AnyKey::RecipientSecret(k) => Ok(k),
        other => Err(wrong_kind(arg, "a device secret key", &other)),
    }
}

/// A signing key file's secret key, for what a PKCS#11 key cannot do here
/// (certifying). An encrypted file's passphrase comes from
/// $OTASEAL_PASSPHRASE or the terminal; see [`signing_key_with`]. An unlock
/// is recorded in `audit` (the command's `--audit-log`) or $OTASEAL_AUDIT_LOG.
pub(crate) fn signing_key(arg: &str, audit: Option<&Path>) -> CliResult<SigningKey> {
    signing_key_with(arg, &Unlock::default(), audit)
}

/// [`signing_key`] with an explicit passphrase source.
pub(crate) fn signing_key_with(
    arg: &str,
    unlock: &Unlock,
    audit: Option<&Path>,
) -> CliResult<SigningKey> {
    match load_key(arg, unlock, audit)? {
        AnyKey::SigningSecret(k) => Ok(k),
        other => Err(wrong_kind(arg, "a signing secret key", &other)),
    }
}

/// Options for PKCS#11 keys from the environment: the module and the PIN,
/// used when the URI does not name them.
pub(crate) fn pkcs11_options(uri: &Pkcs11Uri) -> CliResult<Pkcs11Options> {
    let module = std::env::var_os(PKCS11_MODULE_ENV).map(PathBuf::from);
    let pin = if uri.has_pin() {
        None
    } else {
        Some(passphrase(
            None,
            PKCS11_PIN_ENV,
            &format!("PIN for {}", uri.redacted()),
            false,
        )?)
    };
    Ok(Pkcs11Options { module, pin })
}

/// A manifest signer and its public key: a `pkcs11:` URI (RFC 7512) naming
/// a key in a token, or a signing key (a file, encrypted or not, `env:NAME`
/// or `-`). A root key is refused: it certifies, it does not sign
/// manifests. Unlock events go to `audit` (`--audit-log`) or
/// $OTASEAL_AUDIT_LOG.
pub(crate) fn signer(
    arg: &str,
    unlock: &Unlock,
    audit: Option<&Path>,
) -> CliResult<(Box<dyn Signer>, VerifyingKey)> {
    let events = key_events(audit);
    let (signer, public): (Box<dyn Signer>, _) = if arg.starts_with(Pkcs11Uri::SCHEME) {
        let uri = Pkcs11Uri::parse(arg)?;
        let opts = pkcs11_options(&uri)?;
        let key = Pkcs11Signer::open(&uri, &opts, events.as_deref())?;
        let public = key.verifying_key();
        (Box::new(key), public)
    } else {
        let file = load_locked(arg)?;
        if let KeyFile::Encrypted(k) = &file
            && k.role() == KeyRole::Root
        {
            return Err(CliError::usage(format!(
                "{arg} is a root key: root keys certify release keys and stay offline; \
                     sign manifests with a release key"
            )));
        }
        match unlock_file(arg, file, unlock, audit)? {
            AnyKey::SigningSecret(k) => {
                let public = k.verifying_key();
                (Box::new(k), public)
            }
            other => return Err(wrong_kind(arg, "a signing secret key", &other)),
        }
    };
    Ok((signer, public))
}

pub(crate) fn trust(arg: &str) -> CliResult<TrustAnchor> {
    Ok(TrustAnchor::SigningKey(signing_public(arg)?))
}

/// A signing public key, or the public half of a signing secret key file
/// (an encrypted file is not unlocked: its header holds the public key).
pub(crate) fn signing_public(arg: &str) -> CliResult<VerifyingKey> {
    Ok(match load_locked(arg)? {
        KeyFile::Plain(AnyKey::SigningPublic(k)) => k,
        KeyFile::Plain(AnyKey::SigningSecret(k)) => k.verifying_key(),
        KeyFile::Plain(other) => return Err(wrong_kind(arg, "a signing public key", &other)),
        KeyFile::Encrypted(k) if k.alg() == otaseal::keys::KeyAlg::Ed25519 => {
            VerifyingKey::from_bytes(
                k.public_key_bytes()
                    .try_into()
                    .map_err(|_| CliError::usage(format!("{arg}: bad public key length")))?,
            )?
        }
        KeyFile::Encrypted(k) => return Err(wrong_locked_kind(arg, "a signing key", &k)),
        _ => return Err(CliError::usage(format!("{arg}: unsupported key file"))),
    })
}

/// `PREFIX.ext`: the file names `--out PREFIX` options produce.
pub(crate) fn with_suffix(prefix: &Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// Parses sizes like `65536`, `64K`, `64KiB`, `1M`.
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("`{s}` is not a size"))?;
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use K, M or G)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// Parses a positive duration: a whole number with an optional unit `ms`,
/// `s` (the default), `m`, `h`, `d`, `w` or `y` (365 days): `500ms`, `90`,
/// `2h`, `90d`. The one duration syntax of every flag that takes one.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}`: expected a duration such as 500ms, 90s, 2h or 90d"))?;
    let ms_per_unit: u64 = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        "y" => 365 * 86_400_000,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit `{unit}` (use ms, s, m, h, d, w or y)"
            ));
        }
    };
    let ms = n
        .checked_mul(ms_per_unit)
        .ok_or_else(|| format!("`{text}`: too long"))?;
    if ms == 0 {
        return Err(format!("`{text}`: must be more than zero"));
    }
    Ok(std::time::Duration::from_millis(ms))
}

/// [`parse_duration`] in whole seconds, for times stored in seconds.
pub(crate) fn parse_seconds(text: &str) -> Result<u64, String> {
    let d = parse_duration(text)?;
    if d.subsec_millis() != 0 {
        return Err(format!("`{text}`: whole seconds only"));
    }
    Ok(d.as_secs())
}

/// Parses a half-open byte range `A-B` (bytes A..B; B exclusive).
pub(crate) fn parse_range(s: &str) -> Result<Range<u64>, String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("`{s}`: expected START-END"))?;
    let start = parse_size(a)?;
    let end = parse_size(b)?;
    if start > end {
        return Err(format!("`{s}`: start is after end"));
    }
    Ok(start..end)
}

/// A path as a JSON value, losslessly: a string when it is valid UTF-8 (the
/// usual case), otherwise `{"hex": "<the raw bytes in hex>"}` so a script can
/// still act on the exact file. serde's own encoding of a path fails on
/// non-UTF-8 bytes, and `json!` turns that failure into a panic.
pub(crate) fn json_path(path: impl AsRef<Path>) -> serde_json::Value {
    let path = path.as_ref();
    if let Some(s) = path.to_str() {
        return serde_json::Value::from(s);
    }
    #[cfg(unix)]
    let raw = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).to_vec();
    #[cfg(not(unix))]
    let raw = path.as_os_str().as_encoded_bytes().to_vec();
    serde_json::json!({ "hex": hex::encode(raw) })
}

/// [`json_path`] of an optional path: `null` when absent.
pub(crate) fn json_opt_path<P: AsRef<Path>>(path: Option<P>) -> serde_json::Value {
    path.map_or(serde_json::Value::Null, json_path)
}

/// Prints one JSON value on its own line.
pub(crate) fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        use std::time::Duration;
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_seconds("90d"), Ok(90 * 86_400));
        assert_eq!(parse_seconds("1w"), Ok(604_800));
        assert_eq!(parse_seconds("1y"), Ok(365 * 86_400));
        for bad in [
            "",
            "0",
            "0s",
            "0d",
            "s",
            "d",
            "-1s",
            " 1",
            "1 s",
            "1q",
            "1.5s",
            "99999999999999999y",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} parsed");
        }
        assert!(parse_seconds("1500ms").is_err());
    }

    #[test]
    fn sizes_and_ranges() {
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("12"), Ok(12));
        assert!(parse_size("1X").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999999G").is_err());
        assert_eq!(parse_range("0-100"), Ok(0..100));
        assert_eq!(parse_range("1K-2K"), Ok(1024..2048));
        assert!(parse_range("5-1").is_err());
        assert!(parse_range("5").is_err());
    }
}
