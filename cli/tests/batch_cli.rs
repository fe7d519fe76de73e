//! `otaseal seal` over many inputs: `--from-list -`, names relative to
//! directory arguments, the per-bundle JSON fields, `--quiet`, and payloads
//! whose plain BLAKE3 hash is the root the JSON and the index report.

use crate::batch_util::*;
use crate::common::cmd::{otaseal, stderr, stdout};
use std::io::Write;
use std::process::Stdio;

#[test]
fn from_list_on_stdin_and_json_fields() {
    let env = Env::new();
    let tree = env.inputs("tree", &[("a/x.bin", 20_000), ("a/b/y.bin", 70_000)]);
    let single = env.inputs("single", &[("z.bin", 3)]);
    let out = env.path("out");
    let mut child = env
        .seal_cmd(&out)
        .args(["--from-list", "-"])
        .command()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(
        child.stdin.take().unwrap(),
        "{}\n\n{}",
        tree.display(),
        single.join("z.bin").display()
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{o:?}");
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["sealed"], 3);
    assert_eq!(json["failed"], 0);
    assert_eq!(json["index_entries"], 3);
    let bundles = json["bundles"].as_array().unwrap();
    let mut payloads: Vec<String> = Vec::new();
    for b in bundles {
        for field in ["input", "payload", "manifest", "root", "bytes", "seconds"] {
            assert!(!b[field].is_null(), "{field} missing in {b}");
        }
        let payload = std::fs::read(b["payload"].as_str().unwrap()).unwrap();
        assert_eq!(
            b["root"].as_str().unwrap(),
            blake3::hash(&payload).to_hex().as_str(),
            "root is the payload's plain BLAKE3"
        );
        payloads.push(b["payload"].as_str().unwrap().to_owned());
    }
    payloads.sort();
    let want: Vec<String> = ["a/b/y.bin", "a/x.bin", "z.bin"]
        .iter()
        .map(|n| out.join(format!("{n}.payload")).display().to_string())
        .collect();
    assert_eq!(
        payloads, want,
        "names are relative to the directory argument"
    );
    for (name, _) in [("a/x.bin", 0), ("a/b/y.bin", 0)] {
        check_bundle(&env, &out, name, &std::fs::read(tree.join(name)).unwrap());
    }
}

#[test]
fn quiet_prints_nothing_and_text_summary_otherwise() {
    let env = Env::new();
    let input = env.inputs("in", &[("a.bin", 100)]);
    let base = |out: &str| {
        let mut c = otaseal(["seal"]);
        c.arg("--signing-key")
            .arg(env.path("sign.key"))
            .arg("--recipient")
            .arg(env.path("dev.pub"))
            .args([
                "--app",
                "com.example.x",
                "--version",
                "1",
                "--sequence",
                "1",
            ])
            .arg("-o")
            .arg(env.path(out))
            .arg(&input);
        c
    };
    let o = base("q").arg("--quiet").output();
    assert!(o.status.success(), "{o:?}");
    assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{o:?}");
    let o = base("t").output();
    assert!(o.status.success(), "{o:?}");
    let text = stdout(&o);
    assert!(text.starts_with("sealed 1 bundles (100 B)"), "{text}");
    assert!(
        o.stderr.is_empty(),
        "no progress bar without a terminal: {o:?}"
    );
}

/// The manifest of bundle `name` in `out`, parsed (not verified).
fn manifest(out: &std::path::Path, name: &str) -> otaseal::format::Manifest {
    let bytes = std::fs::read(out.join(format!("{name}.manifest"))).unwrap();
    otaseal::format::Manifest::parse(&bytes).unwrap().0
}

#[test]
fn manifests_expire_after_90_days_by_default_and_never_only_when_asked() {
    let env = Env::new();
    let input = env.inputs("in", &[("a.bin", 100)]);
    let seal = |out: &str, extra: &[&str]| {
        let out = env.path(out);
        let (o, _) = run({
            let mut c = env.seal_cmd(&out);
            c.arg(&input).args(extra);
            c
        });
        assert!(o.status.success(), "{o:?}");
        manifest(&out, "a.bin")
    };
    let m = seal("default", &[]);
    assert_eq!(m.expires, Some(m.created + 90 * 86_400), "default lifetime");
    let m = seal("hours", &["--expires-in", "12h"]);
    assert_eq!(m.expires, Some(m.created + 12 * 3_600));
    let m = seal("seconds", &["--expires-in", "3600"]);
    assert_eq!(m.expires, Some(m.created + 3_600));
    let m = seal("never", &["--expires-in", "never"]);
    assert_eq!(m.expires, None);

    // Zero is a usage error (exit 2), never a manifest valid for a second.
    for zero in ["0", "0d"] {
        let out = env.path("zero");
        let o = env
            .seal_cmd(&out)
            .arg(&input)
            .args(["--expires-in", zero])
            .output();
        assert_eq!(o.status.code(), Some(2), "{o:?}");
        assert!(stderr(&o).contains("never"), "{o:?}");
        assert!(!out.join("a.bin.manifest").exists());
    }
}
