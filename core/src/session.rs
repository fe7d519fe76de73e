//! The device session: everything a device does with one bundle, without
//! doing any I/O itself (the shape of rustls or quinn-proto). It never opens
//! a socket or a file, starts a thread or reads a clock: the caller moves the
//! bytes, stores them and says what time it is, so the same core runs under
//! the CLI, a phone app's native layer or a boot loader.
//!
//! ```text
//! Session::new(manifest bytes, trust anchor, options {now, device policy})
//!    verify the manifest (signature, chain, table/root), then freshness and
//!    the device policy: a refusal is an error here, before any payload byte
//!  ─► needed()                       chunk-aligned range requests still missing
//!  ─► feed(offset, bytes, store)     any range, any order, any split: every
//!                                    chunk that completes is hashed against the
//!                                    signed table; `store` receives each one that
//!                                    verified (bytes + payload offset) and the
//!                                    report names those that failed (needed again)
//!  ─► unlock(device key); decrypt_chunk(i, stored bytes, out)
//!                                    only verified chunks, and only bytes that
//!                                    hash to the signed value again
//!  ─► finish()                       the install decision and the new device
//!                                    state bytes, once every chunk decrypted
//! export() / restore(record) / recheck(i, bytes): progress across a crash
//! check_chunk(i, bytes) (&self, any thread) ─► accept_checked(token) (&mut self):
//!                                    verifying many chunks in parallel
//! ```
//!
//! **Memory.** The session never holds the payload: verified chunks go to
//! the caller's `store` as they complete. It holds the parsed manifest (48
//! bytes per chunk for the signed table, plus the signer's chain and the
//! recipients: about the manifest's encoded size), three bits-as-bytes per
//! chunk (verified, claimed by a restored record, decrypted), the parsed
//! device state, and **one partial-chunk buffer of at most one chunk**,
//! allocated the first time a chunk arrives split across feeds and reused.
//! So the figure is *manifest + 3 bytes per chunk + one chunk (+ the device
//! state)*, whatever the payload's length; [`Session::needed`] and
//! [`Session::export`] briefly add one byte per chunk and their result. `tests/session_memory.rs` measures
//! the peak Rust heap while a multi-MiB bundle is fed in pieces, verified and
//! decrypted (with the caller's one plaintext buffer) and asserts it stays
//! within 2 × chunk size + manifest size + 16 KiB.
//!
//! **Partial chunks.** A chunk that arrives whole in one feed is verified in
//! the caller's slice, without a copy. Bytes of a chunk split across feeds
//! are held in the one buffer as a prefix of that chunk: a piece that starts
//! at a chunk's first byte opens the buffer (dropping a prefix of another
//! chunk held there, reported in [`FeedReport::dropped_partial`]), and a
//! piece that continues the held prefix (overlapping it or not) extends it;
//! bytes that cannot extend a contiguous prefix (a piece starting past it,
//! or mid-chunk with no prefix held) are not kept
//! ([`FeedReport::ignored_bytes`]) and the chunk stays needed. Requests from
//! [`Session::needed`] are chunk-aligned, so a transport that delivers them
//! in order (however cut) always completes them.
//!
//! **Crash and resume.** [`Session::export`] gives the fetch record
//! (`docs/FORMAT.md` §13) of the chunks the caller holds. It is a hint,
//! never trusted: [`Session::restore`] on a fresh session checks that it
//! names this bundle and marks its chunks *claimed*: not needed, but not
//! verified either. The caller hands the bytes it stored for each
//! ([`Session::to_recheck`]) back through [`Session::recheck`], which
//! verifies them; a chunk that fails is needed again. (Feeding a claimed
//! chunk's bytes works too.) Only verified chunks decrypt or count towards
//! completion.
//!
//! **Parallel verification.** [`Session::feed`] and [`Session::recheck`]
//! take `&mut self`. A caller that holds the payload (a file) and wants
//! every core hashes through `&self` instead: [`Session::check_chunk`]
//! verifies one chunk's bytes against the signed table and, only if they
//! match, returns a [`CheckedChunk`]: a token no other code can make, bound
//! to this session. [`Session::accept_checked`] (`&mut self`, cheap) then
//! records the chunk as verified, exactly as a feed would have; a token of
//! another session is refused ([`SessionError::ChunkNotVerified`]: this
//! session did not verify it).
//! [`Session::decrypt_chunk`] is unchanged: it still decrypts only recorded
//! chunks, and only bytes that hash to the signed value again.

use crate::cipher::Backend;
use crate::clock::Clock;
use crate::device::{self, Decision, TrustChanges, TrustSource, TrustUpdates};
use crate::error::{Error, ErrorKind, Result};
use crate::fetch::plan::{
    ChunkSet, DEFAULT_MAX_REQUEST_BYTES, FetchRequest, Geometry, plan_requests,
};
use crate::format::device_state::DeviceState;
use crate::format::fetch_record::FetchRecord;
use crate::format::{AppId, Channel, FormatError};
use crate::keys::RecipientSecretKey;
use crate::keys::trust::{RootTrust, TrustState};
use crate::open::encoded::EncodedTarget;
use crate::open::{ChunkKey, TrustAnchor, VerifiedManifest, verify_manifest};
use crate::policy::{self, Approval, PolicyOptions, VerifiedRollback};
use crate::prelude::*;
use core::ops::Range;
use core::sync::atomic::{AtomicU32, Ordering};

/// Why a session refused a call (as opposed to refusing a bundle, which is
/// a verification or policy error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    #[error("chunk {index} has not been verified by this session; it is not decrypted")]
    ChunkNotVerified { index: u32 },
    #[error("the session has no data key: unlock it with the device key before decrypting")]
    Locked,
    #[error("the fetch record is for another bundle: its {field} differs")]
    RecordMismatch { field: &'static str },
    #[error("the fetch record is damaged: {0}")]
    CorruptRecord(FormatError),
    #[error("corrupt device state: {0}")]
    CorruptState(FormatError),
    #[error(
        "{missing} of {count} chunks are not verified and decrypted yet; nothing can be recorded"
    )]
    Incomplete { missing: u32, count: u32 },
}

impl SessionError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::CorruptRecord(_) | Self::CorruptState(_) => ErrorKind::Malformed,
            Self::ChunkNotVerified { .. }
            | Self::Locked
            | Self::RecordMismatch { .. }
            | Self::Incomplete { .. } => ErrorKind::Request,
        }
    }
}

/// How a session is created.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// The current time, Unix seconds, read by the caller. Every check of
    /// the session uses it: the manifest's expiry, the device policy, and
    /// with a root the certificates' validity (the anchor's own clock is
    /// replaced by this reading).
    pub now: u64,
    /// Largest byte span of one request [`Session::needed`] returns.
    pub max_request_bytes: u64,
    /// The device's install policy. `None`: verify only (the manifest and
    /// its expiry); [`Session::finish`] then makes no install decision.
    pub install: Option<InstallPolicy>,
}

impl SessionOptions {
    /// Verify only, at `now`, with the default request size.
    pub fn new(now: u64) -> Self {
        Self {
            now,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            install: None,
        }
    }
}

/// What a device installing the bundle brings (`crate::policy`).
#[derive(Debug, Clone)]
pub struct InstallPolicy {
    /// The device state, as stored (`docs/FORMAT.md` §11).
    pub state: Vec<u8>,
    /// The application this install is for.
    pub app: AppId,
    /// The channel to follow from now on (required to provision an app).
    pub switch_channel: Option<Channel>,
    /// Refuse manifests without an expiry.
    pub require_expiry: bool,
    /// A verified rollback authorisation ([`policy::verify_rollback`]).
    pub rollback: Option<VerifiedRollback>,
}

impl InstallPolicy {
    /// An install of `app` on a device in `state`: stay on the recorded
    /// channel, accept manifests without an expiry, no rollback.
    pub fn new(state: Vec<u8>, app: AppId) -> Self {
        Self {
            state,
            app,
            switch_channel: None,
            require_expiry: false,
            rollback: None,
        }
    }
}

/// A trust anchor for a device that keeps its trust state as bytes.
#[derive(Debug, Clone)]
pub struct RootAnchor {
    /// The anchor to create sessions with.
    pub anchor: TrustAnchor,
    /// The updated trust state, for the caller to store in place of the old.
    pub trust_state: Vec<u8>,
    pub changes: TrustChanges,
}

/// Parses a stored trust state (`docs/FORMAT.md` §10.5) and applies the
/// rotation statements and revocation list the device was handed (each
/// authenticated on its own, `device::TrustUpdates`): a refused update is
/// an error and changes nothing. `now` is the verifier's time (Unix
/// seconds) for certificate validity; a [`Session`] made with the anchor
/// uses its own [`SessionOptions::now`] instead.
pub fn root_anchor(trust_state: &[u8], updates: &TrustUpdates, now: u64) -> Result<RootAnchor> {
    let kept = TrustState::from_bytes(trust_state)?;
    let (state, changes) = device::update_trust(TrustSource::State(&kept), updates)?;
    Ok(RootAnchor {
        trust_state: state.to_bytes(),
        anchor: TrustAnchor::Root(RootTrust::at(state, Clock::Fixed(now))),
        changes,
    })
}

/// A chunk that verified: store `bytes` at payload `offset`.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedChunk<'a> {
    pub index: u32,
    pub offset: u64,
    pub bytes: &'a [u8],
}

/// Proof that [`Session::check_chunk`] verified chunk [`index`](Self::index)
/// against the signed table of one session. Only `check_chunk` makes one (the
/// fields are private, and it is neither `Clone` nor `Default`); it is bound
/// to that session, whose [`Session::accept_checked`] alone takes it. It
/// holds no bytes: the caller keeps the bytes it checked, and
/// [`Session::decrypt_chunk`] hashes them again before decrypting.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a checked chunk counts as verified only once accepted"]
pub struct CheckedChunk {
    index: u32,
    session: u64,
}

impl CheckedChunk {
    /// The chunk that verified.
    pub fn index(&self) -> u32 {
        self.index
    }
}

/// Identifies each session of this process, to bind [`CheckedChunk`]s to it.
/// 64 bits where the target has 64-bit atomics; elsewhere (Cortex-M and other
/// 32-bit microcontrollers) 32 bits, which repeat only after 2^32 sessions —
/// and a token is only ever handed between two *live* sessions by mistake.
#[cfg(target_has_atomic = "64")]
static NEXT_SESSION_ID: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);
#[cfg(not(target_has_atomic = "64"))]
static NEXT_SESSION_ID: AtomicU32 = AtomicU32::new(1);

/// What one [`Session::feed`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedReport {
    /// Chunks that completed and verified (each handed to `store`).
    pub verified: Vec<u32>,
    /// Chunks that completed and did not verify: nothing of them was kept
    /// and they are needed again.
    pub failed: Vec<u32>,
    /// Bytes not kept: of chunks verified already, already buffered, or
    /// that could not extend the buffered prefix (see the module docs).
    pub ignored_bytes: u64,
    /// A chunk whose buffered prefix was dropped for another chunk's.
    pub dropped_partial: Option<u32>,
}

/// How a finished session ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// The install the device policy approved (`None` without a policy).
    pub approval: Option<Approval>,
    /// The device state recording it, for the caller to store in place of
    /// the old (`None` without a policy).
    pub device_state: Option<Vec<u8>>,
}

/// Where [`Session::feed_decrypt`] decrypts: the caller's buffer and its
/// plaintext sink. `None` for [`Session::feed`].
type Decrypt<'a> = Option<(&'a mut [u8], &'a mut dyn FnMut(u32, &[u8]) -> Result<()>)>;

/// A prefix of one chunk, assembled from pieces fed separately.
#[derive(Debug, Default)]
struct Partial {
    index: Option<u32>,
    /// The bytes held, from the chunk's start; capacity one chunk, kept.
    buf: Vec<u8>,
}

/// A per-chunk flag that decryption sets through `&self`, so chunks can be
/// decrypted from several threads at once.
#[derive(Debug)]
struct Flags {
    /// One bit per chunk, 32 to a word: 32-bit atomics exist on every
    /// target with atomics at all (Cortex-M included).
    words: Box<[AtomicU32]>,
    count: AtomicU32,
}

impl Flags {
    fn new(len: u32) -> Self {
        Self {
            words: (0..len.div_ceil(32)).map(|_| AtomicU32::new(0)).collect(),
            count: AtomicU32::new(0),
        }
    }

    fn set(&self, index: u32) {
        let bit = 1 << (index % 32);
        if let Some(w) = self.words.get(index as usize / 32)
            && w.fetch_or(bit, Ordering::Relaxed) & bit == 0
        {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn clear(&mut self, index: u32) {
        let bit = 1 << (index % 32);
        if let Some(w) = self.words.get_mut(index as usize / 32)
            && *w.get_mut() & bit != 0
        {
            *w.get_mut() &= !bit;
            *self.count.get_mut() -= 1;
        }
    }

    fn count(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }
}

/// `trust` checking at the caller's `now`: a root's own clock is replaced
/// by that reading, so a session reads no clock of its own and checks
/// everything at one time.
fn at_time(trust: &TrustAnchor, now: u64) -> alloc::borrow::Cow<'_, TrustAnchor> {
    match trust {
        TrustAnchor::Root(r) if r.clock != Clock::Fixed(now) => {
            alloc::borrow::Cow::Owned(TrustAnchor::Root(r.clone().with_clock(Clock::Fixed(now))))
        }
        _ => alloc::borrow::Cow::Borrowed(trust),
    }
}

/// One device's handling of one bundle. See the module docs.
#[derive(Debug)]
pub struct Session {
    verified: VerifiedManifest,
    geometry: Geometry,
    max_request_bytes: u64,
    /// Chunks whose bytes this session verified and handed to the caller.
    have: ChunkSet,
    /// Chunks a restored record lists, not verified yet.
    claimed: ChunkSet,
    decrypted: Flags,
    partial: Partial,
    key: Option<ChunkKey>,
    install: Option<(DeviceState, Decision)>,
    /// This session's [`CheckedChunk`] binding: unique in the process.
    id: u64,
}

impl Session {
    /// Verifies `manifest` against `trust` ([`verify_manifest`]), then its
    /// freshness and, with [`SessionOptions::install`], the device policy
    /// ([`device::decide_state`]: revocation floor, trust pin, application,
    /// expiry, channel, anti-downgrade, rollback). Any refusal is an error
    /// here: a session exists only for a bundle the device would install.
    pub fn new(manifest: &[u8], trust: &TrustAnchor, opts: SessionOptions) -> Result<Self> {
        let now = opts.now;
        let trust = &at_time(trust, now);
        let verified = verify_manifest(manifest, trust)?;
        let install = match opts.install {
            None => {
                policy::check_fresh(verified.manifest(), now, None)?;
                None
            }
            Some(p) => {
                let state = DeviceState::parse(&p.state).map_err(SessionError::CorruptState)?;
                let popts = PolicyOptions {
                    switch_channel: p.switch_channel,
                    require_expiry: p.require_expiry,
                    ..PolicyOptions::new(p.app, now)
                };
                let decision =
                    device::decide_state(&state, &verified, trust, p.rollback.as_ref(), popts)?;
                Some((state, decision))
            }
        };
        Ok(Self::with_verified(
            verified,
            opts.max_request_bytes,
            install,
        ))
    }

    /// A session that only inspects a bundle: the manifest is verified as by
    /// [`new`](Self::new) (signature, chain and certificates at `now`,
    /// table/root) but neither its expiry nor any device policy is checked,
    /// and [`finish`](Self::finish) makes no install decision. For
    /// forensics (`otaseal verify`/`open --ignore-expiry`) and for verifiers
    /// that apply the expiry and policy checks themselves, after the
    /// payload; never for installing.
    pub fn inspect(manifest: &[u8], trust: &TrustAnchor, now: u64) -> Result<Self> {
        let verified = verify_manifest(manifest, &at_time(trust, now))?;
        Ok(Self::with_verified(
            verified,
            DEFAULT_MAX_REQUEST_BYTES,
            None,
        ))
    }

    /// A verify-only session over a manifest verified already (the fetch
    /// store's, which is handed a [`VerifiedManifest`]).
    pub(crate) fn with_verified(
        verified: VerifiedManifest,
        max_request_bytes: u64,
        install: Option<(DeviceState, Decision)>,
    ) -> Self {
        let m = verified.manifest();
        let geometry = Geometry {
            payload_len: m.plaintext_len,
            chunk_size: m.chunk_size,
        };
        let n = verified.chunk_count();
        Self {
            geometry,
            max_request_bytes,
            have: ChunkSet::new(n),
            claimed: ChunkSet::new(n),
            decrypted: Flags::new(n),
            partial: Partial::default(),
            key: None,
            install,
            verified,
            #[allow(clippy::useless_conversion)] // u32 -> u64 where 64-bit atomics are missing
            id: NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed).into(),
        }
    }

    pub fn verified(&self) -> &VerifiedManifest {
        &self.verified
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The install the policy approved at creation (`None` without a policy).
    pub fn approval(&self) -> Option<&Approval> {
        self.install.as_ref().map(|(_, d)| d.approval())
    }

    /// The chunks verified so far.
    pub fn have(&self) -> &ChunkSet {
        &self.have
    }

    /// Whether every chunk has verified.
    pub fn is_complete(&self) -> bool {
        self.have.is_full()
    }

    /// The chunk whose prefix is buffered, and how many bytes of it.
    pub fn partial(&self) -> Option<(u32, u64)> {
        self.partial
            .index
            .map(|i| (i, self.partial.buf.len() as u64))
    }

    /// The range requests for every chunk neither verified nor claimed by a
    /// restored record: chunk-aligned, ascending, coalesced up to
    /// [`SessionOptions::max_request_bytes`] (`fetch::plan_requests`).
    pub fn needed(&self) -> Vec<FetchRequest> {
        let known = self.known();
        plan_requests(
            &self.geometry,
            &known,
            0..known.len(),
            self.max_request_bytes,
        )
    }

    /// [`needed`](Self::needed), only for the chunks holding payload bytes
    /// `range` (plaintext and payload offsets are the same): what to fetch
    /// to open part of the payload.
    pub fn needed_for(&self, range: Range<u64>) -> Result<Vec<FetchRequest>> {
        let chunks = self.verified.chunks_covering(range)?;
        Ok(plan_requests(
            &self.geometry,
            &self.known(),
            chunks,
            self.max_request_bytes,
        ))
    }

    /// The chunks verified or claimed.
    fn known(&self) -> ChunkSet {
        self.have.union(&self.claimed)
    }

    /// Takes payload bytes `bytes` starting at payload offset `offset`, from
    /// any range, in any order, split anywhere. Every chunk they complete is
    /// verified against the signed table; each that verifies is handed to
    /// `store` (the caller keeps it: the session does not) and only then
    /// counted as verified. A `store` error ends the feed with that error:
    /// the chunks stored before it stay verified, that chunk is not.
    ///
    /// A range outside the payload is [`Error::RangeOutOfBounds`] and
    /// changes nothing.
    pub fn feed<F>(&mut self, offset: u64, bytes: &[u8], mut store: F) -> Result<FeedReport>
    where
        F: FnMut(VerifiedChunk<'_>) -> Result<()>,
    {
        self.feed_inner(offset, bytes, &mut store, &mut None)
    }

    /// [`feed`](Self::feed) and [`decrypt_chunk`](Self::decrypt_chunk) in
    /// one step, hashing each chunk once instead of twice: every chunk the
    /// bytes complete is copied into `out` (at least the largest chunk's
    /// length), verified there (a copy no one else can change), handed to
    /// `store` (the ciphertext, for the caller to keep), decrypted in place
    /// and handed to `plain` with its index. The session must be unlocked.
    pub fn feed_decrypt<F, P>(
        &mut self,
        offset: u64,
        bytes: &[u8],
        out: &mut [u8],
        mut store: F,
        mut plain: P,
    ) -> Result<FeedReport>
    where
        F: FnMut(VerifiedChunk<'_>) -> Result<()>,
        P: FnMut(u32, &[u8]) -> Result<()>,
    {
        if self.key.is_none() {
            return Err(SessionError::Locked.into());
        }
        let most = self
            .geometry
            .chunk_size
            .bytes()
            .min(self.geometry.payload_len);
        if (out.len() as u64) < most {
            return Err(Error::InvalidRequest(format!(
                "the output buffer holds {} bytes; a chunk is up to {most}",
                out.len()
            )));
        }
        self.feed_inner(offset, bytes, &mut store, &mut Some((out, &mut plain)))
    }

    /// One whole chunk, received into the caller's buffer `buf`: verified
    /// there, handed to `store` (the ciphertext), then decrypted in place,
    /// so `buf` holds the plaintext when the report lists the chunk as
    /// verified (and zeros when it lists it as failed). Each chunk is hashed
    /// once and the session needs no buffer of its own: a device (a boot
    /// loader, an updater with one I/O buffer) reading chunk-aligned ranges
    /// needs one chunk of memory besides the manifest. The session must be
    /// unlocked; `buf` must be exactly chunk `index`; a chunk already
    /// verified is ignored (its bytes counted in `ignored_bytes`).
    pub fn feed_chunk_in_place<F>(
        &mut self,
        index: u32,
        buf: &mut [u8],
        mut store: F,
    ) -> Result<FeedReport>
    where
        F: FnMut(VerifiedChunk<'_>) -> Result<()>,
    {
        if self.key.is_none() {
            return Err(SessionError::Locked.into());
        }
        let r = self.verified.chunk_range(index)?;
        if buf.len() as u64 != r.end - r.start {
            return Err(Error::ChunkLength {
                index,
                expected: r.end - r.start,
                found: buf.len() as u64,
            });
        }
        let mut report = FeedReport::default();
        if self.have.contains(index) {
            report.ignored_bytes = buf.len() as u64;
            return Ok(report);
        }
        if self.partial.index == Some(index) {
            self.drop_partial();
        }
        self.claimed.remove(index);
        self.accept_decrypt(
            index,
            r.start,
            buf,
            &mut store,
            &mut |_, _| Ok(()),
            &mut report,
        )?;
        Ok(report)
    }

    fn feed_inner<F>(
        &mut self,
        offset: u64,
        bytes: &[u8],
        store: &mut F,
        dec: &mut Decrypt<'_>,
    ) -> Result<FeedReport>
    where
        F: FnMut(VerifiedChunk<'_>) -> Result<()>,
    {
        let len = self.geometry.payload_len;
        let end = offset
            .checked_add(bytes.len() as u64)
            .filter(|&end| end <= len)
            .ok_or(Error::RangeOutOfBounds {
                start: offset,
                end: offset.saturating_add(bytes.len() as u64),
                len,
            })?;
        // An empty payload is one empty chunk, completed by an empty feed.
        let chunks = if len == 0 {
            0..1
        } else {
            self.geometry.chunks_covering(offset..end)
        };
        let mut report = FeedReport::default();
        for index in chunks {
            let r = self.geometry.chunk_range(index);
            let (start, stop) = (offset.max(r.start), end.min(r.end));
            let piece = &bytes[(start - offset) as usize..(stop - offset) as usize];
            if self.have.contains(index) {
                report.ignored_bytes += piece.len() as u64;
            } else if start == r.start && stop == r.end {
                if self.partial.index == Some(index) {
                    self.drop_partial();
                }
                self.take_chunk(index, r.start, piece, store, dec, &mut report)?;
            } else {
                self.buffer(index, r, start, piece, store, dec, &mut report)?;
            }
        }
        Ok(report)
    }

    /// Adds a piece of chunk `index` (payload bytes `r`) starting at `start`
    /// to the buffered prefix, under the rules of the module docs, and
    /// verifies the chunk when the prefix is complete.
    #[allow(clippy::too_many_arguments)]
    fn buffer<F>(
        &mut self,
        index: u32,
        r: Range<u64>,
        start: u64,
        piece: &[u8],
        store: &mut F,
        dec: &mut Decrypt<'_>,
        report: &mut FeedReport,
    ) -> Result<()>
    where
        F: FnMut(VerifiedChunk<'_>) -> Result<()>,
    {
        if self.partial.index != Some(index) {
            if start != r.start {
                report.ignored_bytes += piece.len() as u64;
                return Ok(());
            }
            if let Some(old) = self.partial.index {
                report.dropped_partial = Some(old);
            }
            self.drop_partial();
            self.partial.index = Some(index);
        }
        let fill = r.start + self.partial.buf.len() as u64;
        let stop = start + piece.len() as u64;
        if start > fill || stop <= fill {
            report.ignored_bytes += piece.len() as u64;
            return Ok(());
        }
        report.ignored_bytes += fill - start;
        if self.partial.buf.capacity() == 0 {
            // One chunk, once: the largest chunk of this payload.
            let most = self
                .geometry
                .chunk_size
                .bytes()
                .min(self.geometry.payload_len);
            self.partial.buf.reserve_exact(most as usize);
        }
        self.partial
            .buf
            .extend_from_slice(&piece[(fill - start) as usize..]);
        if stop == r.end {
            // Taken out (keeping its allocation) so `take_chunk` can borrow the
            // session mutably while it reads the bytes.
            let buf = core::mem::take(&mut self.partial.buf);
            let accepted = self.take_chunk(index, r.start, &buf, store, dec, report);
            self.partial.buf = buf;
            self.drop_partial();
            accepted?;
        }
        Ok(())
    }

    fn drop_partial(&mut self) {
        self.partial.index = None;
        self.partial.buf.clear();
    }

    /// Verifies a complete chunk and, if it matches, stores and records it.
    fn take_chunk<F>(
        &mut self,
        index: u32,
        offset: u64,
        bytes: &[u8],
        store: &mut F,
        dec: &mut Decrypt<'_>,
        report: &mut FeedReport,
    ) -> Result<()>
    where
        F: FnMut(VerifiedChunk<'_>) -> Result<()>,
    {
        // Fresh bytes supersede a restored record's claim either way.
        self.claimed.remove(index);
        if let Some((out, plain)) = dec {
            let out = &mut out[..bytes.len()];
            out.copy_from_slice(bytes);
            return self.accept_decrypt(index, offset, out, store, &mut **plain, report);
        }
        match self.verified.verify_chunk(index, bytes) {
            Ok(()) => {
                store(VerifiedChunk {
                    index,
                    offset,
                    bytes,
                })?;
                self.have.insert(index);
                report.verified.push(index);
                Ok(())
            }
            Err(Error::ChunkHashMismatch { .. }) => {
                report.failed.push(index);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Verifies `bytes` as chunk `index` against the signed table, through
    /// `&self`: many chunks can be checked at once from several threads
    /// (the session is `Sync`). On success returns the [`CheckedChunk`] that
    /// [`accept_checked`](Self::accept_checked) records; a chunk of the
    /// wrong length is [`Error::ChunkLength`], bytes that do not hash to the
    /// signed value [`Error::ChunkHashMismatch`]. Nothing about the session
    /// changes either way: the bytes stay the caller's (nothing is stored)
    /// and a failed chunk keeps whatever state it had.
    pub fn check_chunk(&self, index: u32, bytes: &[u8]) -> Result<CheckedChunk> {
        self.verified.verify_chunk(index, bytes)?;
        Ok(CheckedChunk {
            index,
            session: self.id,
        })
    }

    /// Records a chunk [`check_chunk`](Self::check_chunk) verified: it counts
    /// as verified (the caller keeps its bytes, as after
    /// [`recheck`](Self::recheck)), is no longer needed nor claimed, and may
    /// be decrypted. A token another session made is refused as
    /// [`SessionError::ChunkNotVerified`] (this session did not verify it:
    /// the token says nothing about this session's manifest) and changes
    /// nothing.
    pub fn accept_checked(&mut self, chunk: CheckedChunk) -> Result<()> {
        if chunk.session != self.id {
            return Err(SessionError::ChunkNotVerified { index: chunk.index }.into());
        }
        self.claimed.remove(chunk.index);
        self.have.insert(chunk.index);
        if self.partial.index == Some(chunk.index) {
            self.drop_partial();
        }
        Ok(())
    }

    /// [`take_chunk`](Self::take_chunk) for [`feed_decrypt`](Self::feed_decrypt):
    /// `buf` is the session's copy of the chunk; verified, stored, then
    /// decrypted in place, hashed once.
    fn accept_decrypt<F>(
        &mut self,
        index: u32,
        offset: u64,
        buf: &mut [u8],
        store: &mut F,
        plain: &mut dyn FnMut(u32, &[u8]) -> Result<()>,
        report: &mut FeedReport,
    ) -> Result<()>
    where
        F: FnMut(VerifiedChunk<'_>) -> Result<()>,
    {
        match self.verified.verify_chunk(index, buf) {
            Ok(()) => {
                store(VerifiedChunk {
                    index,
                    offset,
                    bytes: buf,
                })?;
                self.have.insert(index);
                report.verified.push(index);
                let key = self.key.as_ref().ok_or(SessionError::Locked)?;
                key.open_verified_in_place(&self.verified, index, buf)?;
                self.decrypted.set(index);
                plain(index, buf)
            }
            Err(Error::ChunkHashMismatch { .. }) => {
                buf.fill(0);
                report.failed.push(index);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The fetch record (`docs/FORMAT.md` §13) of the chunks the caller
    /// holds: those verified, and those a restored record claimed that are
    /// not rechecked yet (still the caller's to recheck after the next
    /// restore). Store it as often as progress is worth keeping.
    pub fn export(&self) -> Result<Vec<u8>> {
        let record = FetchRecord::of_manifest(self.verified.manifest(), self.known().to_bits())?;
        Ok(record.to_bytes())
    }

    /// Takes a fetch record exported before a crash. It must name this
    /// bundle (id, root, geometry); its chunks become *claimed*: no longer
    /// [`needed`](Self::needed), but not verified until their bytes pass
    /// [`recheck`](Self::recheck) (or are fed again). Returns how many
    /// chunks it claimed.
    pub fn restore(&mut self, record: &[u8]) -> Result<u32> {
        let r = FetchRecord::parse(record).map_err(SessionError::CorruptRecord)?;
        r.check_bundle(self.verified.manifest())
            .map_err(|field| SessionError::RecordMismatch { field })?;
        let mut claimed = 0;
        for (i, _) in r.have.iter().enumerate().filter(|(_, h)| **h) {
            let i = i as u32;
            if !self.have.contains(i) && self.claimed.insert(i) {
                claimed += 1;
            }
        }
        Ok(claimed)
    }

    /// The chunks a restored record claimed that are not rechecked yet.
    pub fn to_recheck(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.claimed.len()).filter(move |&i| self.claimed.contains(i))
    }

    /// Verifies the bytes the caller holds for chunk `index` (what it stored
    /// before a crash, or any time since). Returns whether they verified: if
    /// so the chunk counts as verified (the caller keeps its bytes; nothing
    /// is handed to a store); if not, whatever the session thought of the
    /// chunk, it is needed again and not decrypted.
    pub fn recheck(&mut self, index: u32, bytes: &[u8]) -> Result<bool> {
        self.verified.chunk_range(index)?;
        self.claimed.remove(index);
        match self.verified.verify_chunk(index, bytes) {
            Ok(()) => {
                self.have.insert(index);
                if self.partial.index == Some(index) {
                    self.drop_partial();
                }
                Ok(true)
            }
            Err(Error::ChunkHashMismatch { .. } | Error::ChunkLength { .. }) => {
                self.have.remove(index);
                self.decrypted.clear(index);
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Unwraps the bundle's data key with the device's key, once, for
    /// [`decrypt_chunk`](Self::decrypt_chunk).
    pub fn unlock(&mut self, device: &RecipientSecretKey) -> Result<()> {
        self.unlock_with_backend(device, Backend::default())
    }

    pub fn unlock_with_backend(
        &mut self,
        device: &RecipientSecretKey,
        backend: Backend,
    ) -> Result<()> {
        self.key = Some(ChunkKey::new(&self.verified, device, backend)?);
        Ok(())
    }

    /// For a bundle sealed as an encoding (FORMAT.md §17, a version 2
    /// manifest): what it decodes to and the key to check that with, once
    /// the session is unlocked; `None` for a bundle sealed as itself. A
    /// device checks the base with it before decoding anything
    /// ([`EncodedTarget::check_base`]) and the output after
    /// ([`EncodedTarget::result_check`]; `open::encoded::apply` takes the
    /// checked base and checks the output around the decoder).
    pub fn encoded(&self) -> Result<Option<EncodedTarget>> {
        let Some(encoding) = &self.verified.manifest().encoding else {
            return Ok(None);
        };
        let key = self.key.as_ref().ok_or(SessionError::Locked)?;
        Ok(Some(EncodedTarget::new(
            encoding.clone(),
            key.digest_key.clone(),
        )))
    }

    /// Decrypts chunk `index` from `ciphertext` (the bytes the caller
    /// stored) into `out` (the chunk's length). Refuses a chunk this session
    /// has not verified, and bytes that do not hash to the signed value now
    /// (the stored copy changed since): the hash is computed again before
    /// decrypting. On error `out` holds no plaintext. Takes `&self`: chunks
    /// may be decrypted from several threads.
    pub fn decrypt_chunk(&self, index: u32, ciphertext: &[u8], out: &mut [u8]) -> Result<()> {
        self.verified.chunk_range(index)?;
        if !self.have.contains(index) {
            return Err(SessionError::ChunkNotVerified { index }.into());
        }
        let key = self.key.as_ref().ok_or(SessionError::Locked)?;
        key.decrypt_chunk(&self.verified, index, ciphertext, out)?;
        self.decrypted.set(index);
        Ok(())
    }

    /// Chunks decrypted so far (each counted once).
    pub fn decrypted_count(&self) -> u32 {
        self.decrypted.count()
    }

    /// Whether [`finish`](Self::finish) would accept the session: every
    /// chunk verified and decrypted, else [`SessionError::Incomplete`].
    /// For callers that must not lose the session to a refused `finish`
    /// (which consumes it).
    pub fn check_finished(&self) -> Result<()> {
        let count = self.verified.chunk_count();
        let done = self.decrypted_count();
        if done != count || !self.is_complete() {
            return Err(SessionError::Incomplete {
                missing: count - done.min(count),
                count,
            }
            .into());
        }
        Ok(())
    }

    /// Ends the session once every chunk has verified and decrypted: with an
    /// install policy, the approval and the device state recording it
    /// (`device::Decision::apply`, the same step as `device::Install::commit`),
    /// for the caller to store in place of the old state.
    pub fn finish(self) -> Result<Finished> {
        self.check_finished()?;
        Ok(match self.install {
            None => Finished {
                approval: None,
                device_state: None,
            },
            Some((mut state, decision)) => {
                decision.apply(&mut state);
                Finished {
                    device_state: Some(state.to_bytes()),
                    approval: Some(decision.approval().clone()),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KemId, SigningKey};
    use crate::seal::{SealOptions, seal_with_rng};
    use rand_core::SeedableRng;

    /// A bundle of `plain` in 16 KiB chunks, sealed deterministically from
    /// `seed`: the sealed files, the device key, the trust anchor, the options.
    fn sealed_bundle(
        seed: u64,
        plain: &[u8],
    ) -> (
        crate::seal::SealedBundle,
        RecipientSecretKey,
        TrustAnchor,
        crate::seal::SealOptions,
    ) {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let signer = crate::keys::SigningKey::generate(&mut rng);
        let device = RecipientSecretKey::generate(crate::keys::KemId::X25519, &mut rng);
        let mut o = crate::seal::SealOptions::new(
            "com.example.app".parse().unwrap(),
            "stable".parse().unwrap(),
            "1".parse().unwrap(),
            1,
        );
        o.created = 1_700_000_000;
        o.chunk_size = crate::format::ChunkSize::from_log2(14).unwrap();
        let sealed = crate::seal::seal_with_rng(
            plain,
            &o,
            &[device.public_key().clone()],
            &signer,
            &mut rng,
        )
        .unwrap();
        (
            sealed,
            device,
            TrustAnchor::SigningKey(signer.verifying_key()),
            o,
        )
    }

    /// `feed_chunk_in_place` leaves the plaintext in the caller's buffer,
    /// refuses a damaged chunk (zeroing the buffer), and the session
    /// finishes as after `feed` + `decrypt_chunk`.
    #[test]
    fn feed_chunk_in_place_decrypts_in_the_callers_buffer() {
        let plain: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        let (sealed, device, trust, o) = sealed_bundle(3, &plain);
        let mut s = Session::new(
            &sealed.manifest_bytes,
            &trust,
            SessionOptions::new(o.created),
        )
        .unwrap();
        let mut buf = sealed.payload[..16_384].to_vec();
        assert!(matches!(
            s.feed_chunk_in_place(0, &mut buf, |_| Ok(())),
            Err(Error::Session(SessionError::Locked))
        ));
        s.unlock(&device).unwrap();
        let mut out = Vec::new();
        for i in 0..3u32 {
            let r = s.geometry().chunk_range(i);
            let mut buf = sealed.payload[r.start as usize..r.end as usize].to_vec();
            if i == 1 {
                let mut bad = buf.clone();
                bad[5] ^= 1;
                let rep = s.feed_chunk_in_place(i, &mut bad, |_| Ok(())).unwrap();
                assert_eq!(rep.failed, [1]);
                assert!(
                    bad.iter().all(|b| *b == 0),
                    "no plaintext of a failed chunk"
                );
                assert!(s.decrypt_chunk(1, &buf, &mut vec![0; buf.len()]).is_err());
            }
            let rep = s.feed_chunk_in_place(i, &mut buf, |_| Ok(())).unwrap();
            assert_eq!(rep.verified, [i]);
            out.extend_from_slice(&buf);
        }
        assert_eq!(out, plain);
        assert!(matches!(
            s.feed_chunk_in_place(0, &mut [0u8; 5], |_| Ok(())),
            Err(Error::ChunkLength { .. })
        ));
        s.finish().unwrap();
    }

    /// `feed_decrypt` gives the plaintext in order, hashing each chunk once,
    /// from whole and split pieces, and refuses a damaged chunk.
    #[test]
    fn feed_decrypt_verifies_and_decrypts_in_one_step() {
        let plain: Vec<u8> = (0..5 * 16384 + 3).map(|i| (i * 7 % 251) as u8).collect();
        let (sealed, device, trust, o) = sealed_bundle(2, &plain);
        let p = &sealed.payload;
        for step in [p.len(), 16384, 10_000] {
            let mut s = Session::new(
                &sealed.manifest_bytes,
                &trust,
                SessionOptions::new(o.created),
            )
            .unwrap();
            let mut out = vec![0u8; 16384];
            assert!(
                s.feed_decrypt(0, &p[..10], &mut out, |_| Ok(()), |_, _| Ok(()))
                    .is_err()
            );
            s.unlock(&device).unwrap();
            let mut got = Vec::new();
            let mut stored = Vec::new();
            for at in (0..p.len()).step_by(step) {
                let end = (at + step).min(p.len());
                s.feed_decrypt(
                    at as u64,
                    &p[at..end],
                    &mut out,
                    |c| {
                        stored.extend_from_slice(c.bytes);
                        Ok(())
                    },
                    |_, b| {
                        got.extend_from_slice(b);
                        Ok(())
                    },
                )
                .unwrap();
            }
            assert_eq!(got, plain, "step {step}");
            assert_eq!(&stored, p, "step {step}");
            s.finish().unwrap();
        }
        let mut s = Session::new(
            &sealed.manifest_bytes,
            &trust,
            SessionOptions::new(o.created),
        )
        .unwrap();
        s.unlock(&device).unwrap();
        let mut bad = p[..16384].to_vec();
        bad[5] ^= 1;
        let mut out = vec![0u8; 16384];
        let r = s
            .feed_decrypt(0, &bad, &mut out, |_| Ok(()), |_, _| panic!("no plaintext"))
            .unwrap();
        assert_eq!(r.failed, [0]);
        assert!(out.iter().all(|b| *b == 0));
    }

    /// A session can be shared across threads (decrypting chunks in
    /// parallel through `&Session`) and moved between them.
    #[test]
    fn a_session_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Session>();
    }

    /// The memory claim at its source: chunks split across feeds go through
    /// one buffer, allocated once at one chunk's size and reused, never
    /// grown; the chunks a feed holds whole are not copied into it.
    #[test]
    fn one_partial_buffer_of_one_chunk_reused() {
        let plain = vec![7u8; 5 * 16384 + 3];
        let (sealed, _device, trust, o) = sealed_bundle(1, &plain);
        let opts = SessionOptions::new(o.created);
        let p = &sealed.payload;

        let mut whole = Session::new(&sealed.manifest_bytes, &trust, opts.clone()).unwrap();
        whole.feed(0, p, |_| Ok(())).unwrap();
        assert!(whole.is_complete());
        assert_eq!(whole.partial.buf.capacity(), 0);

        let mut s = Session::new(&sealed.manifest_bytes, &trust, opts).unwrap();
        let mut first = None;
        for at in (0..p.len()).step_by(10_000) {
            let end = (at + 10_000).min(p.len());
            s.feed(at as u64, &p[at..end], |_| Ok(())).unwrap();
            assert_eq!(s.partial.buf.capacity(), 16384);
            let ptr = s.partial.buf.as_ptr();
            assert_eq!(*first.get_or_insert(ptr), ptr, "the buffer was reallocated");
        }
        assert!(s.is_complete());
    }

    /// Two 16 KiB-chunk bundles of `len` bytes for one device, and a
    /// session option set for them.
    fn two_bundles(
        len: usize,
    ) -> (
        crate::seal::SealedBundle,
        crate::seal::SealedBundle,
        TrustAnchor,
        RecipientSecretKey,
        SessionOptions,
    ) {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let signer = SigningKey::generate(&mut rng);
        let device = RecipientSecretKey::generate(KemId::X25519, &mut rng);
        let mut o = SealOptions::new(
            "com.example.app".parse().unwrap(),
            "stable".parse().unwrap(),
            "1".parse().unwrap(),
            1,
        );
        o.chunk_size = crate::format::ChunkSize::from_log2(14).unwrap();
        let recipients = [device.public_key().clone()];
        let a: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let b: Vec<u8> = (0..len).map(|i| (i * 11) as u8).collect();
        let sa = seal_with_rng(&a, &o, &recipients, &signer, &mut rng).unwrap();
        let sb = seal_with_rng(&b, &o, &recipients, &signer, &mut rng).unwrap();
        let trust = TrustAnchor::SigningKey(signer.verifying_key());
        (sa, sb, trust, device, SessionOptions::new(o.created))
    }

    /// Chunks checked through `&Session` on several threads, then accepted,
    /// end exactly like fed ones: decrypted, finished. Until accepted a
    /// checked chunk is not verified (not decrypted, still needed); a
    /// failed check changes nothing.
    #[test]
    fn chunks_checked_in_parallel_then_accepted_decrypt_and_finish() {
        let (sealed, _, trust, device, opts) = two_bundles(5 * 16384 + 3);
        let p = &sealed.payload;
        let mut s = Session::new(&sealed.manifest_bytes, &trust, opts).unwrap();
        let n = s.verified().chunk_count();
        let geometry = *s.geometry();
        let chunk = |i: u32| {
            let r = geometry.chunk_range(i);
            &p[r.start as usize..r.end as usize]
        };
        let shared = &s;
        let tokens: Vec<CheckedChunk> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n)
                .map(|i| scope.spawn(move || shared.check_chunk(i, chunk(i)).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(
            tokens.iter().map(CheckedChunk::index).collect::<Vec<_>>(),
            (0..n).collect::<Vec<_>>()
        );
        // Checked, not yet accepted: nothing is verified.
        assert_eq!(s.have().count(), 0);
        assert_eq!(s.needed().len(), 1);
        s.unlock(&device).unwrap();
        let mut out = vec![0u8; 16384];
        assert!(matches!(
            s.decrypt_chunk(0, chunk(0), &mut out),
            Err(Error::Session(SessionError::ChunkNotVerified { index: 0 }))
        ));
        // A damaged or short chunk does not check, and changes nothing.
        let mut bad = chunk(2).to_vec();
        bad[5] ^= 1;
        assert!(matches!(
            s.check_chunk(2, &bad),
            Err(Error::ChunkHashMismatch { index: 2 })
        ));
        assert!(matches!(
            s.check_chunk(2, &bad[1..]),
            Err(Error::ChunkLength { index: 2, .. })
        ));
        assert!(matches!(
            s.check_chunk(n, &bad),
            Err(Error::ChunkIndexOutOfRange { .. })
        ));
        for t in tokens {
            s.accept_checked(t).unwrap();
        }
        assert!(s.is_complete());
        assert!(s.needed().is_empty());
        let mut plain = Vec::new();
        for i in 0..n {
            let c = chunk(i);
            let mut out = vec![0u8; c.len()];
            s.decrypt_chunk(i, c, &mut out).unwrap();
            plain.extend_from_slice(&out);
        }
        assert_eq!(
            plain,
            (0..p.len()).map(|i| (i * 7) as u8).collect::<Vec<_>>()
        );
        s.finish().unwrap();
    }

    /// A token is bound to the session that checked it: another session,
    /// for another manifest (or even the same one), refuses it and records
    /// nothing, so a chunk verified against one signed table can never
    /// count as verified against another.
    #[test]
    fn a_checked_chunk_is_accepted_only_by_its_own_session() {
        let (a, b, trust, _, opts) = two_bundles(3 * 16384);
        let mut sa = Session::new(&a.manifest_bytes, &trust, opts.clone()).unwrap();
        let sb = Session::new(&b.manifest_bytes, &trust, opts.clone()).unwrap();
        let from_b = sb.check_chunk(1, &b.payload[16384..2 * 16384]).unwrap();
        assert!(matches!(
            sa.accept_checked(from_b),
            Err(Error::Session(SessionError::ChunkNotVerified { index: 1 }))
        ));
        assert_eq!(sa.have().count(), 0);
        // B's bytes do not check against A's table either.
        assert!(sa.check_chunk(1, &b.payload[16384..2 * 16384]).is_err());
        // Another session of the same bundle: refused as well.
        let sa2 = Session::new(&a.manifest_bytes, &trust, opts).unwrap();
        let from_a2 = sa2.check_chunk(0, &a.payload[..16384]).unwrap();
        assert!(matches!(
            sa.accept_checked(from_a2),
            Err(Error::Session(SessionError::ChunkNotVerified { index: 0 }))
        ));
        assert_eq!(sa.have().count(), 0);
        let own = sa.check_chunk(0, &a.payload[..16384]).unwrap();
        sa.accept_checked(own).unwrap();
        assert_eq!(sa.have().count(), 1);
    }

    /// `inspect` verifies the manifest but not its expiry.
    #[test]
    fn inspect_verifies_the_manifest_but_not_its_expiry() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let signer = SigningKey::generate(&mut rng);
        let other = SigningKey::generate(&mut rng);
        let device = RecipientSecretKey::generate(KemId::X25519, &mut rng);
        let mut o = SealOptions::new(
            "com.example.app".parse().unwrap(),
            "stable".parse().unwrap(),
            "1".parse().unwrap(),
            1,
        );
        o.expires = Some(o.created + 10);
        let sealed = seal_with_rng(
            b"abc",
            &o,
            &[device.public_key().clone()],
            &signer,
            &mut rng,
        )
        .unwrap();
        let trust = TrustAnchor::SigningKey(signer.verifying_key());
        let later = o.created + 11;
        assert!(Session::new(&sealed.manifest_bytes, &trust, SessionOptions::new(later)).is_err());
        let mut s = Session::inspect(&sealed.manifest_bytes, &trust, later).unwrap();
        s.feed(0, &sealed.payload, |_| Ok(())).unwrap();
        assert!(s.is_complete());
        let wrong = TrustAnchor::SigningKey(other.verifying_key());
        assert!(Session::inspect(&sealed.manifest_bytes, &wrong, later).is_err());
    }
}
