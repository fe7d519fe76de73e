//! The `otaseal` binary end to end: keys, seal, verify, open, demo, and the
//! exit code and message each bad input gets.

use crate::common::cmd::{code, json, otaseal, run, stderr, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn s(p: &(impl AsRef<Path> + ?Sized)) -> &str {
    p.as_ref().to_str().unwrap()
}

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let me = Self { dir };
        otaseal(["keygen", "signing", "--unencrypted", "--out", &me.p("sign")]).ok();
        otaseal(["keygen", "device", "--unencrypted", "--out", &me.p("dev")]).ok();
        otaseal([
            "keygen",
            "device",
            "--unencrypted",
            "--alg",
            "p256",
            "--out",
            &me.p("dev2"),
        ])
        .ok();
        me
    }

    fn p(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    fn write(&self, name: &str, len: usize) -> PathBuf {
        let path = self.dir.path().join(name);
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
        std::fs::write(&path, data).unwrap();
        path
    }

    fn seal(&self, inputs: &[&Path]) -> Value {
        let (out, key, dev, dev2) = (
            self.p("out"),
            self.p("sign.key"),
            self.p("dev.pub"),
            self.p("dev2.pub"),
        );
        let mut args = vec![
            "seal",
            "--json",
            "--signing-key",
            &key,
            "--recipient",
            &dev,
            "--recipient",
            &dev2,
            "--app",
            "com.example.app",
            "--version",
            "1.0.0",
            "--sequence",
            "3",
            "--out-dir",
            &out,
        ];
        args.extend(inputs.iter().map(s));
        json(&otaseal(&args).ok())
    }
}

#[test]
fn key_files_have_the_right_modes_and_are_never_overwritten() {
    use std::os::unix::fs::PermissionsExt;
    let t = Setup::new();
    let mode = |p: &str| std::fs::metadata(t.p(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("sign.key"), 0o600);
    assert_eq!(mode("dev.key"), 0o600);
    assert_eq!(mode("sign.pub"), 0o644);
    let again = run(["keygen", "signing", "--unencrypted", "--out", &t.p("sign")]);
    assert_eq!(code(&again), 6, "overwriting a key must fail as I/O");
    let secret = std::fs::read_to_string(t.p("sign.key")).unwrap();
    assert!(!stderr(&again).contains(secret.lines().last().unwrap()));
}

#[test]
fn seal_verify_open_round_trip_and_b3sum_agrees() {
    let t = Setup::new();
    let c = 256 * 1024;
    let sizes = [0, 1, c - 1, c, c + 1, 3 * 1024 * 1024 + 5];
    let inputs: Vec<PathBuf> = sizes
        .iter()
        .map(|&n| t.write(&format!("b{n}.bin"), n))
        .collect();
    let report = t.seal(&inputs.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    assert_eq!(report["sealed"], 6);
    assert_eq!(report["failed"], 0);
    let has_b3sum = Command::new("b3sum").arg("--version").output().is_ok();
    assert!(
        has_b3sum,
        "b3sum is not installed: run scripts/test.sh (it installs it) or apt-get install b3sum"
    );
    for (bundle, input) in report["bundles"].as_array().unwrap().iter().zip(&inputs) {
        let payload = bundle["payload"].as_str().unwrap();
        let manifest = bundle["manifest"].as_str().unwrap();
        let root = bundle["root"].as_str().unwrap();
        for key in ["input", "payload", "manifest", "root"] {
            assert!(bundle[key].is_string(), "seal --json lacks {key}");
        }
        let b3 = Command::new("b3sum")
            .args(["--no-names", payload])
            .output()
            .unwrap();
        assert_eq!(stdout(&b3).trim(), root, "b3sum of {payload}");
        let v: Value = json(
            &otaseal([
                "verify",
                manifest,
                "--trust",
                &t.p("sign.pub"),
                "--payload",
                payload,
                "--json",
            ])
            .ok(),
        );
        assert_eq!(v["verdict"], "ok");
        assert_eq!(v["root"], root);
        assert_eq!(v["version"], "1.0.0");
        assert_eq!(v["sequence"], 3);
        assert_eq!(v["channel"], "stable");
        for dev in ["dev.key", "dev2.key"] {
            let out = t.p(&format!(
                "{}.{dev}.out",
                input.file_name().unwrap().to_str().unwrap()
            ));
            otaseal([
                "open",
                manifest,
                "--payload",
                payload,
                "--trust",
                &t.p("sign.pub"),
                "--device-key",
                &t.p(dev),
                "--out",
                s(&out),
            ])
            .ok();
            assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(input).unwrap());
        }
    }
}

#[test]
fn range_verification_checks_only_the_covering_chunks() {
    let t = Setup::new();
    let input = t.write("fw.img", 1024 * 1024);
    let report = t.seal(&[&input]);
    let b = &report["bundles"][0];
    let (manifest, payload) = (
        b["manifest"].as_str().unwrap(),
        b["payload"].as_str().unwrap(),
    );
    let mut bytes = std::fs::read(payload).unwrap();
    bytes[900_000] ^= 1; // chunk 3 of 4
    std::fs::write(payload, &bytes).unwrap();
    let trust = t.p("sign.pub");
    let verify_range = |range: &str| {
        run([
            "verify",
            manifest,
            "--trust",
            &trust,
            "--payload",
            payload,
            "--range",
            range,
            "--json",
        ])
    };
    let good = verify_range("0-512K");
    assert_eq!(code(&good), 0);
    let v: Value = serde_json::from_slice(&good.stdout).unwrap();
    assert_eq!(v["chunks_verified"], 2);
    let bad = verify_range("512K-1M");
    assert_eq!(code(&bad), 3);
    let v: Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert!(v["error"].as_str().unwrap().contains("chunk 3"));
}

#[test]
fn bad_inputs_get_distinct_exit_codes_and_leave_no_output() {
    let t = Setup::new();
    let input = t.write("app.zip", 600_000);
    let report = t.seal(&[&input]);
    let b = &report["bundles"][0];
    let (manifest, payload) = (
        b["manifest"].as_str().unwrap(),
        b["payload"].as_str().unwrap(),
    );
    let trust = &t.p("sign.pub");
    let out = t.p("plain.out");
    let open = |manifest: &str, payload: &str, key: &str| {
        run([
            "open",
            manifest,
            "--payload",
            payload,
            "--trust",
            trust,
            "--device-key",
            key,
            "--out",
            s(&out),
        ])
    };
    let dev = &t.p("dev.key").to_owned();

    let mut flipped = std::fs::read(payload).unwrap();
    flipped[300_000] ^= 4;
    let flipped_path = t.p("flipped.payload");
    std::fs::write(&flipped_path, &flipped).unwrap();
    let r = open(manifest, s(&flipped_path), dev);
    assert_eq!(code(&r), 3, "{}", stderr(&r));
    assert!(stderr(&r).contains("chunk 1"));

    let truncated = t.p("short.payload");
    std::fs::write(&truncated, &std::fs::read(payload).unwrap()[..500_000]).unwrap();
    let r = open(manifest, s(&truncated), dev);
    assert_eq!(code(&r), 3);
    assert!(stderr(&r).contains("truncated or extended"));

    let garbage = t.p("garbage.manifest");
    std::fs::write(&garbage, b"not a manifest at all").unwrap();
    assert_eq!(code(&open(s(&garbage), payload, dev)), 4);

    // Version 2 is the encoded manifest (FORMAT.md §17); 3 is unknown.
    let mut v3 = std::fs::read(manifest).unwrap();
    v3[9] = 3;
    let v3_path = t.p("v3.manifest");
    std::fs::write(&v3_path, &v3).unwrap();
    let r = open(s(&v3_path), payload, dev);
    assert_eq!(code(&r), 4);
    assert!(stderr(&r).contains("unsupported format version 3"));

    otaseal([
        "keygen",
        "device",
        "--unencrypted",
        "--out",
        &t.p("stranger"),
    ])
    .ok();
    let r = open(manifest, payload, &t.p("stranger.key"));
    assert_eq!(code(&r), 5);
    assert!(stderr(&r).contains("not a recipient"));

    otaseal(["keygen", "signing", "--unencrypted", "--out", &t.p("other")]).ok();
    let r = run(["verify", manifest, "--trust", &t.p("other.pub")]);
    assert_eq!(code(&r), 3);
    assert!(stderr(&r).contains("not trusted"));

    use std::os::unix::fs::PermissionsExt;
    let loose = t.p("loose.key");
    std::fs::copy(t.p("dev.key"), &loose).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = open(manifest, payload, s(&loose));
    assert_eq!(code(&r), 5);
    assert!(stderr(&r).contains("chmod 600"));

    assert_eq!(code(&open(manifest, &t.p("missing.payload"), dev)), 6);
    assert_eq!(code(&run(["verify"])), 2);
    assert_eq!(code(&run(["seal", "--chunk-size", "1000", "x"])), 2);

    assert!(!Path::new(&out).exists(), "a failed open left {out}");
    let leftovers: Vec<_> = std::fs::read_dir(t.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".partial"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );

    let r = open(manifest, payload, dev);
    assert_eq!(code(&r), 0);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&input).unwrap());
}

/// Issue 9 item 12: every document is read with its format's cap. A
/// manifest that is `/dev/zero` is refused at once as too large (exit 4)
/// instead of being read until memory runs out; so are oversized revocation
/// lists, rotation statements, certificates and rollback authorisations.
#[test]
fn oversized_documents_are_refused_before_they_are_read() {
    let t = Setup::new();
    let started = std::time::Instant::now();
    for cmd in [
        vec!["verify", "/dev/zero", "--trust", &t.p("sign.pub")],
        vec![
            "open",
            "/dev/zero",
            "--payload",
            "/dev/null",
            "--trust",
            &t.p("sign.pub"),
            "--device-key",
            &t.p("dev.key"),
            "--out",
            &t.p("never"),
        ],
    ] {
        let out = run(&cmd);
        assert_eq!(code(&out), 4, "{cmd:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("limit for manifest"), "{cmd:?}: {err}");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(!Path::new(&t.p("never")).exists());

    // Sparse files one byte over each limit: refused by size, not by parsing.
    let big = |name: &str, len: u64| {
        let f = std::fs::File::create(t.p(name)).unwrap();
        f.set_len(len).unwrap();
        t.p(name)
    };
    let (rev, rot, cert) = (
        big("big.rvkl", otaseal::format::revocation::MAX_LEN + 1),
        big("big.rrot", otaseal::format::rotation::MAX_LEN + 1),
        big("big.cert", otaseal::format::cert::MAX_LEN + 1),
    );
    for (what, cmd) in [
        (
            "revocation list",
            vec![
                "verify",
                "/dev/null",
                "--root",
                &t.p("sign.pub"),
                "--revocations",
                &rev,
            ],
        ),
        (
            "root rotation statement",
            vec![
                "verify",
                "/dev/null",
                "--root",
                &t.p("sign.pub"),
                "--rotation",
                &rot,
            ],
        ),
        ("certificate", vec!["cert", "show", &cert]),
    ] {
        let out = run(&cmd);
        let err = stderr(&out);
        assert_eq!(code(&out), 4, "{cmd:?}: {err}");
        assert!(err.contains(&format!("limit for {what}")), "{cmd:?}: {err}");
    }
}

#[test]
fn an_endless_payload_is_read_no_further_than_the_manifest_says() {
    let t = Setup::new();
    let input = t.write("fw.bin", 5000);
    let report = t.seal(&[&input]);
    let manifest = report["bundles"][0]["manifest"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = std::time::Instant::now();
    for cmd in [
        vec![
            "verify",
            &manifest,
            "--trust",
            &t.p("sign.pub"),
            "--payload",
            "/dev/zero",
        ],
        vec![
            "open",
            &manifest,
            "--payload",
            "/dev/zero",
            "--trust",
            &t.p("sign.pub"),
            "--device-key",
            &t.p("dev.key"),
            "--out",
            &t.p("never"),
        ],
    ] {
        let out = run(&cmd);
        let err = stderr(&out);
        assert_eq!(code(&out), 3, "{cmd:?}: {err}");
        assert!(err.contains("manifest says 5000"), "{cmd:?}: {err}");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(!Path::new(&t.p("never")).exists());
}

#[test]
fn verify_json_reports_failures_too() {
    let t = Setup::new();
    let input = t.write("x.bin", 10);
    let report = t.seal(&[&input]);
    let manifest = report["bundles"][0]["manifest"].as_str().unwrap();
    let mut m = std::fs::read(manifest).unwrap();
    let last = m.len() - 1;
    m[last] ^= 1;
    std::fs::write(manifest, &m).unwrap();
    let r = run(["verify", manifest, "--trust", &t.p("sign.pub"), "--json"]);
    assert_eq!(code(&r), 3);
    let v: Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["verdict"], "failed");
    assert_eq!(v["exit_code"], 3);
    assert!(v["error"].as_str().unwrap().contains("signature"));
}

#[test]
fn demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let v: Value = json(&otaseal(["demo", "--dir", s(dir.path()), "--large", "2M", "--json"]).ok());
    assert_eq!(v["verdict"], "ok");
    assert_eq!(v["untouched_range_verifies"], true);
    assert!(
        v["tamper_detected"]
            .as_str()
            .unwrap()
            .contains("does not match")
    );
}

/// `open` verifies and decrypts on every core by default; the plaintext is
/// the same with one thread and with many, and a damaged chunk is reported
/// the same way whatever the thread count, leaving no output.
#[test]
fn open_on_one_thread_or_many_writes_the_same_file() {
    let t = Setup::new();
    let input = t.write("big.bin", 5 * 256 * 1024 + 777);
    let report = t.seal(&[input.as_path()]);
    let bundle = &report["bundles"][0];
    let (manifest, payload) = (
        bundle["manifest"].as_str().unwrap(),
        bundle["payload"].as_str().unwrap(),
    );
    let open = |payload: &str, out: &str, threads: &str| {
        let (trust, key) = (t.p("sign.pub"), t.p("dev.key"));
        let mut args = vec![
            "open",
            manifest,
            "--payload",
            payload,
            "--trust",
            &trust,
            "--device-key",
            &key,
            "--out",
            out,
        ];
        if !threads.is_empty() {
            args.extend(["--threads", threads]);
        }
        run(&args)
    };
    let want = std::fs::read(&input).unwrap();
    for threads in ["", "1", "2", "3", "16"] {
        let out = t.p(&format!("opened{threads}"));
        let r = open(payload, &out, threads);
        assert_eq!(code(&r), 0, "--threads {threads}: {}", stderr(&r));
        assert_eq!(std::fs::read(&out).unwrap(), want, "--threads {threads}");
    }
    let mut bad = std::fs::read(payload).unwrap();
    bad[4 * 256 * 1024 + 9] ^= 1;
    let tampered = t.p("tampered.payload");
    std::fs::write(&tampered, bad).unwrap();
    for threads in ["1", "2", "5"] {
        let out = t.p("never");
        let r = open(&tampered, &out, threads);
        assert_eq!(code(&r), 3, "{}", stderr(&r));
        assert!(stderr(&r).contains("chunk 4"), "{}", stderr(&r));
        assert!(!Path::new(&out).exists());
    }
}
