//! otaseal-ffi's one integration-test binary: the checked-in header is
//! current (`header`), and the same install scenario runs from C against
//! the staticlib (`c_program`) and from Python through ctypes against the
//! cdylib (`python`), standing in for Swift and Kotlin FFI.

mod c_program;
mod common;
mod header;
mod python;
