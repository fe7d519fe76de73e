//! The encrypted keystore through the `otaseal` binary: generate, list,
//! seal/open with encrypted keys, change passphrase, and the bad inputs
//! (wrong passphrase, corrupted file, world-readable file, hostile Argon2
//! parameters), each with its own error and exit code.

use crate::common::cmd::{code, json, ok, run_in, stderr};
use crate::common::seal_args;
use std::path::{Path, PathBuf};
use std::process::Output;

const PASS: &str = "correct horse battery staple";

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

struct Setup {
    dir: tempfile::TempDir,
    release_id: String,
}

impl Setup {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Seals `input` with `key`; returns the output.
    fn seal(&self, key: &str, out: &str, env: &[(&str, &str)], extra: &[&str]) -> Output {
        run_in(self.dir.path(), seal_args(key, out, extra), env)
    }
}

/// An encrypted release key (passphrase from the environment), an
/// encrypted device key (passphrase from a file), and a bundle.
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let gen_out = ok(run_in(
        d,
        [
            "keys", "generate", "--kind", "release", "--out", "release", "--json",
        ],
        &[("OTASEAL_PASSPHRASE", PASS)],
    ));
    let release_id = json(&gen_out)["key_id"].as_str().unwrap().to_owned();
    std::fs::write(d.join("pass.txt"), format!("{PASS}\n")).unwrap();
    ok(run_in(
        d,
        [
            "keygen",
            "device",
            "--out",
            "device",
            "--passphrase-file",
            "pass.txt",
        ],
        &[],
    ));
    std::fs::write(d.join("bundle.bin"), b"firmware image bytes").unwrap();
    Setup { dir, release_id }
}

#[test]
fn encrypted_keys_seal_verify_open_and_list() {
    let s = setup();
    let d = s.dir.path();
    for f in ["release.key", "device.key"] {
        assert_eq!(mode(&s.path(f)), 0o600, "{f}");
        let bytes = std::fs::read(s.path(f)).unwrap();
        assert_eq!(&bytes[..8], b"OTASSKEY", "{f} is not an encrypted key file");
    }
    assert_eq!(mode(&s.path("release.pub")), 0o644);

    // Listing needs no passphrase and shows kind, algorithm, id, protection.
    let list = json(&ok(run_in(d, ["keys", "list", ".", "--json"], &[])));
    let keys = list["keys"].as_array().unwrap();
    let find = |name: &str| {
        keys.iter()
            .find(|k| k["path"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} not listed: {list}"))
    };
    let rel = find("release.key");
    assert_eq!(rel["kind"], "release");
    assert_eq!(rel["alg"], "ed25519");
    assert_eq!(rel["encrypted"], true);
    assert_eq!(rel["key_id"], s.release_id.as_str());
    assert_eq!(rel["kdf"]["m_cost_kib"], 65536);
    assert_eq!(find("release.pub")["key_id"], s.release_id.as_str());
    assert_eq!(find("device.key")["kind"], "device");
    assert_eq!(find("device.key")["alg"], "x25519");
    // bundle.bin and pass.txt are not keys and are skipped.
    assert_eq!(keys.len(), 4, "{list}");
    let table =
        String::from_utf8(ok(run_in(d, ["keys", "list", "release.key"], &[])).stdout).unwrap();
    assert!(
        table.contains(&s.release_id) && table.contains("release"),
        "{table}"
    );

    // Seal with the encrypted key: passphrase from the environment, or a file.
    ok(s.seal("release.key", "out", &[("OTASEAL_PASSPHRASE", PASS)], &[]));
    ok(s.seal(
        "release.key",
        "out2",
        &[],
        &["--passphrase-file", "pass.txt"],
    ));
    // The public half of an encrypted key is readable without a passphrase.
    for trust in ["release.pub", "release.key"] {
        ok(run_in(
            d,
            ["verify", "out/bundle.bin.manifest", "--trust", trust],
            &[],
        ));
    }
    ok(run_in(
        d,
        [
            "open",
            "out/bundle.bin.manifest",
            "--payload",
            "out/bundle.bin.payload",
            "--trust",
            "release.pub",
            "--device-key",
            "device.key",
            "--passphrase-file",
            "pass.txt",
            "-o",
            "plain.bin",
        ],
        &[],
    ));
    assert_eq!(
        std::fs::read(s.path("plain.bin")).unwrap(),
        b"firmware image bytes"
    );
}

#[test]
fn wrong_or_missing_passphrase() {
    let s = setup();
    let wrong = s.seal(
        "release.key",
        "out",
        &[("OTASEAL_PASSPHRASE", "Correct horse battery staple")],
        &[],
    );
    assert_eq!(code(&wrong), 7, "{}", stderr(&wrong));
    assert!(
        stderr(&wrong).contains("wrong passphrase"),
        "{}",
        stderr(&wrong)
    );
    assert!(!stderr(&wrong).contains("panicked"));
    assert!(!s.path("out/bundle.bin.manifest").exists());

    // No environment, no file, no terminal: a usage error, not a hang.
    let none = s.seal("release.key", "out", &[], &[]);
    assert_eq!(code(&none), 2, "{}", stderr(&none));
    assert!(
        stderr(&none).contains("no passphrase available"),
        "{}",
        stderr(&none)
    );

    let missing = s.seal(
        "release.key",
        "out",
        &[],
        &["--passphrase-file", "nope.txt"],
    );
    assert_eq!(code(&missing), 6, "{}", stderr(&missing));
}

#[test]
fn world_or_group_readable_keys_are_refused() {
    let s = setup();
    for m in [0o644, 0o640, 0o604] {
        chmod(&s.path("release.key"), m);
        let o = s.seal("release.key", "out", &[("OTASEAL_PASSPHRASE", PASS)], &[]);
        assert_eq!(code(&o), 5, "mode {m:o}: {}", stderr(&o));
        assert!(stderr(&o).contains("readable by others"), "{}", stderr(&o));
    }
    // `keys list` reports the unsafe file too, naming it.
    let list = run_in(s.dir.path(), ["keys", "list", "release.key"], &[]);
    assert_eq!(code(&list), 5);
    chmod(&s.path("release.key"), 0o600);
    ok(s.seal("release.key", "out", &[("OTASEAL_PASSPHRASE", PASS)], &[]));
}

#[test]
fn corrupted_keystore_files_are_rejected() {
    let s = setup();
    let good = std::fs::read(s.path("release.key")).unwrap();
    let env = [("OTASEAL_PASSPHRASE", PASS)];
    let check_any = |name: &str, bytes: Vec<u8>, want: &[i32]| {
        std::fs::write(s.path("release.key"), &bytes).unwrap();
        let o = s.seal("release.key", "out", &env, &[]);
        assert!(want.contains(&code(&o)), "{name}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{name}");
    };
    let check = |name: &str, bytes: Vec<u8>, want: i32| check_any(name, bytes, &[want]);
    // The header is parsed first (exit 4, malformed); the header is also the
    // AEAD's associated data, so an edit that still parses fails the tag
    // (exit 7). The library test flips every bit; here, one of each kind.
    let flip = |at: usize| {
        let mut b = good.clone();
        b[at] ^= 0x01;
        b
    };
    check("magic", flip(0), 4);
    check("kind", flip(5), 4);
    check("version", flip(9), 4);
    check("kdf", flip(10), 4);
    check("aead", flip(36), 4);
    check("salt", flip(25), 7);
    check("nonce", flip(40), 7);
    check("role", flip(51), 4);
    // The key is random: the flipped public key is either another valid key
    // (the tag fails, 7) or not a valid one (refused at load, 5).
    check_any("public key", flip(60), &[5, 7]);
    check("ciphertext", flip(90), 7);
    check("tag", flip(good.len() - 1), 7);
    for len in [0, 7, 20, 52, 84, good.len() - 1] {
        check("truncated", good[..len].to_vec(), 4);
    }
    check("extended", [&good[..], b"\0"].concat(), 4);
    check("text garbage", b"not a key\n".to_vec(), 4);
    check("binary garbage", vec![0xff; 40], 4);
}

#[test]
fn hostile_argon2_parameters_are_refused_before_any_work() {
    let s = setup();
    let good = std::fs::read(s.path("release.key")).unwrap();
    for (name, at, value) in [
        ("4 GiB memory", 11, u32::MAX.to_be_bytes().to_vec()),
        ("2 GiB memory", 11, (2u32 << 20).to_be_bytes().to_vec()),
        ("2^32-1 passes", 15, u32::MAX.to_be_bytes().to_vec()),
        ("0 passes", 15, 0u32.to_be_bytes().to_vec()),
        ("255 lanes", 19, vec![255]),
    ] {
        let mut bad = good.clone();
        bad[at..at + value.len()].copy_from_slice(&value);
        std::fs::write(s.path("release.key"), &bad).unwrap();
        let start = std::time::Instant::now();
        let o = s.seal("release.key", "out", &[("OTASEAL_PASSPHRASE", PASS)], &[]);
        assert_eq!(code(&o), 4, "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains("argon2_"), "{name}: {}", stderr(&o));
        assert!(
            start.elapsed().as_secs() < 5,
            "{name}: the parameters were used"
        );
        // Listing refuses it as well.
        let l = run_in(s.dir.path(), ["keys", "list", "release.key"], &[]);
        assert_eq!(code(&l), 4, "{name}");
    }
}

#[test]
fn change_passphrase_and_encrypt_a_plain_key() {
    let s = setup();
    let d = s.dir.path();
    ok(run_in(
        d,
        ["keys", "change-passphrase", "release.key"],
        &[
            ("OTASEAL_PASSPHRASE", PASS),
            ("OTASEAL_NEW_PASSPHRASE", "new one"),
        ],
    ));
    assert_eq!(mode(&s.path("release.key")), 0o600);
    let old = s.seal("release.key", "out", &[("OTASEAL_PASSPHRASE", PASS)], &[]);
    assert_eq!(code(&old), 7);
    ok(s.seal(
        "release.key",
        "out",
        &[("OTASEAL_PASSPHRASE", "new one")],
        &[],
    ));
    // The wrong old passphrase leaves the file as it was.
    let before = std::fs::read(s.path("release.key")).unwrap();
    let o = run_in(
        d,
        ["keys", "change-passphrase", "release.key"],
        &[
            ("OTASEAL_PASSPHRASE", "wrong"),
            ("OTASEAL_NEW_PASSPHRASE", "x"),
        ],
    );
    assert_eq!(code(&o), 7);
    assert_eq!(std::fs::read(s.path("release.key")).unwrap(), before);

    // `--unencrypted` writes a key line; change-passphrase encrypts it.
    let plain = json(&ok(run_in(
        d,
        [
            "keys",
            "generate",
            "--kind",
            "root",
            "--out",
            "root",
            "--unencrypted",
            "--json",
        ],
        &[],
    )));
    assert_eq!(plain["protection"], "none");
    let text = std::fs::read_to_string(s.path("root.key")).unwrap();
    assert!(text.contains("otaseal1:ed25519-secret:"), "{text}");
    assert!(text.contains("UNENCRYPTED"));
    ok(run_in(
        d,
        ["keys", "change-passphrase", "root.key", "--kind", "root"],
        &[("OTASEAL_NEW_PASSPHRASE", "root pass")],
    ));
    let list = json(&ok(run_in(d, ["keys", "list", "root.key", "--json"], &[])));
    assert_eq!(list["keys"][0]["kind"], "root");
    assert_eq!(list["keys"][0]["encrypted"], true);
    assert_eq!(list["keys"][0]["key_id"], plain["key_id"]);
    // A root key certifies release keys; it does not sign manifests.
    let o = s.seal(
        "root.key",
        "out",
        &[("OTASEAL_PASSPHRASE", "root pass")],
        &[],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("is a root key"), "{}", stderr(&o));
}

#[test]
fn generate_refuses_bad_requests() {
    let s = setup();
    let d = s.dir.path();
    let env = [("OTASEAL_PASSPHRASE", PASS)];
    for args in [
        &[
            "keys", "generate", "--kind", "device", "--alg", "ed25519", "--out", "x",
        ][..],
        &[
            "keys", "generate", "--kind", "root", "--alg", "p256", "--out", "x",
        ],
        &[
            "keys",
            "generate",
            "--kind",
            "release",
            "--out",
            "x",
            "--unencrypted",
            "--passphrase-file",
            "pass.txt",
        ],
        // A passphrase is never a command-line value.
        &[
            "keys",
            "generate",
            "--kind",
            "release",
            "--out",
            "x",
            "--passphrase",
            "pw",
        ],
    ] {
        let o = run_in(d, args, &env);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
    }
    // Never overwrites an existing key.
    let o = run_in(
        d,
        ["keys", "generate", "--kind", "release", "--out", "release"],
        &env,
    );
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    // An empty passphrase is refused.
    let o = run_in(
        d,
        ["keys", "generate", "--kind", "release", "--out", "y"],
        &[("OTASEAL_PASSPHRASE", "")],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(!s.path("y.key").exists());
}
