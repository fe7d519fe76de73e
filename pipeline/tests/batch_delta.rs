//! Delta releases through the batch (FORMAT.md §15.8, §17): `Batch` with
//! compression and deltas from two older releases; the index lists the full
//! bundle and each delta; deltas install over their base, in a chain; a
//! delta not below the threshold is not kept; shards merge to the one-run
//! index byte for byte; resume re-creates exactly a deleted delta; without
//! deltas the index stays version 1.

use crate::common::{Fixture, rng};
use otaseal::batch::{
    Batch, BatchOptions, DeltaBase, Discovered, Durability, MergeOptions, check_bundles, discover,
    filter_shard, merge, shard_of,
};
use otaseal::delta::Effort;
use otaseal::format::batch_index::{BatchIndex, ShardId};
use otaseal::format::encoding::Encoding;
use otaseal::open::open_payload_file;
use otaseal::session::{Session, SessionOptions};
use rand_core::Rng;
use std::path::{Path, PathBuf};

const NOW: u64 = 1_790_000_100;

/// Incompressible bytes (so a delta from an unrelated base is large).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rng(seed).fill_bytes(&mut v);
    v
}

/// The release after `old`: a few small edits.
fn edit(old: &[u8], seed: u64) -> Vec<u8> {
    let mut new = old.to_vec();
    let n = new.len();
    for (i, b) in noise(seed, 64).into_iter().enumerate() {
        new[(i * 997 + seed as usize * 31) % n] = b;
    }
    new.splice(n / 2..n / 2, noise(seed + 100, 500));
    new
}

/// Releases 1, 2 and 3 of: `fw.img` (edited each release), `web/app.bin`
/// (edited), `fresh.bin` (only in release 3) and `swap.bin` (replaced by
/// unrelated bytes in release 3: its deltas are not below the threshold).
struct Releases {
    dir: tempfile::TempDir,
}

impl Releases {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: u32, name: &str, bytes: &[u8]| {
            let p = dir.path().join(format!("r{rel}")).join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        };
        let mut fw = noise(1, 150_000);
        let mut web = [b"<html>".repeat(4000), noise(2, 30_000)].concat();
        let swap = noise(3, 60_000);
        for rel in 1..=3 {
            write(rel, "fw.img", &fw);
            write(rel, "web/app.bin", &web);
            write(
                rel,
                "swap.bin",
                &if rel == 3 {
                    noise(4, 60_000)
                } else {
                    swap.clone()
                },
            );
            if rel == 3 {
                write(rel, "fresh.bin", &noise(5, 10_000));
            }
            fw = edit(&fw, u64::from(rel) * 10);
            web = edit(&web, u64::from(rel) * 10 + 1);
        }
        Self { dir }
    }

    fn dir(&self, rel: u32) -> PathBuf {
        self.dir.path().join(format!("r{rel}"))
    }

    fn base(&self, rel: u32) -> DeltaBase {
        DeltaBase {
            sequence: u64::from(rel),
            version: format!("1.{rel}").parse().unwrap(),
            dir: self.dir(rel),
        }
    }
}

fn options(f: &Fixture, r: &Releases, out: &Path, rel: u32, bases: &[u32]) -> BatchOptions {
    let mut o = f.options(16);
    o.sequence = u64::from(rel);
    o.version = format!("1.{rel}").parse().unwrap();
    let mut bo = BatchOptions::new(o, out);
    bo.durability = Durability::None;
    bo.encode.compress = true;
    bo.encode.effort = Effort::Fast;
    bo.encode.bases = bases.iter().map(|b| r.base(*b)).collect();
    bo
}

fn inputs(r: &Releases, rel: u32, out: &Path) -> Vec<Discovered> {
    discover(&[r.dir(rel)], Some(out)).unwrap().inputs
}

fn run(f: &Fixture, bo: BatchOptions, inputs: &[Discovered]) -> otaseal::batch::BatchReport {
    let to = [f.device.public_key().clone()];
    let b = Batch::new(bo, &to, &f.signer).with_verifier(f.signer.verifying_key());
    b.run(inputs).unwrap()
}

/// Installs `<stem>.payload` over `base` (if any); returns the bytes.
fn install(f: &Fixture, out: &Path, stem: &str, base: Option<&Path>) -> Vec<u8> {
    let manifest = std::fs::read(out.join(format!("{stem}.manifest"))).unwrap();
    let mut s = Session::new(&manifest, &f.trust(), SessionOptions::new(NOW)).unwrap();
    let dest = out.join(format!("{}.installed", stem.replace('/', "_")));
    open_payload_file(
        &mut s,
        &out.join(format!("{stem}.payload")),
        &f.device,
        base,
        &dest,
        0,
    )
    .unwrap();
    std::fs::read(dest).unwrap()
}

#[test]
fn a_compressed_release_with_deltas_from_two_bases() {
    let f = Fixture::new();
    let r = Releases::new();
    let out = tempfile::tempdir().unwrap();
    let out = out.path();
    let report = run(&f, options(&f, &r, out, 3, &[1, 2]), &inputs(&r, 3, out));
    assert_eq!(report.failed(), 0);
    let idx = &report.index;
    assert_eq!(idx.to_bytes()[9], 2, "an index with deltas is version 2");
    let by_name = |n: &str| idx.entries.iter().find(|e| e.name.as_str() == n).unwrap();
    for e in &idx.entries {
        assert_eq!(e.encoding, Some(Encoding::Zstd), "{}", e.name);
        let input = std::fs::read(r.dir(3).join(e.name.as_str())).unwrap();
        assert_eq!(e.result_len, input.len() as u64);
    }
    let bases =
        |n: &str| -> Vec<u64> { by_name(n).deltas.iter().map(|d| d.base_sequence).collect() };
    assert_eq!(bases("fw.img"), [1, 2]);
    assert_eq!(bases("web/app.bin"), [1, 2]);
    assert_eq!(bases("fresh.bin"), [] as [u64; 0], "no base of that name");
    assert_eq!(bases("swap.bin"), [] as [u64; 0], "not below the threshold");
    assert!(!out.join("swap.bin.from-1.payload").exists());
    assert!(!out.join("swap.bin.from-1.manifest").exists());
    let swap = report
        .bundles
        .iter()
        .find(|b| b.input.name.as_str() == "swap.bin")
        .unwrap();
    assert_eq!(swap.status.outputs().unwrap().too_large.len(), 2);
    for d in &by_name("fw.img").deltas {
        assert!(d.payload_len * 2 < by_name("fw.img").plaintext_len);
        assert!(matches!(d.encoding, Encoding::ZstdPatch | Encoding::Bsdiff));
        assert_eq!(d.base_version.as_str(), format!("1.{}", d.base_sequence));
    }
    // `index verify` checks the delta files as it checks full ones.
    for (e, res) in check_bundles(idx, out, &f.trust()) {
        res.unwrap_or_else(|err| panic!("{}: {err}", e.name));
    }
    std::fs::write(out.join("fw.img.from-2.payload"), b"tampered").unwrap();
    let bad: Vec<_> = check_bundles(idx, out, &f.trust())
        .into_iter()
        .filter(|(_, r)| r.is_err())
        .map(|(e, _)| e.name.to_string())
        .collect();
    assert_eq!(bad, ["fw.img"]);

    // Every delta installs over its base; the full bundle alone.
    for name in ["fw.img", "web/app.bin"] {
        let want = std::fs::read(r.dir(3).join(name)).unwrap();
        assert_eq!(install(&f, out, name, None), want);
        let base1 = r.dir(1).join(name);
        assert_eq!(
            install(&f, out, &format!("{name}.from-1"), Some(&base1)),
            want
        );
    }
}

#[test]
fn a_device_follows_deltas_release_after_release() {
    let f = Fixture::new();
    let r = Releases::new();
    let out2 = tempfile::tempdir().unwrap();
    let out3 = tempfile::tempdir().unwrap();
    run(
        &f,
        options(&f, &r, out2.path(), 2, &[1]),
        &inputs(&r, 2, out2.path()),
    );
    // Release 3 with `--delta-effort best` (zstd-patch and bsdiff, smaller kept).
    let mut bo = options(&f, &r, out3.path(), 3, &[1, 2]);
    bo.encode.effort = Effort::Best;
    let r3 = run(&f, bo, &inputs(&r, 3, out3.path()));
    assert_eq!(r3.deltas(), 4);
    // Release 1 installed; delta 1 -> 2, then delta 2 -> 3 over what it made.
    let v2 = install(
        &f,
        out2.path(),
        "fw.img.from-1",
        Some(&r.dir(1).join("fw.img")),
    );
    assert_eq!(v2, std::fs::read(r.dir(2).join("fw.img")).unwrap());
    let installed = out2.path().join("fw.img.from-1.installed");
    let v3 = install(&f, out3.path(), "fw.img.from-2", Some(&installed));
    assert_eq!(v3, std::fs::read(r.dir(3).join("fw.img")).unwrap());
}

#[test]
fn shards_merge_to_the_one_run_index_and_resume_recreates_one_delta() {
    let f = Fixture::new();
    let r = Releases::new();
    let tmp = tempfile::tempdir().unwrap();
    let one = tmp.path().join("one");
    let whole = run(&f, options(&f, &r, &one, 3, &[1, 2]), &inputs(&r, 3, &one)).index;

    let sharded = tmp.path().join("sharded");
    let shards: Vec<BatchIndex> = (1..=2)
        .map(|k| {
            let shard = ShardId::new(k, 2).unwrap();
            let mut bo = options(&f, &r, &sharded, 3, &[1, 2]);
            bo.shard = shard;
            let idx = run(&f, bo, &filter_shard(inputs(&r, 3, &sharded), shard)).index;
            for e in &idx.entries {
                assert_eq!(shard_of(&e.name, 2), k);
            }
            idx
        })
        .collect();
    let merged = merge(shards, &f.signer, MergeOptions::default()).unwrap();
    // Fresh keys and ids per run: compare the one-run index of the
    // sharded directory's bundles, re-run with resume (which keeps them all).
    let mut bo = options(&f, &r, &sharded, 3, &[1, 2]);
    bo.resume = true;
    let again = run(&f, bo, &inputs(&r, 3, &sharded));
    assert_eq!(again.sealed(), 0);
    assert!(again.bundles.iter().all(|b| {
        b.status
            .outputs()
            .unwrap()
            .deltas
            .iter()
            .all(|d| d.verified)
    }));
    assert_eq!(again.index.to_bytes(), merged.to_bytes());
    assert_eq!(whole.entries.len(), merged.entries.len());
    for (a, b) in whole.entries.iter().zip(&merged.entries) {
        let bases = |e: &otaseal::format::batch_index::IndexEntry| {
            e.deltas.iter().map(|d| d.base_sequence).collect::<Vec<_>>()
        };
        assert_eq!((&a.name, bases(a)), (&b.name, bases(b)));
    }

    // Resume after deleting one delta's files re-creates exactly it.
    std::fs::remove_file(sharded.join("fw.img.from-1.payload")).unwrap();
    std::fs::remove_file(sharded.join("fw.img.from-1.manifest")).unwrap();
    let before = again.index.entries.clone();
    let mut bo = options(&f, &r, &sharded, 3, &[1, 2]);
    bo.resume = true;
    let redo = run(&f, bo, &inputs(&r, 3, &sharded));
    assert_eq!(redo.sealed(), 0, "every full bundle is kept");
    let mut recreated = Vec::new();
    for b in &redo.bundles {
        for d in &b.status.outputs().unwrap().deltas {
            if !d.verified {
                recreated.push((b.input.name.to_string(), d.entry.base_sequence));
            }
        }
    }
    assert_eq!(recreated, [("fw.img".to_string(), 1)]);
    for (a, b) in before.iter().zip(&redo.index.entries) {
        if a.name.as_str() == "fw.img" {
            assert_ne!(a.deltas[0].bundle_id, b.deltas[0].bundle_id);
            assert_eq!(a.deltas[1], b.deltas[1]);
        } else {
            assert_eq!(a, b);
        }
    }
    assert!(sharded.join("fw.img.from-1.payload").is_file());
}

#[test]
fn without_deltas_or_compression_the_index_stays_version_1() {
    let f = Fixture::new();
    let r = Releases::new();
    let out = tempfile::tempdir().unwrap();
    let mut bo = options(&f, &r, out.path(), 3, &[]);
    bo.encode.compress = false;
    let report = run(&f, bo, &inputs(&r, 3, out.path()));
    assert_eq!(report.index.to_bytes()[9], 1);
    assert!(
        report
            .index
            .entries
            .iter()
            .all(|e| e.encoding.is_none() && e.deltas.is_empty())
    );
    // Bases given but none has a bundle of these names: still version 1.
    let empty = tempfile::tempdir().unwrap();
    let mut bo = options(&f, &r, out.path(), 3, &[]);
    bo.encode.compress = false;
    bo.encode.bases = vec![DeltaBase {
        sequence: 1,
        version: "1.1".parse().unwrap(),
        dir: empty.path().to_owned(),
    }];
    let report = run(&f, bo, &inputs(&r, 3, out.path()));
    assert_eq!(report.index.to_bytes()[9], 1);
    // A base given twice is refused, and so is one not older than the release.
    let mut bo = options(&f, &r, out.path(), 3, &[]);
    bo.encode.bases = vec![r.base(1), r.base(1)];
    let to = [f.device.public_key().clone()];
    assert!(
        Batch::new(bo, &to, &f.signer)
            .run(&inputs(&r, 3, out.path()))
            .is_err()
    );
    let mut bo = options(&f, &r, out.path(), 3, &[]);
    bo.encode.bases = vec![r.base(3)];
    assert!(
        Batch::new(bo, &to, &f.signer)
            .run(&inputs(&r, 3, out.path()))
            .is_err()
    );
}

/// Cancelled (SIGINT) while deltas are being built: the bundle whose deltas
/// did not all finish is not listed, no temporary is left, and every
/// manifest on disk sits beside the complete payload it describes.
#[test]
fn a_cancelled_run_leaves_no_delta_that_looks_valid() {
    use otaseal::batch::Progress;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    struct CancelAfter<'a> {
        flag: &'a AtomicBool,
        done: AtomicU64,
        after: u64,
    }
    impl Progress for CancelAfter<'_> {
        fn advance(&self, bytes: u64) {
            if self.done.fetch_add(bytes, Ordering::SeqCst) + bytes > self.after {
                self.flag.store(true, Ordering::SeqCst);
            }
        }
    }
    let f = Fixture::new();
    let r = Releases::new();
    let out = tempfile::tempdir().unwrap();
    let out = out.path();
    let inputs = inputs(&r, 3, out);
    let fw_len = std::fs::metadata(r.dir(3).join("fw.img")).unwrap().len();
    let flag = AtomicBool::new(false);
    // One thread, largest bundle first: fw.img's full bundle, then its
    // delta from release 1 (counted as fw.img's length) trips the flag, so
    // its delta from release 2 is cancelled and nothing else starts.
    let progress = CancelAfter {
        flag: &flag,
        done: AtomicU64::new(0),
        after: fw_len + 1,
    };
    let mut bo = options(&f, &r, out, 3, &[1, 2]);
    bo.threads = 1;
    let to = [f.device.public_key().clone()];
    let report = Batch::new(bo, &to, &f.signer)
        .with_cancel(&flag)
        .with_progress(&progress)
        .run(&inputs)
        .unwrap();
    assert!(report.interrupted);
    assert_eq!(report.interrupted_bundles(), inputs.len());
    assert!(
        report.index.entries.is_empty(),
        "fw.img lacks a delta: not listed"
    );
    let mut files: Vec<String> = walk(out)
        .iter()
        .map(|p| p.strip_prefix(out).unwrap().to_string_lossy().into_owned())
        .filter(|p| !p.starts_with(".otaseal.lock")) // the run's lock files
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "batch.index",
            "fw.img.from-1.manifest",
            "fw.img.from-1.payload",
            "fw.img.manifest",
            "fw.img.payload"
        ],
        "no temporary, no trace of the cancelled delta"
    );
    for stem in ["fw.img", "fw.img.from-1"] {
        let m = std::fs::read(out.join(format!("{stem}.manifest"))).unwrap();
        let vm = otaseal::open::verify_manifest(&m, &f.trust()).unwrap();
        let p = std::fs::read(out.join(format!("{stem}.payload"))).unwrap();
        assert_eq!(vm.manifest().root, *blake3::hash(&p).as_bytes(), "{stem}");
    }
    // Resume keeps what finished and builds the rest.
    let mut bo = options(&f, &r, out, 3, &[1, 2]);
    bo.resume = true;
    let done = run(&f, bo, &inputs);
    assert!(!done.interrupted);
    assert_eq!(done.index.entries.len(), inputs.len());
    let fw = done
        .bundles
        .iter()
        .find(|b| b.input.name.as_str() == "fw.img")
        .unwrap();
    assert!(matches!(
        fw.status,
        otaseal::batch::BundleStatus::Verified(_)
    ));
    let kept: Vec<(u64, bool)> = fw
        .status
        .outputs()
        .unwrap()
        .deltas
        .iter()
        .map(|d| (d.entry.base_sequence, d.verified))
        .collect();
    assert_eq!(kept, [(1, true), (2, false)]);
    for (e, res) in check_bundles(&done.index, out, &f.trust()) {
        res.unwrap_or_else(|err| panic!("{}: {err}", e.name));
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn an_input_named_like_a_delta_is_refused() {
    let f = Fixture::new();
    let r = Releases::new();
    std::fs::write(r.dir(3).join("fw.img.from-2"), b"x").unwrap();
    let out = tempfile::tempdir().unwrap();
    let bo = options(&f, &r, out.path(), 3, &[1, 2]);
    let to = [f.device.public_key().clone()];
    let err = Batch::new(bo, &to, &f.signer)
        .run(&inputs(&r, 3, out.path()))
        .unwrap_err();
    assert!(err.to_string().contains("fw.img.from-2"), "{err}");
    assert!(
        std::fs::read_dir(out.path()).unwrap().next().is_none(),
        "nothing written"
    );
}
