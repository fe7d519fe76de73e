//! otaseal-ffi's one integration-test binary: the checked-in header is
//! current (`header`), and the same install scenario runs from C against
//! the staticlib (`c_program`) and from Python through ctypes against the
//! cdylib (`python`), standing in for Swift and Kotlin FFI; `abi` checks
//! the header's promises (parallel decryption, a failing store, the trust
//! anchors) by calling the `extern "C"` functions from Rust, and `decode`
//! installs compressed and delta bundles through them.

mod abi;
mod c_program;
mod common;
mod decode;
mod header;
mod python;
