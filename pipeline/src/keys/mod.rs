//! Key types, and the publisher's keys: storage ([`keystore`], [`file`]),
//! the PKCS#11 signer ([`pkcs11`]), the life cycle of release keys
//! ([`lifecycle`]) and the key events the audit log records ([`events`]).
//! The types a device needs too — signing, verifying and recipient keys,
//! the data key, the root of trust — are `otaseal_core::keys`, re-exported
//! here under the same paths.

pub mod events;
pub mod file;
pub mod keystore;
pub mod lifecycle;
pub mod pkcs11;

pub use crate::format::keystore::{KdfParams, KeyAlg, KeyRole};
pub use otaseal_core::keys::*;
