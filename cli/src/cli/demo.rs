//! `otaseal demo`: the whole publisher-to-device flow on generated bundles,
//! through the same code paths as `keygen`, `seal`, `verify` and `open`.

use super::args::{json_path, print_json};
use super::seal::Sealed;
use super::{CliError, CliResult, ExitCode};
use otaseal::Error;
use otaseal::batch::seal_file;
use otaseal::keys::file::{AnyKey, write_key_file};
use otaseal::keys::{KemId, RecipientSecretKey, SigningKey, os_rng};
use otaseal::open::{
    TrustAnchor, decrypt_payload_file, read_manifest_file, verify_payload_file, verify_range_file,
};
use otaseal::seal::SealOptions;
use otaseal::session::{Session, SessionOptions};
use rand_core::{Rng, SeedableRng};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Work directory (created if missing). Default: a new directory under the system temp dir.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Size of the large sample firmware image.
    #[arg(long, default_value = "64M", value_parser = super::args::parse_size)]
    large: u64,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    json: bool,
}

/// Sample bundles: the edge sizes around a 256 KiB chunk, a few web-sized
/// bundles, and one firmware image.
fn sample_sizes(large: u64) -> Vec<(&'static str, u64)> {
    vec![
        ("empty.bin", 0),
        ("one-byte.bin", 1),
        ("chunk-minus-1.bin", 256 * 1024 - 1),
        ("chunk.bin", 256 * 1024),
        ("chunk-plus-1.bin", 256 * 1024 + 1),
        ("web-bundle.zip", 3 * 1024 * 1024 + 12_345),
        ("firmware.img", large),
    ]
}

pub(crate) fn run(a: Args) -> CliResult {
    let dir = match a.dir {
        Some(d) => d,
        None => tempfile::Builder::new()
            .prefix("otaseal-demo-")
            .tempdir()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?
            .keep(),
    };
    let say = |line: String| {
        if !a.json {
            println!("{line}");
        }
    };
    let (keys, bundles, sealed_dir, opened) = (
        dir.join("keys"),
        dir.join("bundles"),
        dir.join("sealed"),
        dir.join("opened"),
    );
    for d in [&keys, &bundles, &sealed_dir, &opened] {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    say(format!("otaseal demo in {}", dir.display()));

    // 1. Keys: one signing key, two devices (X25519 and P-256).
    let mut rng = os_rng();
    let signer = SigningKey::generate(&mut rng);
    let devices = [
        RecipientSecretKey::generate(KemId::X25519, &mut rng),
        RecipientSecretKey::generate(KemId::P256, &mut rng),
    ];
    let stamp = std::process::id();
    write_key_file(
        &keys.join(format!("signing-{stamp}.pub")),
        &AnyKey::SigningPublic(signer.verifying_key()),
        "demo signing key",
    )?;
    for d in &devices {
        write_key_file(
            &keys.join(format!("device-{}-{stamp}.pub", d.kem())),
            &AnyKey::RecipientPublic(d.public_key().clone()),
            "demo device key",
        )?;
    }
    say(format!(
        "1. keys: signing {} ; devices {} (x25519), {} (p256)",
        signer.verifying_key().key_id(),
        devices[0].key_id(),
        devices[1].key_id()
    ));

    // 2. Sample bundles with incompressible content.
    let mut content = rand_chacha::ChaCha8Rng::seed_from_u64(0x07a5_ea15);
    let mut inputs = Vec::new();
    for (name, size) in sample_sizes(a.large) {
        let path = bundles.join(name);
        let mut data = vec![0u8; size as usize];
        content.fill_bytes(&mut data);
        std::fs::write(&path, &data).map_err(|e| Error::io(&path, e))?;
        inputs.push(path);
    }
    say(format!(
        "2. generated {} sample bundles in {}",
        inputs.len(),
        bundles.display()
    ));

    // 3. Seal each for both devices.
    let opts = SealOptions::new(
        "com.example.demo".parse().expect("valid"),
        "stable".parse().expect("valid"),
        "1.0.0".parse().expect("valid"),
        1,
    );
    let recipients: Vec<_> = devices.iter().map(|d| d.public_key().clone()).collect();
    let sealed: Vec<Sealed> = inputs
        .iter()
        .map(|p| {
            let report = seal_file(p, &sealed_dir, &opts, &recipients, &signer)?;
            Ok(Sealed::from_report(&report).expect("seal_file reports only success"))
        })
        .collect::<CliResult<_>>()?;
    for s in &sealed {
        say(format!(
            "3. sealed {:>18} {:>10} B in {:>7.3} s ({:>7.0} MB/s), manifest {} B",
            s.input.file_name().unwrap_or_default().to_string_lossy(),
            s.bytes,
            s.seconds,
            s.bytes as f64 / 1e6 / s.seconds.max(1e-9),
            s.manifest_bytes
        ));
    }

    // 4. The payload's plain BLAKE3 hash (what b3sum prints) is the signed root,
    //    and every chunk verifies against the signed table.
    let trust = TrustAnchor::SigningKey(signer.verifying_key());
    // Every check below is a device session's, as on a device.
    let session = |manifest: &std::path::Path| -> CliResult<Session> {
        let now = otaseal::clock::Clock::System.now();
        Ok(Session::new(
            &read_manifest_file(manifest)?,
            &trust,
            SessionOptions::new(now),
        )?)
    };
    for s in &sealed {
        let payload = std::fs::read(&s.payload).map_err(|e| Error::io(&s.payload, e))?;
        if *blake3::hash(&payload).as_bytes() != s.root {
            return Err(CliError::usage(format!(
                "{}: BLAKE3 differs from root",
                s.payload.display()
            )));
        }
        verify_payload_file(&mut session(&s.manifest)?, &s.payload, 0)?;
    }
    say("4. every payload's BLAKE3 (b3sum) equals its manifest root; all chunks verify".into());

    // 5. Tamper with one chunk of the firmware: that chunk fails, others still verify.
    let firmware = sealed.last().expect("samples are not empty");
    let tampered = dir.join("tampered.payload");
    let mut bytes =
        std::fs::read(&firmware.payload).map_err(|e| Error::io(&firmware.payload, e))?;
    let victim = (bytes.len() / 2) as u64;
    if let Some(b) = bytes.get_mut(victim as usize) {
        *b ^= 0x01;
    }
    std::fs::write(&tampered, &bytes).map_err(|e| Error::io(&tampered, e))?;
    let whole = verify_payload_file(&mut session(&firmware.manifest)?, &tampered, 0);
    let detected = whole.err().map(|e| CliError::from(e).message().to_owned());
    let range_ok = verify_range_file(
        &mut session(&firmware.manifest)?,
        &tampered,
        0..victim.min(256 * 1024),
        0,
    )
    .is_ok();
    if detected.is_none() && victim > 0 {
        return Err(CliError::usage("a flipped bit was not detected"));
    }
    say(format!(
        "5. flipped one bit at byte {victim}: {}; an untouched range still verifies: {range_ok}",
        detected
            .as_deref()
            .unwrap_or("(payload too small to tamper)")
    ));

    // 6. Each device opens each bundle; the plaintext matches the input.
    for (s, input) in sealed.iter().zip(&inputs) {
        for d in &devices {
            let out = opened.join(format!(
                "{}.{}",
                s.input.file_name().unwrap_or_default().to_string_lossy(),
                d.kem()
            ));
            decrypt_payload_file(&mut session(&s.manifest)?, &s.payload, d, &out, 0)?;
            let same = std::fs::read(&out).map_err(|e| Error::io(&out, e))?
                == std::fs::read(input).map_err(|e| Error::io(input, e))?;
            if !same {
                return Err(CliError::usage(format!(
                    "{}: plaintext differs",
                    out.display()
                )));
            }
        }
    }
    say(format!(
        "6. both devices opened all {} bundles; plaintext matches",
        sealed.len()
    ));

    if a.json {
        print_json(&serde_json::json!({
            "dir": json_path(dir),
            "signer": signer.verifying_key().key_id().to_string(),
            "bundles": sealed.iter().map(Sealed::to_json).collect::<Vec<_>>(),
            "tamper_detected": detected,
            "untouched_range_verifies": range_ok,
            "verdict": "ok",
        }));
    } else {
        println!("demo OK: outputs in {}", dir.display());
    }
    Ok(ExitCode::Ok)
}
