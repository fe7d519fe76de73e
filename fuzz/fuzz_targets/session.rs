#![no_main]
//! The device session under random range feeding, corruption, crashes and
//! restores: no input panics, every chunk the session hands to `store` is
//! the sealed ciphertext at its offset, every chunk it counts as verified is
//! what the caller holds, a chunk decrypts only if it verified (and then to
//! the real plaintext), and a restored record is never trusted.

use libfuzzer_sys::fuzz_target;
use otaseal::session::{Session, SessionOptions};
use otaseal_fuzz::fixture;

/// Reads the fuzzer's script a byte at a time (zeros when it runs out).
struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let mut script = Script(data);
    let b = &f.bundles[script.byte() as usize % f.bundles.len()];
    // Before every fixture's expiry.
    let now = 1_700_000_000;
    let new = || Session::new(&b.manifest, &f.trust, SessionOptions::new(now)).unwrap();
    let mut s = new();
    s.unlock(&f.device).unwrap();
    let payload = &b.payload;
    let len = payload.len() as u64;
    let n = s.verified().chunk_count();
    let range = |i: u32| {
        let r = b.verified.chunk_range(i).unwrap();
        r.start as usize..r.end as usize
    };
    // The caller's storage: zeros where nothing was stored.
    let mut disk = vec![0u8; payload.len()];
    while !script.0.is_empty() {
        match script.byte() % 6 {
            // Feed a piece of the payload, maybe with a byte flipped, maybe
            // at a hostile offset.
            0..=2 => {
                let start = u64::from(script.u32()) % (len + 2);
                let want = usize::from(script.byte()) * 257;
                let flip = script.byte();
                let end = (start as usize).saturating_add(want).min(payload.len());
                let mut piece = payload
                    .get(start as usize..end)
                    .map(<[u8]>::to_vec)
                    .unwrap_or_else(|| vec![0; want % 3]);
                if flip != 0 && !piece.is_empty() {
                    let at = usize::from(flip) * 61 % piece.len();
                    piece[at] ^= flip;
                }
                let fed = s.feed(start, &piece, |c| {
                    let at = c.offset as usize..c.offset as usize + c.bytes.len();
                    assert_eq!(c.bytes, &payload[at.clone()], "chunk {} stored wrong", c.index);
                    disk[at].copy_from_slice(c.bytes);
                    Ok(())
                });
                match fed {
                    Ok(r) => assert!(r.verified.iter().all(|i| s.have().contains(*i))),
                    Err(otaseal::Error::RangeOutOfBounds { .. }) => {
                        assert!(start + piece.len() as u64 > len)
                    }
                    Err(e) => panic!("unexpected feed error: {e}"),
                }
            }
            // Crash: export, restore into a new session from a record the
            // fuzzer may damage, recheck what the caller holds.
            3 => {
                let mut record = s.export().unwrap();
                let at = script.byte() as usize;
                if at < record.len() {
                    record[at] ^= script.byte();
                }
                s = new();
                s.unlock(&f.device).unwrap();
                if s.restore(&record).is_ok() {
                    let claimed: Vec<u32> = s.to_recheck().collect();
                    for i in claimed {
                        let ok = s.recheck(i, &disk[range(i)]).unwrap();
                        assert_eq!(ok, disk[range(i)] == payload[range(i)]);
                    }
                }
            }
            // Damage the caller's copy of a chunk.
            4 => {
                let i = script.u32() % n;
                let r = range(i);
                if !r.is_empty() {
                    disk[r.start] ^= 1;
                }
            }
            // Decrypt what the caller holds for a chunk.
            _ => {
                let i = script.u32() % (n + 1);
                let Ok(r) = b.verified.chunk_range(i) else {
                    assert!(s.decrypt_chunk(i, &[], &mut []).is_err());
                    continue;
                };
                let r = r.start as usize..r.end as usize;
                let mut out = vec![0u8; r.len()];
                match s.decrypt_chunk(i, &disk[r.clone()], &mut out) {
                    Ok(()) => {
                        assert!(s.have().contains(i));
                        assert_eq!(out, b.plain[r]);
                    }
                    Err(_) => assert!(out.iter().all(|x| *x == 0)),
                }
            }
        }
        for i in 0..n {
            if s.have().contains(i) && disk[range(i)] != payload[range(i)] {
                // Only a damaged stored copy may differ from the sealed
                // bytes; the session must then refuse to decrypt it.
                let mut out = vec![0u8; range(i).len()];
                assert!(s.decrypt_chunk(i, &disk[range(i)], &mut out).is_err());
            }
        }
    }
});
