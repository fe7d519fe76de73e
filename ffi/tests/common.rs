//! The fixture both scenarios use, and how to find the library the test
//! build made.

use otaseal_core::format::device_state::DeviceState;
use otaseal_core::format::keytext::KeyText;
use otaseal_core::keys::{KemId, RecipientSecretKey, SigningKey};
use otaseal_core::open::TrustAnchor;
use otaseal_core::seal::{SealOptions, SealedBundle, seal_with_rng};
use otaseal_core::session::{InstallPolicy, Session, SessionOptions};
use rand_core::SeedableRng;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The time the device says it is.
pub const NOW: u64 = 1_790_000_100;
const CREATED: u64 = 1_790_000_000;
pub const CHUNK: usize = 16 * 1024;

/// A sealed bundle (sequence 7, ten 16 KiB chunks, the last one short)
/// and what the device needs, written to a temporary directory.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

fn options(sequence: u64) -> SealOptions {
    let mut o = SealOptions::new(
        "com.example.app".parse().unwrap(),
        "stable".parse().unwrap(),
        format!("1.0.{sequence}").parse().unwrap(),
        sequence,
    );
    o.created = CREATED;
    o.chunk_size = otaseal_core::format::ChunkSize::from_log2(14).unwrap();
    o
}

fn seal(
    plain: &[u8],
    sequence: u64,
    signer: &SigningKey,
    device: &RecipientSecretKey,
) -> SealedBundle {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(sequence);
    seal_with_rng(
        plain,
        &options(sequence),
        &[device.public_key().clone()],
        signer,
        &mut rng,
    )
    .unwrap()
}

impl Fixture {
    pub fn new() -> Self {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let signer = SigningKey::generate(&mut rng);
        let device = RecipientSecretKey::generate(KemId::X25519, &mut rng);
        let plain: Vec<u8> = (0..9 * CHUNK + 777).map(|i| (i % 251) as u8).collect();
        let sealed = seal(&plain, 7, &signer, &device);
        let trust = TrustAnchor::SigningKey(signer.verifying_key());

        // A device that has installed sequence 9 (through the session, as a
        // device would), for the downgrade case.
        let newer = seal(b"newer firmware", 9, &signer, &device);
        let mut p = InstallPolicy::new(
            DeviceState::default().to_bytes(),
            "com.example.app".parse().unwrap(),
        );
        p.switch_channel = Some("stable".parse().unwrap());
        let opts = SessionOptions {
            install: Some(p),
            ..SessionOptions::new(NOW)
        };
        let mut s = Session::new(&newer.manifest_bytes, &trust, opts).unwrap();
        s.feed(0, &newer.payload, |_| Ok(())).unwrap();
        s.unlock(&device).unwrap();
        let mut out = vec![0; newer.payload.len()];
        s.decrypt_chunk(0, &newer.payload, &mut out).unwrap();
        let state_high = s.finish().unwrap().device_state.unwrap();

        let dir = tempfile::tempdir().unwrap();
        let write =
            |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).unwrap();
        write("manifest.bin", &sealed.manifest_bytes);
        write("payload.bin", &sealed.payload);
        write("plain.bin", &plain);
        write("state_high.bin", &state_high);
        write(
            "device.key",
            KeyText::X25519Secret(device.to_secret_bytes())
                .encode()
                .as_bytes(),
        );
        write(
            "signer.pub",
            KeyText::Ed25519Public(signer.verifying_key().to_bytes())
                .encode()
                .as_bytes(),
        );
        // `scripts/ffi-size.sh --run` runs its own builds on this fixture.
        if let Some(keep) = std::env::var_os("OTASEAL_FFI_FIXTURE_OUT") {
            for e in std::fs::read_dir(dir.path()).unwrap() {
                let e = e.unwrap();
                std::fs::copy(e.path(), Path::new(&keep).join(e.file_name())).unwrap();
            }
            std::fs::write(Path::new(&keep).join("now"), NOW.to_string()).unwrap();
        }
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// `target/<profile>/`, from this test executable's path
/// (`target/<profile>/deps/tests-<hash>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_owned()
}

/// The library artifact `file` (`libotaseal_ffi.a`, `libotaseal_ffi.so`)
/// that `cargo test` built for this test binary: in `target/<profile>/deps/`
/// (cargo builds every crate type of the library there for the integration
/// tests) or, after a `cargo build`, `target/<profile>/`; the newer if both.
pub fn artifact(file: &str) -> PathBuf {
    let profile = profile_dir();
    let found = [profile.join("deps").join(file), profile.join(file)]
        .into_iter()
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max();
    match found {
        Some((_, p)) => p,
        None => {
            // Not built: build it with the same cargo, profile and target dir.
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let name = profile.file_name().unwrap().to_str().unwrap().to_owned();
            let target_dir = profile.parent().unwrap();
            let mut cmd = Command::new(cargo);
            cmd.args(["build", "-p", "otaseal-ffi", "--target-dir"])
                .arg(target_dir);
            if name != "debug" {
                cmd.args([
                    "--profile",
                    if name == "release" { "release" } else { &name },
                ]);
            }
            let st = cmd.status().expect("running cargo build -p otaseal-ffi");
            assert!(st.success(), "cargo build -p otaseal-ffi failed");
            let p = profile.join(file);
            assert!(p.exists(), "{} missing after cargo build", p.display());
            p
        }
    }
}

/// Runs `cmd`, or fails the test saying which program is missing.
pub fn run(cmd: &mut Command, program: &str, install: &str) -> Output {
    match cmd.output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("`{program}` is not installed, and this test needs it (not skipped): {install}")
        }
        Err(e) => panic!("running {program}: {e}"),
    }
}

/// Asserts a scenario's output: exit 0, every step, then PASS.
pub fn assert_scenario(out: &Output, who: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{who} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    for step in [
        "ok: downgrade refused at creation (status 8: refused by device policy",
        "ok: the corrupted chunk is rejected",
        "ok: the chunk fed again correctly is accepted",
        "ok: the record claims every chunk stored before the crash",
        "ok: the decrypted payload is the plaintext",
        "ok: finished: first install of sequence 7, new device state",
        "ok: installing sequence 7 again is refused (status 8",
    ] {
        assert!(
            stdout.contains(step),
            "{who}: no `{step}` in\n{stdout}\n{stderr}"
        );
    }
    assert!(stdout.trim_end().ends_with("PASS"), "{who}:\n{stdout}");
}
