//! `--json` with paths that are not UTF-8 (issue 9, item 5): every command
//! prints valid JSON, encodes such a path losslessly as `{"hex": ...}`, and
//! exits 0 when the work succeeded. Before the fix, serde's refusal to encode
//! the path became a panic (exit 101), in `install-check` after the state had
//! already been saved.
#![cfg(unix)]

use crate::common::cmd::{self, otaseal};
use serde_json::Value;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Runs otaseal with `--json`; asserts exit 0 and returns the parsed output.
fn json(args: &[&OsStr]) -> Value {
    cmd::json(&otaseal(args).arg("--json").ok())
}

/// Decodes a path the way a script would: a string, or `{"hex": ...}`.
fn decode(v: &Value) -> PathBuf {
    match v {
        Value::String(s) => PathBuf::from(s),
        Value::Object(o) => {
            let raw = hex::decode(o["hex"].as_str().expect("hex field")).unwrap();
            PathBuf::from(OsString::from_vec(raw))
        }
        other => panic!("not a path: {other}"),
    }
}

fn os(p: &Path) -> &OsStr {
    p.as_os_str()
}

#[test]
fn non_utf8_paths_are_encoded_losslessly_and_nothing_fails_after_the_work() {
    let tmp = tempfile::tempdir().unwrap();
    // "bad\xff": a Latin-1 name from an old file system, not valid UTF-8.
    let dir = tmp.path().join(OsStr::from_bytes(b"bad\xff"));
    std::fs::create_dir(&dir).unwrap();
    // Key arguments are text (a file, `otaseal1:` text or a `pkcs11:` URI), so
    // clap refuses non-UTF-8 there with a usage error; the keys live apart.
    let sign = tmp.path().join("sign");
    let dev = tmp.path().join("dev");
    let input = dir.join("fw.img");
    let out_dir = dir.join("out");
    std::fs::write(&input, vec![7u8; 40_000]).unwrap();
    let s = |x: &'static str| OsStr::new(x);

    json(&[
        s("keygen"),
        s("signing"),
        s("--unencrypted"),
        s("--out"),
        os(&sign),
    ]);
    json(&[
        s("keygen"),
        s("device"),
        s("--unencrypted"),
        s("--out"),
        os(&dev),
    ]);

    let (skey, spub) = (sign.with_extension("key"), sign.with_extension("pub"));
    let (dkey, dpub) = (dev.with_extension("key"), dev.with_extension("pub"));
    let copy = dir.join("sign.key");
    std::fs::copy(&skey, &copy).unwrap();
    let listed = json(&[s("keys"), s("list"), os(&copy)]);
    assert!(listed["keys"][0]["path"].is_object(), "{listed}");
    assert_eq!(decode(&listed["keys"][0]["path"]), copy);

    let sealed = json(&[
        s("seal"),
        os(&input),
        s("--signing-key"),
        os(&skey),
        s("--recipient"),
        os(&dpub),
        s("--app"),
        s("com.example.app"),
        s("--version"),
        s("1.0.0"),
        s("--sequence"),
        s("1"),
        s("--out-dir"),
        os(&out_dir),
    ]);
    let bundle = &sealed["bundles"][0];
    assert_eq!(decode(&bundle["input"]), input);
    let manifest = decode(&bundle["manifest"]);
    let payload = decode(&bundle["payload"]);
    assert!(manifest.exists() && payload.exists());
    assert_eq!(decode(&sealed["index"]).parent(), Some(out_dir.as_path()));

    let v = json(&[s("verify"), os(&manifest), s("--trust"), os(&spub)]);
    assert_eq!(decode(&v["manifest"]), manifest);

    let opened = dir.join("opened");
    let o = json(&[
        s("open"),
        os(&manifest),
        s("--payload"),
        os(&payload),
        s("--trust"),
        os(&spub),
        s("--device-key"),
        os(&dkey),
        s("--out"),
        os(&opened),
    ]);
    assert_eq!(decode(&o["out"]), opened);
    assert_eq!(std::fs::read(&opened).unwrap(), vec![7u8; 40_000]);

    // install-check commits the state before it prints: the print must not
    // turn a completed install into a failure.
    let state = dir.join("device.state");
    otaseal([s("state"), s("init"), os(&state)]).ok();
    let installed = dir.join("installed");
    let i = json(&[
        s("install-check"),
        os(&manifest),
        s("--payload"),
        os(&payload),
        s("--trust"),
        os(&spub),
        s("--device-key"),
        os(&dkey),
        s("--out"),
        os(&installed),
        s("--state"),
        os(&state),
        s("--switch-channel"),
        s("stable"),
        s("--app"),
        s("com.example.app"),
    ]);
    assert_eq!(decode(&i["state"]), state);
    assert_eq!(decode(&i["out"]), installed);
    assert_eq!(i["verdict"], "installed");
}
