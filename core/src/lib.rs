//! What an otaseal device needs, and what the publisher shares with it.
//!
//! A sealed bundle is a *payload* file of AES-256-GCM ciphertext chunks and a
//! signed *manifest*. The payload's plain BLAKE3 hash is the manifest's root,
//! and every chunk is a BLAKE3 subtree, so a device can verify any chunk of a
//! partial or resumed download on its own before it trusts or decrypts it.
//! The wire format is specified in `docs/FORMAT.md`.
//!
//! This crate is `#![no_std]` + `alloc`: every byte layout ([`format`]), the
//! tree ([`tree`]), the chunk cipher ([`cipher`]), manifest and chain
//! verification ([`open`], [`keys::trust`]), the device session
//! ([`session`]), device state and policy ([`device`], [`policy`]), and fetch
//! planning ([`fetch`]). The `std` feature (on by default) adds the file
//! drivers over the session, the system clock and the OS CSPRNG. The
//! publisher's side — batch sealing, key storage, PKCS#11, the audit log —
//! is the `otaseal` crate; the C ABI is `otaseal-ffi`.
//!
//! ```
//! use otaseal_core::{keys, open, seal, session};
//! # use rand_core::SeedableRng;
//! # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
//! let signer = keys::SigningKey::generate(&mut rng);
//! let device = keys::RecipientSecretKey::generate(keys::KemId::X25519, &mut rng);
//! let mut opts = seal::SealOptions::new(
//!     "com.example.app".parse()?, "stable".parse()?, "1.0.0".parse()?, 1);
//! opts.created = 1_700_000_000;
//! let sealed = seal::seal_with_rng(
//!     b"firmware", &opts, &[device.public_key().clone()], &signer, &mut rng)?;
//!
//! // On the device: bytes in any order, each chunk verified as it arrives.
//! let trust = open::TrustAnchor::SigningKey(signer.verifying_key());
//! let mut s = session::Session::new(
//!     &sealed.manifest_bytes, &trust, session::SessionOptions::new(1_700_000_000))?;
//! s.feed(0, &sealed.payload, |_chunk| Ok(()))?;
//! s.unlock(&device)?;
//! let mut plain = vec![0; 8];
//! s.decrypt_chunk(0, &sealed.payload, &mut plain)?;
//! assert_eq!(plain, b"firmware");
//! # Ok::<(), otaseal_core::Error>(())
//! ```

#![no_std]

extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod cipher;
pub mod clock;
pub mod device;
#[cfg(feature = "encoding")]
pub mod encoding;
pub mod error;
pub mod fetch;
#[cfg(feature = "std")]
pub mod files;
pub mod format;
pub mod keys;
pub mod open;
pub mod policy;
#[cfg(feature = "std")]
pub mod seal;
pub mod session;
pub mod tree;

pub use error::{Error, ErrorKind, Result};

/// What `std`'s prelude would bring, for a `no_std` crate: one glob import
/// per module instead of a list of `alloc` paths in each.
mod prelude {
    pub(crate) use alloc::borrow::ToOwned;
    pub(crate) use alloc::boxed::Box;
    pub(crate) use alloc::string::{String, ToString};
    pub(crate) use alloc::vec::Vec;
    pub(crate) use alloc::{format, vec};
}
