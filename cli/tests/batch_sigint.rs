//! SIGINT stops a batch cleanly: in-flight bundles are discarded (no
//! temporaries left), finished ones are kept and listed in the index, the
//! exit code is 130, and `--resume` then finishes the job.

use crate::batch_util::*;
use crate::common::cmd::{stderr, stdout};
use std::process::Stdio;
use std::time::{Duration, Instant};

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

    let child = env
        .seal_cmd_with(&out, "9", "64K")
        .arg(&input)
        .args(["--threads", "1"])
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first bundle is complete (its manifest appears), then
    // interrupt.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !tree(&out).iter().any(|f| f.ends_with(".manifest")) {
        assert!(Instant::now() < deadline, "no bundle finished within 60 s");
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
        done >= 1 && done < files.len() as u64,
        "sealed {done}: SIGINT came too late"
    );
    assert_eq!(summary["index_entries"].as_u64().unwrap(), done);
    assert!(stderr(&o).contains("interrupted"));

    // Finished bundles are complete; nothing half-written is left.
    let t = tree(&out);
    assert!(!t.iter().any(|f| f.contains(".partial")), "{t:?}");
    let manifests = t.iter().filter(|f| f.ends_with(".manifest")).count() as u64;
    assert_eq!(manifests, done, "{t:?}");
    let v = index_verify(&env, &out.join("batch.index"));
    assert!(v.status.success(), "{v:?}");

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
