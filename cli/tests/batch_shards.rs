//! Scale-out: N `seal --shard K/N` processes running at once, merged with
//! `index merge`, give exactly the index a single run writes for the same
//! bundles; shards partition the inputs.

use crate::batch_util::*;
use crate::common::cmd::{otaseal, stderr};

#[test]
fn merged_shard_indexes_equal_a_single_run() {
    let env = Env::new();
    let files: Vec<(String, usize)> = (0..24)
        .map(|i| {
            (
                format!("app{}/v{}/bundle-{i:02}.zip", i % 3, i % 2),
                1000 + i * 3001,
            )
        })
        .collect();
    let refs: Vec<(&str, usize)> = files.iter().map(|(n, s)| (n.as_str(), *s)).collect();
    let input = env.inputs("in", &refs);
    let out = env.path("out");
    let n = 3;

    let children: Vec<_> = (1..=n)
        .map(|k| {
            env.seal_cmd(&out)
                .arg(&input)
                .args(["--shard", &format!("{k}/{n}"), "--threads", "1"])
                .command()
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut sealed = 0;
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{o:?}");
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(
            j["sealed"].as_u64().unwrap() > 0,
            "a shard sealed nothing: {j}"
        );
        sealed += j["sealed"].as_u64().unwrap();
    }
    assert_eq!(
        sealed,
        files.len() as u64,
        "shards must partition the inputs"
    );

    let shard_files: Vec<_> = (1..=n)
        .map(|k| out.join(format!("batch-shard-{k}-of-{n}.index")))
        .collect();
    let merged = env.path("merged.index");
    let o = otaseal(["index", "merge", "--signing-key"])
        .arg(env.path("sign.key"))
        .arg("-o")
        .arg(&merged)
        .args(shard_files.iter().rev())
        .output();
    assert!(o.status.success(), "{o:?}");

    // A single run over all inputs (every bundle already verifies, so it
    // reuses them) must write the very same bytes.
    let (o, single) = run({
        let mut c = env.seal_cmd(&out);
        c.arg(&input).arg("--resume");
        c
    });
    assert!(o.status.success(), "{o:?}");
    assert_eq!(single["resumed"], files.len());
    assert_eq!(
        std::fs::read(&merged).unwrap(),
        std::fs::read(out.join("batch.index")).unwrap(),
        "merged shard indexes differ from the single run's index"
    );
    let v = otaseal(["index", "verify"])
        .arg(&merged)
        .arg("--trust")
        .arg(env.trust())
        .arg("--dir")
        .arg(&out)
        .output();
    assert!(v.status.success(), "{v:?}");

    // A fresh single run elsewhere lists the same bundles in the same order
    // with the same sizes (roots differ: every seal draws fresh keys).
    let fresh = env.path("fresh");
    let (o, _) = run({
        let mut c = env.seal_cmd(&fresh);
        c.arg(&input);
        c
    });
    assert!(o.status.success());
    let show = |p: &std::path::Path| -> serde_json::Value {
        let o = otaseal(["index", "show", "--json"])
            .arg(p)
            .arg("--trust")
            .arg(env.trust())
            .output();
        assert!(o.status.success(), "{o:?}");
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let (a, b) = (show(&merged), show(&fresh.join("batch.index")));
    let shape = |v: &serde_json::Value| -> Vec<(String, u64)> {
        v["bundles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_owned(),
                    e["bytes"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(shape(&a), shape(&b));
    assert_eq!(a["shard"], "1/1");

    // Merging without every shard is refused unless asked for.
    let o = otaseal(["index", "merge", "--signing-key"])
        .arg(env.path("sign.key"))
        .arg("-o")
        .arg(env.path("partial.index"))
        .args(&shard_files[..2])
        .output();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("missing shard"), "{o:?}");
}
