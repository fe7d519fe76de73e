//! SIGINT stops a batch cleanly: in-flight bundles (and deltas) are
//! discarded (no temporaries left), finished ones are kept and listed in the
//! index, the exit code is 130, and `--resume` then finishes the job.

use crate::batch_util::*;
use crate::common::cmd::{Otaseal, stderr, stdout};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `seal` (writing into `out`), sends SIGINT once the first file whose
/// name ends with `first` appears there, and returns what it printed and its
/// `--json` summary, after checking the interrupted run's contract: exit
/// 130, "interrupted" in the summary and on stderr, at least one and fewer
/// than `total` bundles sealed, each listed in the index, which verifies;
/// no temporary left.
fn interrupt_after(
    env: &Env,
    mut seal: Otaseal,
    out: &Path,
    first: &str,
    total: usize,
) -> (Output, serde_json::Value) {
    let child = seal
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !tree(out).iter().any(|f| f.ends_with(first)) {
        assert!(Instant::now() < deadline, "no {first} within 60 s");
        std::thread::sleep(Duration::from_millis(2));
    }
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "stderr: {}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["interrupted"], true);
    let done = summary["sealed"].as_u64().unwrap();
    assert!(
        done >= 1 && done < total as u64,
        "sealed {done}: SIGINT came too late"
    );
    assert_eq!(summary["index_entries"].as_u64().unwrap(), done);
    assert!(stderr(&o).contains("interrupted"));
    let t = tree(out);
    assert!(!t.iter().any(|f| f.contains(".partial")), "{t:?}");
    let v = index_verify(env, &out.join("batch.index"));
    assert!(v.status.success(), "{v:?}");
    (o, summary)
}

#[cfg(unix)]
#[test]
fn sigint_keeps_finished_bundles_and_resume_completes() {
    let env = Env::new();
    let files: Vec<(String, usize)> = (0..120)
        .map(|i| (format!("b{i:03}.bin"), 1 << 19))
        .collect();
    // Files differ only in their first bytes: cheap to write in a debug build.
    let input = env.path("in");
    std::fs::create_dir_all(&input).unwrap();
    let base = content(5, 1 << 19);
    for (i, (name, size)) in files.iter().enumerate() {
        let mut b = base[..*size].to_vec();
        b[..8].copy_from_slice(&(i as u64).to_le_bytes());
        std::fs::write(input.join(name), b).unwrap();
    }
    let out = env.path("out");

    let mut seal = env.seal_cmd_with(&out, "9", "64K");
    seal.arg(&input).args(["--threads", "1"]);
    // Interrupted once the first bundle is complete (its manifest appears).
    let (_, summary) = interrupt_after(&env, seal, &out, ".manifest", files.len());
    let done = summary["sealed"].as_u64().unwrap();
    // Finished bundles are complete.
    let t = tree(&out);
    let manifests = t.iter().filter(|f| f.ends_with(".manifest")).count() as u64;
    assert_eq!(manifests, done, "{t:?}");

    let (o, second) = run({
        let mut c = env.seal_cmd_with(&out, "9", "64K");
        c.arg(&input).arg("--resume");
        c
    });
    assert!(o.status.success(), "{o:?}");
    assert_eq!(second["resumed"].as_u64().unwrap(), done);
    assert_eq!(
        second["sealed"].as_u64().unwrap(),
        files.len() as u64 - done
    );
    let v = index_verify(&env, &out.join("batch.index"));
    assert!(stdout(&v).starts_with(&format!("{0} of {0}", files.len())));
}

/// The same with deltas being built: a bundle counts as sealed only with
/// every delta kept for it, an interrupted delta leaves nothing, and
/// `--resume` builds exactly what is missing.
#[cfg(unix)]
#[test]
fn sigint_while_building_deltas_then_resume_completes() {
    let env = Env::new();
    let (old, new) = (env.path("r1"), env.path("r2"));
    std::fs::create_dir_all(&old).unwrap();
    std::fs::create_dir_all(&new).unwrap();
    let total = 60;
    for i in 0..total {
        let mut b = content(i as u64 + 7, 1 << 18);
        std::fs::write(old.join(format!("b{i:03}.bin")), &b).unwrap();
        // A few bytes changed: a delta far below the threshold.
        b[1000..1008].copy_from_slice(&(i as u64).to_le_bytes());
        std::fs::write(new.join(format!("b{i:03}.bin")), &b).unwrap();
    }
    let out = env.path("out");
    let seal = || {
        let mut c = env.seal_cmd_with(&out, "2", "64K");
        c.arg("--delta-from")
            .arg(format!("1:1.0={}", old.display()))
            .args(["--threads", "1"])
            .arg(&new);
        c
    };
    // Interrupted once the first delta is complete.
    let (_, summary) = interrupt_after(&env, seal(), &out, ".from-1.manifest", total);
    let done = summary["sealed"].as_u64().unwrap();
    // Every sealed bundle has its full bundle and its delta, both whole.
    for b in summary["bundles"].as_array().unwrap() {
        assert!(Path::new(b["payload"].as_str().unwrap()).is_file(), "{b}");
        let deltas = b["deltas"].as_array().unwrap();
        assert_eq!(deltas.len(), 1, "{b}");
        assert!(Path::new(deltas[0]["payload"].as_str().unwrap()).is_file());
    }
    assert_eq!(summary["bundles"].as_array().unwrap().len() as u64, done);

    let mut again = seal();
    again.arg("--resume");
    let (o, second) = run(again);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(second["resumed"].as_u64().unwrap(), done);
    assert_eq!(second["sealed"].as_u64().unwrap(), total as u64 - done);
    assert_eq!(second["deltas"].as_u64().unwrap(), total as u64);
    let t = tree(&out);
    let deltas = t.iter().filter(|f| f.ends_with(".from-1.payload")).count();
    assert_eq!(deltas, total, "{t:?}");
    let v = index_verify(&env, &out.join("batch.index"));
    assert!(
        stdout(&v).starts_with(&format!("{0} of {0}", total)),
        "{}",
        stdout(&v)
    );
}
