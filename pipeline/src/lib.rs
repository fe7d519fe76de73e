//! otaseal seals over-the-air update bundles: the publisher's library.
//!
//! Sealing many bundles at once ([`batch`]), key storage, the PKCS#11
//! signer and the key life cycle ([`keys`]), and the audit log ([`audit`])
//! live here. Everything a device needs, and every byte layout both sides
//! share, is the `no_std` crate `otaseal-core`, re-exported under the same
//! paths (`otaseal::format`, `otaseal::session`, ...); the `otaseal` command
//! is the crate `otaseal-cli`, and the C ABI `otaseal-ffi`.
//!
//! A sealed bundle is a *payload* file of AES-256-GCM ciphertext chunks and a
//! signed *manifest*. The payload's plain BLAKE3 hash is the manifest's root,
//! and every chunk is a BLAKE3 subtree, so a device can verify any chunk of a
//! partial or resumed download on its own before it trusts or decrypts it.
//! The wire format is specified in `docs/FORMAT.md`.
//!
//! ```
//! use otaseal::{keys, open, seal};
//! let mut rng = keys::os_rng();
//! let signer = keys::SigningKey::generate(&mut rng);
//! let device = keys::RecipientSecretKey::generate(keys::KemId::X25519, &mut rng);
//! let opts = seal::SealOptions::new(
//!     "com.example.app".parse()?, "stable".parse()?, "1.0.0".parse()?, 1);
//! let sealed = seal::seal(b"firmware", &opts, &[device.public_key().clone()], &signer)?;
//! assert_eq!(sealed.manifest.root, *blake3::hash(&sealed.payload).as_bytes());
//!
//! let trust = open::TrustAnchor::SigningKey(signer.verifying_key());
//! let plain = open::open(&sealed.payload, &sealed.manifest_bytes, &trust, &device)?;
//! assert_eq!(plain, b"firmware");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod audit;
pub mod batch;
pub mod delta;
pub mod keys;

// The device half and everything both sides share live in `otaseal-core`
// (docs/ARCHITECTURE.md); the publisher builds on them under the same paths.
pub use otaseal_core::{
    Error, ErrorKind, Result, cipher, clock, device, error, fetch, files, format, open, policy,
    seal, session, tree,
};
