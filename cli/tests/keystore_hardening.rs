//! Key handling through the `otaseal` binary, against what an attack suite
//! found: unlock failures with `--audit-log` went unrecorded, secret keys
//! were accepted on the command line, a keystore could demand 1 GiB of
//! Argon2 before "wrong passphrase", key and passphrase files were read
//! without bound, and a zero in the alert rules panicked.

use crate::common::cmd::{code, json, ok, otaseal, run_in, stderr};
use crate::common::seal_args;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const PASS: &str = "correct horse battery staple";

/// A directory with a device key pair and a bundle to seal.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(run_in(
        dir.path(),
        ["keygen", "device", "--out", "device", "--unencrypted"],
        &[],
    ));
    std::fs::write(dir.path().join("bundle.bin"), b"firmware image bytes").unwrap();
    dir
}

/// Item 8: three wrong passphrases must leave three failed `unlock` entries,
/// a medium alert and a suspension, whether the log is named by
/// `--audit-log` or by `$OTASEAL_AUDIT_LOG`.
#[test]
fn failed_unlocks_are_logged_with_the_flag_as_with_the_env_var() {
    for via_flag in [true, false] {
        let dir = workdir();
        let d = dir.path();
        std::fs::write(d.join("pass.txt"), PASS).unwrap();
        std::fs::write(d.join("wrong.txt"), "not the passphrase").unwrap();
        let generated = ok(run_in(
            d,
            [
                "keys",
                "generate",
                "--kind",
                "release",
                "--out",
                "release",
                "--passphrase-file",
                "pass.txt",
                "--json",
            ],
            &[],
        ));
        let key_id = json(&generated)["key_id"].as_str().unwrap().to_owned();
        let log = d.join("audit.log");
        let log_s = log.to_str().unwrap();
        let (flag, env): (Vec<&str>, Vec<(&str, &str)>) = if via_flag {
            (vec!["--audit-log", log_s], vec![])
        } else {
            (vec![], vec![("OTASEAL_AUDIT_LOG", log_s)])
        };
        let mode = if via_flag { "--audit-log" } else { "env" };
        for _ in 0..3 {
            let mut extra = vec!["--passphrase-file", "wrong.txt"];
            extra.extend(&flag);
            let o = run_in(d, seal_args("release.key", "out", &extra), &env);
            assert_eq!(code(&o), 7, "{mode}: {}", stderr(&o));
        }
        let text = std::fs::read_to_string(&log)
            .unwrap_or_else(|e| panic!("{mode}: no audit log written: {e}"));
        let failed: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|e: &Value| e["op"] == "unlock" && e["outcome"] == "failed")
            .collect();
        assert_eq!(failed.len(), 3, "{mode}: {text}");
        assert!(failed.iter().all(|e| e["key"] == key_id.as_str()), "{text}");

        let alerts = run_in(d, ["audit", "alerts", log_s, "--json"], &[]);
        assert_eq!(code(&alerts), 31, "{mode}: {}", stderr(&alerts));
        assert_eq!(json(&alerts)["suspended"][0], key_id.as_str(), "{mode}");
        // The suspension is enforced: the right passphrase no longer signs.
        let mut extra = vec!["--passphrase-file", "pass.txt"];
        extra.extend(&flag);
        let o = run_in(d, seal_args("release.key", "out", &extra), &env);
        assert_eq!(code(&o), 23, "{mode}: {}", stderr(&o));
    }
}

/// A plain (unencrypted) signing key: its key line and the file holding it.
fn plain_signing_key(d: &Path) -> String {
    ok(run_in(
        d,
        ["keygen", "signing", "--out", "sign", "--unencrypted"],
        &[],
    ));
    let text = std::fs::read_to_string(d.join("sign.key")).unwrap();
    text.lines()
        .find(|l| l.starts_with("otaseal1:"))
        .unwrap()
        .to_owned()
}

/// Item 17: secret key text on the command line is refused (usage error,
/// the secret not repeated); the environment and standard input work.
#[test]
fn secret_keys_are_refused_inline_and_taken_from_env_or_stdin() {
    let dir = workdir();
    let d = dir.path();
    let line = plain_signing_key(d);
    let secret_hex = line.rsplit(':').next().unwrap().to_owned();

    let o = run_in(d, seal_args(&line, "out", &[]), &[]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(!err.contains(&secret_hex), "the secret was echoed: {err}");
    assert!(err.contains("env:") && err.contains('-'), "{err}");
    assert!(!d.join("out/bundle.bin.manifest").exists());

    // The same for other options that take secret keys, e.g. a device key.
    let device_line = std::fs::read_to_string(d.join("device.key")).unwrap();
    let device_line = device_line
        .lines()
        .find(|l| l.starts_with("otaseal1:"))
        .unwrap();
    let o = run_in(
        d,
        [
            "open",
            "x.manifest",
            "--payload",
            "x.payload",
            "--trust",
            "sign.pub",
            "--device-key",
            device_line,
            "-o",
            "x",
        ],
        &[],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(!stderr(&o).contains(device_line.rsplit(':').next().unwrap()));

    // From an environment variable...
    ok(run_in(
        d,
        seal_args("env:SIGNING_KEY", "out-env", &[]),
        &[("SIGNING_KEY", &line)],
    ));
    let unset = run_in(d, seal_args("env:NO_SUCH_VARIABLE", "out-x", &[]), &[]);
    assert_eq!(code(&unset), 2, "{}", stderr(&unset));
    // ... or standard input.
    ok(otaseal(seal_args("-", "out-stdin", &[]))
        .current_dir(d)
        .stdin(format!("{line}\n").as_bytes())
        .output());
    for out in ["out-env", "out-stdin"] {
        ok(run_in(
            d,
            [
                "verify",
                &format!("{out}/bundle.bin.manifest"),
                "--trust",
                "sign.pub",
            ],
            &[],
        ));
    }
    // Public keys inline stay allowed.
    let public = std::fs::read_to_string(d.join("sign.pub")).unwrap();
    let public = public.lines().find(|l| l.starts_with("otaseal1:")).unwrap();
    ok(run_in(
        d,
        ["verify", "out-env/bundle.bin.manifest", "--trust", public],
        &[],
    ));
}

/// Item 12: `/dev/zero` as a key file or a passphrase file is refused at
/// once, not read until memory runs out.
#[test]
fn endless_key_and_passphrase_files_are_refused_quickly() {
    let dir = workdir();
    let d = dir.path();
    plain_signing_key(d);
    std::fs::write(d.join("pass.txt"), PASS).unwrap();
    ok(run_in(
        d,
        [
            "keys",
            "generate",
            "--kind",
            "release",
            "--out",
            "release",
            "--passphrase-file",
            "pass.txt",
        ],
        &[],
    ));
    for (what, key, extra) in [
        ("key file", "/dev/zero", vec![]),
        (
            "passphrase file",
            "release.key",
            vec!["--passphrase-file", "/dev/zero"],
        ),
    ] {
        let start = Instant::now();
        let o = run_in(d, seal_args(key, "out", &extra), &[]);
        assert_eq!(code(&o), 4, "{what}: {}", stderr(&o));
        assert!(stderr(&o).contains("limit"), "{what}: {}", stderr(&o));
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what}: took {:?}",
            start.elapsed()
        );
    }
    // `keys list DIR` still skips files too large to be keys, as it skips
    // other files that are not keys; named explicitly, one is an error.
    std::fs::write(d.join("big.bin"), vec![0u8; 1 << 20]).unwrap();
    let list = ok(run_in(d, ["keys", "list", ".", "--json"], &[]));
    assert!(json(&list)["errors"].as_array().unwrap().is_empty());
    let o = run_in(d, ["keys", "list", "big.bin"], &[]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    // A key from standard input is capped the same way.
    let o = otaseal(seal_args("-", "out", &[]))
        .current_dir(d)
        .stdin(vec![b'#'; 1 << 20])
        .output();
    assert_eq!(code(&o), 4, "stdin: {}", stderr(&o));
}

/// Item 11: a keystore asking for the format's maximum Argon2 cost (1 GiB,
/// 10 passes) is refused before any Argon2 work, with exit 5 and a message
/// saying how to raise the limit.
#[test]
fn costly_argon2_parameters_are_refused_before_unlocking() {
    let dir = workdir();
    let d = dir.path();
    std::fs::write(d.join("pass.txt"), PASS).unwrap();
    ok(run_in(
        d,
        [
            "keys",
            "generate",
            "--kind",
            "release",
            "--out",
            "release",
            "--passphrase-file",
            "pass.txt",
        ],
        &[],
    ));
    let mut bytes = std::fs::read(d.join("release.key")).unwrap();
    bytes[11..15].copy_from_slice(&(1u32 << 20).to_be_bytes()); // 1 GiB
    bytes[15..19].copy_from_slice(&10u32.to_be_bytes()); // 10 passes
    std::fs::write(d.join("release.key"), &bytes).unwrap();
    let start = Instant::now();
    let o = run_in(
        d,
        seal_args("release.key", "out", &["--passphrase-file", "pass.txt"]),
        &[],
    );
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--max-kdf-memory") && stderr(&o).contains("OTASEAL_MAX_KDF_MEMORY"),
        "{}",
        stderr(&o)
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "Argon2 ran: {:?}",
        start.elapsed()
    );
    // Listing still shows it (no unlock, no limit).
    ok(run_in(d, ["keys", "list", "release.key"], &[]));
}

/// Item 13: alert rules that would divide by an empty history are refused
/// with a usage error, not a panic.
#[test]
fn alert_rules_with_zero_history_days_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("audit.log"), b"").unwrap();
    std::fs::write(d.join("rules.json"), br#"{"volume_min_history_days": 0}"#).unwrap();
    let o = run_in(
        d,
        ["audit", "alerts", "audit.log", "--rules", "rules.json"],
        &[],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("volume_min_history_days"),
        "{}",
        stderr(&o)
    );
}

/// Item 20: weak public keys are refused when loaded (exit 5), and key text
/// is read as FORMAT.md §3.3 specifies (exit 4 otherwise).
#[test]
fn weak_public_keys_and_loose_key_text_are_refused_at_load() {
    let dir = workdir();
    let d = dir.path();
    plain_signing_key(d);
    let mut identity = "01".to_owned();
    identity.push_str(&"00".repeat(31));
    let zero = "00".repeat(32);
    for (what, args) in [
        (
            "ed25519 identity as --trust",
            vec![
                "verify".to_owned(),
                "x.manifest".to_owned(),
                "--trust".to_owned(),
                format!("otaseal1:ed25519-public:{identity}"),
            ],
        ),
        (
            "all-zero x25519 as --recipient",
            seal_args("sign.key", "out", &[])
                .iter()
                .map(|a| a.replace("device.pub", &format!("otaseal1:x25519-public:{zero}")))
                .collect(),
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run_in(d, &args, &[]);
        assert_eq!(code(&o), 5, "{what}: {}", stderr(&o));
        assert!(stderr(&o).contains("small order"), "{what}: {}", stderr(&o));
    }
    // The device public key file with uppercase hex, or a trailing comment.
    let text = std::fs::read_to_string(d.join("device.pub")).unwrap();
    let line = text.lines().find(|l| l.starts_with("otaseal1:")).unwrap();
    let (head, hex) = line.rsplit_once(':').unwrap();
    for (what, bad) in [
        ("uppercase hex", format!("{head}:{}\n", hex.to_uppercase())),
        ("trailing comment", format!("{line}\n# added later\n")),
    ] {
        std::fs::write(d.join("bad.pub"), bad).unwrap();
        let args: Vec<&str> = seal_args("sign.key", "out", &[])
            .into_iter()
            .map(|a| if a == "device.pub" { "bad.pub" } else { a })
            .collect();
        let o = run_in(d, &args, &[]);
        assert_eq!(code(&o), 4, "{what}: {}", stderr(&o));
    }
    // CRLF line ends are accepted.
    std::fs::write(d.join("crlf.pub"), text.replace('\n', "\r\n")).unwrap();
    ok(run_in(d, ["keys", "list", "crlf.pub"], &[]));
}
