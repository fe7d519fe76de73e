//! Cross-check of the `session` criterion bench on a noisy machine: the
//! same kernel and session (`benches::session`), one pass over the bundle
//! each, **interleaved** (kernel, session, session, kernel, ...), each pass
//! timed on the thread's CPU clock, so load that comes and goes hits both
//! alike. Prints the median of the per-pair ratios session / kernel
//! (throughput: kernel time / session time) with its quartiles. Two
//! kernel variants run in the same rotation, as ratios to the kernel:
//! `as-session` (the session's steps: hash, hash again, copy, decrypt in
//! place) and `copy-hash-once` (copy, hash the copy, decrypt in place: a
//! session that hashes each chunk once).
//!
//! ```text
//! session_ratio [--pairs N] [--size-mib N] [--chunk-log2 N]...
//! ```
//!
//! Defaults: 31 pairs, a 64 MiB bundle, chunk sizes 256 KiB and 64 KiB.

use benches::session::{KernelFixture, SessionFixture, Steps, thread_cpu};
use std::hint::black_box;

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let mut pairs = 31usize;
    let mut size = 64usize << 20;
    let mut logs = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| {
            eprintln!("session_ratio: {flag} needs a value");
            std::process::exit(2)
        });
        let bad = |e: std::num::ParseIntError| -> ! {
            eprintln!("session_ratio: {flag}: {e}");
            std::process::exit(2)
        };
        match flag.as_str() {
            "--pairs" => pairs = value.parse().unwrap_or_else(|e| bad(e)),
            "--size-mib" => size = value.parse::<usize>().unwrap_or_else(|e| bad(e)) << 20,
            "--chunk-log2" => logs.push(value.parse::<u8>().unwrap_or_else(|e| bad(e))),
            other => {
                eprintln!("session_ratio: unknown argument {other}");
                std::process::exit(2)
            }
        }
    }
    if logs.is_empty() {
        logs = vec![18, 16];
    }
    let plain = benches::data(size);
    for log2 in logs {
        let chunk = 1usize << log2;
        let kernel = KernelFixture::new(&plain, chunk);
        let session = SessionFixture::new(&plain, log2);
        let mut out = vec![0u8; chunk];
        // Warm-up: one pass each.
        kernel.run(&mut out);
        black_box(session.run(&mut out));
        let mut ratios = Vec::new();
        let mut k_s = Vec::new();
        let mut s_s = Vec::new();
        let mut as_session = Vec::new();
        let mut once = Vec::new();
        for p in 0..pairs {
            let time = |out: &mut [u8], which: Option<Steps>| {
                let t = thread_cpu();
                match which {
                    Some(steps) => kernel.run_as(black_box(out), steps),
                    None => {
                        black_box(session.run(black_box(out)));
                    }
                }
                (thread_cpu() - t).as_secs_f64()
            };
            // Alternate the order, so neither side always runs first.
            let (k, s) = if p % 2 == 0 {
                let k = time(&mut out, Some(Steps::Kernel));
                (k, time(&mut out, None))
            } else {
                let s = time(&mut out, None);
                (time(&mut out, Some(Steps::Kernel)), s)
            };
            let a = time(&mut out, Some(Steps::AsSession));
            let o = time(&mut out, Some(Steps::CopyHashOnce));
            ratios.push(k / s);
            as_session.push(k / a);
            once.push(k / o);
            k_s.push(k);
            s_s.push(s);
        }
        for v in [&mut ratios, &mut k_s, &mut s_s, &mut as_session, &mut once] {
            v.sort_by(f64::total_cmp);
        }
        let gib = |secs: f64| size as f64 / secs / f64::from(1u32 << 30);
        println!(
            "{} KiB chunks, {} MiB, {pairs} interleaved pairs: session/kernel median {:.3} (quartiles {:.3}-{:.3}); kernel {:.2} GiB/s, session {:.2} GiB/s (medians, CPU time); as-session/kernel {:.3}, copy-hash-once/kernel {:.3}",
            chunk >> 10,
            size >> 20,
            quantile(&ratios, 0.5),
            quantile(&ratios, 0.25),
            quantile(&ratios, 0.75),
            gib(quantile(&k_s, 0.5)),
            gib(quantile(&s_s, 0.5)),
            quantile(&as_session, 0.5),
            quantile(&once, 0.5),
        );
    }
}
