//! One bad input does not stop a batch: it is reported and counted, the
//! others are sealed, the exit code is 1 and the index lists the good ones.
//! Tests run as root, so the failures used are ones root cannot bypass.

use crate::batch_util::*;
use crate::common::cmd::stdout;

#[cfg(unix)]
#[test]
fn bad_inputs_are_reported_and_the_rest_is_sealed() {
    let env = Env::new();
    let input = env.inputs(
        "in",
        &[
            ("good1.bin", 30_000),
            ("sub/good2.bin", 1),
            ("blocked.bin", 10),
        ],
    );
    // A dangling symlink, a FIFO (opening it would block), a link to a
    // directory (not followed), inside the walked tree.
    std::os::unix::fs::symlink(input.join("nowhere"), input.join("dangling.bin")).unwrap();
    let fifo = input.join("pipe.bin");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    std::os::unix::fs::symlink(input.join("sub"), input.join("loop")).unwrap();
    // An output path taken by a directory: the rename cannot replace it.
    let out = env.path("out");
    std::fs::create_dir_all(out.join("blocked.bin.payload/x")).unwrap();
    // A listed file that vanished, and the FIFO named directly.
    let list = env.path("list.txt");
    std::fs::write(
        &list,
        format!(
            "{}\n{}\n{}\n",
            input.display(),
            env.path("vanished.bin").display(),
            fifo.display()
        ),
    )
    .unwrap();

    let mut cmd = env.seal_cmd(&out);
    cmd.arg("--from-list").arg(&list);
    let (o, json) = run(cmd);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(json["sealed"], 2, "{json}");
    // Reported: the dangling link, the FIFO found in the tree (discovery)
    // and named directly (refused at open, without blocking), the link to
    // a directory, the vanished file and the blocked output.
    let failures: Vec<String> = json["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["input"].as_str().unwrap().to_owned())
        .collect();
    for bad in [
        "dangling.bin",
        "pipe.bin",
        "loop",
        "vanished.bin",
        "blocked.bin",
    ] {
        assert!(
            failures.iter().any(|f| f.ends_with(bad)),
            "{bad} not reported: {failures:?}"
        );
    }
    assert_eq!(json["failed"], failures.len());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("vanished.bin"), "{stderr}");

    check_bundle(
        &env,
        &out,
        "good1.bin",
        &std::fs::read(input.join("good1.bin")).unwrap(),
    );
    check_bundle(
        &env,
        &out,
        "sub/good2.bin",
        &std::fs::read(input.join("sub/good2.bin")).unwrap(),
    );
    let v = index_verify(&env, &out.join("batch.index"));
    assert!(v.status.success(), "{v:?}");
    assert!(stdout(&v).starts_with("2 of 2"));
    // No temporaries are left behind by the failed bundle.
    assert!(
        !tree(&out).iter().any(|f| f.ends_with(".partial")),
        "{:?}",
        tree(&out)
    );
}

#[test]
fn colliding_names_and_only_failures() {
    let env = Env::new();
    let a = env.inputs("a", &[("x.bin", 10)]);
    let b = env.inputs("b", &[("x.bin", 20)]);
    let out = env.path("out");
    let o = env
        .seal_cmd(&out)
        .arg(a.join("x.bin"))
        .arg(b.join("x.bin"))
        .output();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(!out.join("x.bin.payload").exists());

    // Nothing sealed at all: the error's own code (I/O).
    let (o, json) = run({
        let mut c = env.seal_cmd(&out);
        c.arg(env.path("missing.bin"));
        c
    });
    assert_eq!(o.status.code(), Some(6), "{o:?}");
    assert_eq!(json["sealed"], 0);
}
