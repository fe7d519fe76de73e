//! Shared fixtures for otaseal's criterion benches (`benches/`) and the
//! `ceiling` tool that `scripts/compare.sh` runs.
//!
//! ```sh
//! cargo bench -p benches                 # everything (tens of minutes)
//! cargo bench -p benches --bench kernels # AES-GCM backends, BLAKE3 subtrees
//! cargo bench -p benches --bench bundle  # one bundle per size
//! cargo bench -p benches --bench batch   # presets, scaled to minutes
//! ```

pub mod session;

use otaseal::keys::{KemId, RecipientPublicKey, RecipientSecretKey, SigningKey};
use otaseal::seal::SealOptions;
use std::path::PathBuf;

/// Chunk sizes the kernel benches sweep.
pub const CHUNK_SIZES: &[usize] = &[16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20];

/// Fixed keys: a signer and one X25519 device.
pub fn keys() -> (SigningKey, Vec<RecipientPublicKey>) {
    let signer = SigningKey::from_bytes(&[7; 32]);
    let device = RecipientSecretKey::from_secret_bytes(KemId::X25519, &[9; 32])
        .expect("valid X25519 secret");
    (signer, vec![device.public_key().clone()])
}

pub fn options() -> SealOptions {
    SealOptions::new(
        "com.example.bench".parse().expect("valid"),
        "stable".parse().expect("valid"),
        "1.0.0".parse().expect("valid"),
        1,
    )
}

/// A scratch directory on tmpfs when there is one (to measure CPU, not the
/// disk), else in the system temp dir. `OTASEAL_BENCH_DIR` overrides.
pub fn scratch_dir() -> tempfile::TempDir {
    let base = std::env::var_os("OTASEAL_BENCH_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let shm = PathBuf::from("/dev/shm");
            shm.is_dir().then_some(shm)
        })
        .unwrap_or_else(std::env::temp_dir);
    tempfile::Builder::new()
        .prefix("otaseal-bench-")
        .tempdir_in(base)
        .expect("scratch dir")
}

/// Incompressible bytes.
pub fn data(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    otaseal_datasets::fill(0x5eed, &mut v);
    v
}
