//! Root of trust and audit from the command line: the full rotation
//! scenario, and every bad input rejected with its own exit code.

use crate::common::cmd::{code, otaseal, stderr, stdout};
use std::path::{Path, PathBuf};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

const PASSPHRASE: &str = "correct horse battery staple";

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let env = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(env.path("fw-1.bin"), vec![0x5a; 70_000]).unwrap();
        std::fs::write(env.path("fw-2.bin"), vec![0xa5; 1_000]).unwrap();
        env
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// Runs with extra environment variables (overriding the defaults).
    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = otaseal(args)
            .current_dir(self.dir.path())
            // New keys are encrypted (the default): root and release keys
            // are unlocked with this passphrase, as an operator's would be.
            .env("OTASEAL_PASSPHRASE", PASSPHRASE)
            .envs(env)
            .output();
        Run {
            code: code(&out),
            stdout: stdout(&out),
            stderr: stderr(&out),
        }
    }

    /// Runs and requires exit code `code`; returns the output.
    fn expect(&self, code: i32, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(
            r.code,
            code,
            "otaseal {}\nstdout: {}\nstderr: {}",
            args.join(" "),
            r.stdout,
            r.stderr
        );
        r
    }

    fn ok(&self, args: &[&str]) -> Run {
        self.expect(0, args)
    }

    /// root + device keys, and release key `name` certified for `stable`.
    fn setup(&self) {
        self.ok(&["root", "init", "--out", "root", "--audit-log", "audit.log"]);
        self.ok(&["keygen", "device", "--out", "dev"]);
    }

    fn seal(&self, key: &str, input: &str, out: &str, extra: &[&str]) -> Run {
        let mut args = vec![
            "seal",
            input,
            "--signing-key",
            &format!("{key}.key"),
            "--recipient",
            "dev.pub",
            "--app",
            "com.example.app",
            "--version",
            "1.0",
            "--sequence",
            "1",
            "--out-dir",
            out,
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&refs)
    }
}

fn key_id(env: &Env, public: &str) -> String {
    let text = std::fs::read_to_string(env.path(public)).unwrap();
    let first = text.lines().next().unwrap();
    first.rsplit(' ').next().unwrap().to_owned()
}

#[test]
fn full_rotation_scenario() {
    let e = Env::new();
    // root -> release key A (certificate) -> bundles
    e.ok(&["root", "init", "--out", "root", "--audit-log", "audit.log"]);
    e.ok(&["keygen", "device", "--out", "dev"]);
    e.ok(&[
        "keys",
        "rotate",
        "--root-key",
        "root.key",
        "--out",
        "release-a",
        "--channel",
        "stable",
        "--valid-for",
        "90d",
        "--audit-log",
        "audit.log",
    ]);
    e.ok(&[
        "seal",
        "fw-1.bin",
        "--signing-key",
        "release-a.key",
        "--cert",
        "release-a.cert",
        "--recipient",
        "dev.pub",
        "--app",
        "com.example.app",
        "--version",
        "1.0",
        "--sequence",
        "1",
        "--out-dir",
        "out-a",
        "--audit-log",
        "audit.log",
    ]);
    e.ok(&[
        "verify",
        "out-a/fw-1.bin.manifest",
        "--root",
        "root.pub",
        "--payload",
        "out-a/fw-1.bin.payload",
    ]);
    // rotate to B: A's bundles stay valid
    e.ok(&[
        "keys",
        "rotate",
        "--root-key",
        "root.key",
        "--previous",
        "release-a.cert",
        "--out",
        "release-b",
        "--audit-log",
        "audit.log",
    ]);
    e.ok(&[
        "seal",
        "fw-2.bin",
        "--signing-key",
        "release-b.key",
        "--cert",
        "release-b.cert",
        "--recipient",
        "dev.pub",
        "--app",
        "com.example.app",
        "--version",
        "2.0",
        "--sequence",
        "2",
        "--out-dir",
        "out-b",
        "--audit-log",
        "audit.log",
    ]);
    e.ok(&["verify", "out-a/fw-1.bin.manifest", "--root", "root.pub"]);
    // revoke A
    e.ok(&[
        "revoke",
        "--root-key",
        "root.key",
        "--list",
        "revoked.rvl",
        "--cert",
        "release-a.cert",
        "--audit-log",
        "audit.log",
    ]);
    // A's bundles rejected (revoked), B's accepted
    let r = e.expect(
        21,
        &[
            "verify",
            "out-a/fw-1.bin.manifest",
            "--root",
            "root.pub",
            "--revocations",
            "revoked.rvl",
            "--trust-state",
            "device.trust",
        ],
    );
    assert!(
        r.stderr.contains("revoked by revocation list 1"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&key_id(&e, "release-a.pub")),
        "{}",
        r.stderr
    );
    e.ok(&[
        "verify",
        "out-b/fw-2.bin.manifest",
        "--trust-state",
        "device.trust",
        "--payload",
        "out-b/fw-2.bin.payload",
    ]);
    e.ok(&[
        "open",
        "out-b/fw-2.bin.manifest",
        "--payload",
        "out-b/fw-2.bin.payload",
        "--trust-state",
        "device.trust",
        "--device-key",
        "dev.key",
        "--out",
        "fw-2.out",
    ]);
    assert_eq!(
        std::fs::read(e.path("fw-2.out")).unwrap(),
        std::fs::read(e.path("fw-2.bin")).unwrap()
    );
    // The persisted state remembers the revocation without --revocations.
    e.expect(
        21,
        &[
            "verify",
            "out-a/fw-1.bin.manifest",
            "--trust-state",
            "device.trust",
        ],
    );
    let r = e.expect(
        21,
        &[
            "verify",
            "out-a/fw-1.bin.manifest",
            "--trust-state",
            "device.trust",
            "--json",
        ],
    );
    let j: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(j["verdict"], "failed");
    assert_eq!(j["exit_code"], 21);

    // Every key operation is in the audit log, and the log verifies.
    let r = e.ok(&["audit", "verify", "audit.log", "--json"]);
    let j: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(j["verdict"], "ok");
    let log = std::fs::read_to_string(e.path("audit.log")).unwrap();
    for op in ["generate", "certify", "rotate", "sign", "wrap", "revoke"] {
        assert!(
            log.contains(&format!("\"op\":\"{op}\"")),
            "no {op} event:\n{log}"
        );
    }
    for secret in ["root.key", "release-a.key", "release-b.key", "dev.key"] {
        let bytes = std::fs::read(e.path(secret)).unwrap();
        // Keys are written encrypted: the secret never exists in plain text on
        // disk. The log must not hold the file's bytes either.
        assert_eq!(
            &bytes[..8],
            b"OTASSKEY",
            "{secret} is not an encrypted key file"
        );
        assert!(
            !log.contains(&hex::encode(&bytes[bytes.len() - 48..])),
            "key material of {secret} in the audit log"
        );
    }
}

fn cert_for(e: &Env, name: &str, extra: &[&str]) {
    let mut args = vec!["cert", "issue", "--root-key", "root.key", "--subject"];
    let public = format!("{name}.pub");
    let out = format!("{name}.cert");
    args.push(&public);
    args.extend_from_slice(&["--out", &out]);
    args.extend_from_slice(extra);
    e.ok(&args);
}

/// Issue 9 item 16: `seal` refuses (exit 20), before sealing anything, a
/// certificate every device would reject: expired or not yet valid at the
/// seal's `created` time, for another channel or application, or without
/// the sign-manifests usage. (Devices' own refusals of such chains are
/// covered by `trust_chain.rs`.)
#[test]
fn bad_certificates_exit_20() {
    let e = Env::new();
    e.setup();
    for name in ["expired", "future", "beta", "maps", "rollback-only"] {
        e.ok(&["keygen", "signing", "--out", name]);
    }
    cert_for(
        &e,
        "expired",
        &[
            "--channel",
            "stable",
            "--not-before",
            "1000",
            "--not-after",
            "2000",
        ],
    );
    cert_for(
        &e,
        "future",
        &[
            "--channel",
            "stable",
            "--not-before",
            "4000000000",
            "--valid-for",
            "1d",
        ],
    );
    cert_for(&e, "beta", &["--channel", "beta"]);
    cert_for(
        &e,
        "maps",
        &["--channel", "stable", "--app", "com.example.maps"],
    );
    cert_for(
        &e,
        "rollback-only",
        &["--channel", "stable", "--usage", "authorise-rollback"],
    );
    let cases = [
        ("expired", "expired at 2000"),
        ("future", "not valid before 4000000000"),
        ("beta", "does not allow channel `stable`"),
        ("maps", "does not allow application `com.example.app`"),
        ("rollback-only", "does not allow `sign-manifests`"),
    ];
    for (name, message) in cases {
        let cert = format!("{name}.cert");
        let out = format!("out-{name}");
        let r = e.seal(name, "fw-2.bin", &out, &["--cert", &cert]);
        assert_eq!(r.code, 20, "{name}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{name}: {}", r.stderr);
        let left = std::fs::read_dir(e.path(&out)).map_or(0, |d| d.count());
        assert_eq!(left, 0, "{name}: seal left files in {out}");
    }
    // The app-scoped certificate seals its own application.
    e.ok(&[
        "seal",
        "fw-2.bin",
        "--signing-key",
        "maps.key",
        "--cert",
        "maps.cert",
        "--recipient",
        "dev.pub",
        "--app",
        "com.example.maps",
        "--version",
        "1.0",
        "--sequence",
        "1",
        "--out-dir",
        "out-maps-ok",
    ]);
    e.ok(&[
        "verify",
        "out-maps-ok/fw-2.bin.manifest",
        "--root",
        "root.pub",
    ]);
    let shown = e.ok(&["cert", "show", "maps.cert", "--json"]);
    let shown: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(shown["apps"], "com.example.maps");
    assert_eq!(shown["version"], 2);
    // A chain signed by a root the device does not pin.
    e.ok(&["root", "init", "--out", "rogue"]);
    e.ok(&["keygen", "signing", "--out", "r"]);
    e.ok(&[
        "cert",
        "issue",
        "--root-key",
        "rogue.key",
        "--subject",
        "r.pub",
        "--channel",
        "stable",
        "--out",
        "r.cert",
    ]);
    assert_eq!(
        e.seal("r", "fw-2.bin", "out-r", &["--cert", "r.cert"]).code,
        0
    );
    let r = e.expect(
        20,
        &["verify", "out-r/fw-2.bin.manifest", "--root", "root.pub"],
    );
    assert!(r.stderr.contains("not the pinned root"), "{}", r.stderr);
    // A bundle without a chain, verified against a root.
    e.ok(&["keygen", "signing", "--out", "bare"]);
    assert_eq!(e.seal("bare", "fw-2.bin", "out-bare", &[]).code, 0);
    let r = e.expect(
        20,
        &["verify", "out-bare/fw-2.bin.manifest", "--root", "root.pub"],
    );
    assert!(r.stderr.contains("no certificate chain"), "{}", r.stderr);
    // Sealing with a certificate for another key is refused up front.
    let r = e.seal("bare", "fw-2.bin", "out-x", &["--cert", "r.cert"]);
    assert_eq!(r.code, 20, "{}", r.stderr);
    // --trust and --root exclude each other.
    e.expect(
        2,
        &[
            "verify",
            "out-r/fw-2.bin.manifest",
            "--root",
            "root.pub",
            "--trust",
            "r.pub",
        ],
    );
    e.expect(2, &["verify", "out-r/fw-2.bin.manifest"]);
}

#[test]
fn replayed_revocation_list_exits_22() {
    let e = Env::new();
    e.setup();
    e.ok(&["keygen", "signing", "--out", "k"]);
    e.ok(&[
        "revoke",
        "--root-key",
        "root.key",
        "--list",
        "revoked.rvl",
        "--serial",
        "1",
    ]);
    std::fs::copy(e.path("revoked.rvl"), e.path("revoked-1.rvl")).unwrap();
    e.ok(&[
        "revoke",
        "--root-key",
        "root.key",
        "--list",
        "revoked.rvl",
        "--key",
        "k.pub",
    ]);
    cert_for(&e, "k", &["--channel", "stable"]);
    assert_eq!(
        e.seal("k", "fw-2.bin", "out", &["--cert", "k.cert"]).code,
        0
    );
    let m = "out/fw-2.bin.manifest";
    // List 2 revokes k (and keeps serial 1 from list 1).
    e.expect(
        21,
        &[
            "verify",
            m,
            "--root",
            "root.pub",
            "--revocations",
            "revoked.rvl",
            "--trust-state",
            "t.state",
        ],
    );
    let r = e.expect(
        22,
        &[
            "verify",
            m,
            "--trust-state",
            "t.state",
            "--revocations",
            "revoked-1.rvl",
        ],
    );
    assert!(
        r.stderr.contains("revocation list 1 is older than list 2"),
        "{}",
        r.stderr
    );
    // Corrupt trust state: an error, never a silent reset.
    let mut bytes = std::fs::read(e.path("t.state")).unwrap();
    bytes[30] ^= 0xff;
    std::fs::write(e.path("t.state"), &bytes).unwrap();
    let r = e.expect(
        22,
        &[
            "verify",
            m,
            "--root",
            "root.pub",
            "--trust-state",
            "t.state",
        ],
    );
    assert!(r.stderr.contains("trust state is unusable"), "{}", r.stderr);
}

#[test]
fn root_rotation_from_the_cli() {
    let e = Env::new();
    e.setup();
    e.ok(&["root", "init", "--out", "root2"]);
    e.ok(&[
        "root",
        "rotate",
        "--old-key",
        "root.key",
        "--new-key",
        "root2.key",
        "--new-version",
        "2",
        "--out",
        "r2.rot",
    ]);
    e.ok(&["keygen", "signing", "--out", "k"]);
    e.ok(&[
        "cert",
        "issue",
        "--root-key",
        "root2.key",
        "--subject",
        "k.pub",
        "--channel",
        "stable",
        "--out",
        "k.cert",
    ]);
    assert_eq!(
        e.seal("k", "fw-2.bin", "out", &["--cert", "k.cert"]).code,
        0
    );
    let m = "out/fw-2.bin.manifest";
    // The device pins the old root; the new root's certificate needs the statement.
    e.expect(20, &["verify", m, "--root", "root.pub"]);

    // A statement whose new-root signature is missing (zeroed): refused.
    let good = std::fs::read(e.path("r2.rot")).unwrap();
    let mut one_sig = good.clone();
    let n = one_sig.len();
    one_sig[n - 64..].fill(0);
    std::fs::write(e.path("one.rot"), &one_sig).unwrap();
    let r = e.expect(
        22,
        &[
            "verify",
            m,
            "--root",
            "root.pub",
            "--rotation",
            "one.rot",
            "--trust-state",
            "t.state",
        ],
    );
    assert!(
        r.stderr.contains("signature by the new root"),
        "{}",
        r.stderr
    );
    assert!(
        !e.path("t.state").exists(),
        "a refused update must not create the state"
    );

    let r = e.ok(&[
        "verify",
        m,
        "--root",
        "root.pub",
        "--rotation",
        "r2.rot",
        "--trust-state",
        "t.state",
    ]);
    assert!(r.stderr.contains("followed root rotation"), "{}", r.stderr);
    // The state now pins root2; the old root cannot fork to a third root.
    e.ok(&["verify", m, "--trust-state", "t.state"]);
    e.ok(&["root", "init", "--out", "root3"]);
    e.ok(&[
        "root",
        "rotate",
        "--old-key",
        "root.key",
        "--new-key",
        "root3.key",
        "--new-version",
        "2",
        "--out",
        "r3.rot",
    ]);
    let r = e.expect(
        22,
        &[
            "verify",
            m,
            "--trust-state",
            "t.state",
            "--rotation",
            "r3.rot",
        ],
    );
    assert!(r.stderr.contains("already superseded"), "{}", r.stderr);
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(p: &Path, l: &[String]) {
    std::fs::write(p, format!("{}\n", l.join("\n"))).unwrap();
}

#[test]
fn tampered_audit_log_exits_24_naming_the_line() {
    let e = Env::new();
    e.setup();
    for i in 0..5 {
        e.ok(&["keygen", "signing", "--out", &format!("k{i}")]);
        cert_for(
            &e,
            &format!("k{i}"),
            &["--channel", "stable", "--audit-log", "audit.log"],
        );
    }
    let log = e.path("audit.log");
    e.ok(&["audit", "verify", "audit.log"]);
    let original = lines(&log);
    // `root init`'s generate, then per certificate the root key's unlock
    // (recorded in the `--audit-log` log) and the certify: line 3 is k0's
    // certify.
    assert_eq!(original.len(), 11);
    assert!(
        original[2].contains("\"op\":\"certify\""),
        "{}",
        original[2]
    );

    let check = |mutate: &dyn Fn(&mut Vec<String>), line: u64, what: &str| {
        let mut l = original.clone();
        mutate(&mut l);
        write_lines(&log, &l);
        let r = e.expect(24, &["audit", "verify", "audit.log"]);
        assert!(
            r.stderr.contains(&format!("audit log line {line}:")),
            "{what}: {}",
            r.stderr
        );
        let r = e.expect(24, &["audit", "verify", "audit.log", "--json"]);
        let j: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
        assert_eq!(j["first_bad_line"], line, "{what}");
    };
    check(
        &|l| l[2] = l[2].replace("\"serial\":", "\"serial\":1"),
        3,
        "edited",
    );
    check(
        &|l| {
            l.remove(3);
        },
        4,
        "deleted",
    );
    check(
        &|l| {
            let replayed = l[2].clone();
            l.insert(3, replayed);
        },
        4,
        "inserted",
    );
    check(&|l| l.swap(1, 2), 2, "reordered");

    // Torn last line.
    let mut bytes = format!("{}\n", original.join("\n")).into_bytes();
    bytes.truncate(bytes.len() - 5);
    std::fs::write(&log, &bytes).unwrap();
    let r = e.expect(24, &["audit", "verify", "audit.log"]);
    assert!(r.stderr.contains("line 11: torn"), "{}", r.stderr);
    // Appending after a torn line is refused too (the operation fails).
    e.ok(&["keygen", "signing", "--out", "k9"]);
    let r = e.run(&[
        "cert",
        "issue",
        "--root-key",
        "root.key",
        "--subject",
        "k9.pub",
        "--channel",
        "stable",
        "--out",
        "k9.cert",
        "--audit-log",
        "audit.log",
    ]);
    assert_eq!(r.code, 24, "{}", r.stderr);
}

#[test]
fn alerts_suspend_and_resume() {
    let e = Env::new();
    e.setup();
    e.ok(&["keygen", "signing", "--out", "k"]);
    cert_for(&e, "k", &["--channel", "stable"]);
    let k = key_id(&e, "k.pub");
    assert_eq!(
        e.seal(
            "k",
            "fw-2.bin",
            "out",
            &["--cert", "k.cert", "--audit-log", "audit.log"]
        )
        .code,
        0
    );
    e.ok(&["audit", "alerts", "audit.log"]);

    // Five failed verifications of bundles claiming key k (payload tampered).
    let mut payload = std::fs::read(e.path("out/fw-2.bin.payload")).unwrap();
    payload[0] ^= 1;
    std::fs::write(e.path("bad.payload"), &payload).unwrap();
    let verify_bad = || {
        e.expect(
            3,
            &[
                "verify",
                "out/fw-2.bin.manifest",
                "--root",
                "root.pub",
                "--payload",
                "bad.payload",
                "--audit-log",
                "audit.log",
            ],
        )
    };
    for _ in 0..5 {
        verify_bad();
    }
    let r = e.expect(31, &["audit", "alerts", "audit.log", "--json"]);
    let j: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(j["highest"], "medium");
    assert_eq!(j["suspended"][0], k.as_str());

    // The suspended key refuses to sign.
    let r = e.seal(
        "k",
        "fw-1.bin",
        "out2",
        &["--cert", "k.cert", "--audit-log", "audit.log"],
    );
    assert_eq!(r.code, 23, "{}", r.stderr);
    assert!(r.stderr.contains("suspended"), "{}", r.stderr);
    assert!(!e.path("out2/fw-1.bin.manifest").exists());

    e.ok(&["keys", "resume", &k, "--audit-log", "audit.log"]);
    assert_eq!(
        e.seal(
            "k",
            "fw-1.bin",
            "out2",
            &["--cert", "k.cert", "--audit-log", "audit.log"]
        )
        .code,
        0
    );
    // Failures before the resume no longer count.
    e.ok(&["audit", "alerts", "audit.log"]);

    // Stricter rules from a file: 1 failure is enough.
    std::fs::write(e.path("rules.json"), r#"{"failed_verifications": 1}"#).unwrap();
    verify_bad();
    e.expect(
        31,
        &[
            "audit",
            "alerts",
            "audit.log",
            "--rules",
            "rules.json",
            "--no-act",
        ],
    );
    std::fs::write(e.path("rules.json"), r#"{"nonsense": 1}"#).unwrap();
    e.expect(
        2,
        &["audit", "alerts", "audit.log", "--rules", "rules.json"],
    );

    // High: marked compromised (and suspended at once); critical: root.
    e.ok(&[
        "audit",
        "mark",
        "audit.log",
        "--as",
        "compromised",
        "--key",
        &k,
        "--note",
        "laptop stolen",
    ]);
    let r = e.expect(32, &["audit", "alerts", "audit.log", "--no-act"]);
    assert!(r.stdout.contains("rotate now"), "{}", r.stdout);
    assert_eq!(
        e.seal(
            "k",
            "fw-1.bin",
            "out3",
            &["--cert", "k.cert", "--audit-log", "audit.log"]
        )
        .code,
        23
    );
    e.ok(&[
        "audit",
        "mark",
        "audit.log",
        "--as",
        "root-compromised",
        "--key",
        "root.pub",
    ]);
    let r = e.expect(33, &["audit", "alerts", "audit.log", "--no-act"]);
    assert!(r.stdout.contains("replace all keys"), "{}", r.stdout);
    e.ok(&["audit", "verify", "audit.log"]);
}

#[test]
fn signed_checkpoints_anchor_the_log() {
    let e = Env::new();
    e.setup();
    e.ok(&["keygen", "signing", "--out", "auditor"]);
    e.ok(&["keygen", "signing", "--out", "k"]);
    cert_for(
        &e,
        "k",
        &["--channel", "stable", "--audit-log", "audit.log"],
    );
    e.ok(&[
        "audit",
        "checkpoint",
        "audit.log",
        "--signing-key",
        "auditor.key",
        "--out",
        "cp.json",
    ]);
    cert_for(&e, "k", &["--channel", "beta", "--audit-log", "audit.log"]);
    let r = e.ok(&[
        "audit",
        "verify",
        "audit.log",
        "--checkpoint-key",
        "auditor.pub",
        "--checkpoint",
        "cp.json",
        "--json",
    ]);
    let j: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    // generate, unlock, certify, checkpoint; then unlock and certify.
    assert_eq!(j["checkpoints"], serde_json::json!([4]));
    assert_eq!(j["unanchored_entries"], 2);
    // Checkpoints by another key are refused when a key is required.
    e.expect(
        24,
        &["audit", "verify", "audit.log", "--checkpoint-key", "k.pub"],
    );
    // Cutting the log back before the kept checkpoint is detected.
    let text = std::fs::read_to_string(e.path("audit.log")).unwrap();
    let first_two: Vec<&str> = text.lines().take(2).collect();
    std::fs::write(e.path("audit.log"), first_two.join("\n") + "\n").unwrap();
    e.ok(&["audit", "verify", "audit.log"]);
    let r = e.expect(
        24,
        &["audit", "verify", "audit.log", "--checkpoint", "cp.json"],
    );
    assert!(r.stderr.contains("log cut"), "{}", r.stderr);
}

/// Wrong passphrases are refused (exit 7), each is counted in the audit log,
/// and repeated failures raise a medium alert that suspends the key.
#[test]
fn wrong_passphrases_are_logged_and_suspend_the_key() {
    let e = Env::new();
    e.setup();
    e.ok(&["keygen", "signing", "--out", "k"]);
    let k = key_id(&e, "k.pub");
    let log = e.path("audit.log");
    let log = log.to_str().unwrap();
    let seal = |pass: &str| {
        e.run_with(
            &[
                "seal",
                "fw-2.bin",
                "--signing-key",
                "k.key",
                "--recipient",
                "dev.pub",
                "--app",
                "com.example.app",
                "--version",
                "1",
                "--sequence",
                "1",
                "--out-dir",
                "out",
            ],
            &[("OTASEAL_PASSPHRASE", pass), ("OTASEAL_AUDIT_LOG", log)],
        )
    };
    for _ in 0..3 {
        let r = seal("not the passphrase");
        assert_eq!(r.code, 7, "{}", r.stderr);
        assert!(r.stderr.contains("passphrase"), "{}", r.stderr);
    }
    let text = std::fs::read_to_string(log).unwrap();
    let failed = text
        .lines()
        .filter(|l| l.contains("\"op\":\"unlock\"") && l.contains("\"outcome\":\"failed\""))
        .count();
    assert_eq!(failed, 3, "{text}");
    assert!(
        !text.contains("not the passphrase"),
        "the passphrase reached the log"
    );

    let r = e.expect(31, &["audit", "alerts", "audit.log", "--json"]);
    let j: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(j["suspended"][0], k.as_str());
    let r = seal(PASSPHRASE);
    assert_eq!(r.code, 23, "a suspended key signed: {}", r.stderr);
    e.ok(&["keys", "resume", &k, "--audit-log", "audit.log"]);
    assert_eq!(seal(PASSPHRASE).code, 0);
}
