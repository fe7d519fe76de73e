//! Checked-in test vectors (`tests/vectors/`): the tests build each file
//! from code and fail when the checked-in copy differs, as BLAKE3's
//! `test_checked_in_vectors_up_to_date` does, so a format change cannot
//! leave the vectors another implementation reads silently stale.
//!
//! `OTASEAL_REGEN_VECTORS=1 cargo test -p otaseal --test tests vectors` rewrites
//! them all instead; review the diff before committing it.

use serde_json::Value;
use std::path::PathBuf;

/// The variable that turns the comparison into a rewrite.
pub const REGEN: &str = "OTASEAL_REGEN_VECTORS";

/// `tests/vectors/<rel>` in this package.
pub fn vectors_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(rel)
}

/// The checked-in vectors `rel`, parsed.
pub fn load_vectors(rel: &str) -> Value {
    let path = vectors_path(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with {REGEN}=1", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compares `fresh` (pretty-printed, one final newline) with the checked-in
/// `rel` byte for byte, or writes it there when `$OTASEAL_REGEN_VECTORS` is
/// set.
pub fn check_vectors(rel: &str, fresh: &Value) {
    let path = vectors_path(rel);
    let text = serde_json::to_string_pretty(fresh).unwrap() + "\n";
    if std::env::var_os(REGEN).is_some() {
        // Through a rename: the file's other tests read it meanwhile.
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let tmp = path.with_extension("regen");
        std::fs::write(&tmp, &text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        return;
    }
    let stored = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with {REGEN}=1", path.display()));
    assert!(
        stored == text,
        "{} is stale: rerun with {REGEN}=1 and review the diff",
        path.display()
    );
}
