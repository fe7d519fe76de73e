//! Batch fixtures shared by the library's tests and the CLI's, which
//! include this file by path (so it uses only the library and crates both
//! packages have): batch input bytes, and a sealed batch and its index under
//! the batch index vectors' key (`batch_index_vectors` in both).

use otaseal::batch::{shard_of, sign_index};
use otaseal::format::batch_index::{BatchIndex, IndexEntry, Release, ShardId};
use otaseal::keys::{KemId, RecipientSecretKey, Signer, SigningKey};
use otaseal::open::{TrustAnchor, verify_manifest};
use otaseal::seal::{SealOptions, seal_with_rng};
use rand_core::SeedableRng;

/// Deterministic, incompressible-looking bytes.
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    use rand_core::Rng;
    let mut out = vec![0u8; len];
    rand_chacha::ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut out);
    out
}

/// The batch index vectors' signing key.
pub fn signer() -> SigningKey {
    SigningKey::from_bytes(&[0x11; 32])
}

/// The vectors' release.
pub fn release() -> Release {
    Release {
        app_id: "com.example.maps".parse().unwrap(),
        channel: "stable".parse().unwrap(),
        version: "4.2.0".parse().unwrap(),
        sequence: 42,
    }
}

/// Seals `names` (bundle names) with the vector key under `release()` into
/// a temporary out dir; returns it and the index entries of the bundles.
pub fn sealed_batch(names: &[&str]) -> (tempfile::TempDir, Vec<IndexEntry>) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
    let device = RecipientSecretKey::generate(KemId::X25519, &mut rng);
    let r = release();
    let o = SealOptions::new(r.app_id, r.channel, r.version, r.sequence);
    let trust = TrustAnchor::SigningKey(signer().verifying_key());
    let entries = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let plain = vec![i as u8; 1000 + i];
            let s = seal_with_rng(
                &plain,
                &o,
                &[device.public_key().clone()],
                &signer(),
                &mut rng,
            )
            .unwrap();
            let base = dir.path().join(name);
            std::fs::create_dir_all(base.parent().unwrap()).unwrap();
            std::fs::write(format!("{}.payload", base.display()), &s.payload).unwrap();
            std::fs::write(format!("{}.manifest", base.display()), &s.manifest_bytes).unwrap();
            let vm = verify_manifest(&s.manifest_bytes, &trust).unwrap();
            let m = vm.manifest();
            IndexEntry::full(
                name.parse().unwrap(),
                m.plaintext_len,
                m.bundle_id,
                m.root,
                s.manifest_bytes.len() as u32,
                *blake3::hash(&s.manifest_bytes).as_bytes(),
            )
        })
        .collect();
    (dir, entries)
}

/// An index of `entries` for `release` and `shard`, signed by `signer()`.
pub fn signed(release: Release, shard: ShardId, entries: Vec<IndexEntry>) -> BatchIndex {
    let s = signer();
    sign_index(
        BatchIndex::new(release, shard, entries, s.algorithm(), s.key_id()).unwrap(),
        &s,
    )
    .unwrap()
}

/// A bundle name that belongs to shard `k` of `n`.
pub fn name_in_shard(k: u32, n: u32) -> String {
    (0..)
        .map(|i| format!("n{i}.bin"))
        .find(|name| shard_of(&name.parse().unwrap(), n) == k)
        .unwrap()
}
