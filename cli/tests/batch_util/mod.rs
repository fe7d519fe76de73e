//! Helpers for the `batch_*` CLI tests: keys, input trees, running the
//! binary and checking its outputs.
#![allow(dead_code)]

pub use crate::common::batch::content;
use crate::common::cmd::{self, Otaseal, otaseal};
use std::path::{Path, PathBuf};
use std::process::Output;

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    /// A temp dir with `sign.key`/`sign.pub` and `dev.key`/`dev.pub`.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (kind, name) in [("signing", "sign"), ("device", "dev")] {
            otaseal(["keygen", kind, "--unencrypted", "--out"])
                .arg(dir.path().join(name))
                .ok();
        }
        Self { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `files` (relative path, size) under `rel` with seeded content.
    pub fn inputs(&self, rel: &str, files: &[(&str, usize)]) -> PathBuf {
        let root = self.path(rel);
        for (i, (name, size)) in files.iter().enumerate() {
            let p = root.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, content(i as u64 + 1, *size)).unwrap();
        }
        root
    }

    /// `otaseal seal` with this env's keys and a fixed release.
    pub fn seal_cmd(&self, out: &Path) -> Otaseal {
        self.seal_cmd_with(out, "9", "16K")
    }

    /// `seal_cmd` with another release sequence and chunk size.
    pub fn seal_cmd_with(&self, out: &Path, sequence: &str, chunk_size: &str) -> Otaseal {
        let mut c = otaseal(["seal"]);
        c.arg("--signing-key")
            .arg(self.path("sign.key"))
            .arg("--recipient")
            .arg(self.path("dev.pub"))
            .args(["--app", "com.example.fleet", "--version", "2.0.0"])
            .args(["--sequence", sequence, "--chunk-size", chunk_size, "--json"])
            .arg("--out-dir")
            .arg(out);
        c
    }

    pub fn trust(&self) -> PathBuf {
        self.path("sign.pub")
    }
}

/// Runs `c`, whose stdout must be JSON (`--json`), whatever its exit code.
pub fn run(mut c: Otaseal) -> (Output, serde_json::Value) {
    let out = c.output();
    let json = cmd::json(&out);
    (out, json)
}

/// Checks that a sealed bundle's payload hashes to its manifest root, the
/// manifest verifies, and it opens to `plain`.
pub fn check_bundle(env: &Env, out: &Path, name: &str, plain: &[u8]) {
    let payload = out.join(format!("{name}.payload"));
    let manifest = out.join(format!("{name}.manifest"));
    let p = std::fs::read(&payload).unwrap();
    let m = std::fs::read(&manifest).unwrap();
    let trust = otaseal::open::TrustAnchor::SigningKey(
        match otaseal::keys::file::read_key_file(&env.trust()).unwrap() {
            otaseal::keys::file::AnyKey::SigningPublic(k) => k,
            _ => panic!("sign.pub is not a signing public key"),
        },
    );
    let vm = otaseal::open::verify_manifest(&m, &trust).unwrap();
    assert_eq!(vm.manifest().root, *blake3::hash(&p).as_bytes(), "{name}");
    let device = match otaseal::keys::file::read_key_file(&env.path("dev.key")).unwrap() {
        otaseal::keys::file::AnyKey::RecipientSecret(k) => k,
        _ => panic!("dev.key is not a device key"),
    };
    let opened = otaseal::open::open(&p, &m, &trust, &device).unwrap();
    assert!(opened == plain, "{name}: opened bytes differ");
}

/// Every file under `dir`, relative, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

pub fn index_verify(env: &Env, index: &Path) -> Output {
    otaseal(["index", "verify"])
        .arg(index)
        .arg("--trust")
        .arg(env.trust())
        .output()
}
