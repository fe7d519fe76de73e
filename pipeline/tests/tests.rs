//! Every integration test in one binary, as ripgrep does (`autotests =
//! false` in Cargo.toml): the library, its dependencies and the test harness
//! are linked once instead of once per file. Each file below is a module;
//! run one with a name filter, e.g. `cargo test -p otaseal --test tests
//! trust_cli::`.

mod batch_util;
mod common;

mod batch_backends;
mod batch_bad_inputs;
mod batch_cli;
mod batch_index_vectors;
mod batch_lock;
mod batch_resume;
mod batch_shards;
mod batch_sigint;
mod blake3_official_vectors;
mod cli;
mod device_fetch_driver;
mod device_fetch_nginx;
mod device_policy_cli;
mod device_vectors;
mod json_paths;
mod keystore_cli;
mod keystore_hardening;
mod keystore_pkcs11;
mod keystore_vectors;
mod proptest_roundtrip;
mod session;
mod session_memory;
mod tamper;
mod trust_chain;
mod trust_cli;
mod trust_vectors;
mod vectors;
