//! The C ABI of otaseal's device session (`otaseal::session`): opaque
//! handles, `(pointer, length)` buffers, and status codes that are the
//! `otaseal` command's exit codes. The header is `include/otaseal.h`,
//! generated from this file by cbindgen (the doc comments here are its
//! documentation); `docs/EMBEDDING.md` is the guide, and
//! `tests/c/session_test.c` the worked example.
//!
//! Every entry point returns an `int32_t` status (0 or an `OTASEAL_ERR_*`
//! code) and runs under `catch_unwind`: no panic crosses the boundary (one
//! becomes [`OTASEAL_ERR_INTERNAL`]). Every pointer is checked for NULL
//! before use; a `(NULL, 0)` buffer is an empty one.

use otaseal_core::error::{Error, ErrorKind};
use otaseal_core::format::device_state::DeviceState;
use otaseal_core::format::keytext::KeyText;
use otaseal_core::format::{AppId, Channel};
use otaseal_core::keys::trust::{RootTrust, TrustState};
use otaseal_core::keys::{KemId, RecipientSecretKey, VerifyingKey};
use otaseal_core::open::TrustAnchor;
use otaseal_core::policy::ApprovalKind;
use otaseal_core::session::{
    FeedReport, InstallPolicy, Session, SessionError, SessionOptions, VerifiedChunk,
};
use std::cell::RefCell;
use std::ffi::{c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

// ---------------------------------------------------------------------------
// Status codes
// ---------------------------------------------------------------------------

/// Success.
pub const OTASEAL_OK: i32 = 0;
/// The call itself is invalid: a NULL pointer, a buffer too small, a chunk
/// not verified yet, the session locked or finished, a record of another
/// bundle, a chunk of an encoded bundle asked for as plaintext (it is a
/// patch: `otaseal_session_decode` installs it), an encoded bundle in a
/// build without the `encoding` feature (the CLI's usage error, exit 2).
pub const OTASEAL_ERR_USAGE: i32 = 2;
/// A signature, hash, tag or length did not verify (exit 3).
pub const OTASEAL_ERR_VERIFICATION: i32 = 3;
/// Malformed manifest, key, device state, trust state or fetch record (exit 4).
pub const OTASEAL_ERR_MALFORMED: i32 = 4;
/// The key cannot be used: not a recipient, invalid, wrong kind (exit 5).
pub const OTASEAL_ERR_KEY: i32 = 5;
/// I/O failed; here: the store callback returned non-zero (exit 6).
pub const OTASEAL_ERR_IO: i32 = 6;
/// A passphrase or PIN did not unlock a key (exit 7; not produced by this ABI).
pub const OTASEAL_ERR_UNLOCK: i32 = 7;
/// The device policy refused the manifest: downgrade, replay, other app or
/// channel, expired (exit 8).
pub const OTASEAL_ERR_POLICY: i32 = 8;
/// A download failed (exit 9; not produced by this ABI, which does no I/O).
pub const OTASEAL_ERR_NETWORK: i32 = 9;
/// A resource is busy (exit 10; not produced by this ABI).
pub const OTASEAL_ERR_BUSY: i32 = 10;
/// A delta's base is not the installed version it applies to (exit 11):
/// fetch the full bundle.
pub const OTASEAL_ERR_WRONG_BASE: i32 = 11;
/// An encoded bundle did not decode to its signed result (exit 12).
pub const OTASEAL_ERR_BAD_DELTA: i32 = 12;
/// The certificate chain was rejected: expired, not yet valid, channel, app,
/// usage, untrusted root (exit 20).
pub const OTASEAL_ERR_TRUST: i32 = 20;
/// The signing key or one of its certificates is revoked (exit 21).
pub const OTASEAL_ERR_REVOKED: i32 = 21;
/// A trust update was refused: replayed revocation list, bad root
/// rotation, corrupt trust state (exit 22).
pub const OTASEAL_ERR_TRUST_UPDATE: i32 = 22;
/// The key is suspended (exit 23; not produced by this ABI).
pub const OTASEAL_ERR_SUSPENDED: i32 = 23;
/// The audit log is damaged (exit 24; not produced by this ABI).
pub const OTASEAL_ERR_AUDIT_LOG: i32 = 24;
/// Interrupted (exit 130; not produced by this ABI).
pub const OTASEAL_ERR_INTERRUPTED: i32 = 130;
/// An internal error: a panic inside the library, caught at the boundary
/// (70, `EX_SOFTWARE`; the CLI has no such exit code). A session handle
/// whose call panicked refuses every later call but `otaseal_session_free`.
pub const OTASEAL_ERR_INTERNAL: i32 = 70;

/// "No chunk" in an `uint32_t` chunk index field.
pub const OTASEAL_NO_CHUNK: u32 = u32::MAX;

/// The status code of an error kind: the `otaseal` command's exit code for
/// it (README, "Exit codes"), which the library defines
/// ([`ErrorKind::code`]); the constants above name them for C.
pub fn code_for(kind: ErrorKind) -> i32 {
    i32::from(kind.code())
}

/// A failed call: its status code and message.
#[derive(Debug)]
struct Failure {
    code: i32,
    message: String,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self {
            code: code_for(e.kind()),
            message: e.to_string(),
        }
    }
}

impl From<SessionError> for Failure {
    fn from(e: SessionError) -> Self {
        Error::from(e).into()
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: OTASEAL_ERR_USAGE,
        message: message.into(),
    }
}

fn malformed(message: impl Into<String>) -> Failure {
    Failure {
        code: OTASEAL_ERR_MALFORMED,
        message: message.into(),
    }
}

type Res<T = ()> = Result<T, Failure>;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_last_error(message: String) {
    // `try_with`: a thread being torn down has no slot left; the code
    // still tells what happened.
    let _ = LAST_ERROR.try_with(|m| *m.borrow_mut() = message);
}

/// Runs one entry point: a panic becomes [`OTASEAL_ERR_INTERNAL`], an error
/// its code; either sets this thread's last error message, success clears it.
fn guard(f: impl FnOnce() -> Res) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => {
            set_last_error(String::new());
            OTASEAL_OK
        }
        Ok(Err(e)) => {
            set_last_error(e.message);
            e.code
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            set_last_error(format!("internal error (a bug in otaseal): {what}"));
            OTASEAL_ERR_INTERNAL
        }
    }
}

// ---------------------------------------------------------------------------
// Pointer checks
// ---------------------------------------------------------------------------

/// The caller's `(ptr, len)` buffer; `(NULL, 0)` is empty.
///
/// # Safety
/// Unless NULL, `ptr` points to `len` readable bytes that stay unchanged
/// for `'a`.
unsafe fn bytes_in<'a>(ptr: *const u8, len: usize, what: &str) -> Res<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(usage(format!("{what} is NULL with length {len}")));
    }
    if len > isize::MAX as usize {
        return Err(usage(format!("{what} is longer than isize::MAX")));
    }
    // SAFETY: non-NULL, at most isize::MAX bytes, and the caller guarantees
    // (the function's contract) that `len` bytes are readable for `'a`.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The caller's writable `(ptr, len)` buffer; `(NULL, 0)` is empty.
///
/// # Safety
/// Unless NULL, `ptr` points to `len` writable bytes, not otherwise
/// accessed for `'a`.
unsafe fn bytes_out<'a>(ptr: *mut u8, len: usize, what: &str) -> Res<&'a mut [u8]> {
    if len == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(usage(format!("{what} is NULL with length {len}")));
    }
    if len > isize::MAX as usize {
        return Err(usage(format!("{what} is longer than isize::MAX")));
    }
    // SAFETY: non-NULL, at most isize::MAX bytes, and the caller guarantees
    // `len` writable bytes that nothing else accesses meanwhile.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// The caller's out-parameter, written without ever being read or
/// referenced: the caller may pass uninitialised memory (a `bool` or enum
/// field holding garbage), which a Rust reference must not point to.
#[derive(Debug)]
struct Out<T>(*mut T);

impl<T> Out<T> {
    fn set(&self, value: T) {
        // SAFETY: `out_param`'s contract: valid for writes and aligned;
        // `write` neither reads nor drops the old contents.
        unsafe { self.0.write(value) }
    }
}

/// # Safety
/// Unless NULL, `ptr` is valid for writes of a `T`, suitably aligned, and
/// nothing else accesses it until the entry point returns.
unsafe fn out_param<T>(ptr: *mut T, what: &str) -> Res<Out<T>> {
    if ptr.is_null() {
        return Err(usage(format!("{what} is NULL")));
    }
    Ok(Out(ptr))
}

/// An optional out-parameter: NULL is allowed and nothing is written.
///
/// # Safety
/// As [`out_param`].
unsafe fn out_opt<T>(ptr: *mut T) -> Option<Out<T>> {
    (!ptr.is_null()).then_some(Out(ptr))
}

/// An element array the library fills: `out` holds `*count` elements on
/// entry (may be NULL if that is 0); on return `*count` is how many there
/// are in all, and the first `min(capacity, total)` are written.
///
/// # Safety
/// `count` is valid for reads and writes; unless NULL, `out` points to
/// `*count` writable elements.
unsafe fn fill<T: Copy>(out: *mut T, count: *mut usize, items: &[T]) -> Res {
    if count.is_null() {
        return Err(usage("count is NULL"));
    }
    // SAFETY: non-NULL, and the caller guarantees it is valid for reads and
    // writes (a `size_t` capacity: every bit pattern is a value).
    let cap = unsafe { count.read() };
    // SAFETY: as above.
    unsafe { count.write(items.len()) };
    if cap == 0 || items.is_empty() {
        return Ok(());
    }
    if out.is_null() {
        return Err(usage("out is NULL with a non-zero count"));
    }
    let n = cap.min(items.len());
    // SAFETY: `out` is non-NULL and the caller guarantees `cap >= n`
    // writable elements; `items` is a distinct Rust allocation.
    unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), out, n) };
    Ok(())
}

// ---------------------------------------------------------------------------
// Owned buffers, messages, version
// ---------------------------------------------------------------------------

/// Bytes the library allocated and the caller owns: free them with
/// `otaseal_buffer_free` (once; it resets the buffer to `{NULL, 0}`). An
/// empty buffer may have a non-NULL `ptr`; `{NULL, 0}` is always safe to free.
#[repr(C)]
#[derive(Debug)]
pub struct OtasealBuffer {
    pub ptr: *mut u8,
    pub len: usize,
}

impl OtasealBuffer {
    const EMPTY: Self = Self {
        ptr: std::ptr::null_mut(),
        len: 0,
    };

    fn from_vec(v: Vec<u8>) -> Self {
        let b = v.into_boxed_slice();
        let len = b.len();
        Self {
            ptr: Box::into_raw(b).cast::<u8>(),
            len,
        }
    }
}

/// Input bytes: a `(pointer, length)` pair, for arrays of documents.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct OtasealBytes {
    pub ptr: *const u8,
    pub len: usize,
}

/// Frees a buffer the library returned and sets it to `{NULL, 0}`. NULL,
/// or a buffer already `{NULL, 0}`, is a no-op.
///
/// # Safety
/// `buf` is NULL or points to an `OtasealBuffer` this library filled in and
/// that was not freed since (or modified).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_buffer_free(buf: *mut OtasealBuffer) {
    // SAFETY: the caller guarantees `buf` is NULL or a valid buffer.
    let Some(buf) = (unsafe { buf.as_mut() }) else {
        return;
    };
    if !buf.ptr.is_null() {
        let slice = std::ptr::slice_from_raw_parts_mut(buf.ptr, buf.len);
        // SAFETY: `ptr`/`len` came from `Box::<[u8]>::into_raw` in
        // `OtasealBuffer::from_vec` and were not freed (the contract).
        drop(unsafe { Box::from_raw(slice) });
    }
    *buf = OtasealBuffer::EMPTY;
}

/// Copies this thread's last error message (UTF-8) into `buf` as a
/// NUL-terminated string, truncated to `cap - 1` bytes, and returns its
/// full length in bytes without the NUL (as `snprintf` does): call with
/// `(NULL, 0)` to size the buffer. Empty after a call that succeeded. The
/// message never contains key material. Never fails.
///
/// # Safety
/// Unless NULL, `buf` points to `cap` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_last_error_message(buf: *mut c_char, cap: usize) -> usize {
    let r = catch_unwind(AssertUnwindSafe(|| {
        LAST_ERROR
            .try_with(|m| {
                let m = m.borrow();
                if !buf.is_null() && cap > 0 {
                    let n = m.len().min(cap - 1);
                    // SAFETY: `buf` has `cap > n` writable bytes (the
                    // contract) and does not overlap the Rust-owned message.
                    unsafe {
                        std::ptr::copy_nonoverlapping(m.as_ptr(), buf.cast::<u8>(), n);
                        *buf.add(n) = 0;
                    }
                }
                m.len()
            })
            .unwrap_or(0)
    }));
    r.unwrap_or(0)
}

/// The library's version, a static NUL-terminated string (do not free).
#[unsafe(no_mangle)]
pub extern "C" fn otaseal_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/// Parses a key in the library's key encoding (the text line of a key
/// file, `docs/FORMAT.md` §3.3: `otaseal1:<alg>-<public|secret>:<hex>`,
/// optionally after `#` comment lines). The parsed secret is zeroized on drop.
fn key_text(bytes: &[u8], what: &str) -> Res<KeyText> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| malformed(format!("{what} is not an otaseal key line (not UTF-8)")))?;
    KeyText::parse(text).map_err(|e| Failure::from(Error::from(e)))
}

fn signing_public(bytes: &[u8], what: &str) -> Res<VerifyingKey> {
    match key_text(bytes, what)? {
        KeyText::Ed25519Public(b) => Ok(VerifyingKey::from_bytes(&b)?),
        other => Err(Error::InvalidKey {
            what: if other.is_secret() {
                "a secret key was given where a signing public key is expected"
            } else {
                "not an ed25519 signing public key"
            },
        }
        .into()),
    }
}

fn recipient_secret(bytes: &[u8]) -> Res<RecipientSecretKey> {
    let key = match key_text(bytes, "the device key")? {
        KeyText::X25519Secret(b) => RecipientSecretKey::from_secret_bytes(KemId::X25519, &b)?,
        KeyText::P256Secret(b) => RecipientSecretKey::from_secret_bytes(KemId::P256, &b)?,
        _ => {
            return Err(Error::InvalidKey {
                what: "not a device (x25519 or p256) secret key",
            }
            .into());
        }
    };
    Ok(key)
}

/// Writes a new, empty device state (`docs/FORMAT.md` §11; what `otaseal
/// state init` creates) to `out`: a device provisioned with nothing
/// installed. `pin_key`, unless `(NULL, 0)`, is a signing or root public key
/// (key text) the state pins: later installs must be verified by that anchor.
///
/// # Safety
/// `pin_key` is `(NULL, 0)` or `pin_key_len` readable bytes; `out` is a
/// valid `OtasealBuffer` to write (its old contents are not freed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_device_state_new(
    pin_key: *const u8,
    pin_key_len: usize,
    out: *mut OtasealBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: the caller guarantees `out` is valid unless NULL.
        let out = unsafe { out_param(out, "out") }?;
        out.set(OtasealBuffer::EMPTY);
        // SAFETY: `pin_key_len` readable bytes unless NULL (the contract).
        let pin = unsafe { bytes_in(pin_key, pin_key_len, "pin_key") }?;
        let pin = if pin.is_empty() {
            None
        } else {
            Some(signing_public(pin, "pin_key")?.key_id())
        };
        out.set(OtasealBuffer::from_vec(DeviceState::new(pin).to_bytes()));
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// Trust anchors
// ---------------------------------------------------------------------------

/// What a device trusts to sign manifests: a pinned signing key, or a root
/// key (pinned alone or as a stored trust state). Immutable once made: one
/// may be shared by any number of threads and sessions.
#[derive(Debug)]
pub struct OtasealTrust {
    anchor: TrustAnchor,
}

fn new_trust(out: *mut *mut OtasealTrust, f: impl FnOnce() -> Res<TrustAnchor>) -> i32 {
    guard(|| {
        // SAFETY: the caller guarantees `out` is valid unless NULL.
        let out = unsafe { out_param(out, "out") }?;
        out.set(std::ptr::null_mut());
        let anchor = f()?;
        out.set(Box::into_raw(Box::new(OtasealTrust { anchor })));
        Ok(())
    })
}

/// A trust anchor that accepts manifests signed directly by one signing key
/// (`--trust` on the command line). `key` is its public key text
/// (`otaseal1:ed25519-public:<hex>`). Writes the new handle to `*out`
/// (NULL on error); free it with `otaseal_trust_free`.
///
/// # Safety
/// `key` is `key_len` readable bytes; `out` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_trust_from_signing_key(
    key: *const u8,
    key_len: usize,
    out: *mut *mut OtasealTrust,
) -> i32 {
    new_trust(out, || {
        // SAFETY: `key_len` readable bytes unless NULL (the contract).
        let key = unsafe { bytes_in(key, key_len, "key") }?;
        Ok(TrustAnchor::SigningKey(signing_public(key, "key")?))
    })
}

/// A trust anchor that accepts manifests whose certificate chain ends at
/// this pinned root (`--root`): `key` is the root's public key text. No
/// revocation list is known; use `otaseal_trust_from_state` to keep one.
///
/// # Safety
/// As `otaseal_trust_from_signing_key`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_trust_from_root_key(
    key: *const u8,
    key_len: usize,
    out: *mut *mut OtasealTrust,
) -> i32 {
    new_trust(out, || {
        // SAFETY: `key_len` readable bytes unless NULL (the contract).
        let key = unsafe { bytes_in(key, key_len, "key") }?;
        let root = signing_public(key, "key")?;
        Ok(TrustAnchor::Root(RootTrust::new(TrustState::new(root))))
    })
}

/// A trust anchor from a stored trust state (`docs/FORMAT.md` §10.5: the
/// pinned root, the roots it superseded, the newest revocation list), after
/// applying the root rotation statements `rotations[0..rotations_count]`
/// (oldest first) and then the revocation list `revocations` (`(NULL, 0)`:
/// none), each authenticated on its own. A refused update is an error
/// (`OTASEAL_ERR_TRUST_UPDATE`) and changes nothing. On success `*out` is
/// the anchor and `*new_state` the updated trust state, for the caller to
/// store in place of the old one (free it with `otaseal_buffer_free`).
/// The session uses the caller's `now` for certificate validity.
///
/// # Safety
/// `state` is `state_len` readable bytes; `rotations` is NULL (with count
/// 0) or `rotations_count` `OtasealBytes`, each `(NULL, 0)` or readable;
/// `revocations` is `(NULL, 0)` or readable; `out` and `new_state` are
/// valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_trust_from_state(
    state: *const u8,
    state_len: usize,
    rotations: *const OtasealBytes,
    rotations_count: usize,
    revocations: *const u8,
    revocations_len: usize,
    out: *mut *mut OtasealTrust,
    new_state: *mut OtasealBuffer,
) -> i32 {
    new_trust(out, || {
        // SAFETY: the caller guarantees `new_state` is valid unless NULL.
        let new_state = unsafe { out_param(new_state, "new_state") }?;
        new_state.set(OtasealBuffer::EMPTY);
        // SAFETY: `state_len` readable bytes unless NULL (the contract).
        let state = unsafe { bytes_in(state, state_len, "state") }?;
        let rotations: &[OtasealBytes] = if rotations_count == 0 {
            &[]
        } else if rotations.is_null() {
            return Err(usage("rotations is NULL with a non-zero count"));
        } else {
            // SAFETY: non-NULL, and the caller guarantees `rotations_count`
            // readable elements.
            unsafe { std::slice::from_raw_parts(rotations, rotations_count) }
        };
        // SAFETY: `revocations_len` readable bytes unless NULL (the contract).
        let revocations = unsafe { bytes_in(revocations, revocations_len, "revocations") }?;
        // What `session::root_anchor` does (its `device::TrustUpdates`
        // argument is outside the device-side API this crate uses): the
        // updates apply to a copy, in order, rotations first.
        let mut trust = TrustState::from_bytes(state)?;
        for (i, r) in rotations.iter().enumerate() {
            // SAFETY: each element is `(NULL, 0)` or readable (the contract).
            let bytes = unsafe { bytes_in(r.ptr, r.len, &format!("rotations[{i}]")) }?;
            trust.apply_rotation(bytes)?;
        }
        if !revocations.is_empty() {
            trust.apply_revocation_list(revocations)?;
        }
        // Nothing after this can fail: `new_trust` only boxes the anchor.
        new_state.set(OtasealBuffer::from_vec(trust.to_bytes()));
        Ok(TrustAnchor::Root(RootTrust::new(trust)))
    })
}

/// Frees a trust anchor. NULL is a no-op. Sessions made with it do not
/// need it any more (each keeps its own copy).
///
/// # Safety
/// `trust` is NULL or a handle from `otaseal_trust_from_*`, not freed
/// since, and not in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_trust_free(trust: *mut OtasealTrust) {
    if !trust.is_null() {
        // SAFETY: a pointer from `Box::into_raw` in `new_trust`, not freed
        // since (the contract). Dropping cannot panic.
        drop(unsafe { Box::from_raw(trust) });
    }
}

// ---------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------

/// How a session is created. Zero-initialise it, then set `now` and, to
/// make an install decision, `app_id` and `device_state`.
#[repr(C)]
#[derive(Debug)]
pub struct OtasealOptions {
    /// The current time, Unix seconds, read by the caller: every check of
    /// the session (expiry, certificates, policy) uses it.
    pub now: u64,
    /// Largest byte span of one range `otaseal_session_needed` returns
    /// (0: the library's default, 8 MiB).
    pub max_request_bytes: u64,
    /// The application this install is for (UTF-8, not NUL-terminated).
    /// `(NULL, 0)`: verify only, and `otaseal_session_finish` makes no
    /// install decision.
    pub app_id: *const u8,
    pub app_id_len: usize,
    /// With `app_id`: the device state as stored (`otaseal_device_state_new`
    /// for a fresh device). Required with `app_id`: a missing state is never
    /// taken for an empty one.
    pub device_state: *const u8,
    pub device_state_len: usize,
    /// With `app_id`: the channel to follow from now on (required to
    /// provision an application the state does not know). `(NULL, 0)`: stay
    /// on the recorded channel.
    pub switch_channel: *const u8,
    pub switch_channel_len: usize,
    /// With `app_id`: refuse manifests without an expiry.
    pub require_expiry: bool,
}

/// One device's handling of one bundle (see `docs/EMBEDDING.md`).
///
/// Thread safety: a session may be moved to and used from any thread, one
/// call at a time: the caller serialises calls on one handle (a mutex).
/// The one exception is `otaseal_session_decrypt_chunk`, which any number
/// of threads may call at once on one handle, as long as no other call on
/// that handle runs meanwhile. Different handles are independent.
#[derive(Debug)]
pub struct OtasealSession {
    /// `None` once finished.
    session: Option<Session>,
    /// Set while a mutating call runs: still set on entry means an earlier
    /// call panicked half-way, and the session is not used again.
    busy: bool,
    last: FeedReport,
    /// For a bundle sealed as an encoding: whether `otaseal_session_decode`
    /// produced exactly the signed result. `otaseal_session_finish` needs it.
    decoded: bool,
}

impl OtasealSession {
    fn live(&self) -> Res<&Session> {
        if self.busy {
            return Err(Failure {
                code: OTASEAL_ERR_INTERNAL,
                message: "the session is unusable after an internal error; free it".into(),
            });
        }
        self.session
            .as_ref()
            .ok_or_else(|| usage("the session is finished"))
    }
}

/// # Safety
/// `s` is NULL or a live handle, not used mutably by another thread.
unsafe fn session_ref<'a>(s: *const OtasealSession) -> Res<&'a OtasealSession> {
    // SAFETY: the caller guarantees a live handle unless NULL.
    unsafe { s.as_ref() }.ok_or_else(|| usage("session is NULL"))
}

/// Runs `f` on the session, marking it busy meanwhile (see `busy`).
///
/// # Safety
/// `s` is NULL or a live handle no other thread uses meanwhile.
unsafe fn with_session<T>(
    s: *mut OtasealSession,
    f: impl FnOnce(&mut Session, &mut OtasealSession) -> Res<T>,
) -> Res<T> {
    // SAFETY: the caller guarantees a live, exclusive handle unless NULL.
    let h = unsafe { s.as_mut() }.ok_or_else(|| usage("session is NULL"))?;
    h.live()?;
    h.busy = true;
    let mut session = h.session.take().expect("live() checked it");
    let r = f(&mut session, h);
    h.session = Some(session);
    h.busy = false;
    r
}

/// Verifies `manifest` against `trust` (signature, certificate chain,
/// table/root), then its freshness and, with `opts->app_id`, the device
/// policy (anti-downgrade, app, channel, expiry, trust pin): any refusal is
/// an error here, before any payload byte (a downgrade or replay is
/// `OTASEAL_ERR_POLICY`). On success `*out` is the new session (free it
/// with `otaseal_session_free`); NULL on error. The session keeps its own
/// copy of what it needs: `manifest`, `trust` and `opts`' buffers may be
/// released after the call.
///
/// # Safety
/// `manifest` is `manifest_len` readable bytes; `trust` a live trust
/// handle; `opts` NULL or a valid `OtasealOptions` whose buffers are
/// `(NULL, 0)` or readable; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_session_new(
    manifest: *const u8,
    manifest_len: usize,
    trust: *const OtasealTrust,
    opts: *const OtasealOptions,
    out: *mut *mut OtasealSession,
) -> i32 {
    guard(|| {
        // SAFETY: the caller guarantees `out` is valid unless NULL.
        let out = unsafe { out_param(out, "out") }?;
        out.set(std::ptr::null_mut());
        // SAFETY: `manifest_len` readable bytes unless NULL (the contract).
        let manifest = unsafe { bytes_in(manifest, manifest_len, "manifest") }?;
        // SAFETY: a live trust handle unless NULL (the contract).
        let trust = unsafe { trust.as_ref() }.ok_or_else(|| usage("trust is NULL"))?;
        // SAFETY: a valid options struct unless NULL (the contract).
        let opts = unsafe { opts.as_ref() }.ok_or_else(|| usage("opts is NULL"))?;
        let mut o = SessionOptions::new(opts.now);
        if opts.max_request_bytes != 0 {
            o.max_request_bytes = opts.max_request_bytes;
        }
        // SAFETY: each buffer is `(NULL, 0)` or readable (the contract).
        let (app, state, channel) = unsafe {
            (
                bytes_in(opts.app_id, opts.app_id_len, "app_id")?,
                bytes_in(opts.device_state, opts.device_state_len, "device_state")?,
                bytes_in(
                    opts.switch_channel,
                    opts.switch_channel_len,
                    "switch_channel",
                )?,
            )
        };
        if !app.is_empty() {
            if state.is_empty() {
                return Err(usage(
                    "an install (app_id) needs the device state; a fresh device's is otaseal_device_state_new",
                ));
            }
            fn text<'a>(b: &'a [u8], what: &str) -> Res<&'a str> {
                std::str::from_utf8(b).map_err(|_| malformed(format!("{what} is not UTF-8")))
            }
            let app: AppId = text(app, "app_id")?
                .parse()
                .map_err(|e| Failure::from(Error::from(e)))?;
            let mut p = InstallPolicy::new(state.to_vec(), app);
            if !channel.is_empty() {
                let c: Channel = text(channel, "switch_channel")?
                    .parse()
                    .map_err(|e| Failure::from(Error::from(e)))?;
                p.switch_channel = Some(c);
            }
            p.require_expiry = opts.require_expiry;
            o.install = Some(p);
        } else if !state.is_empty() || !channel.is_empty() {
            return Err(usage(
                "device_state and switch_channel need app_id (the application installed)",
            ));
        }
        let session = Session::new(manifest, &trust.anchor, o)?;
        // A bundle sealed as an encoding (FORMAT.md §17) decrypts to a patch
        // or a compressed stream, not to the bundle: a build that cannot
        // decode it refuses it here, so no C caller installs one as if it
        // were the bundle.
        #[cfg(not(feature = "encoding"))]
        session.verified().refuse_encoded()?;
        out.set(Box::into_raw(Box::new(OtasealSession {
            session: Some(session),
            busy: false,
            last: FeedReport::default(),
            decoded: false,
        })));
        Ok(())
    })
}

/// Frees a session (finished or not). NULL is a no-op.
///
/// # Safety
/// `session` is NULL or a handle from `otaseal_session_new`, not freed
/// since, and not in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_session_free(session: *mut OtasealSession) {
    if !session.is_null() {
        // SAFETY: a pointer from `Box::into_raw` in `otaseal_session_new`,
        // not freed since (the contract).
        let b = unsafe { Box::from_raw(session) };
        // A drop that panicked must not unwind into C; the memory is then leaked.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(b)));
    }
}

/// What a session is about.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct OtasealSessionInfo {
    /// Payload length in bytes (equal to the plaintext's).
    pub payload_len: u64,
    /// Chunk size in bytes; every chunk but the last is this long.
    pub chunk_size: u64,
    pub chunk_count: u32,
    /// Chunks verified so far.
    pub verified_count: u32,
    /// Chunks decrypted so far.
    pub decrypted_count: u32,
    /// Whether every chunk has verified.
    pub complete: bool,
    /// The bundle's release sequence (what anti-downgrade compares).
    pub sequence: u64,
    /// The manifest's creation time, Unix seconds.
    pub created: u64,
    /// The manifest's expiry, Unix seconds (0: none).
    pub expires: u64,
}

/// Writes what the session is about and how far it got to `*out`.
///
/// # Safety
/// `session` is a live handle; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_session_info(
    session: *const OtasealSession,
    out: *mut OtasealSessionInfo,
) -> i32 {
    guard(|| {
        // SAFETY: live handle unless NULL; `out` valid unless NULL (the contract).
        let (h, out) = unsafe { (session_ref(session)?, out_param(out, "out")?) };
        let s = h.live()?;
        let m = s.verified().manifest();
        out.set(OtasealSessionInfo {
            payload_len: m.plaintext_len,
            chunk_size: m.chunk_size.bytes(),
            chunk_count: s.verified().chunk_count(),
            verified_count: s.have().count(),
            decrypted_count: s.decrypted_count(),
            complete: s.is_complete(),
            sequence: m.sequence,
            created: m.created,
            expires: m.expires.unwrap_or(0),
        });
        Ok(())
    })
}

/// Writes chunk `index`'s byte range in the payload (equal to its
/// plaintext's range) to `*offset` and `*len`.
///
/// # Safety
/// `session` is a live handle; `offset` and `len` valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_session_chunk_range(
    session: *const OtasealSession,
    index: u32,
    offset: *mut u64,
    len: *mut u64,
) -> i32 {
    guard(|| {
        // SAFETY: as the function's contract.
        let (h, offset, len) = unsafe {
            (
                session_ref(session)?,
                out_param(offset, "offset")?,
                out_param(len, "len")?,
            )
        };
        let r = h.live()?.verified().chunk_range(index)?;
        offset.set(r.start);
        len.set(r.end - r.start);
        Ok(())
    })
}

/// One range request: payload bytes `offset .. offset + len`, which are
/// chunks `first_chunk .. first_chunk + chunk_count`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtasealRange {
    pub offset: u64,
    pub len: u64,
    pub first_chunk: u32,
    pub chunk_count: u32,
}

/// The range requests for every chunk neither verified nor claimed by a
/// restored record: chunk-aligned, ascending, each at most
/// `max_request_bytes`. `*count` is `out`'s capacity on entry and the
/// number of requests on return; the first `min(capacity, number)` are
/// written (call with `*count == 0` to size `out`). None left: 0.
///
/// # Safety
/// `session` is a live handle; `count` valid; `out` NULL (capacity 0) or
/// `*count` writable `OtasealRange`s.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_session_needed(
    session: *const OtasealSession,
    out: *mut OtasealRange,
    count: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: live handle unless NULL (the contract).
        let s = unsafe { session_ref(session) }?.live()?;
        let ranges: Vec<OtasealRange> = s
            .needed()
            .into_iter()
            .map(|r| OtasealRange {
                offset: r.bytes.start,
                len: r.bytes.end - r.bytes.start,
                first_chunk: r.chunks.start,
                chunk_count: r.chunks.end - r.chunks.start,
            })
            .collect();
        // SAFETY: `out`/`count` as the contract says.
        unsafe { fill(out, count, &ranges) }
    })
}

/// Receives each chunk that verified during `otaseal_session_feed`: store
/// `len` bytes at payload `offset` (chunk `index`). The bytes are valid only
/// during the call (they may be the session's own buffer). Return 0; any
/// other value ends the feed with `OTASEAL_ERR_IO`, and that chunk is not
/// counted as verified (it stays needed). It runs on the thread that called
/// `otaseal_session_feed`, and must not call into the same session.
pub type OtasealStoreFn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        index: u32,
        offset: u64,
        bytes: *const u8,
        len: usize,
    ) -> i32,
>;

/// What one `otaseal_session_feed` did. The indices of the chunks are
/// read with `otaseal_session_last_verified` / `otaseal_session_last_failed`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct OtasealFeedReport {
    /// Chunks that completed and verified (each handed to `store`).
    pub verified_count: u32,
    /// Chunks that completed and did not verify: nothing of them was kept,
    /// and they are needed again.
    pub failed_count: u32,
    /// Bytes not kept: of chunks verified already, already buffered, or that
    /// could not extend the buffered prefix of a split chunk.
    pub ignored_bytes: u64,
    /// A chunk whose buffered prefix was dropped for another chunk's
    /// (`OTASEAL_NO_CHUNK`: none).
    pub dropped_partial: u32,
    /// Whether every chunk has verified now.
    pub complete: bool,
}

/// Takes payload bytes `bytes[0..len]` found at payload offset `offset`:
/// any range, in any order, split anywhere. Every chunk they complete is
/// hashed against the signed table; each that verifies is handed to
/// `store(ctx, ...)` (the session keeps no payload: the caller stores it)
/// and then counted as verified; each that does not is reported failed
/// and needed again. A corrupted chunk is not an error: the call succeeds
/// and `report->failed_count` says so. A range outside the payload is
/// `OTASEAL_ERR_USAGE` and changes nothing. `store` may be NULL if the
/// caller keeps every byte it feeds itself. `report` may be NULL.
///
/// # Safety
/// `session` is a live handle used by no other thread meanwhile; `bytes`
/// is `len` readable bytes; `store`, if not NULL, is safe to call with
/// `ctx`; `report` NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_session_feed(
    session: *mut OtasealSession,
    offset: u64,
    bytes: *const u8,
    len: usize,
    store: OtasealStoreFn,
    ctx: *mut c_void,
    report: *mut OtasealFeedReport,
) -> i32 {
    guard(|| {
        // SAFETY: NULL or valid for a write (the contract).
        let report = unsafe { out_opt(report) };
        // SAFETY: `len` readable bytes unless NULL (the contract).
        let bytes = unsafe { bytes_in(bytes, len, "bytes") }?;
        let feed = |s: &mut Session, h: &mut OtasealSession| {
            h.last = FeedReport::default();
            // SAFETY: the caller guarantees `store` may be called with `ctx`.
            let rep = s.feed(offset, bytes, unsafe { store_with(store, ctx) })?;
            finish_feed(s, h, rep, report);
            Ok(())
        };
        // SAFETY: a live handle no other thread uses (the contract).
        unsafe { with_session(session, feed) }
    })
}

/// The indices of the chunks the last successful `otaseal_session_feed`
/// verified, in the element-array convention of `otaseal_session_needed`.
///
/// # Safety
/// As `otaseal_session_needed`, with `uint32_t` elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_session_last_verified(
    session: *const OtasealSession,
    out: *mut u32,
    count: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: as the function's contract.
        unsafe {
            let h = session_ref(session)?;
            h.live()?;
            fill(out, count, &h.last.verified)
        }
    })
}

/// The indices of the chunks the last successful `otaseal_session_feed`
/// found corrupted (needed again), as `otaseal_session_last_verified`.
///
/// # Safety
/// As `otaseal_session_needed`, with `uint32_t` elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_session_last_failed(
    session: *const OtasealSession,
    out: *mut u32,
    count: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: as the function's contract.
        unsafe {
            let h = session_ref(session)?;
            h.live()?;
            fill(out, count, &h.last.failed)
        }
    })
}

/// The caller's store callback as the session's `store`: a non-zero return
/// is an I/O error naming the chunk.
///
/// # Safety
/// `store`, if not NULL, is safe to call with `ctx`.
unsafe fn store_with(
    store: OtasealStoreFn,
    ctx: *mut c_void,
) -> impl FnMut(VerifiedChunk<'_>) -> Result<(), Error> {
    move |c: VerifiedChunk<'_>| {
        let Some(f) = store else { return Ok(()) };
        // SAFETY: the caller guarantees `store` may be called with `ctx`;
        // the bytes are valid for the call.
        let rc = unsafe { f(ctx, c.index, c.offset, c.bytes.as_ptr(), c.bytes.len()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(Error::io(
                format!("chunk {} (store callback)", c.index),
                std::io::Error::other(format!("the store callback returned {rc}")),
            ))
        }
    }
}

/// Records a feed's report in the handle and, if asked, in `report`.
fn finish_feed(
    s: &Session,
    h: &mut OtasealSession,
    rep: FeedReport,
    report: Option<Out<OtasealFeedReport>>,
) {
    if let Some(out) = report {
        out.set(OtasealFeedReport {
            verified_count: rep.verified.len() as u32,
            failed_count: rep.failed.len() as u32,
            ignored_bytes: rep.ignored_bytes,
            dropped_partial: rep.dropped_partial.unwrap_or(OTASEAL_NO_CHUNK),
            complete: s.is_complete(),
        });
    }
    h.last = rep;
}

/// One whole chunk `index`, received into the caller's buffer
/// `buf[0..len]` (exactly the chunk's length, `otaseal_session_chunk_range`):
/// hashed once against the signed table there, handed to `store` (the
/// ciphertext, as `otaseal_session_feed` does), then decrypted in place, so
/// that on return `buf` holds the chunk's plaintext if the report counts it
/// verified, and zeros if it counts it failed (needed again). The session
/// must be unlocked (`OTASEAL_ERR_USAGE` otherwise). With this, a device
/// needs one chunk-sized buffer besides the session, and each chunk is
/// hashed once instead of twice (feed, then decrypt): the fast path for
/// chunk-aligned downloads. A chunk already verified is left as it is
/// (`ignored_bytes`). `store` and `report` may be NULL.
///
/// # Safety
/// `session` is a live handle used by no other thread meanwhile; `buf` is
/// `len` readable and writable bytes; `store`, if not NULL, is safe to call
/// with `ctx`; `report` NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_session_feed_chunk_in_place(
    session: *mut OtasealSession,
    index: u32,
    buf: *mut u8,
    len: usize,
    store: OtasealStoreFn,
    ctx: *mut c_void,
    report: *mut OtasealFeedReport,
) -> i32 {
    guard(|| {
        // SAFETY: NULL or valid for a write (the contract).
        let report = unsafe { out_opt(report) };
        // SAFETY: `len` writable bytes unless NULL (the contract).
        let buf = unsafe { bytes_out(buf, len, "buf") }?;
        let feed = |s: &mut Session, h: &mut OtasealSession| {
            // An encoded bundle's chunks decrypt to the encoding, not the
            // bundle: only `otaseal_session_decode` hands that out, checked.
            s.verified().refuse_encoded()?;
            h.last = FeedReport::default();
            // SAFETY: the caller guarantees `store` may be called with `ctx`.
            let rep = s.feed_chunk_in_place(index, buf, unsafe { store_with(store, ctx) })?;
            finish_feed(s, h, rep, report);
            Ok(())
        };
        // SAFETY: a live handle no other thread uses (the contract).
        unsafe { with_session(session, feed) }
    })
}

/// Unwraps the bundle's data key with the device's secret key, once, for
/// `otaseal_session_decrypt_chunk`. `key` is the key in the library's key
/// encoding: the text of a device key file
/// (`otaseal1:x25519-secret:<hex>` or `otaseal1:p256-secret:<hex>`), not
/// NUL-terminated. The library parses it in place and zeroizes its own
/// copies; the caller should wipe its buffer after the call. A key the
/// bundle is not sealed for is `OTASEAL_ERR_KEY`.
///
/// # Safety
/// `session` is a live handle used by no other thread meanwhile; `key` is
/// `key_len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_session_unlock(
    session: *mut OtasealSession,
    key: *const u8,
    key_len: usize,
) -> i32 {
    guard(|| {
        // SAFETY: `key_len` readable bytes unless NULL (the contract).
        let key = unsafe { bytes_in(key, key_len, "key") }?;
        let device = recipient_secret(key)?;
        // SAFETY: a live handle no other thread uses (the contract).
        unsafe { with_session(session, |s, _| Ok(s.unlock(&device)?)) }
    })
}

/// Decrypts chunk `index` from `ciphertext` (the bytes the caller stored
/// for it) into `out`, which must hold at least the chunk's length
/// (`otaseal_session_chunk_range`); exactly that many bytes are written.
/// Refuses a chunk this session has not verified (`OTASEAL_ERR_USAGE`),
/// a locked session (`OTASEAL_ERR_USAGE`), and bytes that no longer hash
/// to the signed value (`OTASEAL_ERR_VERIFICATION`: the hash is computed
/// again first). On error `out` holds no plaintext.
///
/// Several threads may call this at once on one session (decrypting
/// different chunks in parallel), as long as no other call runs on it.
///
/// # Safety
/// `session` is a live handle; `ciphertext` is `ciphertext_len` readable
/// bytes; `out` is `out_len` writable bytes, overlapping neither.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_session_decrypt_chunk(
    session: *const OtasealSession,
    index: u32,
    ciphertext: *const u8,
    ciphertext_len: usize,
    out: *mut u8,
    out_len: usize,
) -> i32 {
    guard(|| {
        // SAFETY: as the function's contract.
        let (h, ct, out) = unsafe {
            (
                session_ref(session)?,
                bytes_in(ciphertext, ciphertext_len, "ciphertext")?,
                bytes_out(out, out_len, "out")?,
            )
        };
        let s = h.live()?;
        // As in `otaseal_session_feed_chunk_in_place`.
        s.verified().refuse_encoded()?;
        let r = s.verified().chunk_range(index)?;
        let n = (r.end - r.start) as usize;
        if out.len() < n {
            return Err(usage(format!(
                "out holds {} bytes; chunk {index} is {n}",
                out.len()
            )));
        }
        let out = &mut out[..n];
        s.decrypt_chunk(index, ct, out)?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// Encoded bundles (FORMAT.md §17): compressed bundles and deltas
// ---------------------------------------------------------------------------

/// What a bundle is sealed as (`otaseal_session_encoding`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct OtasealEncodingInfo {
    /// 0: sealed as itself (its chunks decrypt to the bundle); otherwise the
    /// encoding's code (FORMAT.md §17.2: 1 zstd, 2 zstd-patch, 3 bsdiff,
    /// 4 bsdiff-xz), installed with `otaseal_session_decode`.
    pub encoding: u8,
    /// Whether decoding needs a base: the installed version a delta applies to.
    pub needs_base: bool,
    /// Length of the bundle decoding produces (the payload's length when
    /// sealed as itself).
    pub result_len: u64,
    /// With a base: the release sequence of the version it must be, and its
    /// length in bytes (else 0 and 0).
    pub base_sequence: u64,
    pub base_len: u64,
}

/// Writes what the session's bundle is sealed as to `*out`: a bundle sealed
/// as itself, or an encoding and, for a delta, which installed version it
/// applies to (a device without that version fetches the full bundle).
/// Needs no key.
///
/// # Safety
/// `session` is a live handle; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_session_encoding(
    session: *const OtasealSession,
    out: *mut OtasealEncodingInfo,
) -> i32 {
    guard(|| {
        // SAFETY: as the function's contract.
        let (h, out) = unsafe { (session_ref(session)?, out_param(out, "out")?) };
        let v = h.live()?.verified();
        let info = match &v.manifest().encoding {
            None => OtasealEncodingInfo {
                encoding: 0,
                needs_base: false,
                result_len: v.payload_len(),
                base_sequence: 0,
                base_len: 0,
            },
            Some(e) => OtasealEncodingInfo {
                encoding: e.encoding.code(),
                needs_base: e.base.is_some(),
                result_len: e.result_len,
                base_sequence: e.base.as_ref().map_or(0, |b| b.sequence),
                base_len: e.base.as_ref().map_or(0, |b| b.len),
            },
        };
        out.set(info);
        Ok(())
    })
}

/// Loads the ciphertext the caller stored for chunk `index` (payload bytes
/// `offset..offset + len`) into `buf[0..len]`. Return 0; any other value
/// ends `otaseal_session_decode` with `OTASEAL_ERR_IO`.
pub type OtasealLoadFn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        index: u32,
        offset: u64,
        buf: *mut u8,
        len: usize,
    ) -> i32,
>;

/// Receives the next `len` bytes of the decoded bundle, in order. Return 0;
/// any other value ends `otaseal_session_decode` with `OTASEAL_ERR_IO`.
pub type OtasealWriteFn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, bytes: *const u8, len: usize) -> i32>;

/// Installs a bundle sealed as an encoding (FORMAT.md §17.4) once the
/// session is unlocked, whether its chunks were fed and verified before
/// (`otaseal_session_feed`) or not:
///
/// 1. checks `base[0..base_len]` (the installed version, for a delta;
///    `(NULL, 0)` for a compressed bundle) against the signed base, length
///    and keyed digest, before anything is decoded: another version is
///    `OTASEAL_ERR_WRONG_BASE` (fetch the full bundle instead);
/// 2. loads each chunk's ciphertext in order with `load` into the
///    library's buffer, hashes it against the signed table (once; a chunk
///    verified before is hashed again, so a stored copy that changed since
///    is caught: `OTASEAL_ERR_VERIFICATION`), decrypts it there, and decodes
///    as a stream, handing the output to `write`: memory is the decoder's
///    window (FORMAT.md §17.2) and two chunks, whatever the bundle's size;
/// 3. checks that the output is exactly the signed result: its length (a
///    decoder that would write more stops first: a decompression bomb costs
///    nothing) and keyed digest. Anything else is `OTASEAL_ERR_BAD_DELTA`.
///
/// Only `OTASEAL_OK` means the bytes given to `write` are the bundle: on any
/// error the caller discards them (write them to a temporary file and
/// rename it only on success) and may call this again. After success,
/// `otaseal_session_finish` ends the install as for a full bundle (it
/// refuses an encoded bundle before). A bundle sealed as itself is
/// `OTASEAL_ERR_USAGE` (decrypt its chunks instead).
///
/// # Safety
/// `session` is a live handle used by no other thread meanwhile; `base` is
/// `base_len` readable bytes, unchanged during the call; `load` and `write`
/// are safe to call with `ctx`, and call into no otaseal session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_session_decode(
    session: *mut OtasealSession,
    base: *const u8,
    base_len: usize,
    load: OtasealLoadFn,
    write: OtasealWriteFn,
    ctx: *mut c_void,
) -> i32 {
    guard(|| {
        // SAFETY: `base_len` readable bytes unless NULL (the contract).
        let base = unsafe { bytes_in(base, base_len, "base") }?;
        let (Some(load), Some(write)) = (load, write) else {
            return Err(usage("load and write must not be NULL"));
        };
        let decode = |s: &mut Session, h: &mut OtasealSession| {
            h.decoded = false;
            decode_encoded(s, base, load, write, ctx)?;
            h.decoded = true;
            Ok(())
        };
        // SAFETY: a live handle no other thread uses (the contract).
        unsafe { with_session(session, decode) }
    })
}

#[cfg(feature = "encoding")]
fn decode_encoded(
    s: &mut Session,
    base: &[u8],
    load: unsafe extern "C" fn(*mut c_void, u32, u64, *mut u8, usize) -> i32,
    write: unsafe extern "C" fn(*mut c_void, *const u8, usize) -> i32,
    ctx: *mut c_void,
) -> Res {
    let target = s.encoded()?.ok_or_else(|| {
        usage("this bundle is sealed as itself: decrypt its chunks (otaseal_session_decrypt_chunk)")
    })?;
    // To a delta, `(NULL, 0)` is an empty base (a base may be empty); to a
    // compressed bundle, no base.
    let base = (target.signed().base.is_some() || !base.is_empty()).then_some(base);
    let checked = target.check_base(base)?;
    let load = |index: u32, offset: u64, buf: &mut [u8]| {
        // SAFETY: the caller guarantees `load` may be called with `ctx`;
        // the buffer is `buf.len()` writable bytes for the call.
        let rc = unsafe { load(ctx, index, offset, buf.as_mut_ptr(), buf.len()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(Error::io(
                format!("chunk {index} (load callback)"),
                std::io::Error::other(format!("the load callback returned {rc}")),
            ))
        }
    };
    let mut out = CallbackWriter {
        write,
        ctx,
        failed: None,
    };
    let applied = otaseal_core::open::encoded::apply_chunks(s, &target, checked, load, &mut out);
    // A failure of the caller's output is theirs, not the decoder's.
    if let Some(e) = out.failed.take() {
        return Err(e.into());
    }
    applied?;
    Ok(())
}

#[cfg(not(feature = "encoding"))]
fn decode_encoded(
    _: &mut Session,
    _: &[u8],
    _: unsafe extern "C" fn(*mut c_void, u32, u64, *mut u8, usize) -> i32,
    _: unsafe extern "C" fn(*mut c_void, *const u8, usize) -> i32,
    _: *mut c_void,
) -> Res {
    Err(usage(
        "this build of otaseal-ffi does not decode encoded bundles (feature `encoding`)",
    ))
}

/// The caller's write callback as the decoder's output.
#[cfg(feature = "encoding")]
struct CallbackWriter {
    write: unsafe extern "C" fn(*mut c_void, *const u8, usize) -> i32,
    ctx: *mut c_void,
    failed: Option<Error>,
}

#[cfg(feature = "encoding")]
impl std::io::Write for CallbackWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // SAFETY: the caller guarantees `write` may be called with `ctx`;
        // the bytes are valid for the call.
        let rc = unsafe { (self.write)(self.ctx, buf.as_ptr(), buf.len()) };
        if rc != 0 {
            self.failed = Some(Error::io(
                "decoded output (write callback)",
                std::io::Error::other(format!("the write callback returned {rc}")),
            ));
            return Err(std::io::Error::other("write callback failed"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The fetch record (`docs/FORMAT.md` §13) of the chunks the caller holds
/// (verified, or claimed by a restored record and not rechecked yet), in
/// `*out` (free it with `otaseal_buffer_free`). Store it as often as
/// progress is worth keeping; after a crash, `otaseal_session_restore` it
/// into a new session of the same manifest.
///
/// # Safety
/// `session` is a live handle; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_session_export(
    session: *const OtasealSession,
    out: *mut OtasealBuffer,
) -> i32 {
    guard(|| {
        // SAFETY: as the function's contract.
        let (h, out) = unsafe { (session_ref(session)?, out_param(out, "out")?) };
        out.set(OtasealBuffer::EMPTY);
        let record = h.live()?.export()?;
        out.set(OtasealBuffer::from_vec(record));
        Ok(())
    })
}

/// Takes a fetch record exported before a crash. It must name this bundle
/// (`OTASEAL_ERR_USAGE` otherwise; a damaged one is
/// `OTASEAL_ERR_MALFORMED`). Its chunks become *claimed*: no longer needed,
/// but not verified until the caller hands their stored bytes to
/// `otaseal_session_recheck` (listed by `otaseal_session_to_recheck`).
/// `*claimed` (may be NULL) receives how many chunks it claimed.
///
/// # Safety
/// `session` is a live handle used by no other thread meanwhile; `record`
/// is `record_len` readable bytes; `claimed` NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_session_restore(
    session: *mut OtasealSession,
    record: *const u8,
    record_len: usize,
    claimed: *mut u32,
) -> i32 {
    guard(|| {
        // SAFETY: as the function's contract.
        let (record, claimed) =
            unsafe { (bytes_in(record, record_len, "record")?, out_opt(claimed)) };
        // SAFETY: a live handle no other thread uses (the contract).
        let n = unsafe { with_session(session, |s, _| Ok(s.restore(record)?)) }?;
        if let Some(c) = claimed {
            c.set(n);
        }
        Ok(())
    })
}

/// The chunks a restored record claimed that are not rechecked yet, in the
/// element-array convention of `otaseal_session_needed`.
///
/// # Safety
/// As `otaseal_session_needed`, with `uint32_t` elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_session_to_recheck(
    session: *const OtasealSession,
    out: *mut u32,
    count: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: as the function's contract.
        unsafe {
            let s = session_ref(session)?.live()?;
            let v: Vec<u32> = s.to_recheck().collect();
            fill(out, count, &v)
        }
    })
}

/// Verifies the bytes the caller holds for chunk `index` (what it stored
/// before a crash). `*verified` (may be NULL) receives whether they did:
/// if so the chunk counts as verified; if not it is needed again (and no
/// longer decrypted). Bytes that do not verify are not an error.
///
/// # Safety
/// `session` is a live handle used by no other thread meanwhile; `bytes`
/// is `len` readable bytes; `verified` NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_session_recheck(
    session: *mut OtasealSession,
    index: u32,
    bytes: *const u8,
    len: usize,
    verified: *mut bool,
) -> i32 {
    guard(|| {
        // SAFETY: as the function's contract.
        let (bytes, verified) = unsafe { (bytes_in(bytes, len, "bytes")?, out_opt(verified)) };
        // SAFETY: a live handle no other thread uses (the contract).
        let ok = unsafe {
            with_session(session, |s, _| {
                s.recheck(index, bytes).map_err(Failure::from)
            })
        }?;
        if let Some(v) = verified {
            v.set(ok);
        }
        Ok(())
    })
}

/// The install decision `otaseal_session_finish` reports.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtasealDecision {
    /// No install policy was given (`app_id` unset): verified and decrypted only.
    None = 0,
    /// The application was not installed; the device is provisioned for it.
    FirstInstall = 1,
    /// The first bundle from a channel the device switches to.
    NewChannel = 2,
    /// A newer sequence than the installed one.
    Upgrade = 3,
    /// An authorised rollback to an older sequence.
    Rollback = 4,
    /// An approval of a kind newer than this header: approved all the same
    /// (the device state is in `device_state`).
    Other = 255,
}

/// How a finished session ends.
#[repr(C)]
#[derive(Debug)]
pub struct OtasealFinished {
    /// The install decision (an `OTASEAL_DECISION_*` value).
    pub decision: OtasealDecision,
    /// The bundle's release sequence.
    pub sequence: u64,
    /// For an upgrade or rollback: the sequence installed before (else 0).
    pub from_sequence: u64,
    /// The new device state recording the install, for the caller to store
    /// in place of the old one (atomically, e.g. write + rename) once the
    /// plaintext is in place. `{NULL, 0}` without a policy. Free it with
    /// `otaseal_buffer_free`.
    pub device_state: OtasealBuffer,
}

/// Ends the session once every chunk has verified and decrypted: with an
/// install policy, the approval and the new device state (`*out`). Before
/// that it is `OTASEAL_ERR_USAGE` and the session goes on. After success
/// the handle only answers `otaseal_session_free` (other calls:
/// `OTASEAL_ERR_USAGE`); it must still be freed.
///
/// # Safety
/// `session` is a live handle used by no other thread meanwhile; `out`
/// valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_session_finish(
    session: *mut OtasealSession,
    out: *mut OtasealFinished,
) -> i32 {
    guard(|| {
        // SAFETY: as the function's contract.
        let (h, out) = unsafe {
            (
                session.as_mut().ok_or_else(|| usage("session is NULL"))?,
                out_param(out, "out")?,
            )
        };
        out.set(OtasealFinished {
            decision: OtasealDecision::None,
            sequence: 0,
            from_sequence: 0,
            device_state: OtasealBuffer::EMPTY,
        });
        let s = h.live()?;
        // `Session::finish` consumes the session even when it refuses, so an
        // unfinished session is refused here, where it survives.
        s.check_finished()?;
        if s.verified().manifest().encoding.is_some() && !h.decoded {
            return Err(usage(
                "an encoded bundle finishes only after otaseal_session_decode produced its signed result",
            ));
        }
        let sequence = s.verified().manifest().sequence;
        h.busy = true;
        let finished = h.session.take().expect("live() checked it").finish();
        h.busy = false;
        let finished = finished?;
        let (decision, from_sequence) = match finished.approval.as_ref().map(|a| a.kind) {
            None => (OtasealDecision::None, 0),
            Some(ApprovalKind::FirstInstall) => (OtasealDecision::FirstInstall, 0),
            Some(ApprovalKind::NewChannel) => (OtasealDecision::NewChannel, 0),
            Some(ApprovalKind::Upgrade { from }) => (OtasealDecision::Upgrade, from),
            Some(ApprovalKind::Rollback { from, .. }) => (OtasealDecision::Rollback, from),
            Some(_) => (OtasealDecision::Other, 0),
        };
        out.set(OtasealFinished {
            decision,
            sequence,
            from_sequence,
            device_state: finished
                .device_state
                .map(OtasealBuffer::from_vec)
                .unwrap_or(OtasealBuffer::EMPTY),
        });
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_named_codes_are_the_kinds_codes() {
        let named = [
            (ErrorKind::Request, OTASEAL_ERR_USAGE),
            (ErrorKind::Verification, OTASEAL_ERR_VERIFICATION),
            (ErrorKind::Malformed, OTASEAL_ERR_MALFORMED),
            (ErrorKind::Key, OTASEAL_ERR_KEY),
            (ErrorKind::Io, OTASEAL_ERR_IO),
            (ErrorKind::Unlock, OTASEAL_ERR_UNLOCK),
            (ErrorKind::Policy, OTASEAL_ERR_POLICY),
            (ErrorKind::Network, OTASEAL_ERR_NETWORK),
            (ErrorKind::Busy, OTASEAL_ERR_BUSY),
            (ErrorKind::WrongBase, OTASEAL_ERR_WRONG_BASE),
            (ErrorKind::BadDelta, OTASEAL_ERR_BAD_DELTA),
            (ErrorKind::Trust, OTASEAL_ERR_TRUST),
            (ErrorKind::Revoked, OTASEAL_ERR_REVOKED),
            (ErrorKind::TrustUpdate, OTASEAL_ERR_TRUST_UPDATE),
            (ErrorKind::Suspended, OTASEAL_ERR_SUSPENDED),
            (ErrorKind::AuditLog, OTASEAL_ERR_AUDIT_LOG),
            (ErrorKind::Interrupted, OTASEAL_ERR_INTERRUPTED),
        ];
        assert_eq!(named.len(), ErrorKind::ALL.len(), "a kind has no C name");
        for (kind, code) in named {
            assert_eq!(code_for(kind), code, "{kind:?}");
        }
    }

    #[test]
    fn every_error_kind_has_its_own_code_and_the_readme_lists_it() {
        let codes: BTreeSet<i32> = ErrorKind::ALL.iter().map(|k| code_for(*k)).collect();
        assert_eq!(codes.len(), ErrorKind::ALL.len(), "two kinds share a code");
        let readme = include_str!("../../README.md");
        let table = readme
            .split("### Exit codes")
            .nth(1)
            .expect("README has an exit-code table");
        let listed: BTreeSet<i32> = table
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| {
                let cell = l.trim_start_matches(['|', ' ']);
                let digits: String = cell.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .collect();
        for c in &codes {
            assert!(listed.contains(c), "code {c} is not in the README table");
        }
        assert!(
            !listed.contains(&OTASEAL_ERR_INTERNAL),
            "70 is the FFI's own"
        );
    }

    #[test]
    fn a_panic_becomes_the_internal_code_and_a_message() {
        let code = guard(|| panic!("boom"));
        assert_eq!(code, OTASEAL_ERR_INTERNAL);
        let mut buf = [0 as c_char; 64];
        // SAFETY: a 64-byte local buffer.
        let n = unsafe { otaseal_last_error_message(buf.as_mut_ptr(), buf.len()) };
        // SAFETY: the function NUL-terminated it.
        let msg = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
        assert_eq!(n, msg.to_bytes().len());
        assert!(msg.to_str().unwrap().contains("boom"), "{msg:?}");
        assert_eq!(guard(|| Ok(())), OTASEAL_OK);
        // SAFETY: (NULL, 0) is allowed.
        assert_eq!(
            unsafe { otaseal_last_error_message(std::ptr::null_mut(), 0) },
            0
        );
    }

    #[test]
    fn null_pointers_are_usage_errors() {
        let mut out = std::ptr::null_mut();
        // SAFETY: NULL pointers are what is tested; `out` is a local.
        unsafe {
            assert_eq!(
                otaseal_trust_from_signing_key(std::ptr::null(), 5, &mut out),
                OTASEAL_ERR_USAGE
            );
            assert!(out.is_null());
            assert_eq!(
                otaseal_session_feed(
                    std::ptr::null_mut(),
                    0,
                    std::ptr::null(),
                    0,
                    None,
                    std::ptr::null_mut(),
                    std::ptr::null_mut()
                ),
                OTASEAL_ERR_USAGE
            );
            let mut count = 0usize;
            assert_eq!(
                otaseal_session_needed(std::ptr::null(), std::ptr::null_mut(), &mut count),
                OTASEAL_ERR_USAGE
            );
            otaseal_session_free(std::ptr::null_mut());
            otaseal_trust_free(std::ptr::null_mut());
            otaseal_buffer_free(std::ptr::null_mut());
        }
    }

    #[test]
    fn handles_are_send() {
        fn check<T: Send>() {}
        check::<OtasealSession>();
        check::<OtasealTrust>();
        fn sync<T: Sync>() {}
        sync::<OtasealTrust>();
    }
}
