//! Every integration test that runs the `otaseal` binary, in one binary as
//! in the library (`autotests = false` in Cargo.toml; see
//! `pipeline/tests/tests.rs`). Only this package's tests get the binary's
//! path (`CARGO_BIN_EXE_otaseal`, in `common::cmd`). Each file below is a
//! module; run one with a name filter, e.g. `cargo test -p otaseal-cli
//! --test tests trust_cli::`.

mod batch_util;
mod common;

mod batch_backends;
mod batch_bad_inputs;
mod batch_cli;
mod batch_delta;
mod batch_index_vectors;
mod batch_lock;
mod batch_resume;
mod batch_shards;
mod batch_sigint;
mod cli;
mod device_fetch_nginx;
mod device_policy_cli;
mod json_paths;
mod keystore_cli;
mod keystore_hardening;
mod keystore_pkcs11;
mod trust_cli;
