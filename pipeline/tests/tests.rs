//! Every integration test of the library in one binary, as ripgrep does
//! (`autotests = false` in Cargo.toml): the library, its dependencies and
//! the test harness are linked once instead of once per file. Each file
//! below is a module; run one with a name filter, e.g. `cargo test -p
//! otaseal --test tests trust_vectors::`. The tests that run the `otaseal`
//! binary are in the `otaseal-cli` package (`cli/tests/tests.rs`).

mod common;

mod batch_backends;
mod batch_delta;
mod batch_index_vectors;
mod blake3_official_vectors;
mod delta;
mod device_fetch_driver;
mod device_vectors;
mod keystore_vectors;
mod proptest_roundtrip;
mod session;
mod session_memory;
mod tamper;
mod trust_chain;
mod trust_vectors;
mod vectors;
mod vectors_v2;
