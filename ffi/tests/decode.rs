//! Bundles sealed as an encoding (FORMAT.md §17) through the C ABI: the
//! session says what a bundle is sealed as and which base a delta needs;
//! `otaseal_session_decode` checks the base first, every chunk again as it
//! is loaded, and the output last; a wrong base, a changed stored chunk, a
//! corrupt patch, a bomb and a failing callback each fail with their own
//! status, and `finish` waits for a successful decode.

use crate::abi::{session, trust_of};
use crate::common::NOW;
use otaseal::delta::{Effort, encode};
use otaseal_core::format::encoding::Encoding;
use otaseal_core::format::keytext::KeyText;
use otaseal_core::keys::{KemId, RecipientSecretKey, SigningKey};
use otaseal_core::seal::{Base, EncodedAs, SealOptions, SealedBundle, seal_encoded_with_rng};
use otaseal_ffi::*;
use rand_core::SeedableRng;
use std::ffi::c_void;
use std::ptr;

/// What the callbacks see: the stored payload, the output so far, and the
/// faults to inject.
struct Io {
    payload: Vec<u8>,
    out: Vec<u8>,
    /// A chunk whose stored copy has one byte changed.
    altered_chunk: Option<u32>,
    fail_write: bool,
}

unsafe extern "C" fn load(
    ctx: *mut c_void,
    index: u32,
    offset: u64,
    buf: *mut u8,
    len: usize,
) -> i32 {
    // SAFETY: `ctx` is the test's `Io`; `buf` is `len` writable bytes.
    let (io, buf) = unsafe {
        (
            &*(ctx as *const Io),
            std::slice::from_raw_parts_mut(buf, len),
        )
    };
    let at = offset as usize;
    buf.copy_from_slice(&io.payload[at..at + len]);
    if io.altered_chunk == Some(index) {
        buf[len / 2] ^= 1;
    }
    0
}

unsafe extern "C" fn write(ctx: *mut c_void, bytes: *const u8, len: usize) -> i32 {
    // SAFETY: `ctx` is the test's `Io`; `bytes` is `len` readable bytes.
    let (io, bytes) = unsafe {
        (
            &mut *(ctx as *mut Io),
            std::slice::from_raw_parts(bytes, len),
        )
    };
    if io.fail_write {
        return 5;
    }
    io.out.extend_from_slice(bytes);
    0
}

/// Keys, the release the device has, and the next one.
struct Release {
    signer: SigningKey,
    device: RecipientSecretKey,
    base: Vec<u8>,
    new: Vec<u8>,
}

impl Release {
    fn new() -> Self {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(12);
        let signer = SigningKey::generate(&mut rng);
        let device = RecipientSecretKey::generate(KemId::X25519, &mut rng);
        let mut base = vec![0u8; 300_000];
        rand_core::Rng::fill_bytes(&mut rng, &mut base);
        let mut new = base.clone();
        new[1000..1100].fill(7);
        new.splice(150_000..150_000, b"inserted in release 2".repeat(40));
        Self {
            signer,
            device,
            base,
            new,
        }
    }

    /// `encoded` sealed as `encoding` of `result` (against the base when
    /// `delta`), sequence 2, in 16 KiB chunks.
    fn seal(&self, encoding: Encoding, encoded: &[u8], result: &[u8], delta: bool) -> SealedBundle {
        let mut o = SealOptions::new(
            "com.example.app".parse().unwrap(),
            "stable".parse().unwrap(),
            "2".parse().unwrap(),
            2,
        );
        o.created = NOW - 10;
        o.chunk_size = otaseal_core::format::ChunkSize::from_log2(14).unwrap();
        let base = delta.then(|| Base {
            sequence: 1,
            version: "1".parse().unwrap(),
            bytes: &self.base,
        });
        let what = EncodedAs {
            encoding,
            result,
            base,
        };
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(13);
        let recipients = [self.device.public_key().clone()];
        seal_encoded_with_rng(encoded, what, &o, &recipients, &self.signer, &mut rng).unwrap()
    }

    /// A verified, unlocked session of `b` (free it and the trust handle).
    fn session(&self, b: &SealedBundle) -> (*mut OtasealSession, *mut OtasealTrust) {
        let (s, t) = self.unfed_session(b);
        let p = &b.payload;
        let none = ptr::null_mut();
        // SAFETY: a live session; a live buffer.
        let rc =
            unsafe { otaseal_session_feed(s, 0, p.as_ptr(), p.len(), None, none, none.cast()) };
        assert_eq!(rc, OTASEAL_OK);
        (s, t)
    }

    /// An unlocked session of `b` that was fed no chunk.
    fn unfed_session(&self, b: &SealedBundle) -> (*mut OtasealSession, *mut OtasealTrust) {
        let key = KeyText::Ed25519Public(self.signer.verifying_key().to_bytes()).encode();
        let t = trust_of(key.as_bytes());
        let s = session(&b.manifest_bytes, t);
        let dev = KeyText::X25519Secret(self.device.to_secret_bytes()).encode();
        // SAFETY: a live session; a live buffer.
        let rc = unsafe { otaseal_session_unlock(s, dev.as_ptr(), dev.len()) };
        assert_eq!(rc, OTASEAL_OK);
        (s, t)
    }
}

/// `otaseal_session_decode` of `s` against `base` with the stored `payload`.
fn decode(s: *mut OtasealSession, base: &[u8], io: &mut Io) -> i32 {
    io.out.clear();
    // SAFETY: a live session; the callbacks get the live `io`.
    unsafe {
        otaseal_session_decode(
            s,
            if base.is_empty() {
                ptr::null()
            } else {
                base.as_ptr()
            },
            base.len(),
            Some(load),
            Some(write),
            (io as *mut Io).cast(),
        )
    }
}

fn io(b: &SealedBundle) -> Io {
    Io {
        payload: b.payload.clone(),
        out: Vec::new(),
        altered_chunk: None,
        fail_write: false,
    }
}

fn finish(s: *mut OtasealSession) -> i32 {
    // SAFETY: a live session and an out-pointer to a local.
    unsafe {
        let mut fin = std::mem::zeroed::<OtasealFinished>();
        let rc = otaseal_session_finish(s, &mut fin);
        otaseal_buffer_free(&mut fin.device_state);
        rc
    }
}

fn free(s: *mut OtasealSession, t: *mut OtasealTrust) {
    // SAFETY: live handles, freed once.
    unsafe {
        otaseal_session_free(s);
        otaseal_trust_free(t);
    }
}

#[test]
fn a_delta_installs_after_every_check_and_each_fault_has_its_status() {
    let r = Release::new();
    let patch = encode(Some(&r.base), &r.new, Effort::Fast).unwrap();
    assert!(patch.bytes.len() < r.new.len() / 10, "a delta, not a copy");
    let b = r.seal(patch.encoding, &patch.bytes, &r.new, true);
    let (s, t) = r.session(&b);
    let mut io = io(&b);

    // SAFETY: a live session, an out-pointer to a local.
    let info = unsafe {
        let mut info = std::mem::zeroed::<OtasealEncodingInfo>();
        assert_eq!(otaseal_session_encoding(s, &mut info), OTASEAL_OK);
        info
    };
    assert_eq!(info.encoding, patch.encoding.code());
    assert!(info.needs_base);
    assert_eq!(
        (info.base_sequence, info.base_len),
        (1, r.base.len() as u64)
    );
    assert_eq!(info.result_len, r.new.len() as u64);

    // The chunks' plaintext is the patch, not the bundle: not handed out.
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: a live session; live buffers.
    let rc = unsafe {
        otaseal_session_decrypt_chunk(
            s,
            0,
            b.payload.as_ptr(),
            buf.len(),
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    assert_eq!(rc, OTASEAL_ERR_USAGE);
    assert_eq!(finish(s), OTASEAL_ERR_USAGE, "finish before a decode");

    // A wrong base is refused before anything is decoded.
    let mut wrong = r.base.clone();
    wrong[5] ^= 1;
    assert_eq!(decode(s, &wrong, &mut io), OTASEAL_ERR_WRONG_BASE);
    assert!(io.out.is_empty());
    assert_eq!(decode(s, &r.base[1..], &mut io), OTASEAL_ERR_WRONG_BASE);
    // (NULL, 0) is an empty base to a delta (a base may be empty), and so
    // the wrong one here.
    assert_eq!(decode(s, &[], &mut io), OTASEAL_ERR_WRONG_BASE);

    // A stored chunk that changed since it verified.
    io.altered_chunk = Some(0);
    assert_eq!(decode(s, &r.base, &mut io), OTASEAL_ERR_VERIFICATION);
    io.altered_chunk = None;
    // The caller's output failing.
    io.fail_write = true;
    assert_eq!(decode(s, &r.base, &mut io), OTASEAL_ERR_IO);
    io.fail_write = false;
    assert_eq!(finish(s), OTASEAL_ERR_USAGE, "finish after failed decodes");

    assert_eq!(decode(s, &r.base, &mut io), OTASEAL_OK);
    assert!(io.out == r.new, "the decoded bundle is the new release");
    assert_eq!(finish(s), OTASEAL_OK);
    free(s, t);
}

#[test]
fn a_corrupt_patch_and_a_bomb_are_bad_deltas_and_compressed_bundles_decode() {
    let r = Release::new();
    let patch = encode(Some(&r.base), &r.new, Effort::Fast).unwrap();

    // Signed as it is, but the patch inside was damaged before sealing.
    let mut damaged = patch.bytes.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0x40;
    // A patch that decodes to more than the signed result: a bomb.
    let short = &r.new[..r.new.len() - 1000];
    for (bytes, result) in [(&damaged[..], &r.new[..]), (&patch.bytes[..], short)] {
        let b = r.seal(patch.encoding, bytes, result, true);
        let (s, t) = r.session(&b);
        let mut io = io(&b);
        assert_eq!(decode(s, &r.base, &mut io), OTASEAL_ERR_BAD_DELTA);
        assert!(io.out.len() <= result.len());
        assert_eq!(finish(s), OTASEAL_ERR_USAGE);
        free(s, t);
    }

    // A compressed bundle takes no base.
    let z = encode(None, &r.new, Effort::Fast).unwrap();
    assert_eq!(z.encoding, Encoding::Zstd);
    let b = r.seal(z.encoding, &z.bytes, &r.new, false);
    let (s, t) = r.session(&b);
    let mut io = io(&b);
    assert_eq!(decode(s, &r.base, &mut io), OTASEAL_ERR_USAGE, "no base");
    assert_eq!(decode(s, &[], &mut io), OTASEAL_OK);
    assert!(io.out == r.new);
    assert_eq!(finish(s), OTASEAL_OK);
    free(s, t);
}

/// A device that stores the download first and never feeds it: each chunk
/// is verified as it is loaded for decoding (hashed once), and one that is
/// not the signed chunk stops the decode.
#[test]
fn chunks_never_fed_are_verified_as_they_are_decoded() {
    let r = Release::new();
    // Unrelated bytes up front: a patch of several chunks.
    let mut new = r.new.clone();
    for (i, b) in new[..100_000].iter_mut().enumerate() {
        *b ^= (i * 7 % 251) as u8 | 1;
    }
    let patch = encode(Some(&r.base), &new, Effort::Fast).unwrap();
    let b = r.seal(patch.encoding, &patch.bytes, &new, true);
    assert!(b.payload.len() > 3 * 16 * 1024, "{} bytes", b.payload.len());
    let (s, t) = r.unfed_session(&b);
    let mut io = io(&b);
    io.altered_chunk = Some(2);
    assert_eq!(decode(s, &r.base, &mut io), OTASEAL_ERR_VERIFICATION);
    assert_eq!(finish(s), OTASEAL_ERR_USAGE);
    io.altered_chunk = None;
    assert_eq!(decode(s, &r.base, &mut io), OTASEAL_OK);
    assert!(io.out == new);
    assert_eq!(finish(s), OTASEAL_OK);
    free(s, t);
}
