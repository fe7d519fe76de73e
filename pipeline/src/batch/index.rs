//! Signing, verifying, writing and merging batch indexes
//! (`docs/FORMAT.md` §15).

use super::discover::shard_of;
use super::io;
use crate::error::{Error, Result};
use crate::files;
use crate::format::batch_index::{self, BatchIndex, IndexEntry, Release, ShardId};
use crate::format::encoding::PayloadEncoding;
use crate::keys::{Signer, sign_document};
use crate::open::{TrustAnchor, verify_manifest};
use std::path::Path;
use subtle::ConstantTimeEq;

/// Signs `index` (its signer fields must name `signer`).
pub fn sign_index(index: BatchIndex, signer: &dyn Signer) -> Result<BatchIndex> {
    if index.signer.alg != signer.algorithm() || index.signer.key_id != signer.key_id() {
        return Err(Error::InvalidRequest(
            "the index names another signer than the one signing it".into(),
        ));
    }
    Ok(sign_document(index.body, signer)?.0)
}

/// Parses `bytes` and verifies the index signature against `trust`.
pub fn verify_index(bytes: &[u8], trust: &TrustAnchor) -> Result<BatchIndex> {
    let (index, signed_len) = BatchIndex::parse(bytes)?;
    match trust {
        TrustAnchor::SigningKey(key) => key.verify_document(&index, &bytes[..signed_len])?,
        // The index is a publisher-side record signed by the release key
        // itself; it carries no certificate chain to follow from a root.
        TrustAnchor::Root(_) => {
            return Err(Error::InvalidRequest(
                "a batch index is verified with its signing key, not a root".into(),
            ));
        }
    }
    check_shard(&index)?;
    Ok(index)
}

/// A shard index K/N lists only bundles whose name `shard_of` assigns to
/// shard K (FORMAT.md §15.5); the whole batch (1/1) may list any.
fn check_shard(index: &BatchIndex) -> Result<()> {
    let (k, n) = (index.shard.index(), index.shard.count());
    if n == 1 {
        return Ok(());
    }
    match index.entries.iter().find(|e| shard_of(&e.name, n) != k) {
        Some(e) => Err(Error::IndexMismatch {
            name: e.name.to_string(),
            what: "the shard this name belongs to",
        }),
        None => Ok(()),
    }
}

/// Reads a batch index file no further than the largest index its header
/// allows (FORMAT.md §15.4): garbage such as `/dev/zero` is refused after its
/// first bytes, and a file longer than its declared entries can fill is
/// refused as too large instead of being read into memory.
pub fn read_index_file(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = file.take(batch_index::MAX_PREFIX_LEN as u64);
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    let max = batch_index::max_len(&bytes)?;
    let mut file = reader.into_inner();
    if file.metadata().is_ok_and(|m| m.is_file() && m.len() > max) {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            what: "a batch index with the entry count it declares",
            max,
        });
    }
    crate::files::read_capped_from(
        &mut file,
        path,
        "a batch index with the entry count it declares",
        max,
        &mut bytes,
    )?;
    Ok(bytes)
}

/// Writes the index atomically; with `sync`, the file and the directory are
/// flushed, which makes the index the batch's durability point.
pub(crate) fn write_index(path: &Path, index: &BatchIndex, sync: bool) -> Result<()> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut f = io::create_output(path)?;
    f.write_all(&index.to_bytes())?;
    f.rename_into_place(sync)?;
    if sync {
        io::sync_dir(io::parent_dir(path))?;
    }
    Ok(())
}

/// What [`merge`] accepts.
#[derive(Debug, Clone, Copy, Default)]
pub struct MergeOptions {
    /// Merge even if some shards of `1..=N` are missing (the result then
    /// covers only the shards given, and still claims shard 1/1).
    pub allow_missing: bool,
}

/// Combines verified shard indexes into the index of the whole batch:
/// equal, byte for byte, to the index one run over all inputs would write
/// for the same bundles.
///
/// Refuses: no input; indexes of different releases or signers; a mix of
/// shard counts; a shard given twice; a missing shard (unless allowed); an
/// entry that does not belong to the shard whose index lists it; the same
/// name in two shards.
pub fn merge(
    shards: Vec<BatchIndex>,
    signer: &dyn Signer,
    opts: MergeOptions,
) -> Result<BatchIndex> {
    let first = shards
        .first()
        .ok_or_else(|| Error::InvalidRequest("no shard indexes to merge".into()))?;
    let release = first.release.clone();
    let count = first.shard.count();
    let mut seen = vec![false; count as usize];
    for s in &shards {
        if s.release != release {
            return Err(Error::InvalidRequest(format!(
                "shard {} is for another release ({} {} {} #{})",
                s.shard, s.release.app_id, s.release.channel, s.release.version, s.release.sequence
            )));
        }
        if s.shard.count() != count {
            return Err(Error::InvalidRequest(format!(
                "shard {} does not split the batch in {count} like shard {}",
                s.shard, first.shard
            )));
        }
        let slot = &mut seen[s.shard.index() as usize - 1];
        if std::mem::replace(slot, true) {
            return Err(Error::InvalidRequest(format!(
                "shard {} given twice",
                s.shard
            )));
        }
        if let Some(e) = s
            .entries
            .iter()
            .find(|e| count > 1 && shard_of(&e.name, count) != s.shard.index())
        {
            return Err(Error::InvalidRequest(format!(
                "{} is listed by shard {} but belongs to shard {}/{count}",
                e.name,
                s.shard,
                shard_of(&e.name, count)
            )));
        }
    }
    if !opts.allow_missing {
        let missing: Vec<String> = seen
            .iter()
            .enumerate()
            .filter(|(_, s)| !**s)
            .map(|(i, _)| format!("{}/{count}", i + 1))
            .collect();
        if !missing.is_empty() {
            return Err(Error::InvalidRequest(format!(
                "missing shard indexes: {}",
                missing.join(", ")
            )));
        }
    }
    let entries: Vec<IndexEntry> = shards.into_iter().flat_map(|s| s.body.entries).collect();
    let merged = BatchIndex::new(
        release,
        ShardId::WHOLE,
        entries,
        signer.algorithm(),
        signer.key_id(),
    )?;
    sign_index(merged, signer)
}

/// Checks every bundle an index lists against the files in `dir`: the
/// manifest's bytes hash to the recorded hash and verify under `trust`, and
/// the payload has the recorded length and hashes (per chunk) to the root.
/// Returns one result per entry, in index order.
pub fn check_bundles(
    index: &BatchIndex,
    dir: &Path,
    trust: &TrustAnchor,
) -> Vec<(IndexEntry, Result<()>)> {
    use rayon::prelude::*;
    index
        .entries
        .par_iter()
        .map(|e| (e.clone(), check_one(e, &index.release, dir, trust)))
        .collect()
}

/// The checks of one entry: its full bundle, then each delta.
fn check_one(e: &IndexEntry, release: &Release, dir: &Path, trust: &TrustAnchor) -> Result<()> {
    let full = Expect {
        stem: e.name.to_string(),
        payload_len: e.plaintext_len,
        bundle_id: e.bundle_id,
        root: e.root,
        manifest_len: e.manifest_len,
        manifest_hash: e.manifest_hash,
    };
    check_files(&full, release, dir, trust, |enc| match (enc, e.encoding) {
        (None, None) => e.result_len == e.plaintext_len,
        (Some(m), Some(want)) => {
            m.encoding == want && m.base.is_none() && m.result_len == e.result_len
        }
        _ => false,
    })?;
    for d in &e.deltas {
        let expect = Expect {
            stem: format!("{}.from-{}", e.name, d.base_sequence),
            payload_len: d.payload_len,
            bundle_id: d.bundle_id,
            root: d.root,
            manifest_len: d.manifest_len,
            manifest_hash: d.manifest_hash,
        };
        check_files(&expect, release, dir, trust, |enc| {
            enc.is_some_and(|m| {
                m.encoding == d.encoding
                    && m.result_len == e.result_len
                    && m.base.as_ref().is_some_and(|b| {
                        b.sequence == d.base_sequence && b.version == d.base_version
                    })
            })
        })?;
    }
    Ok(())
}

/// What the index says of one bundle's files (`<stem>.payload`,
/// `<stem>.manifest`).
struct Expect {
    stem: String,
    payload_len: u64,
    bundle_id: [u8; 16],
    root: [u8; 32],
    manifest_len: u32,
    manifest_hash: [u8; 32],
}

fn check_files(
    x: &Expect,
    release: &Release,
    dir: &Path,
    trust: &TrustAnchor,
    encoding_matches: impl Fn(Option<&PayloadEncoding>) -> bool,
) -> Result<()> {
    let mpath = dir.join(format!("{}.manifest", x.stem));
    let mismatch = |what| Error::IndexMismatch {
        name: x.stem.clone(),
        what,
    };
    // The entry says how long the manifest is: a longer file is a mismatch,
    // found without reading more than one byte past that length.
    let bytes = match files::read_capped(&mpath, "a manifest", u64::from(x.manifest_len)) {
        Err(Error::TooLarge { .. }) => return Err(mismatch("the manifest file")),
        other => other?,
    };
    let hash = blake3::hash(&bytes);
    if !bool::from(hash.as_bytes().ct_eq(&x.manifest_hash))
        || bytes.len() as u64 != u64::from(x.manifest_len)
    {
        return Err(mismatch("the manifest file"));
    }
    let vm = verify_manifest(&bytes, trust)?;
    let m = vm.manifest();
    if m.plaintext_len != x.payload_len
        || !bool::from(m.root.ct_eq(&x.root))
        || m.bundle_id != x.bundle_id
    {
        return Err(mismatch("the manifest's length, root or bundle id"));
    }
    if !encoding_matches(m.encoding.as_ref()) {
        return Err(mismatch("the manifest's encoding or base"));
    }
    // The header states the release every listed bundle belongs to; a
    // signed index is not allowed to relabel bundles of another one.
    if m.app_id != release.app_id {
        return Err(mismatch("the manifest's app id"));
    }
    if m.channel != release.channel {
        return Err(mismatch("the manifest's channel"));
    }
    if m.version != release.version {
        return Err(mismatch("the manifest's version"));
    }
    if m.sequence != release.sequence {
        return Err(mismatch("the manifest's sequence"));
    }
    let ppath = dir.join(format!("{}.payload", x.stem));
    let src = io::Source::open(&ppath)?;
    if src.len() != vm.payload_len() {
        return Err(Error::PayloadLength {
            expected: vm.payload_len(),
            found: src.len(),
        });
    }
    for i in 0..vm.chunk_count() {
        let range = vm.chunk_range(i)?;
        io::with_chunk_buf((range.end - range.start) as usize, |buf| {
            src.read_at(range.start, buf, &ppath)?;
            vm.verify_chunk(i, buf)
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningKey;

    fn entry(name: &str, n: u8) -> IndexEntry {
        IndexEntry::full(
            name.parse().unwrap(),
            1000 * u64::from(n),
            [n; 16],
            [n.wrapping_add(1); 32],
            300 + u32::from(n),
            [n.wrapping_add(2); 32],
        )
    }

    fn release() -> Release {
        Release {
            app_id: "com.example.maps".parse().unwrap(),
            channel: "stable".parse().unwrap(),
            version: "4.2.0".parse().unwrap(),
            sequence: 42,
        }
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn shard_index(k: u32, n: u32, names: &[&str], sk: &SigningKey) -> BatchIndex {
        let entries = names
            .iter()
            .enumerate()
            .map(|(i, name)| entry(name, i as u8))
            .filter(|e| n == 1 || shard_of(&e.name, n) == k)
            .collect();
        let idx = BatchIndex::new(
            release(),
            ShardId::new(k, n).unwrap(),
            entries,
            sk.algorithm(),
            sk.key_id(),
        )
        .unwrap();
        sign_index(idx, sk).unwrap()
    }

    const NAMES: &[&str] = &["a", "b", "c/d", "e", "f.zip", "g/h/i", "j", "k"];

    #[test]
    fn sign_verify_and_reject() {
        let sk = key(1);
        let idx = shard_index(1, 1, NAMES, &sk);
        let bytes = idx.to_bytes();
        let trust = TrustAnchor::SigningKey(sk.verifying_key());
        assert_eq!(verify_index(&bytes, &trust).unwrap(), idx);
        let mut flipped = bytes.clone();
        flipped[30] ^= 1;
        assert!(verify_index(&flipped, &trust).is_err());
        let other = TrustAnchor::SigningKey(key(2).verifying_key());
        assert!(matches!(
            verify_index(&bytes, &other),
            Err(Error::UntrustedSigner { .. })
        ));
    }

    #[test]
    fn index_files_are_read_no_further_than_their_header_allows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch.index");
        let bytes = shard_index(1, 1, NAMES, &key(1)).to_bytes();
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_index_file(&path).unwrap(), bytes);
        // Eight entries allow a few KiB of names and a long signature, not
        // a megabyte: refused before it is read.
        let mut long = bytes.clone();
        long.resize(1 << 20, 0);
        std::fs::write(&path, &long).unwrap();
        assert!(matches!(
            read_index_file(&path),
            Err(Error::TooLarge { .. })
        ));
        // Garbage is refused after its first bytes, without reading on.
        assert!(matches!(
            read_index_file(Path::new("/dev/zero")),
            Err(Error::Format(_))
        ));
    }

    #[test]
    fn merged_shards_equal_the_whole() {
        let sk = key(1);
        let whole = shard_index(1, 1, NAMES, &sk);
        let n = 3;
        let shards: Vec<_> = (1..=n)
            .rev()
            .map(|k| shard_index(k, n, NAMES, &sk))
            .collect();
        let merged = merge(shards.clone(), &sk, MergeOptions::default()).unwrap();
        assert_eq!(merged.to_bytes(), whole.to_bytes());

        assert!(merge(shards[..2].to_vec(), &sk, MergeOptions::default()).is_err());
        assert!(
            merge(
                shards[..2].to_vec(),
                &sk,
                MergeOptions {
                    allow_missing: true
                }
            )
            .is_ok()
        );
        let mut twice = shards.clone();
        twice.push(shards[0].clone());
        assert!(merge(twice, &sk, MergeOptions::default()).is_err());
        let mut other_release = shards.clone();
        other_release[0].release.sequence += 1;
        assert!(merge(other_release, &sk, MergeOptions::default()).is_err());
        let mut misplaced = shards.clone();
        let stray = whole
            .entries
            .iter()
            .find(|e| shard_of(&e.name, n) != misplaced[0].shard.index())
            .unwrap()
            .clone();
        misplaced[0].entries.push(stray);
        assert!(merge(misplaced, &sk, MergeOptions::default()).is_err());
        assert!(merge(Vec::new(), &sk, MergeOptions::default()).is_err());
    }
}
