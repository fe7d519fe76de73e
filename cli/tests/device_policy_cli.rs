//! The device policy through the CLI: `state init/show`, `verify --state`,
//! `install-check`, `authorize-rollback`. Exit code 8 means "refused by
//! device policy".

use crate::common::cmd::{code, json, ok, otaseal, run, text};
use std::path::{Path, PathBuf};
use std::process::Output;

struct Device {
    dir: PathBuf,
    state: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Device {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let p = |n: &str| dir.join(n).to_str().unwrap().to_owned();
        ok(run([
            "keygen",
            "signing",
            "--unencrypted",
            "--out",
            &p("sign"),
        ]));
        ok(run([
            "keygen",
            "signing",
            "--unencrypted",
            "--out",
            &p("rollback"),
        ]));
        ok(run([
            "keygen",
            "device",
            "--unencrypted",
            "--out",
            &p("device"),
        ]));
        ok(run([
            "keygen",
            "device",
            "--unencrypted",
            "--out",
            &p("other"),
        ]));
        std::fs::write(dir.join("fw.bin"), vec![7u8; 70_000]).unwrap();
        let state = dir.join("device.state");
        Self {
            dir,
            state,
            _tmp: tmp,
        }
    }

    fn p(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }

    /// Seals fw.bin as `name` for (channel, sequence); returns the manifest path.
    fn seal(&self, name: &str, channel: &str, seq: u64, expires_in: Option<u64>) -> String {
        self.seal_app(name, "com.example.fw", channel, seq, expires_in)
    }

    /// [`seal`](Self::seal) for another application.
    fn seal_app(
        &self,
        name: &str,
        app: &str,
        channel: &str,
        seq: u64,
        expires_in: Option<u64>,
    ) -> String {
        let out = self.dir.join(name);
        std::fs::create_dir_all(&out).unwrap();
        let mut args: Vec<String> = [
            "seal",
            &self.p("fw.bin"),
            "--signing-key",
            &self.p("sign.key"),
            "--recipient",
            &self.p("device.pub"),
            "--app",
            app,
            "--channel",
            channel,
            "--version",
            "1.0",
            "--sequence",
            &seq.to_string(),
            "--out-dir",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // `None`: no expiry at all (seal's default is 90 days).
        let e = expires_in.map_or("never".to_owned(), |e| e.to_string());
        args.extend(["--expires-in".to_owned(), e]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(run(&refs));
        out.join("fw.bin.manifest").to_str().unwrap().to_owned()
    }

    fn install(&self, manifest: &str, extra: &[&str]) -> Output {
        let payload = manifest.replace(".manifest", ".payload");
        let (trust, key, out, state) = (
            self.p("sign.pub"),
            self.p("device.key"),
            self.p("installed.bin"),
            self.state.to_str().unwrap().to_owned(),
        );
        let mut args = vec![
            "install-check",
            manifest,
            "--payload",
            &payload,
            "--trust",
            &trust,
            "--device-key",
            &key,
            "--out",
            &out,
            "--state",
            &state,
            "--app",
            "com.example.fw",
        ];
        args.extend_from_slice(extra);
        run(&args)
    }

    fn verify(&self, manifest: &str, extra: &[&str]) -> Output {
        let (trust, state) = (self.p("sign.pub"), self.state.to_str().unwrap().to_owned());
        let mut args = vec![
            "verify",
            manifest,
            "--trust",
            &trust,
            "--state",
            &state,
            "--app",
            "com.example.fw",
        ];
        args.extend_from_slice(extra);
        run(&args)
    }

    fn state_json(&self) -> serde_json::Value {
        let o = ok(run([
            "state",
            "show",
            self.state.to_str().unwrap(),
            "--json",
        ]));
        json(&o)
    }
}

#[test]
fn install_check_enforces_sequence_and_channel() {
    let d = Device::new();
    let st = d.state.to_str().unwrap();
    // The state must exist: a missing file is never taken as "nothing installed".
    let m5 = d.seal("s5", "stable", 5, None);
    assert_eq!(code(&d.verify(&m5, &[])), 6);
    ok(run(["state", "init", st]));
    assert_eq!(
        code(&run(["state", "init", st])),
        6,
        "init never overwrites"
    );

    // Not provisioned until the device is told which channel to follow.
    let r = d.install(&m5, &[]);
    assert_eq!(code(&r), 8, "{}", text(&r));
    assert!(text(&r).contains("not installed on this device"));
    let r = ok(d.install(&m5, &["--switch-channel", "stable"]));
    assert!(text(&r).contains("first install"), "{}", text(&r));
    assert_eq!(
        std::fs::read(d.p("installed.bin")).unwrap(),
        vec![7u8; 70_000]
    );
    assert_eq!(
        d.state_json()["apps"]["com.example.fw"]["channels"]["stable"]["sequence"],
        5
    );

    // Replay and downgrade are refused, by verify --state and install-check.
    let m4 = d.seal("s4", "stable", 4, None);
    for m in [&m5, &m4] {
        let r = d.verify(m, &[]);
        assert_eq!(code(&r), 8, "{}", text(&r));
        assert!(text(&r).contains("is not greater than the installed 5"));
        assert_eq!(code(&d.install(m, &[])), 8);
    }
    let m6 = d.seal("s6", "stable", 6, None);
    let r = ok(d.verify(&m6, &[]));
    assert!(text(&r).contains("policy: accepted"), "{}", text(&r));
    ok(d.install(&m6, &[]));

    // Another channel needs an explicit switch, which is recorded.
    let beta = d.seal("b1", "beta", 1, None);
    let r = d.install(&beta, &[]);
    assert_eq!(code(&r), 8);
    assert!(text(&r).contains("device follows `stable`"), "{}", text(&r));
    ok(d.install(&beta, &["--switch-channel", "beta"]));
    let s = d.state_json();
    assert_eq!(s["apps"]["com.example.fw"]["channel"], "beta");
    assert_eq!(
        s["apps"]["com.example.fw"]["channels"]["stable"]["sequence"],
        6
    );
}

#[test]
fn state_changes_only_after_a_fully_verified_open() {
    let d = Device::new();
    let st = d.state.to_str().unwrap();
    ok(run(["state", "init", st]));
    let m1 = d.seal("s1", "stable", 1, None);
    let before = std::fs::read(&d.state).unwrap();
    // Wrong device key: policy accepts, open fails, state untouched.
    let r = run([
        "install-check",
        &m1,
        "--payload",
        &m1.replace(".manifest", ".payload"),
        "--trust",
        &d.p("sign.pub"),
        "--device-key",
        &d.p("other.key"),
        "--out",
        &d.p("installed.bin"),
        "--state",
        st,
        "--app",
        "com.example.fw",
        "--switch-channel",
        "stable",
    ]);
    assert_eq!(code(&r), 5, "{}", text(&r));
    assert_eq!(std::fs::read(&d.state).unwrap(), before);
    // A corrupted payload: verification fails, state untouched, no output.
    let payload = m1.replace(".manifest", ".payload");
    let mut bytes = std::fs::read(&payload).unwrap();
    bytes[66_000] ^= 1;
    std::fs::write(&payload, &bytes).unwrap();
    let r = d.install(&m1, &["--switch-channel", "stable"]);
    assert_eq!(code(&r), 3, "{}", text(&r));
    assert_eq!(std::fs::read(&d.state).unwrap(), before);
    assert!(!Path::new(&d.p("installed.bin")).exists());
}

#[test]
fn corrupt_state_is_an_error_not_a_reset() {
    let d = Device::new();
    let st = d.state.to_str().unwrap();
    ok(run(["state", "init", st]));
    let m1 = d.seal("s1", "stable", 1, None);
    ok(d.install(&m1, &["--switch-channel", "stable"]));
    let mut bytes = std::fs::read(&d.state).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x10;
    std::fs::write(&d.state, &bytes).unwrap();
    let r = d.verify(&d.seal("s2", "stable", 2, None), &[]);
    assert_eq!(code(&r), 4, "{}", text(&r));
    assert!(
        text(&r).contains("corrupt device state file"),
        "{}",
        text(&r)
    );
    assert!(text(&r).contains("never reset automatically"));
    assert_eq!(std::fs::read(&d.state).unwrap(), bytes, "left as it was");
}

#[test]
fn expired_manifests_are_refused() {
    let d = Device::new();
    ok(run(["state", "init", d.state.to_str().unwrap()]));
    let m = d.seal("e1", "stable", 1, Some(3600));
    ok(d.verify(&m, &["--switch-channel", "stable"]));
    let later = (otaseal::clock::Clock::System.now() + 3601).to_string();
    let r = d.verify(&m, &["--switch-channel", "stable", "--now", &later]);
    assert_eq!(code(&r), 8, "{}", text(&r));
    assert!(text(&r).contains("expired"));
    let no_expiry = d.seal("e2", "stable", 2, None);
    let r = d.verify(
        &no_expiry,
        &["--switch-channel", "stable", "--require-expiry"],
    );
    assert_eq!(code(&r), 8);
    assert!(text(&r).contains("no expiry"));
}

/// Issue 9 item 1: a device running two applications is told which one an
/// install is for; a validly signed bundle of the other is refused (exit 8),
/// also with a channel switch, and `--state` without `--app` is a usage error.
#[test]
fn a_bundle_for_another_app_is_refused() {
    let d = Device::new();
    ok(run(["state", "init", d.state.to_str().unwrap()]));
    ok(d.install(
        &d.seal("fw1", "stable", 1, None),
        &["--switch-channel", "stable"],
    ));
    let maps = d.seal_app("maps1", "com.example.maps", "stable", 1, None);
    let maps_install = |extra: &[&str]| {
        let payload = maps.replace(".manifest", ".payload");
        let mut args = vec![
            "install-check",
            &maps,
            "--payload",
            &payload,
            "--trust",
            "",
            "--device-key",
            "",
            "--out",
            "",
            "--state",
            d.state.to_str().unwrap(),
            "--switch-channel",
            "stable",
        ];
        let (trust, key, out) = (d.p("sign.pub"), d.p("device.key"), d.p("installed.bin"));
        args[5] = &trust;
        args[7] = &key;
        args[9] = &out;
        args.extend_from_slice(extra);
        run(&args)
    };
    ok(maps_install(&["--app", "com.example.maps"]));
    let before = std::fs::read(&d.state).unwrap();
    // The firmware install step is offered the maps bundle.
    let newer_maps = d.seal_app("maps2", "com.example.maps", "stable", 2, None);
    for r in [
        d.install(&newer_maps, &[]),
        d.install(&newer_maps, &["--switch-channel", "stable"]),
        d.verify(&newer_maps, &[]),
    ] {
        assert_eq!(code(&r), 8, "{}", text(&r));
        assert!(
            text(&r).contains("is for application `com.example.maps`"),
            "{}",
            text(&r)
        );
    }
    assert_eq!(std::fs::read(&d.state).unwrap(), before);
    // Without state, --app is still checked.
    let r = run([
        "verify",
        &newer_maps,
        "--trust",
        &d.p("sign.pub"),
        "--app",
        "com.example.fw",
    ]);
    assert_eq!(code(&r), 8, "{}", text(&r));
    // --state without --app does not guess.
    let r = maps_install(&[]);
    assert_eq!(code(&r), 2, "{}", text(&r));
    assert!(text(&r).contains("--app"), "{}", text(&r));
}

/// Issue 9 item 18: an expired manifest is refused by every verifying
/// command with the local clock, with or without a device state (exit 8),
/// before anything is decrypted or downloaded; `--ignore-expiry` lets
/// `verify` and `open` inspect it.
#[test]
fn expiry_is_checked_without_state_too() {
    let d = Device::new();
    let m = d.seal("e1", "stable", 1, Some(3600));
    let payload = m.replace(".manifest", ".payload");
    let later = (otaseal::clock::Clock::System.now() + 3601).to_string();
    let (trust, key, out) = (d.p("sign.pub"), d.p("device.key"), d.p("opened.bin"));
    let verify = [
        "verify",
        &m,
        "--trust",
        &trust,
        "--payload",
        &payload,
        "--now",
        &later,
    ];
    let open = [
        "open",
        &m,
        "--payload",
        &payload,
        "--trust",
        &trust,
        "--device-key",
        &key,
        "--out",
        &out,
        "--now",
        &later,
    ];
    let fetch = [
        "fetch",
        "--manifest",
        &m,
        "--payload",
        "http://127.0.0.1:9/never",
        "--trust",
        &trust,
        "--out",
        &out,
        "--now",
        &later,
    ];
    for cmd in [&verify[..], &open[..], &fetch[..]] {
        let r = run(cmd);
        assert_eq!(code(&r), 8, "{cmd:?}: {}", text(&r));
        assert!(text(&r).contains("expired"), "{}", text(&r));
        assert!(!Path::new(&out).exists());
    }
    // The same manifest before its expiry, and for forensics after it.
    ok(run(&verify[..6]));
    let mut forensic = verify.to_vec();
    forensic.push("--ignore-expiry");
    ok(run(&forensic));
    let mut forensic = open.to_vec();
    forensic.push("--ignore-expiry");
    ok(run(&forensic));
    assert_eq!(std::fs::read(&out).unwrap(), vec![7u8; 70_000]);
    // Skipping the check is not a device install option.
    ok(run(["state", "init", d.state.to_str().unwrap()]));
    let r = d.install(&m, &["--switch-channel", "stable", "--ignore-expiry"]);
    assert_eq!(code(&r), 2, "{}", text(&r));
}

#[test]
fn rollback_needs_an_authorisation_from_the_rollback_key() {
    let d = Device::new();
    ok(run(["state", "init", d.state.to_str().unwrap()]));
    let m3 = d.seal("s3", "stable", 3, None);
    let m5 = d.seal("s5", "stable", 5, None);
    ok(d.install(&m5, &["--switch-channel", "stable"]));
    assert_eq!(code(&d.install(&m3, &[])), 8);

    let auth = d.p("rollback.auth");
    ok(run([
        "authorize-rollback",
        "--manifest",
        &m3,
        "--key",
        &d.p("rollback.key"),
        "--expires-in",
        "600",
        "--out",
        &auth,
    ]));
    // Signed by a key the device does not trust for rollbacks.
    let r = d.install(
        &m3,
        &["--rollback", &auth, "--rollback-key", &d.p("sign.pub")],
    );
    assert_eq!(code(&r), 3, "{}", text(&r));
    // For another bundle at a different sequence.
    let m4 = d.seal("s4", "stable", 4, None);
    let r = d.install(
        &m4,
        &["--rollback", &auth, "--rollback-key", &d.p("rollback.pub")],
    );
    assert_eq!(code(&r), 8);
    assert!(text(&r).contains("target sequence differs"), "{}", text(&r));
    // After its expiry.
    let late = (otaseal::clock::Clock::System.now() + 601).to_string();
    let r = d.install(
        &m3,
        &[
            "--rollback",
            &auth,
            "--rollback-key",
            &d.p("rollback.pub"),
            "--now",
            &late,
        ],
    );
    assert_eq!(code(&r), 8);
    // The right one works, once.
    let r = ok(d.install(
        &m3,
        &["--rollback", &auth, "--rollback-key", &d.p("rollback.pub")],
    ));
    assert!(
        text(&r).contains("authorised rollback from sequence 5"),
        "{}",
        text(&r)
    );
    assert_eq!(
        d.state_json()["apps"]["com.example.fw"]["channels"]["stable"]["sequence"],
        3
    );
    ok(d.install(&m5, &[]));
    let r = d.install(
        &m3,
        &["--rollback", &auth, "--rollback-key", &d.p("rollback.pub")],
    );
    assert_eq!(code(&r), 8);
    assert!(text(&r).contains("cannot be reused"), "{}", text(&r));
}

#[test]
fn pinned_state_refuses_other_trust_anchors() {
    let d = Device::new();
    let st = d.state.to_str().unwrap();
    ok(run([
        "state",
        "init",
        st,
        "--pin-trust",
        &d.p("rollback.pub"),
    ]));
    let m = d.seal("p1", "stable", 1, None);
    let r = d.verify(&m, &["--switch-channel", "stable"]);
    assert_eq!(code(&r), 8, "{}", text(&r));
    assert!(text(&r).contains("not the one this state is pinned to"));
}

/// With a certificate chain to a pinned root (`--root`), the state pins the
/// root's key id, and install-check applies the same policy.
#[test]
fn install_check_with_a_root_of_trust() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let run_in = |args: &[&str]| {
        otaseal(args)
            .current_dir(dir)
            .env("OTASEAL_PASSPHRASE", "device tests")
            .output()
    };
    std::fs::write(dir.join("fw.bin"), vec![3u8; 5000]).unwrap();
    ok(run_in(&[
        "root",
        "init",
        "--out",
        "root",
        "--audit-log",
        "audit.log",
    ]));
    ok(run_in(&[
        "root",
        "init",
        "--out",
        "other-root",
        "--audit-log",
        "audit.log",
    ]));
    ok(run_in(&["keygen", "device", "--out", "dev"]));
    ok(run_in(&[
        "keys",
        "rotate",
        "--root-key",
        "root.key",
        "--out",
        "rel",
        "--channel",
        "stable",
        "--valid-for",
        "90d",
        "--audit-log",
        "audit.log",
    ]));
    for seq in ["1", "2"] {
        ok(run_in(&[
            "seal",
            "fw.bin",
            "--signing-key",
            "rel.key",
            "--cert",
            "rel.cert",
            "--recipient",
            "dev.pub",
            "--app",
            "com.example.fw",
            "--version",
            "1.0",
            "--sequence",
            seq,
            "--out-dir",
            &format!("s{seq}"),
            "--audit-log",
            "audit.log",
        ]));
    }
    let install = |state: &str, manifest: &str, extra: &[&str]| {
        let mut args = vec![
            "install-check",
            manifest,
            "--payload",
            "",
            "--root",
            "root.pub",
            "--device-key",
            "dev.key",
            "--out",
            "installed.bin",
            "--state",
            state,
            "--app",
            "com.example.fw",
        ];
        let payload = manifest.replace(".manifest", ".payload");
        args[3] = &payload;
        args.extend_from_slice(extra);
        run_in(&args)
    };
    ok(run_in(&[
        "state",
        "init",
        "pinned.state",
        "--pin-trust",
        "root.pub",
    ]));
    ok(run_in(&[
        "state",
        "init",
        "wrong.state",
        "--pin-trust",
        "other-root.pub",
    ]));
    let r = ok(install(
        "pinned.state",
        "s2/fw.bin.manifest",
        &["--switch-channel", "stable"],
    ));
    assert!(text(&r).contains("first install"), "{}", text(&r));
    assert_eq!(
        std::fs::read(dir.join("installed.bin")).unwrap(),
        vec![3u8; 5000]
    );
    let r = install("pinned.state", "s1/fw.bin.manifest", &[]);
    assert_eq!(code(&r), 8, "{}", text(&r));
    let r = install(
        "wrong.state",
        "s2/fw.bin.manifest",
        &["--switch-channel", "stable"],
    );
    assert_eq!(code(&r), 8, "{}", text(&r));
    assert!(text(&r).contains("pinned to"), "{}", text(&r));

    // The revocation floor: an install records the sequence of the list it
    // was checked against; a later install with an older list, or none
    // (a restored older trust state), is refused.
    ok(run_in(&[
        "revoke",
        "--root-key",
        "root.key",
        "--list",
        "list.rvkl",
        "--serial",
        "99",
        "--audit-log",
        "audit.log",
    ]));
    ok(run_in(&["state", "init", "floor.state"]));
    let with_list = ["--revocations", "list.rvkl"];
    ok(install(
        "floor.state",
        "s1/fw.bin.manifest",
        &["--switch-channel", "stable", with_list[0], with_list[1]],
    ));
    let r = install("floor.state", "s2/fw.bin.manifest", &[]);
    assert_eq!(code(&r), 8, "{}", text(&r));
    assert!(
        text(&r).contains("revocation list sequence 0 is older than the 1 already seen"),
        "{}",
        text(&r)
    );
    ok(install("floor.state", "s2/fw.bin.manifest", &with_list));
}
