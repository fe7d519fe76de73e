//! `otaseal index` on the batches of the library's batch index tests
//! (`pipeline/tests/batch_index_vectors.rs`, whose fixtures it shares:
//! `common::batch`).

use crate::common::batch::{name_in_shard, release, sealed_batch, signed, signer};
use crate::common::cmd::{run, stderr};
use otaseal::format::batch_index::{Release, ShardId};
use otaseal::keys::file::AnyKey;

fn trust_file(dir: &std::path::Path) -> String {
    let path = dir.join("sign.pub");
    let text = AnyKey::SigningPublic(signer().verifying_key())
        .to_text()
        .encode();
    std::fs::write(&path, format!("{}\n", text.as_str())).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The CLI: a mismatching header and a foreign shard entry exit 3 with the
/// reason; an index file is read with a cap (`/dev/zero` exits 4).
#[test]
fn index_cli_exit_codes_for_mismatches_and_endless_files() {
    let mine = name_in_shard(1, 2);
    let theirs = name_in_shard(2, 2);
    let (dir, entries) = sealed_batch(&[&mine, &theirs]);
    let trust = trust_file(dir.path());
    let path = dir.path().join("batch.index");
    let p = path.to_str().unwrap();

    std::fs::write(
        &path,
        signed(release(), ShardId::WHOLE, entries.clone()).to_bytes(),
    )
    .unwrap();
    let out = run(["index", "verify", p, "--trust", &trust]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let other = Release {
        sequence: 41,
        ..release()
    };
    std::fs::write(
        &path,
        signed(other, ShardId::WHOLE, entries.clone()).to_bytes(),
    )
    .unwrap();
    let out = run(["index", "verify", p, "--trust", &trust]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("the manifest's sequence"), "{stderr}");

    std::fs::write(
        &path,
        signed(release(), ShardId::new(1, 2).unwrap(), entries).to_bytes(),
    )
    .unwrap();
    for cmd in ["verify", "show"] {
        let out = run(["index", cmd, p, "--trust", &trust]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{cmd}: {stderr}");
        assert!(
            stderr.contains(&theirs) && stderr.contains("shard"),
            "{cmd}: {stderr}"
        );
    }

    for cmd in ["verify", "show"] {
        let out = run(["index", cmd, "/dev/zero", "--trust", &trust]);
        assert_eq!(
            out.status.code(),
            Some(4),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
