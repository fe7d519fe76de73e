//! Which bytes to ask for: the chunk set of a partial download and the plan
//! of chunk-aligned requests that fetch what is missing.
//!
//! Pure arithmetic over the bundle's geometry, so it is property-tested on
//! its own and any transport (HTTP ranges, a BLE link, a USB stick) can use it.

use crate::format::ChunkSize;
use crate::prelude::*;
use core::ops::Range;

/// The shape of a payload: its length and chunk size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub payload_len: u64,
    pub chunk_size: ChunkSize,
}

impl Geometry {
    pub fn chunk_count(&self) -> u32 {
        // A parsed manifest's chunk count fits in u32 (it is encoded as one).
        u32::try_from(self.chunk_size.chunk_count(self.payload_len)).unwrap_or(u32::MAX)
    }

    /// Byte range of chunk `index` (empty past the end).
    pub fn chunk_range(&self, index: u32) -> Range<u64> {
        self.chunk_size
            .chunk_range(self.payload_len, u64::from(index))
    }

    /// Byte range of the chunks `chunks`.
    pub fn byte_range(&self, chunks: Range<u32>) -> Range<u64> {
        if chunks.is_empty() {
            return 0..0;
        }
        self.chunk_range(chunks.start).start..self.chunk_range(chunks.end - 1).end
    }

    /// The chunks holding payload bytes `range`, clamped to the payload.
    pub fn chunks_covering(&self, range: Range<u64>) -> Range<u32> {
        let end = range.end.min(self.payload_len);
        if range.start >= end {
            return 0..0;
        }
        let log2 = self.chunk_size.log2();
        (range.start >> log2) as u32..((end - 1) >> log2) as u32 + 1
    }
}

/// A set of chunk indexes, e.g. the chunks verified so far: one bit per
/// chunk (a device session keeps two of these for a 1 GiB bundle in 1 KiB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkSet {
    words: Vec<u64>,
    len: u32,
    count: u32,
}

impl ChunkSet {
    /// An empty set over `len` chunks.
    pub fn new(len: u32) -> Self {
        Self {
            words: vec![0; (len as usize).div_ceil(64)],
            len,
            count: 0,
        }
    }

    /// The set of the `true` positions of `bits`.
    pub fn from_bits(bits: Vec<bool>) -> Self {
        let mut set = Self::new(bits.len() as u32);
        for (i, _) in bits.iter().enumerate().filter(|(_, b)| **b) {
            set.insert(i as u32);
        }
        set
    }

    /// Per chunk, whether it is in the set.
    pub fn to_bits(&self) -> Vec<bool> {
        (0..self.len).map(|i| self.contains(i)).collect()
    }

    /// The chunks in either set (over the same length).
    pub fn union(&self, other: &ChunkSet) -> ChunkSet {
        debug_assert_eq!(self.len, other.len);
        let words: Vec<u64> = self
            .words
            .iter()
            .zip(&other.words)
            .map(|(a, b)| a | b)
            .collect();
        let count = words.iter().map(|w| w.count_ones()).sum();
        Self {
            words,
            len: self.len,
            count,
        }
    }

    /// Number of chunks the set ranges over.
    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of chunks in the set.
    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn is_full(&self) -> bool {
        self.count == self.len()
    }

    pub fn contains(&self, index: u32) -> bool {
        index < self.len && self.words[index as usize / 64] & (1 << (index % 64)) != 0
    }

    /// Adds `index`; returns whether it was new. Out-of-range indexes are ignored.
    pub fn insert(&mut self, index: u32) -> bool {
        if index >= self.len || self.contains(index) {
            return false;
        }
        self.words[index as usize / 64] |= 1 << (index % 64);
        self.count += 1;
        true
    }

    /// Removes `index`; returns whether it was there. Out-of-range indexes
    /// are ignored.
    pub fn remove(&mut self, index: u32) -> bool {
        if !self.contains(index) {
            return false;
        }
        self.words[index as usize / 64] &= !(1 << (index % 64));
        self.count -= 1;
        true
    }

    /// The chunks of `within` not in the set, in ascending order.
    pub fn missing(&self, within: Range<u32>) -> impl Iterator<Item = u32> + '_ {
        within
            .filter(move |&i| i < self.len)
            .filter(move |&i| !self.contains(i))
    }
}

/// The default largest byte span of one request: large enough that the
/// per-request cost vanishes, small enough that a failed request costs
/// little to repeat.
pub const DEFAULT_MAX_REQUEST_BYTES: u64 = 8 << 20;

/// One request: a run of consecutive chunks and the bytes that hold them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    pub chunks: Range<u32>,
    pub bytes: Range<u64>,
}

/// Plans requests for the chunks of `wanted` not in `have`: maximal runs of
/// consecutive missing chunks, each split so a request spans at most
/// `max_request_bytes` (but always at least one chunk). Requests are
/// chunk-aligned, in ascending order and never overlap.
pub fn plan_requests(
    geometry: &Geometry,
    have: &ChunkSet,
    wanted: Range<u32>,
    max_request_bytes: u64,
) -> Vec<FetchRequest> {
    let per_request =
        u32::try_from((max_request_bytes >> geometry.chunk_size.log2()).max(1)).unwrap_or(u32::MAX);
    let wanted = wanted.start..wanted.end.min(geometry.chunk_count());
    let mut out = Vec::new();
    let mut run: Option<Range<u32>> = None;
    let flush = |run: Range<u32>, out: &mut Vec<FetchRequest>| {
        let mut start = run.start;
        while start < run.end {
            let end = run.end.min(start.saturating_add(per_request));
            out.push(FetchRequest {
                chunks: start..end,
                bytes: geometry.byte_range(start..end),
            });
            start = end;
        }
    };
    for i in have.missing(wanted) {
        run = match run {
            Some(r) if r.end == i => Some(r.start..i + 1),
            Some(r) => {
                flush(r, &mut out);
                Some(i..i + 1)
            }
            None => Some(i..i + 1),
        };
    }
    if let Some(r) = run {
        flush(r, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn geometry(len: u64, log2: u8) -> Geometry {
        Geometry {
            payload_len: len,
            chunk_size: ChunkSize::from_log2(log2).unwrap(),
        }
    }

    #[test]
    fn coalesces_runs_and_splits_at_the_limit() {
        let g = geometry(10 * 16384 + 100, 14); // 11 chunks, the last short
        let mut have = ChunkSet::new(11);
        for i in [2, 3, 7] {
            have.insert(i);
        }
        let plan = plan_requests(&g, &have, 0..11, 3 * 16384);
        let chunks: Vec<_> = plan.iter().map(|r| r.chunks.clone()).collect();
        assert_eq!(chunks, vec![0..2, 4..7, 8..11]);
        assert_eq!(plan[2].bytes, 8 * 16384..10 * 16384 + 100);
        let small = plan_requests(&g, &have, 0..11, 1);
        assert_eq!(small.len(), 11 - 3);
        assert!(plan_requests(&g, &ChunkSet::from_bits(vec![true; 11]), 0..11, 1 << 20).is_empty());
    }

    #[test]
    fn empty_payload_has_one_empty_chunk() {
        let g = geometry(0, 14);
        assert_eq!(g.chunk_count(), 1);
        let plan = plan_requests(&g, &ChunkSet::new(1), 0..1, 1 << 20);
        assert_eq!(
            plan,
            vec![FetchRequest {
                chunks: 0..1,
                bytes: 0..0
            }]
        );
        assert_eq!(g.chunks_covering(0..0), 0..0);
    }

    proptest! {
        /// Every missing wanted chunk is requested exactly once, nothing
        /// else is, and every request is aligned, bounded and ordered.
        #[test]
        fn plan_is_exact(
            len in 0u64..(40 * 16384),
            log2 in 14u8..16,
            have_bits in proptest::collection::vec(any::<bool>(), 0..48),
            a in 0u32..48, b in 0u32..48,
            max in 1u64..200_000,
        ) {
            let g = geometry(len, log2);
            let n = g.chunk_count();
            let mut bits = have_bits;
            bits.resize(n as usize, false);
            let have = ChunkSet::from_bits(bits);
            let wanted = a.min(b)..a.max(b);
            let plan = plan_requests(&g, &have, wanted.clone(), max);
            let mut seen = vec![false; n as usize];
            let mut prev_end = 0u64;
            for r in &plan {
                prop_assert!(!r.chunks.is_empty());
                prop_assert_eq!(r.bytes.clone(), g.byte_range(r.chunks.clone()));
                prop_assert_eq!(r.bytes.start % g.chunk_size.bytes(), 0);
                prop_assert!(r.bytes.start >= prev_end);
                prev_end = r.bytes.end;
                prop_assert!(r.chunks.len() == 1 || r.bytes.end - r.bytes.start <= max);
                for i in r.chunks.clone() {
                    prop_assert!(!have.contains(i));
                    prop_assert!(!seen[i as usize]);
                    seen[i as usize] = true;
                }
            }
            for i in 0..n {
                let should = wanted.contains(&i) && !have.contains(i);
                prop_assert_eq!(seen[i as usize], should, "chunk {}", i);
            }
        }

        /// The chunks covering a byte range hold all of it and nothing more.
        #[test]
        fn covering_is_tight(len in 1u64..(20 * 16384), a in 0u64..(21 * 16384), b in 0u64..(21 * 16384)) {
            let g = geometry(len, 14);
            let (start, end) = (a.min(b), a.max(b).min(len));
            let c = g.chunks_covering(start..end);
            if start >= end {
                prop_assert!(c.is_empty());
            } else {
                let bytes = g.byte_range(c.clone());
                prop_assert!(bytes.start <= start && bytes.end >= end);
                prop_assert!(g.chunk_range(c.start).end > start);
                prop_assert!(g.chunk_range(c.end - 1).start < end);
            }
        }
    }
}
