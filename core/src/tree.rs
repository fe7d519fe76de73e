//! BLAKE3 trees over the payload (FORMAT.md §5).
//!
//! A chunk of a power-of-two size `C >= 1 KiB`, starting at a multiple of `C`,
//! is a complete BLAKE3 subtree of the payload. Its chaining value (CV) can be
//! computed from the chunk alone, and the CVs of all chunks merge, in BLAKE3's
//! own left-balanced shape, to the payload's ordinary BLAKE3 hash. That is why
//! `b3sum payload` prints the manifest's root, and why a device can check any
//! one chunk it has downloaded without the rest.

use crate::prelude::*;
use blake3::hazmat::{HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root};

/// The chaining value of the piece starting at byte `offset` of a payload.
///
/// `offset` must be a multiple of the piece size, the piece size a power of
/// two of at least 1 KiB, and the piece non-empty unless it is the only one.
/// When the piece is the whole payload (`only_piece`), the "CV" is the root
/// hash itself: BLAKE3 finalizes a lone subtree with the root flag.
pub fn piece_cv(piece: &[u8], offset: u64, only_piece: bool) -> [u8; 32] {
    if only_piece {
        debug_assert_eq!(offset, 0);
        return *blake3::hash(piece).as_bytes();
    }
    let mut hasher = blake3::Hasher::new();
    hasher.set_input_offset(offset);
    hasher.update(piece);
    hasher.finalize_non_root()
}

/// Merges the CVs of consecutive equal-size pieces (the last may be short)
/// into the BLAKE3 root hash of the whole input. `cvs` must not be empty.
///
/// BLAKE3 splits `n > 1` leaves so the left subtree holds the largest power of
/// two of leaves strictly less than `n`; with power-of-two pieces that split
/// falls on a piece boundary, so the same rule applies to pieces.
pub fn root_from_cvs(cvs: &[[u8; 32]]) -> [u8; 32] {
    root_from(cvs, |cv| cv)
}

/// [`root_from_cvs`] over any table whose rows hold a CV (a manifest's
/// chunk table), without copying the CVs out first: a device verifying a
/// 1 GiB manifest would otherwise hold a second 128 KiB table.
pub fn root_from<T>(rows: &[T], cv: impl Fn(&T) -> &[u8; 32] + Copy) -> [u8; 32] {
    match rows {
        [] => panic!("a payload always has at least one piece"),
        [only] => *cv(only),
        _ => {
            let (left, right) = rows.split_at(left_len(rows.len()));
            *merge_subtrees_root(
                &merge_non_root(left, cv),
                &merge_non_root(right, cv),
                Mode::Hash,
            )
            .as_bytes()
        }
    }
}

fn merge_non_root<T>(rows: &[T], cv: impl Fn(&T) -> &[u8; 32] + Copy) -> [u8; 32] {
    match rows {
        [only] => *cv(only),
        _ => {
            let (left, right) = rows.split_at(left_len(rows.len()));
            merge_subtrees_non_root(
                &merge_non_root(left, cv),
                &merge_non_root(right, cv),
                Mode::Hash,
            )
        }
    }
}

/// The largest power of two strictly less than `n` (for `n >= 2`).
fn left_len(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// Hashes `input` the slow way, piece by piece, and merges the CVs. Equal to
/// `blake3::hash(input)` for every power-of-two `piece_len >= 1024`.
pub fn root_by_pieces(input: &[u8], piece_len: usize) -> [u8; 32] {
    assert!(piece_len.is_power_of_two() && piece_len >= blake3::CHUNK_LEN);
    if input.len() <= piece_len {
        return piece_cv(input, 0, true);
    }
    let cvs: Vec<[u8; 32]> = input
        .chunks(piece_len)
        .enumerate()
        .map(|(i, piece)| piece_cv(piece, (i * piece_len) as u64, false))
        .collect();
    root_from_cvs(&cvs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_len_is_largest_power_of_two_below() {
        assert_eq!(left_len(2), 1);
        assert_eq!(left_len(3), 2);
        assert_eq!(left_len(4), 2);
        assert_eq!(left_len(5), 4);
        assert_eq!(left_len(8), 4);
        assert_eq!(left_len(9), 8);
    }

    #[test]
    fn pieces_merge_to_the_plain_hash() {
        let input: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        for len in [
            0, 1, 1023, 1024, 1025, 4096, 5000, 16_384, 16_385, 50_000, 70_000,
        ] {
            for piece in [1024, 2048, 4096, 16_384] {
                assert_eq!(
                    root_by_pieces(&input[..len], piece),
                    *blake3::hash(&input[..len]).as_bytes(),
                    "len {len} piece {piece}"
                );
            }
        }
    }
}
