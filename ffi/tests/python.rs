//! `tests/python/session_test.py` runs the install scenario through ctypes
//! against the cdylib: what a Swift or Kotlin binding does, in a language
//! this machine has.

use crate::common::{Fixture, NOW, artifact, assert_scenario, run};
use std::path::Path;
use std::process::Command;

#[cfg(target_os = "macos")]
const CDYLIB: &str = "libotaseal_ffi.dylib";
#[cfg(not(target_os = "macos"))]
const CDYLIB: &str = "libotaseal_ffi.so";

#[test]
fn python_ctypes_against_the_cdylib() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/session_test.py");
    let lib = artifact(CDYLIB);
    let f = Fixture::new();
    let out = run(
        Command::new("python3")
            .arg(&script)
            .arg(&lib)
            .arg(f.path())
            .arg(NOW.to_string()),
        "python3",
        "install Python 3 (scripts/test.sh does: apt-get install python3)",
    );
    assert_scenario(&out, "the Python script");
}
