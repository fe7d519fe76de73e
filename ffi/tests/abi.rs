//! The ABI's claims checked from Rust, calling the `extern "C"` functions
//! as C would: decryption from several threads at once on one session, a
//! failing store callback, trust anchors from a root key and a trust state.

use crate::common::{CHUNK, Fixture, NOW};
use otaseal_core::keys::trust::TrustState;
use otaseal_ffi::*;
use std::ffi::c_void;
use std::ptr;

fn read(f: &Fixture, name: &str) -> Vec<u8> {
    std::fs::read(f.path().join(name)).unwrap()
}

fn trust(f: &Fixture) -> *mut OtasealTrust {
    trust_of(&read(f, "signer.pub"))
}

/// A trust handle for the signing key in key text `key`.
pub(crate) fn trust_of(key: &[u8]) -> *mut OtasealTrust {
    let mut t = ptr::null_mut();
    // SAFETY: a live buffer and an out-pointer to a local.
    assert_eq!(
        unsafe { otaseal_trust_from_signing_key(key.as_ptr(), key.len(), &mut t) },
        OTASEAL_OK
    );
    t
}

/// The options of a verify-only session.
pub(crate) fn verify_only() -> OtasealOptions {
    OtasealOptions {
        now: NOW,
        max_request_bytes: 0,
        app_id: ptr::null(),
        app_id_len: 0,
        device_state: ptr::null(),
        device_state_len: 0,
        switch_channel: ptr::null(),
        switch_channel_len: 0,
        require_expiry: false,
    }
}

/// A verify-only session.
pub(crate) fn session(manifest: &[u8], t: *const OtasealTrust) -> *mut OtasealSession {
    let mut s = ptr::null_mut();
    // SAFETY: live buffers, a live trust handle, out-pointer to a local.
    let rc = unsafe {
        otaseal_session_new(manifest.as_ptr(), manifest.len(), t, &verify_only(), &mut s)
    };
    assert_eq!(rc, OTASEAL_OK);
    s
}

/// A session pointer that may cross threads: the ABI's thread-safety
/// statement is what is tested.
#[derive(Clone, Copy)]
struct Shared(*const OtasealSession);
// SAFETY: the header says concurrent decrypt_chunk calls on one session are
// allowed while nothing else runs on it; that is all the threads do.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

#[test]
fn chunks_decrypt_in_parallel_on_one_session() {
    let f = Fixture::new();
    let (manifest, payload, plain) = (
        read(&f, "manifest.bin"),
        read(&f, "payload.bin"),
        read(&f, "plain.bin"),
    );
    let key = read(&f, "device.key");
    let t = trust(&f);
    let s = session(&manifest, t);
    // SAFETY: live session and buffers; NULL store (the payload is ours).
    unsafe {
        let mut rep = std::mem::zeroed::<OtasealFeedReport>();
        let rc = otaseal_session_feed(
            s,
            0,
            payload.as_ptr(),
            payload.len(),
            None,
            ptr::null_mut(),
            &mut rep,
        );
        assert_eq!(rc, OTASEAL_OK);
        assert!(rep.complete && rep.verified_count == 10);
        assert_eq!(
            otaseal_session_unlock(s, key.as_ptr(), key.len()),
            OTASEAL_OK
        );
    }
    let shared = Shared(s);
    let chunks: Vec<Vec<u8>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..10u32)
            .map(|i| {
                let payload = &payload;
                scope.spawn(move || {
                    let sh = shared;
                    let start = i as usize * CHUNK;
                    let end = (start + CHUNK).min(payload.len());
                    let mut out = vec![0u8; end - start];
                    // SAFETY: a live session, only decrypted on meanwhile.
                    let rc = unsafe {
                        otaseal_session_decrypt_chunk(
                            sh.0,
                            i,
                            payload[start..end].as_ptr(),
                            end - start,
                            out.as_mut_ptr(),
                            out.len(),
                        )
                    };
                    assert_eq!(rc, OTASEAL_OK);
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(chunks.concat(), plain);
    // SAFETY: live handles, freed once.
    unsafe {
        let mut fin = std::mem::zeroed::<OtasealFinished>();
        assert_eq!(otaseal_session_finish(s, &mut fin), OTASEAL_OK);
        assert_eq!(fin.decision, OtasealDecision::None);
        assert!(fin.device_state.ptr.is_null());
        otaseal_session_free(s);
        otaseal_trust_free(t);
    }
}

unsafe extern "C" fn refuse(_: *mut c_void, _: u32, _: u64, _: *const u8, _: usize) -> i32 {
    -1
}

#[test]
fn a_failing_store_is_an_io_error_and_the_chunk_stays_needed() {
    let f = Fixture::new();
    let (manifest, payload) = (read(&f, "manifest.bin"), read(&f, "payload.bin"));
    let t = trust(&f);
    let s = session(&manifest, t);
    // SAFETY: live session and buffers.
    unsafe {
        let rc = otaseal_session_feed(
            s,
            0,
            payload.as_ptr(),
            CHUNK,
            Some(refuse),
            ptr::null_mut(),
            ptr::null_mut(),
        );
        assert_eq!(rc, OTASEAL_ERR_IO);
        let mut msg = [0 as std::ffi::c_char; 256];
        otaseal_last_error_message(msg.as_mut_ptr(), msg.len());
        let msg = std::ffi::CStr::from_ptr(msg.as_ptr()).to_string_lossy();
        assert!(msg.contains("store callback returned -1"), "{msg}");
        let mut ranges = [OtasealRange {
            offset: 0,
            len: 0,
            first_chunk: 0,
            chunk_count: 0,
        }; 4];
        let mut n = ranges.len();
        assert_eq!(
            otaseal_session_needed(s, ranges.as_mut_ptr(), &mut n),
            OTASEAL_OK
        );
        assert_eq!(n, 1, "one range of 10 chunks (default request size)");
        assert_eq!((ranges[0].first_chunk, ranges[0].chunk_count), (0, 10));
        // Out of the payload: a usage error that changes nothing.
        let rc = otaseal_session_feed(
            s,
            payload.len() as u64,
            payload.as_ptr(),
            1,
            None,
            ptr::null_mut(),
            ptr::null_mut(),
        );
        assert_eq!(rc, OTASEAL_ERR_USAGE);
        otaseal_session_free(s);
        otaseal_trust_free(t);
    }
}

#[test]
fn root_key_and_trust_state_anchors() {
    let f = Fixture::new();
    let manifest = read(&f, "manifest.bin");
    let root_pub = read(&f, "signer.pub"); // any ed25519 key will do as a root
    // SAFETY: live buffers and locals for the out-parameters.
    unsafe {
        let mut t = ptr::null_mut();
        assert_eq!(
            otaseal_trust_from_root_key(root_pub.as_ptr(), root_pub.len(), &mut t),
            OTASEAL_OK
        );
        // The fixture's manifest carries no certificate chain.
        let opts = OtasealOptions {
            now: NOW,
            max_request_bytes: 0,
            app_id: ptr::null(),
            app_id_len: 0,
            device_state: ptr::null(),
            device_state_len: 0,
            switch_channel: ptr::null(),
            switch_channel_len: 0,
            require_expiry: false,
        };
        let mut s = ptr::null_mut();
        let rc = otaseal_session_new(manifest.as_ptr(), manifest.len(), t, &opts, &mut s);
        assert_eq!(rc, OTASEAL_ERR_TRUST);
        assert!(s.is_null());
        otaseal_trust_free(t);

        let key =
            otaseal_core::format::keytext::KeyText::parse(std::str::from_utf8(&root_pub).unwrap())
                .unwrap();
        let otaseal_core::format::keytext::KeyText::Ed25519Public(b) = key else {
            panic!("an ed25519 key")
        };
        let root = otaseal_core::keys::VerifyingKey::from_bytes(&b).unwrap();
        let stored = TrustState::new(root).to_bytes();
        let mut new_state = OtasealBuffer {
            ptr: ptr::null_mut(),
            len: 0,
        };
        let mut t = ptr::null_mut();
        let rc = otaseal_trust_from_state(
            stored.as_ptr(),
            stored.len(),
            ptr::null(),
            0,
            ptr::null(),
            0,
            &mut t,
            &mut new_state,
        );
        assert_eq!(rc, OTASEAL_OK);
        assert_eq!(
            std::slice::from_raw_parts(new_state.ptr, new_state.len),
            stored
        );
        otaseal_buffer_free(&mut new_state);
        assert!(new_state.ptr.is_null());
        otaseal_trust_free(t);

        // A damaged trust state: an error, no handle, no buffer.
        let mut bad = stored.clone();
        *bad.last_mut().unwrap() ^= 1;
        let want = code_for(TrustState::from_bytes(&bad).unwrap_err().kind());
        let mut t = ptr::null_mut();
        let rc = otaseal_trust_from_state(
            bad.as_ptr(),
            bad.len(),
            ptr::null(),
            0,
            ptr::null(),
            0,
            &mut t,
            &mut new_state,
        );
        assert_eq!(rc, want);
        assert_ne!(rc, OTASEAL_OK);
        assert!(t.is_null() && new_state.ptr.is_null());
    }
}

/// `otaseal_session_feed_chunk_in_place`: one buffer per chunk, verified
/// and decrypted there; a corrupted chunk is reported failed with the
/// buffer zeroed, then accepted from good bytes; the session finishes.
#[test]
fn chunks_verify_and_decrypt_in_the_callers_buffer() {
    let f = Fixture::new();
    let (manifest, payload, plain) = (
        read(&f, "manifest.bin"),
        read(&f, "payload.bin"),
        read(&f, "plain.bin"),
    );
    let key = read(&f, "device.key");
    let t = trust(&f);
    let s = session(&manifest, t);
    let mut buf = vec![0u8; CHUNK];
    let mut out = Vec::new();
    // SAFETY: live handles and buffers; NULL store (the payload is ours).
    unsafe {
        let mut rep = std::mem::zeroed::<OtasealFeedReport>();
        let locked = otaseal_session_feed_chunk_in_place(
            s,
            0,
            buf.as_mut_ptr(),
            CHUNK,
            None,
            ptr::null_mut(),
            &mut rep,
        );
        assert_eq!(locked, OTASEAL_ERR_USAGE, "the session is not unlocked yet");
        assert_eq!(
            otaseal_session_unlock(s, key.as_ptr(), key.len()),
            OTASEAL_OK
        );
        for i in 0..10usize {
            let chunk = &payload[i * CHUNK..((i + 1) * CHUNK).min(payload.len())];
            let n = chunk.len();
            if i == 4 {
                buf[..n].copy_from_slice(chunk);
                buf[9] ^= 1;
                let rc = otaseal_session_feed_chunk_in_place(
                    s,
                    4,
                    buf.as_mut_ptr(),
                    n,
                    None,
                    ptr::null_mut(),
                    &mut rep,
                );
                assert_eq!(rc, OTASEAL_OK);
                assert_eq!((rep.verified_count, rep.failed_count), (0, 1));
                assert!(buf[..n].iter().all(|b| *b == 0));
            }
            buf[..n].copy_from_slice(chunk);
            let rc = otaseal_session_feed_chunk_in_place(
                s,
                i as u32,
                buf.as_mut_ptr(),
                n,
                None,
                ptr::null_mut(),
                &mut rep,
            );
            assert_eq!(rc, OTASEAL_OK);
            assert_eq!((rep.verified_count, rep.failed_count), (1, 0));
            out.extend_from_slice(&buf[..n]);
        }
        assert!(rep.complete);
        assert_eq!(out, plain);
        let mut fin = std::mem::zeroed::<OtasealFinished>();
        assert_eq!(otaseal_session_finish(s, &mut fin), OTASEAL_OK);
        otaseal_session_free(s);
        otaseal_trust_free(t);
    }
}
