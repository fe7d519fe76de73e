//! `tests/c/session_test.c`, compiled with `cc` (or `$CC`) against the
//! staticlib and `include/otaseal.h`, runs the install scenario.

use crate::common::{Fixture, NOW, artifact, assert_scenario, run};
use std::path::Path;
use std::process::Command;

/// What a Rust staticlib needs from the system on this target
/// (`rustc --print native-static-libs`).
#[cfg(target_os = "linux")]
const SYSTEM_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];
#[cfg(target_os = "macos")]
const SYSTEM_LIBS: &[&str] = &["-lSystem", "-lc", "-lm"];
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
const SYSTEM_LIBS: &[&str] = &["-lpthread", "-lm"];

#[test]
fn c_program_against_the_staticlib() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = artifact("libotaseal_ffi.a");
    let f = Fixture::new();
    let exe = f.path().join("session_test");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = run(
        Command::new(&cc)
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-I"])
            .arg(crate_dir.join("include"))
            .arg(crate_dir.join("tests/c/session_test.c"))
            .arg(&lib)
            .args(SYSTEM_LIBS)
            .arg("-o")
            .arg(&exe),
        &cc,
        "install a C compiler (scripts/test.sh does: apt-get install gcc)",
    );
    assert!(
        out.status.success(),
        "{cc} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(
        Command::new(&exe).arg(f.path()).arg(NOW.to_string()),
        "session_test",
        "it was just built",
    );
    assert_scenario(&out, "the C program");
}
