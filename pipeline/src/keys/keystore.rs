//! Passphrase-encrypted secret keys (`docs/FORMAT.md` §14).
//!
//! `kek = Argon2id(passphrase, salt, m, t, p)` (32 bytes), then the 32-byte
//! secret is sealed with AES-256-GCM under `kek` and a random nonce, with the
//! whole header as associated data. A wrong passphrase and an altered file
//! are indistinguishable by design: both fail the tag check.
//!
//! Every buffer that holds the passphrase, the key-encryption key or the
//! secret is zeroized when dropped, on the success and the failure path;
//! Argon2's working memory is zeroized by the `argon2` crate (`zeroize`
//! feature), and the AES key schedule by `aes-gcm` (`zeroize` feature).

use super::events::{KeyBackend, KeyEvent, KeyEventSink, report};
use super::file::AnyKey;
use super::{KemId, KeyId, RecipientPublicKey, RecipientSecretKey, SigningKey, VerifyingKey};
use crate::error::{Error, Result};
use crate::format::keystore::{
    KdfParams, KeyAlg, KeyRole, KeystoreFile, NONCE_LEN, SALT_LEN, SEALED_LEN, SECRET_LEN,
};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// A passphrase. Zeroized on drop; never printed.
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl Passphrase {
    /// Takes ownership of `text`; its buffer is zeroized with the passphrase.
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text.into_bytes()))
    }

    pub fn from_bytes(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }

    /// Longest passphrase file read. Passphrases are typed or generated
    /// strings; 64 KiB is far beyond any, and bounds `/dev/zero`.
    pub const MAX_FILE_LEN: u64 = 64 * 1024;

    /// Reads a passphrase file: its contents up to a final line break.
    /// A file over [`Self::MAX_FILE_LEN`] is refused unread.
    pub fn from_file(path: &Path) -> Result<Self> {
        let mut bytes = Zeroizing::new(crate::files::read_capped(
            path,
            "a passphrase file",
            Self::MAX_FILE_LEN,
        )?);
        if bytes.ends_with(b"\n") {
            bytes.pop();
            if bytes.ends_with(b"\r") {
                bytes.pop();
            }
        }
        Ok(Self(bytes))
    }

    /// Compares two passphrases in constant time (for "type it twice").
    pub fn same_as(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// The most Argon2id work an unlock will do. The format lets a file ask for
/// up to 1 GiB and 10 passes (about 7 s and 1 GiB on the development
/// machine) before the passphrase can be checked; a reader refuses more
/// than its limit before deriving anything.
///
/// One setting, `max_m_cost_kib` (memory): a file may use at most that much
/// memory, and at most that memory times 3 passes of work (memory ×
/// passes), 3 being the passes otaseal writes. The default, 256 MiB, is
/// four times what otaseal writes (64 MiB, 3 passes) in both memory and
/// work — room for stronger parameters chosen elsewhere, about 1.2 s at
/// most — while refusing the format's worst case by a factor of 13.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfLimit {
    max_m_cost_kib: u64,
}

impl KdfLimit {
    pub const DEFAULT: Self = Self {
        max_m_cost_kib: 256 * 1024,
    };
    /// The passes the work bound allows at full memory.
    pub const PASSES: u64 = KdfParams::DEFAULT.t_cost() as u64;

    /// A limit of `max_m_cost_kib` KiB of memory (and three times that of
    /// work). `4 GiB` accepts everything the format allows.
    pub fn new(max_m_cost_kib: u64) -> Self {
        Self { max_m_cost_kib }
    }

    pub fn max_m_cost_kib(self) -> u64 {
        self.max_m_cost_kib
    }

    /// The bound on memory (KiB) × passes.
    pub fn max_work_kib(self) -> u64 {
        self.max_m_cost_kib.saturating_mul(Self::PASSES)
    }

    /// Whether an unlock may run Argon2id with `params`.
    pub fn allows(self, params: KdfParams) -> bool {
        let m = u64::from(params.m_cost_kib());
        m <= self.max_m_cost_kib && m * u64::from(params.t_cost()) <= self.max_work_kib()
    }
}

impl Default for KdfLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A secret key still encrypted: its public half, id and role are readable,
/// the secret needs the passphrase.
#[derive(Clone)]
pub struct EncryptedKey {
    file: KeystoreFile,
    path: Option<PathBuf>,
}

impl EncryptedKey {
    /// Decodes an encrypted key file: syntax, parameter bounds, and the
    /// public key, which must be valid for its algorithm (a small-order or
    /// non-canonical key is refused here, not at first use; FORMAT.md §14.3).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let file = KeystoreFile::parse(bytes)?;
        match file.alg {
            KeyAlg::Ed25519 => {
                let pk: &[u8; 32] =
                    file.public_key
                        .as_slice()
                        .try_into()
                        .map_err(|_| Error::InvalidKey {
                            what: "ed25519 public key is not 32 bytes",
                        })?;
                VerifyingKey::from_bytes(pk)?;
            }
            KeyAlg::X25519 => {
                RecipientPublicKey::from_bytes(KemId::X25519, &file.public_key)?;
            }
            KeyAlg::P256 => {
                RecipientPublicKey::from_bytes(KemId::P256, &file.public_key)?;
            }
        }
        Ok(Self { file, path: None })
    }

    /// Remembers where the key was read from, for events and messages.
    pub fn with_path(mut self, path: &Path) -> Self {
        self.path = Some(path.to_owned());
        self
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Encrypts `key` (a secret key) under `passphrase`, with a fresh salt
    /// and nonce from `rng`. Fails on a public key, an empty passphrase, or
    /// a role the key's algorithm cannot serve.
    pub fn encrypt(
        key: &AnyKey,
        role: KeyRole,
        passphrase: &Passphrase,
        params: KdfParams,
        rng: &mut impl rand_core::CryptoRng,
    ) -> Result<Self> {
        if passphrase.is_empty() {
            return Err(Error::InvalidRequest(
                "refusing to encrypt a key under an empty passphrase".into(),
            ));
        }
        let (alg, public_key, secret) = secret_parts(key)?;
        if !role.allows(alg) {
            return Err(Error::InvalidRequest(format!(
                "a {alg} key cannot be a {role} key"
            )));
        }
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut file = KeystoreFile {
            kdf: params,
            salt,
            nonce,
            alg,
            role,
            public_key,
            sealed: [0; SEALED_LEN],
        };
        let kek = derive_kek(passphrase, params, &salt)?;
        let aad = file.header_bytes();
        let mut buf = Zeroizing::new(*secret);
        let tag = aead(&kek)
            .encrypt_inout_detached(&nonce.into(), &aad, buf.as_mut_slice().into())
            .map_err(|_| Error::InvalidRequest("AES-256-GCM refused the secret".into()))?;
        file.sealed[..SECRET_LEN].copy_from_slice(buf.as_slice());
        file.sealed[SECRET_LEN..].copy_from_slice(&tag);
        Ok(Self { file, path: None })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.file.to_bytes()
    }

    pub fn alg(&self) -> KeyAlg {
        self.file.alg
    }

    pub fn role(&self) -> KeyRole {
        self.file.role
    }

    pub fn kdf_params(&self) -> KdfParams {
        self.file.kdf
    }

    pub fn public_key_bytes(&self) -> &[u8] {
        &self.file.public_key
    }

    /// The key id, the same as the unlocked key's (`KeyId::derive`).
    pub fn key_id(&self) -> KeyId {
        KeyId::derive(self.file.alg.code(), &self.file.public_key)
    }

    /// Fails with [`Error::KdfTooCostly`] if unlocking this key would take
    /// more Argon2 work than `limit` allows (so a caller can refuse before
    /// even asking for the passphrase).
    pub fn check_kdf(&self, limit: KdfLimit) -> Result<()> {
        let kdf = self.file.kdf;
        if limit.allows(kdf) {
            return Ok(());
        }
        Err(Error::KdfTooCostly {
            key_id: self.key_id(),
            m_cost_kib: kdf.m_cost_kib(),
            t_cost: kdf.t_cost(),
            max_m_cost_kib: limit.max_m_cost_kib(),
            max_work_kib: limit.max_work_kib(),
        })
    }

    /// Decrypts the secret key under the default [`KdfLimit`]; see
    /// [`unlock_within`](Self::unlock_within).
    pub fn unlock(
        &self,
        passphrase: &Passphrase,
        events: Option<&dyn KeyEventSink>,
    ) -> Result<AnyKey> {
        self.unlock_within(passphrase, KdfLimit::DEFAULT, events)
    }

    /// Decrypts the secret key. Parameters over `limit` give
    /// [`Error::KdfTooCostly`] before any Argon2 work (not an unlock
    /// attempt: nothing is reported). A wrong passphrase (or any altered
    /// byte of the sealed secret) gives [`Error::WrongPassphrase`]; the
    /// outcome is reported to `events`.
    pub fn unlock_within(
        &self,
        passphrase: &Passphrase,
        limit: KdfLimit,
        events: Option<&dyn KeyEventSink>,
    ) -> Result<AnyKey> {
        self.check_kdf(limit)?;
        let key_id = self.key_id();
        let path = self.path.as_deref();
        match self.decrypt(passphrase) {
            // If the sink refuses the event, `key` is dropped and zeroized.
            Ok(key) => report(events, KeyEvent::UnlockOk { key_id, path }).map(|()| key),
            Err(e @ Error::WrongPassphrase { .. }) => {
                // The failure is what the caller must hear about; a sink
                // error here cannot make the outcome any safer.
                let _ = report(
                    events,
                    KeyEvent::UnlockFailed {
                        key_id,
                        path,
                        backend: KeyBackend::EncryptedFile,
                    },
                );
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    fn decrypt(&self, passphrase: &Passphrase) -> Result<AnyKey> {
        let f = &self.file;
        let kek = derive_kek(passphrase, f.kdf, &f.salt)?;
        let aad = f.header_bytes();
        let mut buf = Zeroizing::new([0u8; SECRET_LEN]);
        buf.copy_from_slice(&f.sealed[..SECRET_LEN]);
        let tag: [u8; 16] = f.sealed[SECRET_LEN..]
            .try_into()
            .expect("the sealed secret ends in a 16-byte tag");
        // On a tag mismatch `buf` is dropped, and so zeroized, right here.
        aead(&kek)
            .decrypt_inout_detached(
                &f.nonce.into(),
                &aad,
                buf.as_mut_slice().into(),
                &tag.into(),
            )
            .map_err(|_| Error::WrongPassphrase {
                key_id: self.key_id(),
            })?;
        let key = match f.alg {
            KeyAlg::Ed25519 => AnyKey::SigningSecret(SigningKey::from_bytes(&buf)),
            KeyAlg::X25519 => {
                AnyKey::RecipientSecret(RecipientSecretKey::from_secret_bytes(KemId::X25519, &buf)?)
            }
            KeyAlg::P256 => {
                AnyKey::RecipientSecret(RecipientSecretKey::from_secret_bytes(KemId::P256, &buf)?)
            }
        };
        // The header is authenticated, so this only fails for a file written
        // by a faulty or hostile encoder that sealed another key's secret.
        let (_, public, _) = secret_parts(&key)?;
        if public != f.public_key {
            return Err(Error::InvalidKey {
                what: "encrypted key's public key does not match its secret",
            });
        }
        Ok(key)
    }
}

impl std::fmt::Debug for EncryptedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EncryptedKey({} {} {}, {})",
            self.file.role,
            self.file.alg,
            self.key_id(),
            self.file.kdf
        )
    }
}

/// The algorithm, public key and secret bytes of a secret key.
fn secret_parts(key: &AnyKey) -> Result<(KeyAlg, Vec<u8>, Zeroizing<[u8; 32]>)> {
    Ok(match key {
        AnyKey::SigningSecret(k) => (
            KeyAlg::Ed25519,
            k.verifying_key().to_bytes().to_vec(),
            k.to_secret_bytes(),
        ),
        AnyKey::RecipientSecret(k) => (
            match k.kem() {
                KemId::X25519 => KeyAlg::X25519,
                KemId::P256 => KeyAlg::P256,
            },
            k.public_key().as_bytes().to_vec(),
            k.to_secret_bytes(),
        ),
        _ => {
            return Err(Error::InvalidRequest(
                "only secret keys can be encrypted".into(),
            ));
        }
    })
}

fn derive_kek(
    passphrase: &Passphrase,
    params: KdfParams,
    salt: &[u8; SALT_LEN],
) -> Result<Zeroizing<[u8; 32]>> {
    let bad = |_| Error::InvalidKey {
        what: "Argon2id rejected the key-derivation parameters",
    };
    let p = argon2::Params::new(
        params.m_cost_kib(),
        params.t_cost(),
        u32::from(params.p_cost()),
        Some(32),
    )
    .map_err(bad)?;
    let mut kek = Zeroizing::new([0u8; 32]);
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p)
        .hash_password_into(passphrase.expose(), salt, kek.as_mut_slice())
        .map_err(bad)?;
    Ok(kek)
}

fn aead(kek: &[u8; 32]) -> aes_gcm::Aes256Gcm {
    use aes_gcm::KeyInit;
    aes_gcm::Aes256Gcm::new(kek.into())
}

// Pulls the AEAD trait methods into scope for the calls above.
use aes_gcm::AeadInOut as _;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::keys::events::Recorded;
    use rand_core::SeedableRng;

    /// Cheap parameters so tests stay fast; never written by the CLI.
    pub(crate) fn fast() -> KdfParams {
        KdfParams::new(64, 1, 1).unwrap()
    }

    fn pass(s: &str) -> Passphrase {
        Passphrase::new(s.to_owned())
    }

    #[test]
    fn round_trip_every_kind() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
        let keys = [
            (
                AnyKey::SigningSecret(SigningKey::generate(&mut rng)),
                KeyRole::Root,
            ),
            (
                AnyKey::SigningSecret(SigningKey::generate(&mut rng)),
                KeyRole::Release,
            ),
            (
                AnyKey::RecipientSecret(RecipientSecretKey::generate(KemId::X25519, &mut rng)),
                KeyRole::Device,
            ),
            (
                AnyKey::RecipientSecret(RecipientSecretKey::generate(KemId::P256, &mut rng)),
                KeyRole::Device,
            ),
        ];
        for (key, role) in keys {
            let enc = EncryptedKey::encrypt(&key, role, &pass("correct horse"), fast(), &mut rng)
                .unwrap();
            let again = EncryptedKey::parse(&enc.to_bytes()).unwrap();
            assert_eq!(again.role(), role);
            let back = again.unlock(&pass("correct horse"), None).unwrap();
            assert_eq!(back.to_text(), key.to_text());
            assert_eq!(again.key_id(), key_id_of(&key));
            assert!(matches!(
                again.unlock(&pass("correct horsE"), None),
                Err(Error::WrongPassphrase { .. })
            ));
        }
    }

    fn key_id_of(key: &AnyKey) -> KeyId {
        match key {
            AnyKey::SigningSecret(k) => k.verifying_key().key_id(),
            AnyKey::RecipientSecret(k) => k.key_id(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn refuses_public_keys_empty_passphrases_and_wrong_roles() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(12);
        let sk = SigningKey::generate(&mut rng);
        let public = AnyKey::SigningPublic(sk.verifying_key());
        let secret = AnyKey::SigningSecret(sk);
        for (key, role, p) in [
            (&public, KeyRole::Release, "x"),
            (&secret, KeyRole::Release, ""),
            (&secret, KeyRole::Device, "x"),
        ] {
            assert!(matches!(
                EncryptedKey::encrypt(key, role, &pass(p), fast(), &mut rng),
                Err(Error::InvalidRequest(_))
            ));
        }
    }

    #[test]
    fn every_flipped_bit_and_truncation_fails_cleanly() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(13);
        let key = AnyKey::SigningSecret(SigningKey::generate(&mut rng));
        let bytes = EncryptedKey::encrypt(&key, KeyRole::Release, &pass("pw"), fast(), &mut rng)
            .unwrap()
            .to_bytes();
        for i in 0..bytes.len() {
            for bit in (0..8).map(|b| 1u8 << b) {
                let mut bad = bytes.clone();
                bad[i] ^= bit;
                // Either the header no longer parses, or the tag fails (the
                // header is associated data); never a key, never a panic.
                match EncryptedKey::parse(&bad) {
                    Err(Error::Format(_)) => {}
                    // A flipped public key byte (offsets 53..85) may leave
                    // no valid point, or a non-canonical one: refused at load.
                    Err(Error::InvalidKey { .. }) if (53..85).contains(&i) => {}
                    Ok(k) => {
                        // Raising the Argon2 cost is allowed by the decoder;
                        // keep the test fast by skipping huge ones.
                        if k.kdf_params().m_cost_kib() > 4096 || k.kdf_params().t_cost() > 4 {
                            continue;
                        }
                        let r = k.unlock(&pass("pw"), None);
                        assert!(
                            matches!(r, Err(Error::WrongPassphrase { .. })),
                            "byte {i} bit {bit:#x}: {r:?}"
                        );
                    }
                    Err(e) => panic!("byte {i}: unexpected {e:?}"),
                }
            }
        }
        for len in 0..bytes.len() {
            assert!(matches!(
                EncryptedKey::parse(&bytes[..len]),
                Err(Error::Format(_))
            ));
        }
    }

    #[test]
    fn unlock_reports_success_and_failure() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(14);
        let key = AnyKey::SigningSecret(SigningKey::generate(&mut rng));
        let enc = EncryptedKey::encrypt(&key, KeyRole::Release, &pass("pw"), fast(), &mut rng)
            .unwrap()
            .with_path(Path::new("/keys/release.key"));
        let sink = Recorded::default();
        enc.unlock(&pass("pw"), Some(&sink)).unwrap();
        enc.unlock(&pass("nope"), Some(&sink)).unwrap_err();
        let events = sink.0.lock().unwrap();
        assert!(events[0].starts_with("UnlockOk"), "{}", events[0]);
        assert!(events[1].starts_with("UnlockFailed"), "{}", events[1]);
        assert!(events[1].contains("release.key"));
        assert!(!format!("{enc:?}").contains("pw"));
        // An unlock the sink refuses to record does not hand out the key.
        assert!(matches!(
            enc.unlock(&pass("pw"), Some(&crate::keys::events::Refusing)),
            Err(Error::InvalidRequest(_))
        ));
    }

    #[test]
    fn kdf_limit_bounds_memory_and_work_before_any_argon2() {
        let p = |m, t| KdfParams::new(m, t, 1).unwrap();
        let d = KdfLimit::DEFAULT;
        assert!(d.allows(KdfParams::DEFAULT));
        assert!(d.allows(KdfParams::OWASP_MINIMUM));
        assert!(d.allows(p(256 * 1024, 3)));
        assert!(
            d.allows(p(64 * 1024, 10)),
            "less memory, more passes, same work"
        );
        assert!(!d.allows(p(256 * 1024 + 1, 1)), "memory over the limit");
        assert!(!d.allows(p(256 * 1024, 4)), "work over the limit");
        assert!(!d.allows(p(crate::format::keystore::MAX_M_COST_KIB, 10)));
        assert!(KdfLimit::new(4 << 20).allows(p(crate::format::keystore::MAX_M_COST_KIB, 10)));

        // Refused unlocks do no Argon2 work and report nothing; a raised
        // limit unlocks the same file.
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(16);
        let key = AnyKey::SigningSecret(SigningKey::generate(&mut rng));
        let params = p(128, 4);
        let enc =
            EncryptedKey::encrypt(&key, KeyRole::Release, &pass("pw"), params, &mut rng).unwrap();
        let sink = Recorded::default();
        // 127 KiB: memory over; 170 KiB: memory fits, 128 x 4 > 170 x 3.
        for tight in [KdfLimit::new(127), KdfLimit::new(170)] {
            assert!(matches!(
                enc.unlock_within(&pass("pw"), tight, Some(&sink)),
                Err(Error::KdfTooCostly {
                    m_cost_kib: 128,
                    t_cost: 4,
                    ..
                })
            ));
        }
        assert!(sink.0.lock().unwrap().is_empty());
        let back = enc
            .unlock_within(&pass("pw"), KdfLimit::new(171), Some(&sink))
            .unwrap();
        assert_eq!(back.to_text(), key.to_text());
    }

    #[test]
    fn oversized_passphrase_files_are_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pass");
        std::fs::write(&p, "x".repeat(1 << 20)).unwrap();
        assert!(matches!(
            Passphrase::from_file(&p),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn weak_public_keys_in_the_header_are_refused_at_load() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(15);
        let key = AnyKey::SigningSecret(SigningKey::generate(&mut rng));
        let enc =
            EncryptedKey::encrypt(&key, KeyRole::Release, &pass("pw"), fast(), &mut rng).unwrap();
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut f = enc.file.clone();
        f.public_key = identity.to_vec();
        assert!(matches!(
            EncryptedKey::parse(&f.to_bytes()),
            Err(Error::InvalidKey { .. })
        ));
        let dev = AnyKey::RecipientSecret(RecipientSecretKey::generate(KemId::X25519, &mut rng));
        let enc =
            EncryptedKey::encrypt(&dev, KeyRole::Device, &pass("pw"), fast(), &mut rng).unwrap();
        let mut f = enc.file.clone();
        f.public_key = vec![0; 32];
        assert!(matches!(
            EncryptedKey::parse(&f.to_bytes()),
            Err(Error::InvalidKey { .. })
        ));
    }

    #[test]
    fn passphrase_file_strips_one_line_break() {
        let dir = tempfile::tempdir().unwrap();
        for (content, want) in [
            (&b"secret\n"[..], &b"secret"[..]),
            (b"secret\r\n", b"secret"),
            (b"secret", b"secret"),
            (b"two\n\n", b"two\n"),
        ] {
            let p = dir.path().join("pass");
            std::fs::write(&p, content).unwrap();
            assert_eq!(Passphrase::from_file(&p).unwrap().expose(), want);
        }
        assert!(pass("same").same_as(&pass("same")));
        assert!(!pass("same").same_as(&pass("Same")));
        assert!(!pass("same").same_as(&pass("same ")));
        assert_eq!(format!("{:?}", pass("hunter2")), "Passphrase(<redacted>)");
    }
}
