//! The library's error type.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while planning or generating a dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `--scale` was zero, negative, not finite, or above [`crate::MAX_SCALE`].
    #[error("invalid scale {scale}: must be finite, > 0 and <= {max}", max = crate::MAX_SCALE)]
    InvalidScale {
        /// The rejected value.
        scale: f64,
    },

    /// The dataset would hold more than [`crate::MAX_FILES`] files.
    #[error("dataset would have {count} files, more than the limit of {max}", max = crate::MAX_FILES)]
    TooManyFiles {
        /// The requested number of files.
        count: u64,
    },

    /// The output directory already holds a dataset made from a different spec.
    #[error(
        "{path} describes a different dataset (preset {found}); \
         use another output directory or delete it first"
    )]
    SpecMismatch {
        /// The existing manifest.
        path: PathBuf,
        /// The preset recorded in the existing manifest.
        found: String,
    },

    /// A file system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done, e.g. "writing".
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// `dataset.json` could not be encoded or decoded.
    #[error("manifest {path}: {source}")]
    Manifest {
        /// The manifest's path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}
