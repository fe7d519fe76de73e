//! `include/otaseal.h` is what cbindgen generates from `src/lib.rs` now.

use std::path::Path;

#[test]
fn header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen could not generate the header")
        .write(&mut generated);
    let path = dir.join("include/otaseal.h");
    if std::env::var_os("OTASEAL_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{} is stale (the C API in ffi/src/lib.rs changed): regenerate it with\n\
         \n    OTASEAL_BLESS=1 cargo test -p otaseal-ffi header\n\n\
         and commit it",
        path.display()
    );
}
