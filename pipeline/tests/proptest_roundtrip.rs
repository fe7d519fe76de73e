//! Property tests: round trips across sizes and chunk sizes, and detection
//! of every single-bit flip, chunk permutation and truncation.

use crate::common::{Fixture, pattern};
use otaseal::open::verify_manifest;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn seal_open_round_trip(len in 0usize..300_000, log2 in 14u8..=16, seed: u64) {
        let f = Fixture::new();
        let plain = pattern(len);
        let sealed = f.seal_with(&plain, &f.options(log2), seed);
        prop_assert_eq!(sealed.payload.len(), len);
        prop_assert_eq!(*blake3::hash(&sealed.payload).as_bytes(), sealed.manifest.root);
        prop_assert_eq!(f.open(&sealed.payload, &sealed.manifest_bytes).unwrap(), plain);
    }

    #[test]
    fn any_payload_bit_flip_is_detected(len in 1usize..100_000, at: prop::sample::Index, bit in 0u8..8) {
        let f = Fixture::new();
        let sealed = f.seal(&pattern(len), 1);
        let mut p = sealed.payload.clone();
        let i = at.index(len);
        p[i] ^= 1 << bit;
        prop_assert!(f.open(&p, &sealed.manifest_bytes).is_err());
    }

    #[test]
    fn any_manifest_bit_flip_is_detected(len in 0usize..70_000, at: prop::sample::Index, bit in 0u8..8) {
        let f = Fixture::new();
        let sealed = f.seal(&pattern(len), 2);
        let mut m = sealed.manifest_bytes.clone();
        let i = at.index(m.len());
        m[i] ^= 1 << bit;
        prop_assert!(f.open(&sealed.payload, &m).is_err());
    }

    #[test]
    fn any_chunk_permutation_or_truncation_is_detected(
        chunks in 2usize..7,
        tail in 1usize..16_384,
        perm in Just(()).prop_perturb(|_, mut rng| {
            let mut order: Vec<usize> = (0..7).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.random_range(0..=i));
            }
            order
        }),
        keep in 0usize..7,
    ) {
        const C: usize = 16 * 1024;
        let f = Fixture::new();
        let len = (chunks - 1) * C + tail;
        let sealed = f.seal(&pattern(len), 3);
        let pieces: Vec<&[u8]> = sealed.payload.chunks(C).collect();
        let order: Vec<usize> = perm.into_iter().filter(|&i| i < chunks).collect();
        if order.iter().enumerate().any(|(pos, &i)| pos != i) {
            let permuted: Vec<u8> = order.iter().flat_map(|&i| pieces[i].iter().copied()).collect();
            prop_assert!(f.open(&permuted, &sealed.manifest_bytes).is_err());
        }
        let truncated: Vec<u8> = pieces[..keep.min(chunks - 1)].concat();
        prop_assert!(f.open(&truncated, &sealed.manifest_bytes).is_err());
    }

    #[test]
    fn range_verification_equals_per_chunk_verification(
        len in 1usize..120_000,
        a: prop::sample::Index,
        b: prop::sample::Index,
        flip: Option<prop::sample::Index>,
    ) {
        let f = Fixture::new();
        let sealed = f.seal(&pattern(len), 4);
        let verified = verify_manifest(&sealed.manifest_bytes, &f.trust()).unwrap();
        let mut p = sealed.payload.clone();
        if let Some(at) = flip {
            p[at.index(len)] ^= 1;
        }
        let (x, y) = (a.index(len + 1) as u64, b.index(len + 1) as u64);
        let range = x.min(y)..x.max(y);
        let covered = verified.chunks_covering(range.clone()).unwrap();
        let each_ok = covered.clone().all(|i| {
            let r = verified.chunk_range(i).unwrap();
            verified.verify_chunk(i, &p[r.start as usize..r.end as usize]).is_ok()
        });
        prop_assert_eq!(verified.verify_range(&p, range).is_ok(), each_ok);
    }
}
