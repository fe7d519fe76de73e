//! Writes the seed corpus (`fuzz/corpus/<target>/`) from the fixture's real
//! sealed bundles. Deterministic: rerunning it reproduces the same files.
//!
//! Usage: `cargo run --example gen-corpus` from `fuzz/`.

use otaseal::format::device_state::{AppState, ChannelRecord};
use otaseal::format::fetch_record::FetchRecord;
use otaseal::device::DeviceState;
use otaseal_fuzz::fixture;
use std::collections::BTreeMap;
use std::path::Path;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let f = fixture();
    for (i, b) in f.bundles.iter().enumerate() {
        write("manifest_parse", &format!("bundle{i}"), &b.manifest);
        write("manifest_verify", &format!("bundle{i}"), &b.manifest);
        // chunk_verify input: bundle selector, chunk index (LE), chunk bytes.
        for index in [0u32, b.verified.chunk_count() - 1] {
            let r = b.verified.chunk_range(index).unwrap();
            let mut seed = vec![i as u8];
            seed.extend_from_slice(&index.to_le_bytes());
            seed.extend_from_slice(&b.payload[r.start as usize..r.end as usize]);
            write("chunk_verify", &format!("bundle{i}-chunk{index}"), &seed);
        }
        let m = b.verified.manifest();
        let have = (0..b.verified.chunk_count()).map(|c| c % 2 == 0).collect();
        let rec =
            FetchRecord::new(m.bundle_id, m.root, m.plaintext_len, m.chunk_size, have).unwrap();
        let rec = rec.to_bytes();
        write("fetch_record", &format!("bundle{i}"), &rec);
        // The body alone: the target appends the checksum itself.
        write(
            "fetch_record",
            &format!("bundle{i}-body"),
            &rec[..rec.len() - 32],
        );
    }
    write("rollback", "signed", &f.rollback);
    write("certificate", "release", &f.release_cert);
    write("revocation_list", "signed", &f.revocations);
    write("root_rotation", "signed", &f.rotation);
    write("trust_state", "with-revocations", &f.trust_state);
    write("keystore", "release-key", &f.keystore);
    write("manifest_verify_root", "chained", &f.chained_manifest);
    write("manifest_parse", "chained", &f.chained_manifest);
    // fetch_driver input: bundle, request size / 4 KiB, then one op per response.
    for (i, script) in [
        (4u8, &[0u8, 0, 0, 0][..]),
        (3, &[1, 0][..]),
        (4, &[4, 0, 9, 1, 0, 0, 0][..]),
        (4, &[3, 2, 0, 2, 0, 16, 0, 0][..]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut seed = vec![script.0, 4];
        seed.extend_from_slice(script.1);
        write("fetch_driver", &format!("script{i}"), &seed);
    }
    // session input: bundle, then ops: feed (op 0, offset LE u32, length
    // / 257, flip), crash + restore (op 3, damage at, xor), decrypt (op 5).
    for (i, script) in [
        (4u8, &[0u8, 0, 0, 0, 0, 255, 0, 5, 0, 0, 0, 0][..]),
        (3, &[0, 0, 0, 0, 0, 40, 0, 3, 200, 0, 0, 0, 0, 0, 100, 0][..]),
        (4, &[0, 0, 0, 0, 0, 30, 7, 1, 0, 64, 0, 0, 90, 0, 3, 0, 0][..]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut seed = vec![script.0];
        seed.extend_from_slice(script.1);
        write("session", &format!("script{i}"), &seed);
    }

    let mut state = DeviceState::new(None);
    write("device_state", "empty", &state.to_bytes());
    let m = f.bundles[3].verified.manifest();
    let mut channels = BTreeMap::new();
    channels.insert(
        m.channel.clone(),
        ChannelRecord {
            sequence: 3,
            version: m.version.clone(),
            bundle_id: m.bundle_id,
            installed_at: 1_700_000_500,
            last_rollback_issued: 0,
        },
    );
    state.revocation_sequence = 9;
    state.apps.insert(
        m.app_id.clone(),
        AppState {
            current: m.channel.clone(),
            channels,
        },
    );
    let bytes = state.to_bytes();
    write("device_state", "one-app", &bytes);
    write("device_state", "one-app-body", &bytes[..bytes.len() - 32]);

    for (name, text) in [
        (
            "x25519-public",
            "otaseal1:x25519-public:".to_owned() + &"ab".repeat(32),
        ),
        (
            "ed25519-public",
            "# comment\notaseal1:ed25519-public:".to_owned() + &"3b".repeat(32),
        ),
        (
            "p256-public",
            "otaseal1:p256-public:04".to_owned() + &"11".repeat(64),
        ),
        (
            "ed25519-secret",
            "otaseal1:ed25519-secret:".to_owned() + &"07".repeat(32),
        ),
    ] {
        write("keytext", name, text.as_bytes());
    }
    for (name, text) in [
        ("partial", "bytes 0-65535/1048576"),
        ("star", "bytes 100-199/*"),
    ] {
        write("content_range", name, text.as_bytes());
    }
    println!("seed corpus written under fuzz/corpus/");
}
