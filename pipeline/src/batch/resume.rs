//! `--resume`: keep a bundle whose outputs already verify.
//!
//! A bundle is kept only if all of these hold; otherwise it is sealed again
//! (its outputs are replaced atomically):
//! - the manifest parses and its signature verifies under the signer's
//!   public key, and its chunk table merges to its root;
//! - it was sealed for this release (app, channel, version, sequence), with
//!   this chunk size and for exactly this set of recipients;
//! - its plaintext length equals the input's current size, and the input was
//!   not modified after the manifest file was written (modification times
//!   compared at full precision; an input replaced by different bytes of the
//!   same size *and* an older modification time is not detected — resume
//!   trusts inputs the way `make` does);
//! - the payload file has that length and every chunk's BLAKE3 chaining
//!   value matches the manifest (so its BLAKE3 hash is the root). This also
//!   catches payloads whose bytes never reached the disk before a crash.

use super::{Batch, Discovered};
use crate::format::batch_index::IndexEntry;
use crate::keys::VerifyingKey;
use crate::open::{TrustAnchor, VerifiedManifest, verify_manifest};
use rayon::prelude::*;
use std::path::Path;

pub(super) fn existing_outputs(
    batch: &Batch<'_>,
    key: &VerifyingKey,
    input: &Discovered,
    payload: &Path,
    manifest: &Path,
) -> Option<IndexEntry> {
    let manifest_meta = std::fs::metadata(manifest).ok()?;
    let bytes = std::fs::read(manifest).ok()?;
    let vm = verify_manifest(&bytes, &TrustAnchor::SigningKey(*key)).ok()?;
    let m = vm.manifest();
    let o = &batch.opts.seal;
    let input_meta = std::fs::metadata(&input.path).ok()?;
    let same_release = m.app_id == o.app_id
        && m.channel == o.channel
        && m.version == o.version
        && m.sequence == o.sequence
        && m.chunk_size == o.chunk_size
        && m.plaintext_len == input_meta.len();
    if !same_release || !same_recipients(batch, &vm) || modified_after(&input_meta, &manifest_meta)
    {
        return None;
    }
    if !payload_verifies(batch, &vm, payload) {
        return None;
    }
    Some(IndexEntry {
        name: input.name.clone(),
        plaintext_len: m.plaintext_len,
        bundle_id: m.bundle_id,
        root: m.root,
        manifest_len: u32::try_from(bytes.len()).ok()?,
        manifest_hash: *blake3::hash(&bytes).as_bytes(),
    })
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

fn payload_verifies(batch: &Batch<'_>, vm: &VerifiedManifest, payload: &Path) -> bool {
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
        batch.progress.advance(len as u64);
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
