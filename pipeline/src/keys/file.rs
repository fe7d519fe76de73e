//! Reading and writing key files: key lines (`otaseal1:...`) and encrypted
//! key files (`keys::keystore`). Secret files of both kinds are created
//! `0600`, and one that group or others can read is refused, as ssh does.

use super::keystore::EncryptedKey;
use super::{RecipientPublicKey, RecipientSecretKey, SigningKey, VerifyingKey};
use crate::error::{Error, Result};
use crate::format::FormatError;
use crate::format::keystore::KeystoreFile;
use crate::format::keytext::KeyText;
use crate::keys::KemId;
use std::io::Write;
use std::path::Path;
use zeroize::Zeroizing;

/// Any key a file may hold.
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyKey {
    SigningSecret(SigningKey),
    SigningPublic(VerifyingKey),
    RecipientSecret(RecipientSecretKey),
    RecipientPublic(RecipientPublicKey),
}

impl AnyKey {
    pub fn from_text(text: &KeyText) -> Result<Self> {
        Ok(match text {
            KeyText::Ed25519Public(b) => Self::SigningPublic(VerifyingKey::from_bytes(b)?),
            KeyText::Ed25519Secret(b) => Self::SigningSecret(SigningKey::from_bytes(b)),
            KeyText::X25519Public(b) => {
                Self::RecipientPublic(RecipientPublicKey::from_bytes(KemId::X25519, b)?)
            }
            KeyText::P256Public(b) => {
                Self::RecipientPublic(RecipientPublicKey::from_bytes(KemId::P256, b)?)
            }
            KeyText::X25519Secret(b) => {
                Self::RecipientSecret(RecipientSecretKey::from_secret_bytes(KemId::X25519, b)?)
            }
            KeyText::P256Secret(b) => {
                Self::RecipientSecret(RecipientSecretKey::from_secret_bytes(KemId::P256, b)?)
            }
        })
    }

    /// Parses a key line (or the contents of a key file).
    pub fn parse(text: &str) -> Result<Self> {
        Self::from_text(&KeyText::parse(text)?)
    }

    pub fn to_text(&self) -> KeyText {
        match self {
            Self::SigningSecret(k) => KeyText::Ed25519Secret(k.to_secret_bytes()),
            Self::SigningPublic(k) => KeyText::Ed25519Public(k.to_bytes()),
            Self::RecipientSecret(k) => match k.kem() {
                KemId::X25519 => KeyText::X25519Secret(k.to_secret_bytes()),
                KemId::P256 => KeyText::P256Secret(k.to_secret_bytes()),
            },
            Self::RecipientPublic(k) => match k {
                RecipientPublicKey::X25519(b) => KeyText::X25519Public(*b),
                RecipientPublicKey::P256(b) => KeyText::P256Public(b.clone()),
            },
        }
    }
}

/// What a key file holds, before any passphrase is asked for.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyFile {
    /// A key line (`otaseal1:...`), public or secret.
    Plain(AnyKey),
    /// A passphrase-encrypted secret key.
    Encrypted(EncryptedKey),
}

/// Reads a key file of either kind, refusing secret keys (plain or
/// encrypted) that group or others can read, and files over
/// [`MAX_KEY_FILE_LEN`] (no key file is that large; `/dev/zero` is).
pub fn load_key_file(path: &Path) -> Result<KeyFile> {
    let bytes = Zeroizing::new(crate::files::read_capped(
        path,
        "a key file",
        MAX_KEY_FILE_LEN,
    )?);
    if KeystoreFile::sniff(&bytes) {
        check_private_permissions(path)?;
        return Ok(KeyFile::Encrypted(
            EncryptedKey::parse(&bytes)?.with_path(path),
        ));
    }
    let key = parse_text(&bytes)?;
    if key.is_secret() {
        check_private_permissions(path)?;
    }
    Ok(KeyFile::Plain(AnyKey::from_text(&key)?))
}

/// Largest key file read, of either kind: a key line after 64 KiB of
/// comments is refused (FORMAT.md §3.3). Keystore files are 133 or 166 bytes.
pub const MAX_KEY_FILE_LEN: u64 = 64 * 1024;

/// Decodes the contents of a key file that has no file to check the
/// permissions of (a key from standard input or an environment variable).
pub fn parse_key_bytes(bytes: &[u8]) -> Result<KeyFile> {
    if KeystoreFile::sniff(bytes) {
        return Ok(KeyFile::Encrypted(EncryptedKey::parse(bytes)?));
    }
    Ok(KeyFile::Plain(AnyKey::from_text(&parse_text(bytes)?)?))
}

fn parse_text(bytes: &[u8]) -> Result<KeyText> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| FormatError::invalid("key", "neither a key line nor an encrypted key file"))?;
    Ok(KeyText::parse(text)?)
}

/// Reads an unencrypted key file, refusing secret keys that others can
/// read. An encrypted file gives [`Error::PassphraseRequired`]: use
/// [`load_key_file`] and [`EncryptedKey::unlock`].
pub fn read_key_file(path: &Path) -> Result<AnyKey> {
    match load_key_file(path)? {
        KeyFile::Plain(key) => Ok(key),
        KeyFile::Encrypted(_) => Err(Error::PassphraseRequired {
            path: path.to_owned(),
        }),
    }
}

#[cfg(unix)]
fn check_private_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(Error::InsecureKeyFile {
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private_permissions(_path: &Path) -> Result<()> {
    Ok(())
}

/// Writes a key file with a comment header, atomically, never replacing an
/// existing file. Secret files are created with mode 0600 from the start.
pub fn write_key_file(path: &Path, key: &AnyKey, comment: &str) -> Result<()> {
    let text = key.to_text();
    let mut body = Zeroizing::new(String::new());
    for line in comment.lines() {
        body.push_str("# ");
        body.push_str(line);
        body.push('\n');
    }
    body.push_str(&text.encode());
    body.push('\n');
    write_new_file(path, body.as_bytes(), text.is_secret())
}

/// Writes an encrypted key file (mode 0600), never replacing an existing file.
pub fn write_encrypted_key_file(path: &Path, key: &EncryptedKey) -> Result<()> {
    write_new_file(path, &key.to_bytes(), true)
}

/// Replaces `path` atomically with `key` (mode 0600): the old file stays
/// whole until the new one is on disk.
pub fn replace_with_encrypted_key_file(path: &Path, key: &EncryptedKey) -> Result<()> {
    crate::files::write_atomic(path, &key.to_bytes(), 0o600)
}

fn write_new_file(path: &Path, bytes: &[u8], secret: bool) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // tempfile creates files 0600, so a secret is never readable by others,
    // not even for an instant; public keys are widened to 0644 afterwards.
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    #[cfg(unix)]
    if !secret {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io(tmp.path(), e))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist_noclobber(path)
        .map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    #[test]
    fn secret_files_are_private_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let path = dir.path().join("sign.key");
        write_key_file(
            &path,
            &AnyKey::SigningSecret(SigningKey::generate(&mut rng)),
            "test",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            assert!(matches!(
                read_key_file(&path).unwrap(),
                AnyKey::SigningSecret(_)
            ));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                read_key_file(&path),
                Err(Error::InsecureKeyFile { .. })
            ));
        }
        // Never overwrites an existing key.
        let again = AnyKey::SigningSecret(SigningKey::generate(&mut rng));
        assert!(write_key_file(&path, &again, "x").is_err());
    }

    #[test]
    fn oversized_key_files_are_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.pub");
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let key = AnyKey::SigningPublic(SigningKey::generate(&mut rng).verifying_key());
        // A valid key line after a megabyte of comments: well-formed, but no
        // key file is that large, so it is refused without reading it all.
        let mut text = "# padding\n".repeat(100_000);
        text.push_str(&key.to_text().encode());
        std::fs::write(&path, text).unwrap();
        assert!(matches!(load_key_file(&path), Err(Error::TooLarge { .. })));
    }

    #[test]
    fn encrypted_files_share_the_permission_check() {
        use crate::keys::keystore::{EncryptedKey, Passphrase};
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4);
        let key = AnyKey::SigningSecret(SigningKey::generate(&mut rng));
        let pass = Passphrase::new("pw".into());
        let params = crate::format::keystore::KdfParams::new(64, 1, 1).unwrap();
        let enc =
            EncryptedKey::encrypt(&key, crate::keys::KeyRole::Release, &pass, params, &mut rng)
                .unwrap();
        let path = dir.path().join("release.key");
        write_encrypted_key_file(&path, &enc).unwrap();
        assert!(
            write_encrypted_key_file(&path, &enc).is_err(),
            "overwrote a key"
        );
        let KeyFile::Encrypted(loaded) = load_key_file(&path).unwrap() else {
            panic!("not read as an encrypted key");
        };
        assert_eq!(loaded.path(), Some(path.as_path()));
        assert_eq!(loaded.unlock(&pass, None).unwrap().to_text(), key.to_text());
        assert!(matches!(
            read_key_file(&path),
            Err(Error::PassphraseRequired { .. })
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
            assert!(matches!(
                load_key_file(&path),
                Err(Error::InsecureKeyFile { mode: 0o640, .. })
            ));
            // Replacing keeps the file private.
            replace_with_encrypted_key_file(&path, &enc).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
