//! Concurrent `seal` runs into one output directory cannot mix: a run that
//! finds the directory locked by another run of the same shard (a retried
//! pod whose first attempt still runs) exits 10 before touching anything,
//! temporaries of the live run included; shards of one count still share a
//! directory (tests/batch_shards.rs).

use crate::batch_util::*;
use crate::common::cmd::{otaseal, stderr};
use otaseal::batch::OutDirLock;
use otaseal::format::batch_index::ShardId;

const BUSY: i32 = 10;

#[test]
fn a_run_refuses_a_locked_out_dir_and_leaves_the_live_runs_files() {
    let env = Env::new();
    let input = env.inputs("in", &[("a.bin", 40_000), ("b.bin", 10)]);
    let out = env.path("out");
    std::fs::create_dir_all(&out).unwrap();
    // Another run (this test) holds the directory, mid-way through `a.bin`.
    let live = OutDirLock::acquire(&out, ShardId::WHOLE).unwrap();
    let temporary = out.join(".a.bin.payload.Ab12Cd.partial");
    std::fs::write(&temporary, b"being written").unwrap();

    for extra in [&["--resume"][..], &[], &["--shard", "1/2"]] {
        let o = env.seal_cmd(&out).arg(&input).args(extra).output();
        assert_eq!(o.status.code(), Some(BUSY), "{extra:?}: {o:?}");
        let err = stderr(&o);
        assert!(err.contains(".otaseal.locks/"), "{err}");
        assert!(err.contains("another `otaseal seal` run"), "{err}");
        assert!(
            temporary.exists(),
            "{extra:?} deleted the live run's temporary"
        );
        let mut files = tree(&out);
        files.retain(|f| !f.starts_with(".otaseal.lock"));
        assert_eq!(files, [".a.bin.payload.Ab12Cd.partial"], "{extra:?}");
    }

    // Once the other run has ended, the retry goes through.
    drop(live);
    let (o, j) = run({
        let mut c = env.seal_cmd(&out);
        c.arg(&input).arg("--resume");
        c
    });
    assert!(o.status.success(), "{o:?}");
    assert_eq!(j["sealed"], 2);
    assert!(
        !temporary.exists(),
        "a stale temporary is removed by resume"
    );
}

#[test]
fn two_runs_at_once_never_leave_a_mismatched_bundle() {
    let env = Env::new();
    let files: Vec<(String, usize)> = (0..12)
        .map(|i| (format!("f{i:02}.bin"), 50_000 + i * 7_001))
        .collect();
    let refs: Vec<(&str, usize)> = files.iter().map(|(n, s)| (n.as_str(), *s)).collect();
    let input = env.inputs("in", &refs);
    let out = env.path("out");
    let mut refused = 0;
    for round in 0..3 {
        let children: Vec<_> = (0..2)
            .map(|_| {
                env.seal_cmd(&out)
                    .arg(&input)
                    .args(["--threads", "1"])
                    .command()
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            match o.status.code() {
                Some(0) => {}
                Some(BUSY) => refused += 1,
                _ => panic!("round {round}: {o:?}"),
            }
        }
        for (name, _) in &refs {
            check_bundle(&env, &out, name, &std::fs::read(input.join(name)).unwrap());
        }
        let v = otaseal(["index", "verify"])
            .arg(out.join("batch.index"))
            .arg("--trust")
            .arg(env.trust())
            .arg("--dir")
            .arg(&out)
            .output();
        assert!(v.status.success(), "round {round}: {v:?}");
    }
    eprintln!("{refused} of 6 runs found the directory busy");
}
