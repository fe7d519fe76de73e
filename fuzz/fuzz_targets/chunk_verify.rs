#![no_main]
//! Chunk verification and decryption of fixture bundles with arbitrary chunk
//! bytes: `verify_chunk` and `decrypt_chunk` succeed exactly when the bytes
//! are the real chunk, and then decrypt to the real plaintext.

use libfuzzer_sys::fuzz_target;
use otaseal_fuzz::fixture;

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Some((idx, chunk)) = rest.split_first_chunk::<4>() else {
        return;
    };
    let b = &f.bundles[sel as usize % f.bundles.len()];
    let v = &b.verified;
    let index = u32::from_le_bytes(*idx) % (v.chunk_count() + 1);
    let real = v
        .chunk_range(index)
        .ok()
        .map(|r| &b.payload[r.start as usize..r.end as usize]);
    let ok = v.verify_chunk(index, chunk).is_ok();
    assert_eq!(
        ok,
        real == Some(chunk),
        "verify_chunk disagrees with the real chunk"
    );

    let opener = v.opener(&f.device).unwrap();
    let mut out = vec![0u8; chunk.len()];
    match opener.decrypt_chunk(index, chunk, &mut out) {
        Ok(()) => {
            assert!(ok);
            let r = v.chunk_range(index).unwrap();
            assert_eq!(out, b.plain[r.start as usize..r.end as usize]);
        }
        Err(_) => {
            assert!(!ok);
            assert!(
                out.iter().all(|x| *x == 0),
                "plaintext left behind after a failure"
            );
        }
    }
    // Range verification on the real payload agrees with per-chunk checks.
    let len = v.payload_len();
    let a = u64::from(u32::from_le_bytes(*idx)) % (len + 2);
    let end = (a + chunk.len() as u64).min(len + 1);
    let res = v.verify_range(&b.payload, a..end);
    assert_eq!(res.is_ok(), end <= len, "range {a}..{end} of {len}");
});
