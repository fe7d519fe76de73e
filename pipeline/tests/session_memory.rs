//! The session's memory bound (issue 11): feeding, verifying and decrypting
//! a multi-MiB bundle holds at most 2 × chunk size + manifest size (+ a
//! small constant) of heap, never an amount proportional to the payload.
//!
//! Measured with a counting global allocator. The integration tests are one
//! binary whose tests run on several threads, so the count is per thread:
//! the test runs the session on a thread of its own and reads that thread's
//! peak. (Memory a C library such as AWS-LC allocates with its own
//! `malloc` is not counted: the figure is the Rust heap.)

use crate::common::Fixture;
use otaseal::session::{Session, SessionOptions};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    // Const-initialised and without destructors, so reading them from the
    // allocator never allocates.
    static CURRENT: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn count(delta: i64) {
    let _ = CURRENT.try_with(|c| {
        let now = c.get() + delta;
        c.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counting touches only thread-local cells.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        // SAFETY: same layout, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as i64));
        // SAFETY: `ptr` was allocated by `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        // SAFETY: same layout, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as i64 - layout.size() as i64);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Resets this thread's peak to what it holds now; returns that.
fn baseline() -> i64 {
    let now = CURRENT.with(Cell::get);
    PEAK.with(|p| p.set(now));
    now
}

fn peak() -> i64 {
    PEAK.with(Cell::get)
}

#[test]
fn feeding_a_multi_mib_bundle_holds_one_chunk_not_the_payload() {
    const LOG2: u8 = 16;
    const CHUNK: usize = 1 << LOG2;
    const PAYLOAD: usize = 12 << 20;
    let f = Fixture::new();
    let plain: Vec<u8> = (0..PAYLOAD).map(|i| (i * 7 % 251) as u8).collect();
    let sealed = f.seal_with(&plain, &f.options(LOG2), 1);
    let want = blake3::hash(&plain);
    drop(plain);
    let payload = &sealed.payload;
    let (used, got) = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let base = baseline();
                let now = 1_790_000_100;
                let mut s =
                    Session::new(&sealed.manifest_bytes, &f.trust(), SessionOptions::new(now))
                        .unwrap();
                s.unlock(&f.device).unwrap();
                // The caller's plaintext buffer: the second chunk of the bound.
                let mut out = vec![0u8; CHUNK];
                let mut plain = blake3::Hasher::new();
                // Pieces of 40,000 bytes: nearly every chunk arrives split
                // across two or three feeds, so the partial buffer is used.
                let mut at = 0;
                while at < payload.len() {
                    let end = (at + 40_000).min(payload.len());
                    // The caller's storage is `payload` itself: the store
                    // checks the session hands over exactly those bytes.
                    let fed = s
                        .feed(at as u64, &payload[at..end], |c| {
                            let o = c.offset as usize;
                            assert_eq!(c.bytes, &payload[o..o + c.bytes.len()]);
                            Ok(())
                        })
                        .unwrap();
                    assert!(fed.failed.is_empty());
                    // Chunks complete in order here, so the plaintext
                    // streams out in order.
                    for i in fed.verified {
                        let r = s.verified().chunk_range(i).unwrap();
                        let c = &payload[r.start as usize..r.end as usize];
                        let o = &mut out[..c.len()];
                        s.decrypt_chunk(i, c, o).unwrap();
                        plain.update(o);
                    }
                    at = end;
                }
                let used = peak() - base;
                let done = s.finish().unwrap();
                assert_eq!(done.approval, None);
                (used, plain.finalize())
            })
            .join()
            .unwrap()
    });
    assert_eq!(got, want);
    let manifest = sealed.manifest_bytes.len() as i64;
    let bound = 2 * CHUNK as i64 + manifest + 16 * 1024;
    eprintln!(
        "session peak heap {used} bytes (chunk {CHUNK}, manifest {manifest}, payload {PAYLOAD}); bound {bound}"
    );
    assert!(used <= bound, "peak {used} > bound {bound}");
    // Not vacuous: the partial buffer and the caller's buffer were counted.
    assert!(
        used >= 2 * CHUNK as i64,
        "peak {used}: allocations not counted"
    );
}
