//! Partial, resumable, verified downloads of a sealed payload.
//!
//! The payload of a sealed bundle is a sequence of chunks, each checkable on
//! its own against the signed manifest. This module lets a device fetch it in
//! pieces from any transport:
//!
//! - [`PartialPayload`]: the download on disk. Which ranges to fetch for a
//!   plaintext range ([`PartialPayload::requests_for`]), accept chunk `i`
//!   ([`PartialPayload::accept_chunk`], which verifies before anything is
//!   written), is it complete ([`PartialPayload::is_complete`]); a record of
//!   verified chunks lets a killed process resume, re-verifying what is on
//!   disk before trusting it.
//! - [`plan`]: the pure range arithmetic (chunk sets, coalesced requests).
//! - [`fetch_missing`]: the retrying download loop over a [`Source`], any
//!   transport that can return a byte range (or, like a server that ignores
//!   ranges, the whole file, which is streamed and verified chunk by chunk).
//!   The HTTP source lives in the `otaseal` command (crate `otaseal-cli`);
//!   [`parse_content_range`] is here for any HTTP transport.
//!
//! Plaintext and payload offsets are the same (AES-GCM chunks keep their
//! length; tags live in the manifest), so "plaintext bytes A..B" maps to the
//! chunks covering payload bytes A..B.

mod content_range;
#[cfg(feature = "std")]
mod driver;
pub mod plan;
#[cfg(feature = "std")]
mod store;

pub use content_range::parse_content_range;
#[cfg(feature = "std")]
pub use driver::{
    Body, DEFAULT_MIN_RATE, DEFAULT_RATE_WINDOW, FetchOptions, FetchReport, MAX_RETRY_PAUSE, Paced,
    Source, TransferLimits, fetch_missing,
};
pub use plan::{ChunkSet, FetchRequest, Geometry, plan_requests};
#[cfg(feature = "std")]
pub use store::{DEFAULT_RECORD_INTERVAL, PartialPayload, ResumeInfo, partial_paths};

use crate::error::ErrorKind;
use crate::prelude::*;

/// Why a download failed.
///
/// Every failure but one is a *download* failure (network, server, too slow,
/// deadline: [`ErrorKind::Network`], exit 9; rerunning resumes). The
/// exception is a chunk given up on after the source sent bytes for it that
/// did not verify: the file served does not match the signed manifest, which
/// retrying the same source will not fix ([`ErrorKind::Verification`],
/// exit 3). FORMAT.md §13.4.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    #[error("{url}: {message}")]
    Transport { url: String, message: String },
    #[error("{url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {reason}")]
    BadResponse { url: String, reason: String },
    /// A chunk failed `attempts` times; nothing of it was kept.
    #[error("gave up on chunk {index} after {attempts} failed attempts{} (last: {last})",
        if *.bad_data { ", bytes sent for it did not match the signed manifest" } else { "" })]
    TooManyFailures {
        index: u32,
        attempts: u32,
        last: String,
        /// At least one attempt brought bytes that did not verify (not only
        /// transfer errors).
        bad_data: bool,
    },
    /// The download's deadline passed before every chunk arrived.
    #[error("the deadline passed before the payload was complete")]
    DeadlineExceeded,
}

impl FetchError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::TooManyFailures { bad_data: true, .. } => ErrorKind::Verification,
            _ => ErrorKind::Network,
        }
    }
}
