//! A fast bsdiff encoder: the records of FORMAT.md §17.5 (what
//! [`Encoding::Bsdiff`](super::Encoding::Bsdiff) decodes), found with a
//! hash index instead of a suffix array.
//!
//! The scan and the record boundaries follow bsdiff (bsdiff 4.3, Colin
//! Percival, BSD-2-Clause; "Naive differences of executable code", 2003):
//! keep the current alignment of new against base while it matches
//! approximately, take a new one only where it beats the current one by
//! more than 8 bytes, and cut each record where at least half the bytes
//! still match (forward from the last alignment, backward from the new one,
//! splitting any overlap where the two score best). Mix bytes are then
//! mostly zero even where scattered words differ (the addresses an
//! insertion shifts), which zstd compresses well and LZ matching on the raw
//! bytes does not.
//!
//! What differs is how a new alignment is found and judged. bsdiff asks a
//! suffix array for the longest exact match at every position (sorting the
//! base costs minutes on tens of MiB, and repetitive inputs make the scan
//! quadratic), and takes it when it is 8 bytes longer than what the current
//! alignment matches of it. Here:
//!
//! - only anchors are indexed and looked up: positions whose 8-byte gram
//!   hashes to a given pattern, one in `2^ANCHOR_LOG` (see [`Index`]);
//! - a lookup happens only where the current alignment mismatches (while it
//!   matches, the scan compares 8 bytes a step), and only if the current
//!   alignment misses more than 8 of the next [`WINDOW`] bytes;
//! - a candidate wins on the bytes it matches of those [`WINDOW`], not on
//!   its exact length: it must miss more than 8 fewer than the current
//!   alignment. An exact match of 8 or 10 bytes followed by words that all
//!   moved by the same amount (a table of shifted pointers, records that
//!   each hold one) is then taken, where bsdiff's rule needs exact runs;
//!   this is what brings the `versions` firmware within 1.4× of bsdiff;
//! - a lookup costs at most [`WAYS`] × ([`PROBE`] + [`WINDOW`]) byte
//!   comparisons whatever the input, all zeros included: the scan is linear
//!   in the new version;
//! - where lookups keep failing (unrelated data), the scan steps further
//!   and further ahead ([`SKIP_LOG`]); the backward extension of the next
//!   alignment recovers what a step jumped over.
//!
//! The result is deterministic (no randomness, no threads).

use super::bsdelta::compress;
use super::{DeltaError, Encoded};

/// Bytes hashed per base position.
const GRAM: usize = 8;
/// Entries per hash bucket.
const WAYS: usize = 4;
/// Most bytes measured of a candidate's exact match (skipped once taken):
/// bounds a lookup.
const PROBE: usize = 256;
/// bsdiff's margin: a candidate replaces the current alignment only when it
/// matches more than this many bytes more than the current alignment does
/// (here over the next [`WINDOW`] bytes).
const MIN_GAIN: usize = 8;
/// After `2^SKIP_LOG` lookups in a row that found nothing better, step 2
/// bytes; after twice that, 3; ... (zstd's acceleration on incompressible
/// input; 16 rather than 64 halves the time of the unrelated `versions`
/// pair, and the firmware patches stay within 0.1%).
const SKIP_LOG: u32 = 4;
/// Bytes over which a candidate alignment is compared with the current one.
const WINDOW: usize = 64;
/// The largest step.
const MAX_SKIP: usize = 32;
/// Anchors inserted in the index at a time.
const INSERT_BATCH: usize = 4096;
/// One position in `2^ANCHOR_LOG` is an anchor ([`Index`]).
const ANCHOR_LOG: u32 = 2;

/// A bsdiff patch from `base` to `new` at zstd `level`, or `None` when the
/// base is too large for the index (positions are `u32`): then the caller
/// keeps its other candidates.
pub(super) fn encode(base: &[u8], new: &[u8], level: i32) -> Result<Option<Encoded>, DeltaError> {
    match diff(base, new) {
        Some(raw) => compress(&raw, level).map(Some),
        None => Ok(None),
    }
}

/// The uncompressed records (FORMAT.md §17.5) turning `base` into `new`,
/// or `None` when `base` has 2^32 bytes or more.
pub(super) fn diff(base: &[u8], new: &[u8]) -> Option<Vec<u8>> {
    let index = Index::new(base)?;
    let mut out = Vec::with_capacity(new.len().saturating_add(new.len() / 32).saturating_add(24));
    let n = new.len();
    // The record being built starts at `last_scan` in new and `last_pos`
    // in base; `offset` maps a new position to the base under the current
    // alignment (starting with the identity: an unchanged prefix costs no
    // lookup).
    let (mut last_scan, mut last_pos) = (0usize, 0usize);
    let mut offset: i64 = 0;
    let mut scan = 0usize;
    // Where the current alignment was taken: the next record's backward
    // extension stops there.
    let mut taken = 0usize;
    let mut misses = 0usize;
    while scan < n {
        // Ride the current alignment while it matches exactly.
        if let Some(at) = aligned(scan, offset, base.len()) {
            scan += common_prefix(&base[at..], &new[scan..], usize::MAX);
            if scan >= n {
                break;
            }
        }
        // Look up at the next anchor: none left, and what remains is the
        // tail of the last record.
        let Some((anchor, g, h)) = next_anchor(new, scan) else {
            break;
        };
        scan = anchor;
        // A candidate must miss more than MIN_GAIN fewer of the next WINDOW
        // bytes than the current alignment does: where that misses at most
        // MIN_GAIN (a few changed words), no lookup can win, and none is
        // made (most lookups: their cache misses are the cost of a scan).
        let w = WINDOW.min(n - scan);
        let cur = mismatches(base, new, scan, w, offset, usize::MAX);
        if cur <= MIN_GAIN {
            scan += 1;
            continue;
        }
        match index.best(base, new, scan, g, h, w) {
            Some((pos, len, mm)) if mm + MIN_GAIN < cur => {
                let (next_scan, next_pos) = record(
                    &mut out,
                    base,
                    new,
                    (last_scan, last_pos),
                    Some((scan, pos, taken)),
                );
                (last_scan, last_pos) = (next_scan, next_pos);
                taken = scan;
                // Slice lengths are at most isize::MAX: both fit an i64.
                offset = pos as i64 - scan as i64;
                scan += len;
                misses = 0;
            }
            _ => {
                misses += 1;
                scan += 1 + (misses >> SKIP_LOG).min(MAX_SKIP - 1);
            }
        }
    }
    record(&mut out, base, new, (last_scan, last_pos), None);
    Some(out)
}

/// The base position aligned with new position `scan` under `offset`, if
/// inside the base.
fn aligned(scan: usize, offset: i64, base_len: usize) -> Option<usize> {
    let at = (scan as i64).checked_add(offset)?;
    usize::try_from(at).ok().filter(|&at| at < base_len)
}

/// How many of `new[scan..scan + len]` the alignment `offset` does not
/// match (a byte aligned outside the base does not), counted until more
/// than `stop`: the count, or some number above `stop`. bsdiff's `oldscore`
/// is `len` minus this.
fn mismatches(base: &[u8], new: &[u8], scan: usize, len: usize, offset: i64, stop: usize) -> usize {
    // The new positions aligned inside the base: [lo, hi). Slice lengths
    // fit an i64, and the offset is a difference of two of them.
    let lo = (scan as i64).max(-offset);
    let hi = ((scan + len) as i64).min(base.len() as i64 - offset);
    if lo >= hi {
        return len;
    }
    let outside = len - (hi - lo) as usize;
    let (lo, hi) = (lo as usize, hi as usize);
    let at = (lo as i64 + offset) as usize;
    let (a, b) = (&new[lo..hi], &base[at..at + (hi - lo)]);
    let mut count = outside;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        if count > stop {
            return count;
        }
        let d = u64::from_le_bytes(x.try_into().unwrap_or_default())
            ^ u64::from_le_bytes(y.try_into().unwrap_or_default());
        // The high bit of each byte of `z` is set where `d`'s byte is 0.
        let z = !(((d & LOW7) + LOW7) | d | LOW7);
        count += 8 - z.count_ones() as usize;
    }
    let tail = a.len() / 8 * 8;
    count
        + a[tail..]
            .iter()
            .zip(&b[tail..])
            .filter(|(x, y)| x != y)
            .count()
}

/// Length of the common prefix of `a` and `b`, at most `cap`: 8 bytes a
/// step (the first differing byte is the lowest set byte of the xor).
fn common_prefix(a: &[u8], b: &[u8], cap: usize) -> usize {
    let n = a.len().min(b.len()).min(cap);
    let (a, b) = (&a[..n], &b[..n]);
    let mut i = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let x = u64::from_le_bytes(x.try_into().unwrap_or_default());
        let y = u64::from_le_bytes(y.try_into().unwrap_or_default());
        let d = x ^ y;
        if d != 0 {
            return i + (d.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + a[i..]
        .iter()
        .zip(&b[i..])
        .take_while(|(x, y)| x == y)
        .count()
}

/// The gram at `at`, if 8 bytes remain.
fn gram(data: &[u8], at: usize) -> Option<u64> {
    let bytes = data.get(at..at.checked_add(GRAM)?)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// Base positions by the hash of the gram starting there: only at anchors.
///
/// An anchor is a position whose gram's hash has [`ANCHOR_LOG`] chosen bits
/// zero: a property of the content, so an anchor of the new version falls on
/// the same bytes as the base's anchor it matches, wherever either sits.
/// Indexing and looking up only anchors (one position in `2^ANCHOR_LOG`)
/// divides the table, its cache misses and the lookups by that much, and
/// still finds every match long enough to hold an anchor (almost all of a
/// few dozen bytes).
struct Index {
    /// Buckets of [`WAYS`] entries, latest first: position + 1 in the low
    /// 32 bits (0: empty), the gram's [`tag`] in the high ones.
    slots: Vec<u64>,
    /// Right shift taking a hash to a bucket number.
    shift: u32,
}

/// Multiplicative hashing: the top bits of the product mix all the gram's
/// bytes; buckets take the top bits, anchors bits 32 and up (a bucket
/// number has at most 28 bits: disjoint).
fn hash(g: u64) -> u64 {
    g.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn is_anchor(h: u64) -> bool {
    (h >> 32) & ((1 << ANCHOR_LOG) - 1) == 0
}

/// Checked before a candidate's bytes are read: most candidates that are
/// not the gram are rejected without the cache miss of reading the base.
fn tag(g: u64) -> u32 {
    (g ^ (g >> 32)) as u32
}

/// The first anchor at or after `from` in `data`: its position, gram and
/// hash.
fn next_anchor(data: &[u8], from: usize) -> Option<(usize, u64, u64)> {
    let mut at = from;
    loop {
        let g = gram(data, at)?;
        let h = hash(g);
        if is_anchor(h) {
            return Some((at, g, h));
        }
        at += 1;
    }
}

impl Index {
    /// The anchors of `base`; `None` when a position + 1 would not fit a
    /// `u32`.
    fn new(base: &[u8]) -> Option<Index> {
        u32::try_from(base.len()).ok()?;
        // About one entry per anchor, a power of two of buckets (at least
        // one): 8 bytes of table per 2^ANCHOR_LOG bytes of base.
        let buckets = (base.len() >> ANCHOR_LOG) / WAYS;
        let bits = usize::BITS - 1 - buckets.max(1).leading_zeros();
        let mut index = Index {
            slots: vec![0; WAYS << bits],
            shift: 64 - bits,
        };
        // In batches: first the anchors of a stretch (branchy, but the
        // base is read in order), then their inserts in a loop without
        // unpredictable branches, so the CPU overlaps the cache misses of
        // the table instead of paying them one after another.
        let mut batch: Vec<(usize, u64)> = Vec::with_capacity(INSERT_BATCH);
        let mut at = 0;
        loop {
            batch.clear();
            while batch.len() < INSERT_BATCH {
                let Some((a, g, h)) = next_anchor(base, at) else {
                    break;
                };
                // `a < base.len() <= u32::MAX`: `a + 1` fits.
                batch.push((index.bucket(h), u64::from(tag(g)) << 32 | (a as u64 + 1)));
                at = a + 1;
            }
            for &(b, e) in &batch {
                let bucket = &mut index.slots[b..b + WAYS];
                bucket.copy_within(0..WAYS - 1, 1);
                bucket[0] = e;
            }
            if batch.len() < INSERT_BATCH {
                return Some(index);
            }
        }
    }

    /// First slot of the bucket of hash `h`.
    fn bucket(&self, h: u64) -> usize {
        // `shift` is 64 with a single bucket: checked_shr gives 0 then.
        (h.checked_shr(self.shift).unwrap_or(0) as usize) * WAYS
    }

    /// The longest exact match (measured up to [`PROBE`] bytes) of
    /// `new[scan..]`, an anchor of hash `h`, among the base anchors of that
    /// hash: `(pos, len)`, the first of equals.
    fn best(
        &self,
        base: &[u8],
        new: &[u8],
        scan: usize,
        g: u64,
        h: u64,
        w: usize,
    ) -> Option<(usize, usize, usize)> {
        let b = self.bucket(h);
        let mut best: Option<(usize, usize, usize)> = None;
        for &e in &self.slots[b..b + WAYS] {
            let Some(pos) = ((e & u64::from(u32::MAX)) as usize).checked_sub(1) else {
                break;
            };
            if (e >> 32) as u32 != tag(g) {
                continue;
            }
            let len = common_prefix(&base[pos..], &new[scan..], PROBE);
            if len < GRAM {
                continue;
            }
            let stop = best.map_or(usize::MAX, |(_, _, m)| m);
            let mm = mismatches(base, new, scan, w, pos as i64 - scan as i64, stop);
            if best.is_none_or(|(_, l, m)| mm < m || (mm == m && len > l)) {
                best = Some((pos, len, mm));
            }
        }
        best
    }
}

/// Appends the record from `last` (new, base positions of the current
/// alignment) up to the next alignment `next` (new, base positions of an
/// exact match) whose backward extension stops at new position `floor`,
/// or to the end of new; returns where the next record starts. bsdiff's cut: the mix runs forward from `last` as far as the
/// bytes that match outnumber those that do not (the longest prefix
/// maximising `2 × equal − length`), the next record's mix backward from
/// `next` likewise, and where the two overlap the split is where the
/// forward alignment's matches minus the backward one's peak. The rest is
/// copied.
///
/// bsdiff extends backward as far as the record reaches, to `last`: on
/// repetitive data every new alignment reaches back to the start of the
/// previous record, and the scan is quadratic. Stopping at `floor`, where
/// the current alignment was taken, puts each new byte in at most two
/// records' extensions.
fn record(
    out: &mut Vec<u8>,
    base: &[u8],
    new: &[u8],
    (last_scan, last_pos): (usize, usize),
    next: Option<(usize, usize, usize)>,
) -> (usize, usize) {
    let scan = next.map_or(new.len(), |(s, _, _)| s);
    let span = scan - last_scan;

    let mut lenf = 0usize;
    let (mut s, mut best) = (0isize, 0isize);
    let fwd = span.min(base.len().saturating_sub(last_pos));
    for (i, (o, n)) in base[last_pos..last_pos + fwd]
        .iter()
        .zip(&new[last_scan..scan])
        .enumerate()
    {
        s += isize::from(o == n);
        // 2s - (i + 1) > 2·best - lenf; lengths fit an isize (slices).
        if 2 * s - (i as isize + 1) > 2 * best - lenf as isize {
            best = s;
            lenf = i + 1;
        }
    }

    let mut lenb = 0usize;
    let mut pos = 0usize;
    if let Some((_, p, floor)) = next {
        pos = p;
        let (mut s, mut best) = (0isize, 0isize);
        let back = span.min(pos).min(scan.saturating_sub(floor));
        for i in 1..=back {
            s += isize::from(base[pos - i] == new[scan - i]);
            if 2 * s - i as isize > 2 * best - lenb as isize {
                best = s;
                lenb = i;
            }
        }
    }

    if last_scan + lenf > scan - lenb {
        let overlap = last_scan + lenf - (scan - lenb);
        let (mut s, mut best, mut lens) = (0isize, 0isize, 0usize);
        for i in 0..overlap {
            let f = last_scan + lenf - overlap + i;
            s += isize::from(new[f] == base[last_pos + lenf - overlap + i]);
            s -= isize::from(new[scan - lenb + i] == base[pos - lenb + i]);
            if s > best {
                best = s;
                lens = i + 1;
            }
        }
        lenf = lenf + lens - overlap;
        lenb -= lens;
    }

    let copy_from = last_scan + lenf;
    let copy_to = scan - lenb;
    let (next_scan, next_pos) = (copy_to, pos - lenb);
    // The cursor after the mix is `last_pos + lenf`; the next record's mix
    // starts at `next_pos` (the end of the patch needs no seek).
    let seek = match next {
        Some(_) => next_pos as i64 - (last_pos + lenf) as i64,
        None => 0,
    };
    if next.is_none() && lenf == 0 && copy_from == copy_to {
        return (next_scan, next_pos);
    }
    out.extend_from_slice(&(lenf as u64).to_le_bytes());
    out.extend_from_slice(&((copy_to - copy_from) as u64).to_le_bytes());
    out.extend_from_slice(&offtout(seek));
    out.extend(
        new[last_scan..copy_from]
            .iter()
            .zip(&base[last_pos..last_pos + lenf])
            .map(|(n, o)| n.wrapping_sub(*o)),
    );
    out.extend_from_slice(&new[copy_from..copy_to]);
    (next_scan, next_pos)
}

/// Sign and magnitude, little-endian (bsdiff's `offtout`).
fn offtout(x: i64) -> [u8; 8] {
    let magnitude = x.unsigned_abs();
    let sign = if x < 0 { 1u64 << 63 } else { 0 };
    (magnitude | sign).to_le_bytes()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::{Effort, Encoding, FAST_BSDIFF_LEVEL, FAST_LEVEL, decode_to, encode_as};
    use super::*;

    /// Applies `patch` (compressed) to `base`.
    fn apply(base: &[u8], patch: &Encoded, max: usize) -> Vec<u8> {
        let mut out = Vec::new();
        decode_to(patch.encoding, base, &patch.bytes[..], &mut out, max as u64).unwrap();
        out
    }

    /// Encodes with this module and checks the round trip; the patch.
    fn round_trip(base: &[u8], new: &[u8]) -> Encoded {
        let enc = encode(base, new, FAST_BSDIFF_LEVEL).unwrap().unwrap();
        assert_eq!(enc.encoding, Encoding::Bsdiff);
        assert!(apply(base, &enc, new.len()) == new, "round trip");
        enc
    }

    /// Deterministic xorshift bytes.
    fn random(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    /// A firmware-like image of `words` 4-byte words: a small skewed
    /// vocabulary of instructions, and every 5th word an absolute pointer to
    /// another word (`0x0800_0000 + 4 × index`). Inserting `insert` words
    /// at each index of `at` shifts every word behind it, and every pointer
    /// to one of those, by the same displacement: scattered word changes.
    fn firmware(seed: u64, words: usize, at: &[usize], insert: usize) -> Vec<u8> {
        let r = random(seed, words * 8);
        let shift = |target: usize| target + insert * at.iter().filter(|&&a| a <= target).count();
        let mut out = Vec::with_capacity((words + insert * at.len()) * 4);
        for i in 0..words {
            if at.contains(&i) {
                // New code: from the same vocabulary, other seed.
                out.extend(random(seed ^ i as u64, insert * 4).iter().map(|b| b & 0x1f));
            }
            let word = if i % 5 == 4 {
                let target = usize::from(u16::from_le_bytes([r[8 * i], r[8 * i + 1]])) % words;
                0x0800_0000 + 4 * shift(target) as u32
            } else {
                // Skewed: small opcodes far more often.
                0xe000_0000 | u32::from(r[8 * i + 2] % (1 + r[8 * i + 3] % 16)) << 16
            };
            out.extend_from_slice(&word.to_le_bytes());
        }
        out
    }

    #[test]
    fn random_and_edited_round_trip() {
        let base = random(1, 300_000);
        round_trip(&base, &random(2, 200_000));
        let mut new = base.clone();
        new.splice(1000..1000, random(3, 5_000));
        new.drain(100_000..101_234);
        for b in &mut new[150_000..150_500] {
            *b ^= 0x5a;
        }
        let moved: Vec<u8> = new.drain(200_000..220_000).collect();
        new.extend_from_slice(&moved);
        let enc = round_trip(&base, &new);
        assert!(enc.bytes.len() < 20_000, "{}", enc.bytes.len());
    }

    /// The point of this encoder: on shifted machine code it beats the
    /// zstd-patch frame by far (sizes are deterministic).
    #[test]
    fn shifted_firmware_is_much_smaller_than_zstd_patch() {
        let base = firmware(7, 200_000, &[], 0);
        let new = firmware(7, 200_000, &[20_000, 90_000, 150_000], 33);
        assert_ne!(base.len(), new.len());
        let b = round_trip(&base, &new);
        let z = encode_as(Encoding::ZstdPatch, &base, &new, FAST_LEVEL).unwrap();
        assert!(
            b.bytes.len() * 2 < z.bytes.len(),
            "bsmatch {} vs zstd-patch {}",
            b.bytes.len(),
            z.bytes.len()
        );
        // And `Effort::Fast` keeps it.
        let fast = super::super::encode(Some(&base), &new, Effort::Fast).unwrap();
        assert_eq!(fast.encoding, Encoding::Bsdiff);
        assert_eq!(fast.bytes, b.bytes);
    }

    #[test]
    fn edge_cases_round_trip() {
        let data = random(4, 50_000);
        round_trip(&[], &[]);
        round_trip(&[], &data);
        round_trip(&data, &[]);
        round_trip(&data[..7], &data);
        round_trip(&data, &data[..7]);
        round_trip(&data, &data[20_000..20_100]);
        let mut long = data.clone();
        for _ in 0..5 {
            long.extend_from_slice(&data);
        }
        round_trip(&data, &long);
        // Identical inputs: one record of zero mix bytes.
        let raw = diff(&data, &data).unwrap();
        assert_eq!(raw.len(), 24 + data.len());
        assert!(raw[24..].iter().all(|&b| b == 0));
        // The empty patch of an empty new version: no record.
        assert!(diff(&data, &[]).unwrap().is_empty());
    }

    /// Repetitive inputs: bsdiff's scan is quadratic on them. Here a lookup
    /// costs at most WAYS × PROBE comparisons and happens only where the
    /// alignment breaks, so megabytes of zeros (and of a short period, and
    /// zeros against a base of another period) take one pass; the patches
    /// stay a few records.
    #[test]
    fn repetitive_inputs_are_linear() {
        const N: usize = 4 << 20;
        let zeros = vec![0u8; N];
        let enc = round_trip(&zeros, &zeros);
        assert!(enc.bytes.len() < 1000, "{}", enc.bytes.len());
        let mut edited = zeros.clone();
        edited[N / 3] = 1;
        edited.extend_from_slice(&[0; 100_000]);
        let enc = round_trip(&zeros, &edited);
        assert!(enc.bytes.len() < 2000, "{}", enc.bytes.len());
        let period: Vec<u8> = (0..N).map(|i| (i % 7) as u8).collect();
        let enc = round_trip(&period, &zeros);
        assert!(enc.bytes.len() < 2000, "{}", enc.bytes.len());
        let enc = round_trip(&zeros[..N / 2], &period);
        assert!(enc.bytes.len() < 4000, "{}", enc.bytes.len());
        // A shifted period: the latest positions of its grams sit at the end
        // of the base, so alignments are short-lived and records many (about
        // one per 10 bytes): linear still, and compressible.
        let enc = round_trip(&period, &period[3..]);
        assert!(enc.bytes.len() < N / 64, "{}", enc.bytes.len());
    }

    #[test]
    fn output_is_deterministic() {
        let base = firmware(8, 20_000, &[], 0);
        let new = firmware(8, 20_000, &[5_000], 17);
        assert_eq!(diff(&base, &new), diff(&base, &new));
    }

    #[test]
    fn offtout_is_sign_and_magnitude() {
        assert_eq!(offtout(0), [0; 8]);
        assert_eq!(offtout(5), 5u64.to_le_bytes());
        assert_eq!(offtout(-5), (5u64 | 1 << 63).to_le_bytes());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any base and a new version made of its pieces, edited, round-trip.
        #[test]
        fn pieces_of_the_base_round_trip(
            base in proptest::collection::vec(0u8..4, 0..3000),
            cuts in proptest::collection::vec((any::<usize>(), 0usize..200, any::<u8>()), 0..20),
        ) {
            let mut new = Vec::new();
            for (at, len, noise) in cuts {
                let from = at.checked_rem(base.len()).unwrap_or(0);
                let to = (from + len).min(base.len());
                new.extend_from_slice(&base[from..to]);
                if noise % 3 == 0 {
                    new.push(noise);
                }
            }
            let raw = diff(&base, &new).unwrap();
            let patch = compress(&raw, 1).unwrap();
            prop_assert!(apply(&base, &patch, new.len()) == new);
        }
    }
}
