//! `--resume`: keep a bundle whose outputs already verify.
//!
//! A bundle is kept only if all of these hold; otherwise it is sealed again
//! (its outputs are replaced atomically):
//! - the manifest parses and its signature verifies under the signer's
//!   public key, and its chunk table merges to its root;
//! - it was sealed by exactly this request: the same signer (algorithm and
//!   key id) presenting the same certificate chain byte for byte, for this
//!   release (app, channel, version, sequence), with this chunk size, for
//!   exactly this set of recipients, and with the same lifetime
//!   (`expires - created`, or no expiry on both sides);
//! - it is not past the middle of its lifetime at this run's clock. A kept
//!   manifest keeps its own `created` and `expires` (so an unchanged resume
//!   rewrites nothing even though the run's own times are later), but
//!   resuming long after the first run does not keep manifests that would
//!   expire long before the ones sealed now;
//! - its plaintext length (result length, if encoded) equals the input's current size, and the input was
//!   not modified after the manifest file was written (modification times
//!   compared at full precision; an input replaced by different bytes of the
//!   same size *and* an older modification time is not detected — resume
//!   trusts inputs the way `make` does);
//! - the payload file has that length and every chunk's BLAKE3 chaining
//!   value matches the manifest (so its BLAKE3 hash is the root). This also
//!   catches payloads whose bytes never reached the disk before a crash.
//!
//! - with `compress`, the manifest is a zstd encoding (no base) whose
//!   result length is the input's size; without, it is not encoded;
//! - a delta (`existing_delta`) additionally names exactly this base
//!   (sequence, version, length), the base was not modified after the
//!   delta's manifest was written, and the delta is still below the
//!   threshold (checked by the caller).
//!
//! A manifest file larger than any manifest this request could produce is
//! not read (see [`manifest_limit`]): the bundle is sealed again.

use super::{Batch, DeltaBase, Discovered};
use crate::format::batch_index::IndexEntry;
use crate::format::encoding::Encoding;
use crate::format::manifest::{CHUNK_ENTRY_LEN, MAX_RECIPIENTS};
use crate::format::{ChunkSize, Manifest};
use crate::keys::VerifyingKey;
use crate::open::{TrustAnchor, VerifiedManifest, verify_manifest};
use crate::seal::SealedManifest;
use crate::seal::{Lifetime, SealOptions};
use rayon::prelude::*;
use std::path::Path;

/// What the index records of a sealed (or kept) bundle's files.
#[derive(Debug, Clone)]
pub(super) struct Kept {
    pub payload_len: u64,
    pub bundle_id: [u8; 16],
    pub root: [u8; 32],
    pub manifest_len: u32,
    pub manifest_hash: [u8; 32],
}

impl Kept {
    pub(super) fn of(sealed: &SealedManifest) -> crate::Result<Self> {
        Self::of_bytes(&sealed.manifest, &sealed.bytes)
            .ok_or_else(|| crate::Error::InvalidRequest("manifest larger than 4 GiB".into()))
    }

    fn of_bytes(m: &Manifest, bytes: &[u8]) -> Option<Self> {
        Some(Self {
            payload_len: m.plaintext_len,
            bundle_id: m.bundle_id,
            root: m.root,
            manifest_len: u32::try_from(bytes.len()).ok()?,
            manifest_hash: *blake3::hash(bytes).as_bytes(),
        })
    }
}

/// The existing full bundle of `input`, if it is what this run would seal:
/// plain, or (`compress`, non-empty input) a zstd encoding of the input.
pub(super) fn existing_outputs(
    batch: &Batch<'_>,
    key: &VerifyingKey,
    input: &Discovered,
    payload: &Path,
    manifest: &Path,
) -> Option<IndexEntry> {
    let input_meta = std::fs::metadata(&input.path).ok()?;
    let (vm, bytes) = checked_manifest(batch, key, &input_meta, manifest)?;
    let m = vm.manifest();
    let compressed = batch.opts.encode.compress && input_meta.len() > 0;
    let matches = match &m.encoding {
        None => !compressed && m.plaintext_len == input_meta.len(),
        Some(e) => {
            compressed
                && e.encoding == Encoding::Zstd
                && e.base.is_none()
                && e.result_len == input_meta.len()
        }
    };
    if !matches || !payload_verifies(batch, &vm, payload, !compressed) {
        return None;
    }
    if compressed {
        batch.progress.advance(input_meta.len());
    }
    let k = Kept::of_bytes(m, &bytes)?;
    let mut entry = IndexEntry::full(
        input.name.clone(),
        k.payload_len,
        k.bundle_id,
        k.root,
        k.manifest_len,
        k.manifest_hash,
    );
    if let Some(e) = &m.encoding {
        entry.encoding = Some(e.encoding);
        entry.result_len = e.result_len;
    }
    Some(entry)
}

/// The existing delta of `input` from `base`, if it is what this run
/// would seal: a patch from exactly that base (sequence, version, length;
/// neither the input nor the base modified since) to the input.
pub(super) fn existing_delta(
    batch: &Batch<'_>,
    key: &VerifyingKey,
    input: &Discovered,
    base: &DeltaBase,
    base_path: &Path,
    payload: &Path,
    manifest: &Path,
) -> Option<(Encoding, Kept)> {
    let input_meta = std::fs::metadata(&input.path).ok()?;
    let base_meta = std::fs::metadata(base_path).ok()?;
    let manifest_meta = std::fs::metadata(manifest).ok()?;
    let (vm, bytes) = checked_manifest(batch, key, &input_meta, manifest)?;
    let m = vm.manifest();
    let e = m.encoding.as_ref()?;
    let b = e.base.as_ref()?;
    if !e.encoding.needs_base()
        || e.result_len != input_meta.len()
        || b.sequence != base.sequence
        || b.version != base.version
        || b.len != base_meta.len()
        || modified_after(&base_meta, &manifest_meta)
        || !payload_verifies(batch, &vm, payload, false)
    {
        return None;
    }
    Some((e.encoding, Kept::of_bytes(m, &bytes)?))
}

/// The manifest at `manifest`, if it verifies under `key` and was sealed
/// by exactly this request (signer, release, chunk size, lifetime,
/// recipients) after the input was last modified.
fn checked_manifest(
    batch: &Batch<'_>,
    key: &VerifyingKey,
    input_meta: &std::fs::Metadata,
    manifest: &Path,
) -> Option<(VerifiedManifest, Vec<u8>)> {
    let manifest_meta = std::fs::metadata(manifest).ok()?;
    let o = &batch.opts.seal;
    let limit = manifest_limit(input_meta.len(), o.chunk_size, batch.signer.chain());
    let bytes = crate::files::read_capped(manifest, "a manifest", limit).ok()?;
    let vm = verify_manifest(&bytes, &TrustAnchor::SigningKey(*key)).ok()?;
    let m = vm.manifest();
    let same_signer = m.signer.alg == batch.signer.algorithm()
        && m.signer.key_id == batch.signer.key_id()
        && m.signer.chain == batch.signer.chain();
    if !same_signer
        || !same_request(m, o)
        || !same_recipients(batch, &vm)
        || modified_after(input_meta, &manifest_meta)
    {
        return None;
    }
    Some((vm, bytes))
}

/// Whether `m` was sealed for the release, chunk size and lifetime `o` asks
/// for, and is still in the first half of that lifetime at `o.created`
/// (this run's clock).
fn same_request(m: &Manifest, o: &SealOptions) -> bool {
    let lifetime = Lifetime::of(m.created, m.expires);
    let fresh = match m.expires {
        None => true,
        Some(expires) => {
            let half = expires.saturating_sub(m.created) / 2;
            o.created < m.created.saturating_add(half) && o.created < expires
        }
    };
    m.app_id == o.app_id
        && m.channel == o.channel
        && m.version == o.version
        && m.sequence == o.sequence
        && m.chunk_size == o.chunk_size
        && lifetime == Lifetime::of(o.created, o.expires)
        && fresh
}

/// The largest manifest this request could have produced for a
/// `plaintext_len`-byte input: its chunk table, the signer's chain, up to
/// [`MAX_RECIPIENTS`] stanzas of at most 1 KiB each (a real one is under
/// 200 bytes), and 64 KiB for the header, names and signature. A larger
/// file is not a manifest this run would keep, so it is not read.
fn manifest_limit(plaintext_len: u64, chunk_size: ChunkSize, chain: &[Vec<u8>]) -> u64 {
    let table = chunk_size
        .chunk_count(plaintext_len)
        .saturating_mul(CHUNK_ENTRY_LEN as u64);
    let chain: u64 = chain.iter().map(|c| c.len() as u64 + 4).sum();
    const STANZA_MAX: u64 = 1024;
    table
        .saturating_add(chain)
        .saturating_add(MAX_RECIPIENTS as u64 * STANZA_MAX)
        .saturating_add(64 * 1024)
}

fn same_recipients(batch: &Batch<'_>, vm: &VerifiedManifest) -> bool {
    let mut want: Vec<_> = batch.recipients.iter().map(|r| r.key_id()).collect();
    let mut have: Vec<_> = vm
        .manifest()
        .recipients
        .iter()
        .map(|s| s.recipient)
        .collect();
    want.sort();
    have.sort();
    want == have
}

/// Whether the input was modified after the manifest was written (or either
/// time is unknown, in which case the bundle is sealed again).
fn modified_after(input: &std::fs::Metadata, manifest: &std::fs::Metadata) -> bool {
    match (input.modified(), manifest.modified()) {
        (Ok(i), Ok(m)) => i > m,
        _ => true,
    }
}

/// Whether the payload has its manifest's length and chunks; with `count`,
/// progress advances by the bytes checked.
fn payload_verifies(batch: &Batch<'_>, vm: &VerifiedManifest, payload: &Path, count: bool) -> bool {
    let Ok(src) = super::io::Source::open(payload) else {
        return false;
    };
    if src.len() != vm.payload_len() {
        return false;
    }
    let check = |i: u32| -> bool {
        if batch.cancelled() {
            return false;
        }
        let Ok(range) = vm.chunk_range(i) else {
            return false;
        };
        let len = (range.end - range.start) as usize;
        let ok = super::io::with_chunk_buf(len, |buf| {
            src.read_at(range.start, buf, payload).is_ok() && vm.verify_chunk(i, buf).is_ok()
        });
        if count {
            batch.progress.advance(len as u64);
        }
        ok
    };
    if vm.chunk_count() == 1 {
        check(0)
    } else {
        (0..vm.chunk_count())
            .into_par_iter()
            .with_max_len(1)
            .all(check)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Batch, BatchOptions, BatchReport, Durability};
    use crate::format::ChunkSize;
    use crate::keys::{
        KemId, KeyId, RecipientPublicKey, RecipientSecretKey, SigAlg, Signer, SigningKey,
    };
    use crate::seal::SealOptions;
    use std::path::Path;

    /// A signing key that presents `chain` as its certificates (resume
    /// compares the bytes; it does not validate them).
    struct Chained<'a> {
        key: &'a SigningKey,
        chain: Vec<Vec<u8>>,
    }

    impl Signer for Chained<'_> {
        fn algorithm(&self) -> SigAlg {
            self.key.algorithm()
        }
        fn key_id(&self) -> KeyId {
            self.key.key_id()
        }
        fn chain(&self) -> &[Vec<u8>] {
            &self.chain
        }
        fn sign(&self, message: &[u8]) -> crate::Result<Vec<u8>> {
            self.key.sign(message)
        }
    }

    /// One sealing request: everything resume must compare.
    #[derive(Clone)]
    struct Request<'a> {
        opts: SealOptions,
        key: &'a SigningKey,
        chain: Vec<Vec<u8>>,
        recipients: Vec<RecipientPublicKey>,
    }

    const CREATED: u64 = 1_800_000_000;
    const LIFETIME: u64 = 1_000;

    fn run(req: &Request<'_>, out: &Path, input: &Path, resume: bool) -> BatchReport {
        let signer = Chained {
            key: req.key,
            chain: req.chain.clone(),
        };
        let mut bo = BatchOptions::new(req.opts.clone(), out);
        bo.resume = resume;
        bo.durability = Durability::None;
        bo.threads = 1;
        let d = crate::batch::discover(&[input.to_owned()], Some(out)).unwrap();
        Batch::new(bo, &req.recipients, &signer)
            .with_verifier(req.key.verifying_key())
            .run(&d.inputs)
            .unwrap()
    }

    fn request<'a>(key: &'a SigningKey, recipient: &RecipientPublicKey) -> Request<'a> {
        let mut opts = SealOptions::new(
            "com.example.app".parse().unwrap(),
            "stable".parse().unwrap(),
            "1.0.0".parse().unwrap(),
            7,
        );
        opts.created = CREATED;
        opts.expires = Some(CREATED + LIFETIME);
        opts.chunk_size = ChunkSize::from_log2(14).unwrap();
        Request {
            opts,
            key,
            chain: vec![b"certificate one".to_vec()],
            recipients: vec![recipient.clone()],
        }
    }

    #[test]
    fn resume_redoes_a_bundle_whenever_its_sealing_request_changed() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("a.bin");
        std::fs::write(&input, vec![5u8; 40_000]).unwrap();
        let mut rng = crate::keys::os_rng();
        let (key, other_key) = (
            SigningKey::generate(&mut rng),
            SigningKey::generate(&mut rng),
        );
        let dev = |rng: &mut _| {
            RecipientSecretKey::generate(KemId::X25519, rng)
                .public_key()
                .clone()
        };
        let (r1, r2) = (dev(&mut rng), dev(&mut rng));
        let base = request(&key, &r1);

        let change = |f: &dyn Fn(&mut Request<'_>)| {
            let mut r = base.clone();
            f(&mut r);
            r
        };
        let variants: Vec<(&str, Request<'_>)> = vec![
            (
                "signer",
                Request {
                    key: &other_key,
                    ..base.clone()
                },
            ),
            (
                "certificate chain",
                change(&|r| r.chain = vec![b"certificate two".to_vec()]),
            ),
            ("no chain", change(&|r| r.chain.clear())),
            ("recipients", change(&|r| r.recipients.push(r2.clone()))),
            (
                "app",
                change(&|r| r.opts.app_id = "com.example.other".parse().unwrap()),
            ),
            (
                "channel",
                change(&|r| r.opts.channel = "beta".parse().unwrap()),
            ),
            (
                "version",
                change(&|r| r.opts.version = "1.0.1".parse().unwrap()),
            ),
            ("sequence", change(&|r| r.opts.sequence = 8)),
            (
                "chunk size",
                change(&|r| r.opts.chunk_size = ChunkSize::from_log2(15).unwrap()),
            ),
            (
                "expiry",
                change(&|r| r.opts.expires = Some(CREATED + 2 * LIFETIME)),
            ),
            ("no expiry", change(&|r| r.opts.expires = None)),
            // The same lifetime, but resumed after half of it has passed:
            // kept bundles would expire long before the new ones.
            (
                "half-expired",
                change(&|r| {
                    r.opts.created = CREATED + LIFETIME / 2;
                    r.opts.expires = Some(r.opts.created + LIFETIME);
                }),
            ),
        ];
        for (what, changed) in &variants {
            let out = dir.path().join(format!("out-{what}"));
            assert_eq!(run(&base, &out, &input, false).sealed(), 1);
            let r = run(changed, &out, &input, true);
            assert_eq!(
                (r.sealed(), r.verified()),
                (1, 0),
                "{what} changed but the bundle was kept"
            );
            // Redone once, then kept: the redo matched the new request.
            let r = run(changed, &out, &input, true);
            assert_eq!((r.sealed(), r.verified()), (0, 1), "{what}: redone twice");
        }

        // Nothing changed but the clock: a run resumed later (its own
        // `created` is later, so its `expires` is too) keeps everything,
        // and the kept manifest keeps its original times.
        let out = dir.path().join("out-same");
        assert_eq!(run(&base, &out, &input, false).sealed(), 1);
        let before = std::fs::read(out.join("a.bin.manifest")).unwrap();
        let later = change(&|r| {
            r.opts.created = CREATED + LIFETIME / 2 - 1;
            r.opts.expires = Some(r.opts.created + LIFETIME);
        });
        for req in [&base, &later] {
            let r = run(req, &out, &input, true);
            assert_eq!((r.sealed(), r.verified()), (0, 1));
        }
        assert_eq!(std::fs::read(out.join("a.bin.manifest")).unwrap(), before);
    }

    /// A manifest that never ends (`/dev/zero`) or is far larger than any
    /// this request makes is not read into memory: the bundle is redone.
    #[cfg(unix)]
    #[test]
    fn an_oversized_manifest_is_not_read_and_the_bundle_is_redone() {
        let limit =
            super::manifest_limit(65_536, ChunkSize::from_log2(14).unwrap(), &[vec![0; 100]]);
        assert_eq!(limit, 4 * 48 + 104 + 1024 * 1024 + 64 * 1024);
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("a.bin");
        std::fs::write(&input, vec![5u8; 65_536]).unwrap();
        let mut rng = crate::keys::os_rng();
        let key = SigningKey::generate(&mut rng);
        let dev = RecipientSecretKey::generate(KemId::X25519, &mut rng);
        let req = request(&key, dev.public_key());
        let out = dir.path().join("out");
        assert_eq!(run(&req, &out, &input, false).sealed(), 1);
        let manifest = out.join("a.bin.manifest");
        std::fs::remove_file(&manifest).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &manifest).unwrap();
        let r = run(&req, &out, &input, true);
        assert_eq!((r.sealed(), r.verified()), (1, 0));
        assert!(
            !manifest.is_symlink(),
            "the link was replaced by a manifest"
        );
    }
}
