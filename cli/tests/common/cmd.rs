//! Running the `otaseal` binary: the one way every CLI test starts it and
//! reads what it did.
//!
//! The child never inherits an `OTASEAL_*` variable from whoever runs the
//! tests (a developer's `OTASEAL_PASSPHRASE` or `OTASEAL_AUDIT_LOG` would
//! change what a test sees), and its stdin is empty unless a test gives it
//! bytes. Everything else (e.g. `RAYON_NUM_THREADS`, which `scripts/test.sh`
//! sets for its single-thread rerun) is inherited.

use serde_json::Value;
use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_otaseal");

/// An `otaseal` command line being built, as with `std::process::Command`;
/// `output()` or `ok()` runs it.
pub struct Otaseal {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

/// `otaseal` with `args` (text or paths, UTF-8 or not).
pub fn otaseal<I, S>(args: I) -> Otaseal
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdin(Stdio::null());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("OTASEAL_") {
            cmd.env_remove(k);
        }
    }
    Otaseal { cmd, stdin: None }
}

/// Runs `otaseal args` and returns what it did, whatever its exit code.
pub fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    otaseal(args).output()
}

/// Runs `otaseal args` in `dir` with `env` added to its environment.
pub fn run_in<I, S>(dir: &Path, args: I, env: &[(&str, &str)]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    otaseal(args).current_dir(dir).envs(env).output()
}

impl Otaseal {
    pub fn arg(&mut self, a: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.arg(a);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(&mut self, key: &str, value: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env(key, value);
        self
    }

    /// Each `(key, value)` of `vars` in the child's environment.
    pub fn envs(&mut self, vars: &[(&str, &str)]) -> &mut Self {
        for (k, v) in vars {
            self.cmd.env(k, v);
        }
        self
    }

    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cmd.current_dir(dir);
        self
    }

    /// `bytes` on the child's stdin (then end of file).
    pub fn stdin(&mut self, bytes: impl Into<Vec<u8>>) -> &mut Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// The underlying command, for tests that spawn it and watch or kill
    /// the child themselves.
    pub fn command(&mut self) -> &mut Command {
        assert!(self.stdin.is_none(), "command(): feed stdin yourself");
        &mut self.cmd
    }

    /// Runs to completion and returns what it did, whatever its exit code.
    pub fn output(&mut self) -> Output {
        let Some(input) = self.stdin.take() else {
            return self.cmd.output().expect("run otaseal");
        };
        let mut child = self
            .cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run otaseal");
        // otaseal may stop reading early (it refuses oversized input): a
        // broken pipe here is its answer, not a test failure.
        if let Err(e) = child.stdin.take().unwrap().write_all(&input) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
        child.wait_with_output().expect("wait for otaseal")
    }

    /// Runs and asserts exit 0, naming the command line and its output if not.
    pub fn ok(&mut self) -> Output {
        let line = format!("{:?}", self.cmd);
        let out = self.output();
        assert!(out.status.success(), "{line}\n{}", report(&out));
        out
    }
}

/// `out`, asserted to have exited 0 (its output in the message if not).
pub fn ok(out: Output) -> Output {
    assert!(out.status.success(), "otaseal failed\n{}", report(&out));
    out
}

/// The exit code; panics if a signal ended the process.
pub fn code(out: &Output) -> i32 {
    out.status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal\n{}", report(out)))
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Stdout then stderr, for assertions that do not care which one a
/// message went to.
pub fn text(out: &Output) -> String {
    stdout(out) + &stderr(out)
}

/// Stdout parsed as JSON.
pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", report(out)))
}

fn report(out: &Output) -> String {
    format!(
        "exit: {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}
