#![no_main]
//! Decoding an encoded payload (FORMAT.md §17): the patch bytes are what a
//! publisher signed, but a device must survive a broken publisher too. For
//! any encoding, base and patch: no panic, never more output than the limit,
//! and an `Ok` wrote exactly what it says.

use libfuzzer_sys::fuzz_target;
use otaseal::delta::{Encoding, decode_to};

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let all = Encoding::ALL;
    let encoding = all[usize::from(head) % all.len()];
    // The first bytes (up to 255, by the second byte) are the base; the
    // limit stays small so a bomb is cut off quickly.
    let Some((&base_len, rest)) = rest.split_first() else {
        return;
    };
    let (base, patch) = rest.split_at((base_len as usize).min(rest.len()));
    let limit = 1 << 16;
    let mut out = Vec::new();
    match decode_to(encoding, base, patch, &mut out, limit) {
        Ok(n) => assert_eq!(n, out.len() as u64),
        Err(_) => {}
    }
    assert!(out.len() as u64 <= limit);
});
