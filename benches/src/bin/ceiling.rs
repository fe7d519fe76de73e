//! The machine's sealing ceiling for a set of files, for `scripts/compare.sh`.
//!
//! ```text
//! ceiling [--threads N] [--chunk-size BYTES] [--backend aws-lc|ring|aes-gcm] [--json] [--write-dir DIR] FILE...
//! ```
//!
//! Two figures over the same total bytes as FILE...:
//! - `kernel`: AES-256-GCM + BLAKE3 subtree CV per chunk (exactly
//!   `BundleSealer::seal_chunk`), on a per-thread buffer that stays in cache,
//!   on all threads: no I/O at all. The ceiling end-to-end sealing is
//!   measured against.
//! - `kernel+read`: the same, reading every chunk from the memory-mapped
//!   (page-cached) files as `otaseal seal` does (out of place into the
//!   buffer with the AWS-LC backend, else a copy first).
//! - `kernel+read+write` (with `--write-dir DIR`): and every sealed chunk
//!   written with `pwrite` at its offset into one new file per input in DIR:
//!   the least I/O any tool that writes its output through the page cache
//!   must do. (No manifests, no keys, no renames.)
//! - `write` (with `--write-dir DIR`): no crypto at all, only `pwrite` of
//!   1 MiB buffers, one new file per thread, the same total bytes: how fast
//!   this machine takes output into DIR. With `kernel` it gives the
//!   **file-output bound** `1 / (1/kernel + 1/write)`: what any tool that
//!   seals *and* writes its output can reach when both use every core.

use otaseal::cipher::Backend;
use otaseal::format::ChunkSize;
use otaseal::seal::BundleSealer;
use rayon::prelude::*;
use std::time::Instant;

struct Args {
    threads: usize,
    chunk: u64,
    backend: Backend,
    json: bool,
    write_dir: Option<std::path::PathBuf>,
    files: Vec<String>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        threads: 0,
        chunk: 256 << 10,
        backend: Backend::default(),
        json: false,
        write_dir: None,
        files: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--threads" => a.threads = val()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--chunk-size" => a.chunk = val()?.parse().map_err(|e| format!("--chunk-size: {e}"))?,
            "--backend" => {
                let v = val()?;
                a.backend = *Backend::ALL
                    .iter()
                    .find(|b| b.name() == v)
                    .ok_or(format!("unknown backend {v}"))?;
            }
            "--json" => a.json = true,
            "--write-dir" => a.write_dir = Some(val()?.into()),
            "-h" | "--help" => {
                return Err(
                    "usage: ceiling [--threads N] [--chunk-size BYTES] [--backend aws-lc|ring|aes-gcm] [--json] [--write-dir DIR] FILE..."
                        .into(),
                );
            }
            _ => a.files.push(arg),
        }
    }
    if a.files.is_empty() {
        return Err("no files given (try --help)".into());
    }
    Ok(a)
}

fn main() {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ceiling: {e}");
            std::process::exit(2);
        }
    };
    let maps: Vec<memmap2::Mmap> = a
        .files
        .iter()
        .map(|f| {
            let file = std::fs::File::open(f).unwrap_or_else(|e| panic!("{f}: {e}"));
            // SAFETY: read-only private mapping of files nobody modifies
            // during the measurement.
            unsafe { memmap2::Mmap::map(&file) }.unwrap_or_else(|e| panic!("{f}: {e}"))
        })
        .collect();
    let total: u64 = maps.iter().map(|m| m.len() as u64).sum();
    let chunk = a.chunk as usize;
    let mut o = benches::options();
    o.chunk_size = ChunkSize::from_bytes(a.chunk).expect("chunk size");
    o.backend = a.backend;
    let chunks = total.div_ceil(a.chunk).max(1);
    let sealer =
        BundleSealer::new(&o, chunks * a.chunk, &mut otaseal::keys::os_rng()).expect("sealer");
    // (map, offset) of every chunk of every file.
    let jobs: Vec<(usize, usize)> = maps
        .iter()
        .enumerate()
        .flat_map(|(i, m)| (0..m.len()).step_by(chunk).map(move |off| (i, off)))
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads)
        .build()
        .expect("pool");
    let threads = pool.current_num_threads();
    // read: copy each chunk out of the mapping first; write: pwrite it out.
    let run = |read: bool, write: bool| -> f64 {
        let outs: Vec<std::fs::File> = match (&a.write_dir, write) {
            (Some(dir), true) => (0..maps.len())
                .map(|i| {
                    let p = dir.join(format!("ceiling-{i}.out"));
                    let _ = std::fs::remove_file(&p);
                    std::fs::File::create(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
                })
                .collect(),
            _ => Vec::new(),
        };
        let t = Instant::now();
        pool.install(|| {
            jobs.par_iter().enumerate().for_each_init(
                || vec![0u8; chunk],
                |buf, (n, &(i, off))| {
                    let src = &maps[i][off..(off + chunk).min(maps[i].len())];
                    // Every chunk is sealed at full size so the work per
                    // byte is the same; the index only has to be valid.
                    let index = (n as u64 % chunks) as u32;
                    let e = if read && src.len() == chunk {
                        // As `otaseal seal` does: straight from the mapping.
                        sealer.seal_chunk_into(index, src, buf)
                    } else {
                        if read {
                            buf[..src.len()].copy_from_slice(src);
                        }
                        sealer.seal_chunk(index, buf)
                    };
                    std::hint::black_box(e.expect("chunk"));
                    if let Some(f) = outs.get(i) {
                        std::os::unix::fs::FileExt::write_all_at(f, &buf[..src.len()], off as u64)
                            .expect("write");
                    }
                },
            )
        });
        let s = t.elapsed().as_secs_f64();
        drop(outs);
        if let (Some(dir), true) = (&a.write_dir, write) {
            for i in 0..maps.len() {
                let _ = std::fs::remove_file(dir.join(format!("ceiling-{i}.out")));
            }
        }
        s
    };
    // Output alone: every thread pwrites its share of the bytes into its own
    // file (two writers into one file would serialise on its inode lock).
    let write_only = |dir: &std::path::Path| -> f64 {
        const BUF: usize = 1 << 20;
        let share = (jobs.len() * chunk).div_ceil(threads);
        let paths: Vec<_> = (0..threads)
            .map(|t| dir.join(format!("ceiling-w{t}.out")))
            .collect();
        let t = Instant::now();
        pool.install(|| {
            paths.par_iter().for_each(|p| {
                let f = std::fs::File::create(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                let buf = vec![0x5a_u8; BUF];
                let mut off = 0;
                while off < share {
                    let n = BUF.min(share - off);
                    std::os::unix::fs::FileExt::write_all_at(&f, &buf[..n], off as u64)
                        .expect("write");
                    off += n;
                }
            })
        });
        let s = t.elapsed().as_secs_f64();
        for p in &paths {
            let _ = std::fs::remove_file(p);
        }
        s
    };
    let bytes = (jobs.len() * chunk) as f64;
    // Warm up once, then best of three (the machine is shared).
    run(true, false);
    let best = |read: bool, write: bool| (0..3).map(|_| run(read, write)).fold(f64::MAX, f64::min);
    let kernel = best(false, false);
    let read = best(true, false);
    let write = a.write_dir.as_ref().map(|_| best(true, true));
    let output = a
        .write_dir
        .as_ref()
        .map(|d| (0..3).map(|_| write_only(d)).fold(f64::MAX, f64::min));
    let mbps = |s: f64| bytes / 1e6 / s;
    // Sealing and writing each take the whole machine for their share of
    // the time: the seconds add up.
    let bound = output.map(|w| kernel + w);
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "bytes": bytes, "threads": threads, "chunk_size": a.chunk,
                "backend": a.backend.name(),
                "kernel_mb_per_s": mbps(kernel), "kernel_read_mb_per_s": mbps(read),
                "kernel_read_write_mb_per_s": write.map(mbps),
                "write_mb_per_s": output.map(mbps),
                "file_output_bound_mb_per_s": bound.map(mbps),
            })
        );
    } else {
        println!(
            "ceiling ({} threads, {} KiB chunks, {}): kernel {:.0} MB/s, kernel+read {:.0} MB/s{}{} over {:.0} MB (best of 3)",
            threads,
            a.chunk >> 10,
            a.backend.name(),
            mbps(kernel),
            mbps(read),
            write.map_or(String::new(), |w| format!(
                ", kernel+read+write {:.0} MB/s",
                mbps(w)
            )),
            output.zip(bound).map_or(String::new(), |(w, b)| format!(
                ", write {:.0} MB/s, file-output bound {:.0} MB/s",
                mbps(w),
                mbps(b)
            )),
            bytes / 1e6
        );
    }
}
