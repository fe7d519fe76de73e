//! What the CLI tests share: running the binary (`cmd`), `otaseal seal`
//! arguments (here), and the library tests' batch fixtures (`batch`: one
//! copy, in `pipeline/tests/common/`).
#![allow(dead_code)]

#[path = "../../../pipeline/tests/common/batch.rs"]
pub mod batch;
pub mod cmd;

/// `otaseal seal` arguments for the keystore tests' layout: `bundle.bin`
/// for `device.pub`, a fixed release, signed by `key`, into `out`.
pub fn seal_args<'a>(key: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "seal",
        "bundle.bin",
        "--signing-key",
        key,
        "--recipient",
        "device.pub",
        "--app",
        "com.example.app",
        "--version",
        "1.0.0",
        "--sequence",
        "1",
        "--out-dir",
        out,
    ];
    args.extend_from_slice(extra);
    args
}
