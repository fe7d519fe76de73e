//! otaseal's delta encoder alone (`otaseal::delta`, not yet in a sealed
//! bundle) over a `versions` dataset, for `scripts/delta-measure.sh`.
//!
//! ```text
//! delta_measure [--threads N] [--runs N] [--peers TSV] [--effort fast|best] DIR
//! delta_measure --decode-one ENCODING BASE PATCH MAX_LEN
//! delta_measure --encode-one fast|best BASE NEW PATCH
//! ```
//!
//! For every pair `DIR/old/NAME` -> `DIR/new/NAME` and each effort (fast,
//! best; only one with `--effort`): the encoded size, its ratio to the smallest patch of zstd, xdelta3
//! and bsdiff (from `scripts/compare-delta.sh`'s TSV, default
//! `DIR/compare-delta.tsv`), the build rate (new-version bytes per second,
//! all pairs encoded on a rayon pool of N threads, default 2, best of
//! `--runs` for fast, one run for best), and the decode rate (output bytes per second on one thread,
//! into a sink, best of `--runs`). Every decode is checked against the new
//! version once. Inputs are memory-mapped. `--effort` measures one effort
//! only; each pair's own build time (on the shared pool) is shown too.
//!
//! `--decode-one` decodes one patch to /dev/null (for peak-memory runs
//! under `scripts/peak-anon-rss.sh`): the base is mapped, not read.
//! `--encode-one` writes one patch and prints its encoding.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use otaseal::delta::{Effort, Encoded, Encoding, decode_to, encode};
use rayon::prelude::*;

fn map(path: &Path) -> memmap2::Mmap {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // SAFETY: the dataset is not modified while it is measured.
    unsafe { memmap2::Mmap::map(&file) }.unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Smallest patch per pair among the peer tools, with the tool's name.
fn peers(tsv: &Path) -> HashMap<String, (u64, String)> {
    let mut best: HashMap<String, (u64, String)> = HashMap::new();
    let Ok(text) = std::fs::read_to_string(tsv) else {
        eprintln!(
            "delta_measure: no {} (run scripts/compare-delta.sh): no peer ratios",
            tsv.display()
        );
        return best;
    };
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 4 || f[2].contains("no base") {
            continue;
        }
        let Ok(bytes) = f[3].parse::<u64>() else {
            continue;
        };
        let e = best
            .entry(f[0].to_string())
            .or_insert((u64::MAX, String::new()));
        if bytes < e.0 {
            *e = (bytes, f[2].to_string());
        }
    }
    best
}

fn parse_encoding(s: &str) -> Encoding {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

fn decode_one(args: &[String]) {
    let [encoding, base, patch, max] = args else {
        panic!("--decode-one ENCODING BASE PATCH MAX_LEN");
    };
    let base = map(Path::new(base));
    let patch = File::open(patch).expect("patch");
    let n = decode_to(
        parse_encoding(encoding),
        &base,
        io::BufReader::new(patch),
        io::sink(),
        max.parse().expect("MAX_LEN"),
    )
    .expect("decode");
    println!("{n}");
}

fn parse_effort(s: &str) -> Effort {
    match s {
        "fast" => Effort::Fast,
        "best" => Effort::Best,
        _ => panic!("effort: fast or best"),
    }
}

fn encode_one(args: &[String]) {
    let [effort, base, new, patch] = args else {
        panic!("--encode-one fast|best BASE NEW PATCH");
    };
    let effort = parse_effort(effort);
    let enc = encode(Some(&map(Path::new(base))), &map(Path::new(new)), effort).expect("encode");
    std::fs::write(patch, &enc.bytes).expect("writing the patch");
    println!("{}", enc.encoding.name());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--decode-one") => return decode_one(&args[1..]),
        Some("--encode-one") => return encode_one(&args[1..]),
        _ => {}
    }
    let mut threads = 2;
    let mut runs = 3;
    let mut tsv = None;
    let mut dir = None;
    let mut efforts = vec![Effort::Fast, Effort::Best];
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--threads" => threads = it.next().and_then(|v| v.parse().ok()).expect("--threads N"),
            "--runs" => runs = it.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            "--peers" => tsv = it.next().map(PathBuf::from),
            "--effort" => efforts = vec![parse_effort(&it.next().expect("--effort fast|best"))],
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let dir = dir.expect(
        "usage: delta_measure [--threads N] [--runs N] [--peers TSV] [--effort fast|best] DIR",
    );
    let peers = peers(&tsv.unwrap_or_else(|| dir.join("compare-delta.tsv")));

    let mut names: Vec<String> = std::fs::read_dir(dir.join("new"))
        .expect("DIR/new")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    let pairs: Vec<(String, memmap2::Mmap, memmap2::Mmap)> = names
        .iter()
        .map(|n| {
            (
                n.clone(),
                map(&dir.join("old").join(n)),
                map(&dir.join("new").join(n)),
            )
        })
        .collect();
    let total: u64 = pairs.iter().map(|p| p.2.len() as u64).sum();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("rayon pool");

    println!(
        "| pair | new MiB | effort | encoding | bytes | of new | vs smallest peer (tool) | build s | decode MB/s, 1 thread |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut summary = Vec::new();
    for effort in efforts {
        // Build: every pair on the pool, best of `runs` wall times.
        let mut best_wall = f64::INFINITY;
        let mut encoded: Vec<(Encoded, f64)> = Vec::new();
        // Best effort runs bsdiff (minutes on the whole preset): once.
        let build_runs = if effort == Effort::Best { 1 } else { runs };
        for _ in 0..build_runs {
            let start = Instant::now();
            encoded = pool.install(|| {
                pairs
                    .par_iter()
                    .map(|(name, old, new)| {
                        let start = Instant::now();
                        let enc = encode(Some(old), new, effort)
                            .unwrap_or_else(|e| panic!("{name}: {e}"));
                        (enc, start.elapsed().as_secs_f64())
                    })
                    .collect()
            });
            best_wall = best_wall.min(start.elapsed().as_secs_f64());
        }
        let build = total as f64 / best_wall / 1e6;

        let mut worst_ratio: f64 = 0.0;
        let (mut zstd_out, mut zstd_secs) = (0u64, 0f64);
        for ((name, old, new), (enc, build_secs)) in pairs.iter().zip(&encoded) {
            // Correctness once, then the rate into a sink.
            let mut out = Vec::with_capacity(new.len());
            decode_to(
                enc.encoding,
                old,
                &enc.bytes[..],
                &mut out,
                new.len() as u64,
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(out[..] == new[..], "{name}: decoded output differs");
            drop(out);
            let mut secs = f64::INFINITY;
            for _ in 0..runs {
                let start = Instant::now();
                decode_to(
                    enc.encoding,
                    old,
                    &enc.bytes[..],
                    io::sink(),
                    new.len() as u64,
                )
                .expect("decode");
                secs = secs.min(start.elapsed().as_secs_f64());
            }
            if !matches!(enc.encoding, Encoding::Bsdiff | Encoding::BsdiffXz) {
                zstd_out += new.len() as u64;
                zstd_secs += secs;
            }
            let vs = match peers.get(name) {
                Some((bytes, tool)) => {
                    let r = enc.bytes.len() as f64 / *bytes as f64;
                    worst_ratio = worst_ratio.max(r);
                    format!("{r:.2}× ({tool}, {bytes})")
                }
                None => "n/a".into(),
            };
            println!(
                "| {name} | {:.1} | {effort:?} | {} | {} | {:.3}% | {vs} | {build_secs:.1} | {:.0} |",
                new.len() as f64 / (1 << 20) as f64,
                enc.encoding.name(),
                enc.bytes.len(),
                100.0 * enc.bytes.len() as f64 / new.len() as f64,
                new.len() as f64 / secs / 1e6,
            );
        }
        summary.push(format!(
            "{effort:?}: build {build:.1} MB/s of new-version bytes ({} pairs, {:.1} MB, {threads} threads, best of {build_runs}: {best_wall:.2} s); \
             worst ratio to the smallest peer {worst_ratio:.2}×; zstd-encoded decode {:.0} MB/s on one thread",
            pairs.len(),
            total as f64 / 1e6,
            zstd_out as f64 / zstd_secs / 1e6,
        ));
    }
    println!();
    let mut stdout = io::stdout().lock();
    for s in summary {
        writeln!(stdout, "{s}").expect("stdout");
    }
}
