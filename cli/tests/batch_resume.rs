//! `seal --resume`: bundles whose outputs verify are kept untouched; every
//! other bundle (tampered payload, missing or corrupt manifest, changed
//! input, other release) is sealed again, and the index covers them all;
//! temporaries a killed run left behind are removed.

use crate::batch_util::*;
use crate::common::cmd::stdout;

const FILES: &[(&str, usize)] = &[
    ("a.bin", 40_000),
    ("b.bin", 16_384),
    ("c/d.bin", 100_000),
    ("c/e.bin", 0),
    ("f.bin", 70_001),
    ("g.bin", 5),
    ("h.bin", 300_000),
];

#[test]
fn resume_keeps_what_verifies_and_redoes_the_rest() {
    let env = Env::new();
    let input = env.inputs("in", FILES);
    let out = env.path("out");
    let (o, first) = run({
        let mut c = env.seal_cmd(&out);
        c.arg(&input);
        c
    });
    assert!(o.status.success(), "{o:?}");
    assert_eq!(first["sealed"], FILES.len());

    // Damage four bundles in four different ways, leave a stray temporary.
    let flip = |p: std::path::PathBuf, at: usize| {
        let mut b = std::fs::read(&p).unwrap();
        b[at] ^= 1;
        std::fs::write(&p, b).unwrap();
    };
    flip(out.join("a.bin.payload"), 39_999);
    std::fs::remove_file(out.join("b.bin.manifest")).unwrap();
    flip(out.join("c/d.bin.manifest"), 40);
    // Same size, new content, modified after sealing.
    let f = input.join("f.bin");
    std::fs::write(&f, content(99, 70_001)).unwrap();
    let later = std::fs::metadata(out.join("f.bin.manifest"))
        .unwrap()
        .modified()
        .unwrap()
        + std::time::Duration::from_millis(10);
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(later)
        .unwrap();
    // Temporaries a killed run left: this run's bundles' are removed, a
    // temporary of a bundle this run does not seal (another shard's) stays.
    let stale = [
        out.join(".h.bin.payload.k3Zq9T.partial"),
        out.join("c/.e.bin.manifest.000000.partial"),
        out.join(".batch.index.aBcDeF.partial"),
    ];
    let foreign = out.join(".zz.bin.payload.k3Zq9T.partial");
    for p in stale.iter().chain([&foreign]) {
        std::fs::write(p, b"junk").unwrap();
    }
    let untouched = std::fs::read(out.join("h.bin.payload")).unwrap();
    let untouched_mtime = std::fs::metadata(out.join("h.bin.payload"))
        .unwrap()
        .modified()
        .unwrap();

    let (o, second) = run({
        let mut c = env.seal_cmd(&out);
        c.arg(&input).arg("--resume");
        c
    });
    assert!(o.status.success(), "{o:?}");
    assert_eq!(second["sealed"], 4, "{second}");
    assert_eq!(second["resumed"], FILES.len() - 4, "{second}");
    let resealed: Vec<&str> = second["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["resumed"] == false)
        .map(|b| b["input"].as_str().unwrap())
        .collect();
    for name in ["a.bin", "b.bin", "c/d.bin", "f.bin"] {
        assert!(
            resealed.iter().any(|p| p.ends_with(name)),
            "{name} not resealed: {resealed:?}"
        );
    }
    for p in &stale {
        assert!(!p.exists(), "{} was left behind", p.display());
    }
    assert!(foreign.exists(), "another shard's temporary was removed");
    assert_eq!(std::fs::read(out.join("h.bin.payload")).unwrap(), untouched);
    assert_eq!(
        std::fs::metadata(out.join("h.bin.payload"))
            .unwrap()
            .modified()
            .unwrap(),
        untouched_mtime,
        "a verified payload was rewritten"
    );
    for (name, _) in FILES {
        let plain = std::fs::read(input.join(name)).unwrap();
        check_bundle(&env, &out, name, &plain);
    }
    let v = index_verify(&env, &out.join("batch.index"));
    assert!(v.status.success(), "{v:?}");
    assert!(stdout(&v).contains(&format!("{0} of {0}", FILES.len())));

    // A third run with everything in place seals nothing and writes the
    // same index byte for byte (canonical, no timestamps).
    let before = std::fs::read(out.join("batch.index")).unwrap();
    let (o, third) = run({
        let mut c = env.seal_cmd(&out);
        c.arg(&input).arg("--resume");
        c
    });
    assert!(o.status.success());
    assert_eq!(third["sealed"], 0);
    assert_eq!(std::fs::read(out.join("batch.index")).unwrap(), before);

    // Another release sequence: nothing may be reused.
    let (o, other) = run({
        let mut c = env.seal_cmd_with(&out, "10", "16K");
        c.arg(&input).arg("--resume");
        c
    });
    assert!(o.status.success());
    assert_eq!(other["sealed"], FILES.len(), "{other}");

    // Another lifetime (the default is 90 days): nothing may be reused,
    // and once redone, an unchanged resume keeps everything.
    for (expected, sealed) in [("30d", FILES.len()), ("30d", 0)] {
        let (o, j) = run({
            let mut c = env.seal_cmd_with(&out, "10", "16K");
            c.arg(&input).args(["--resume", "--expires-in", expected]);
            c
        });
        assert!(o.status.success(), "{o:?}");
        assert_eq!(j["sealed"], sealed, "{j}");
    }
}
