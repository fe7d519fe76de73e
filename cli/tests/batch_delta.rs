//! `otaseal seal --compress --delta-from`: a release with deltas from two
//! older releases (one given inline, one in a list file); the index lists the
//! full bundle and each delta; a device installs release 1, then the delta
//! 1 -> 2, then 2 -> 3 with `install-check --base`; a delta not below the
//! threshold is not kept; shards merge to the one-run index; `--resume`
//! re-creates exactly a deleted delta; the index stays version 1 without
//! deltas or compression.

use crate::batch_util::*;
use crate::common::cmd::{ok, otaseal, text};
use std::path::{Path, PathBuf};

/// `len` bytes of noise from `seed`.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    content(seed + 1000, len)
}

fn edit(old: &[u8], seed: u64) -> Vec<u8> {
    let mut new = old.to_vec();
    let n = new.len();
    for (i, b) in noise(seed, 64).into_iter().enumerate() {
        new[(i * 997 + seed as usize * 31) % n] = b;
    }
    new.splice(n / 2..n / 2, noise(seed + 100, 500));
    new
}

/// `r1`, `r2`, `r3` under `env`: `fw.img` and `web/app.bin` edited each
/// release, `swap.bin` replaced by unrelated bytes in release 3.
fn releases(env: &Env) -> [PathBuf; 3] {
    let dirs = [1, 2, 3].map(|r| env.path(&format!("r{r}")));
    let mut fw = noise(1, 200_000);
    let mut web = [b"<html>".repeat(5000), noise(2, 40_000)].concat();
    for (i, d) in dirs.iter().enumerate() {
        std::fs::create_dir_all(d.join("web")).unwrap();
        std::fs::write(d.join("fw.img"), &fw).unwrap();
        std::fs::write(d.join("web/app.bin"), &web).unwrap();
        let swap = noise(if i == 2 { 4 } else { 3 }, 50_000);
        std::fs::write(d.join("swap.bin"), swap).unwrap();
        fw = edit(&fw, i as u64 * 10 + 10);
        web = edit(&web, i as u64 * 10 + 11);
    }
    dirs
}

/// `seal --compress` of release `rel` from `bases` (`SEQ:VERSION=DIR` specs
/// or list files), `--sequence rel --version 1.rel`.
fn seal(env: &Env, rel: u32, out: &Path, bases: &[String], extra: &[&str]) -> serde_json::Value {
    let mut c = otaseal(["seal"]);
    c.arg("--signing-key")
        .arg(env.path("sign.key"))
        .arg("--recipient")
        .arg(env.path("dev.pub"))
        .args([
            "--app",
            "com.example.fleet",
            "--version",
            &format!("1.{rel}"),
        ])
        .args([
            "--sequence",
            &rel.to_string(),
            "--chunk-size",
            "16K",
            "--json",
        ])
        .arg("--out-dir")
        .arg(out)
        .arg("--compress");
    for b in bases {
        c.arg("--delta-from").arg(b);
    }
    c.args(extra).arg(env.path(&format!("r{rel}")));
    let o = c.ok();
    serde_json::from_slice(&o.stdout).unwrap()
}

fn spec(env: &Env, rel: u32) -> String {
    format!("{rel}:1.{rel}={}", env.path(&format!("r{rel}")).display())
}

fn bundle<'a>(json: &'a serde_json::Value, input_suffix: &str) -> &'a serde_json::Value {
    json["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["input"].as_str().unwrap().ends_with(input_suffix))
        .unwrap()
}

fn bases_of(b: &serde_json::Value) -> Vec<u64> {
    b["deltas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["base_sequence"].as_u64().unwrap())
        .collect()
}

/// `install-check` of `manifest` (`.payload` beside it) into `out`.
fn install(env: &Env, manifest: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let payload = manifest.with_extension("payload");
    otaseal(["install-check"])
        .arg(manifest)
        .arg("--payload")
        .arg(payload)
        .arg("--trust")
        .arg(env.trust())
        .arg("--device-key")
        .arg(env.path("dev.key"))
        .arg("--out")
        .arg(out)
        .arg("--state")
        .arg(env.path("device.state"))
        .args(["--app", "com.example.fleet"])
        .args(extra)
        .output()
}

#[test]
fn deltas_from_two_bases_install_release_after_release() {
    let env = Env::new();
    let [r1, r2, r3] = releases(&env);
    let (out1, out2, out3) = (env.path("out1"), env.path("out2"), env.path("out3"));
    seal(&env, 1, &out1, &[], &[]);
    let j2 = seal(&env, 2, &out2, &[spec(&env, 1)], &[]);
    assert_eq!(bases_of(bundle(&j2, "fw.img")), [1]);
    // Release 3 from release 1 (inline) and release 2 (a list file).
    let list = env.path("bases.txt");
    std::fs::write(&list, format!("# older releases\n2 1.2 {}\n", r2.display())).unwrap();
    let j3 = seal(
        &env,
        3,
        &out3,
        &[spec(&env, 1), list.display().to_string()],
        &[],
    );
    assert_eq!(j3["index_version"], 2);
    assert_eq!(j3["deltas"], 4);
    let fw = bundle(&j3, "fw.img");
    assert_eq!(fw["encoding"], "zstd");
    assert_eq!(bases_of(fw), [1, 2]);
    assert_eq!(bases_of(bundle(&j3, "web/app.bin")), [1, 2]);
    for d in fw["deltas"].as_array().unwrap() {
        assert!(d["bytes"].as_u64().unwrap() * 2 < fw["bytes"].as_u64().unwrap());
        assert!(Path::new(d["payload"].as_str().unwrap()).is_file());
    }
    // Not below the threshold: built, reported, not kept.
    let swap = bundle(&j3, "swap.bin");
    assert_eq!(bases_of(swap), [] as [u64; 0]);
    assert_eq!(swap["deltas_not_kept"].as_array().unwrap().len(), 2);
    assert!(!out3.join("swap.bin.from-1.payload").exists());
    assert!(!out3.join("swap.bin.from-2.manifest").exists());

    // The index lists the full bundles and each delta, and they verify.
    let index = out3.join("batch.index");
    let show = otaseal(["index", "show", "--json", "--trust"])
        .arg(env.trust())
        .arg(&index)
        .ok();
    let show: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let e = &show["bundles"].as_array().unwrap()[0];
    assert_eq!(e["name"], "fw.img");
    assert_eq!(e["encoding"], "zstd");
    assert_eq!(
        e["deltas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["base_version"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["1.1", "1.2"]
    );
    ok(index_verify(&env, &index));
    std::fs::write(out3.join("web/app.bin.from-2.payload"), b"x").unwrap();
    assert!(!index_verify(&env, &index).status.success());

    // A device: release 1 in full, then 1 -> 2 and 2 -> 3 by deltas.
    ok(otaseal(["state", "init"])
        .arg(env.path("device.state"))
        .output());
    let i1 = env.path("installed1");
    ok(install(
        &env,
        &out1.join("fw.img.manifest"),
        &i1,
        &["--switch-channel", "stable"],
    ));
    assert_eq!(
        std::fs::read(&i1).unwrap(),
        std::fs::read(r1.join("fw.img")).unwrap()
    );
    let i2 = env.path("installed2");
    let b = i1.display().to_string();
    ok(install(
        &env,
        &out2.join("fw.img.from-1.manifest"),
        &i2,
        &["--base", &b],
    ));
    assert_eq!(
        std::fs::read(&i2).unwrap(),
        std::fs::read(r2.join("fw.img")).unwrap()
    );
    // The delta from release 1 does not apply over release 2.
    let i3 = env.path("installed3");
    let b = i2.display().to_string();
    let r = install(
        &env,
        &out3.join("fw.img.from-1.manifest"),
        &i3,
        &["--base", &b],
    );
    assert_eq!(r.status.code(), Some(11), "wrong base: {}", text(&r));
    assert!(!i3.exists(), "nothing installed");
    ok(install(
        &env,
        &out3.join("fw.img.from-2.manifest"),
        &i3,
        &["--base", &b],
    ));
    assert_eq!(
        std::fs::read(&i3).unwrap(),
        std::fs::read(r3.join("fw.img")).unwrap()
    );
}

#[test]
fn shards_merge_and_resume_recreates_exactly_a_deleted_delta() {
    let env = Env::new();
    releases(&env);
    let out = env.path("out");
    let bases = [spec(&env, 1), spec(&env, 2)];
    for k in ["1/2", "2/2"] {
        seal(&env, 3, &out, &bases, &["--shard", k]);
    }
    let merged = env.path("merged.index");
    otaseal(["index", "merge", "--signing-key"])
        .arg(env.path("sign.key"))
        .arg("--trust")
        .arg(env.trust())
        .arg("--out")
        .arg(&merged)
        .arg(out.join("batch-shard-1-of-2.index"))
        .arg(out.join("batch-shard-2-of-2.index"))
        .ok();
    // One run over the same outputs (resume keeps every bundle and delta)
    // writes the same index byte for byte.
    let whole = seal(&env, 3, &out, &bases, &["--resume"]);
    assert_eq!(whole["sealed"], 0);
    assert_eq!(whole["resumed"], 3);
    assert_eq!(
        std::fs::read(out.join("batch.index")).unwrap(),
        std::fs::read(&merged).unwrap()
    );
    assert_eq!(std::fs::read(&merged).unwrap()[9], 2);

    // Delete one delta: resume re-creates exactly it.
    std::fs::remove_file(out.join("web/app.bin.from-1.payload")).unwrap();
    std::fs::remove_file(out.join("web/app.bin.from-1.manifest")).unwrap();
    let before = tree(&out);
    let again = seal(&env, 3, &out, &bases, &["--resume"]);
    assert_eq!(again["sealed"], 0);
    let mut redone = Vec::new();
    for b in again["bundles"].as_array().unwrap() {
        for d in b["deltas"].as_array().unwrap() {
            if d["resumed"] == false {
                redone.push(d["payload"].as_str().unwrap().to_owned());
            }
        }
    }
    assert_eq!(
        redone,
        [out.join("web/app.bin.from-1.payload").display().to_string()]
    );
    let mut after = tree(&out);
    after.retain(|f| !before.contains(f));
    assert_eq!(
        after,
        ["web/app.bin.from-1.manifest", "web/app.bin.from-1.payload"]
    );
    ok(index_verify(&env, &out.join("batch.index")));
}

#[test]
fn without_deltas_or_compression_the_index_stays_version_1() {
    let env = Env::new();
    releases(&env);
    let out = env.path("out");
    let o = env.seal_cmd_with(&out, "3", "16K").arg(env.path("r3")).ok();
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["index_version"], 1);
    assert_eq!(std::fs::read(out.join("batch.index")).unwrap()[9], 1);
    // Bad base specs are usage errors (exit 2).
    for bad in [
        "3:1.3=/nonexistent-dir",
        "x.txt-that-does-not-exist",
        "1:bad version=/d",
    ] {
        let o = env
            .seal_cmd_with(&env.path("o2"), "3", "16K")
            .args(["--delta-from", bad])
            .arg(env.path("r3"))
            .output();
        assert!(!o.status.success(), "{bad}: {}", text(&o));
    }
    let o = env
        .seal_cmd_with(&env.path("o3"), "3", "16K")
        .arg("--delta-threshold")
        .arg("1.5")
        .arg(env.path("r3"))
        .output();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
