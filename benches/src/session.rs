//! The device session and its kernel over the same bundle, shared by the
//! `session` criterion bench and the `session_ratio` cross-check.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::{AeadInOut, KeyInit};
use otaseal::cipher::Backend;
use otaseal::format::ChunkSize;
use otaseal::keys::{KemId, RecipientSecretKey, SigningKey};
use otaseal::open::TrustAnchor;
use otaseal::seal::{SealedBundle, seal};
use otaseal::session::{Finished, Session, SessionOptions};
use std::time::Duration;

/// The kernel: for each chunk, the BLAKE3 subtree chaining value of the
/// ciphertext (`tree::piece_cv`, as `VerifiedManifest::verify_chunk`
/// computes it) compared with the expected one, and RustCrypto `aes-gcm`
/// decrypting the chunk into a buffer (out of place: no copy). Its
/// ciphertext is the same plaintext sealed here with a key this fixture
/// knows (a session's data key is not public): same chunk sizes, nonces
/// and 41-byte associated data, so the same work.
pub struct KernelFixture {
    cipher: aes_gcm::Aes256Gcm,
    aad: [u8; 41],
    chunk: usize,
    payload: Vec<u8>,
    tags: Vec<[u8; 16]>,
    cvs: Vec<[u8; 32]>,
}

impl std::fmt::Debug for KernelFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelFixture")
            .field("chunk", &self.chunk)
            .field("len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// FORMAT.md §5.2's chunk nonce.
fn nonce(index: u32, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[7..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    n
}

impl KernelFixture {
    pub fn new(plain: &[u8], chunk: usize) -> Self {
        let cipher = aes_gcm::Aes256Gcm::new(&[0x42u8; 32].into());
        let mut aad = [0u8; 41];
        aad[..16].copy_from_slice(b"otaseal v1 chunk");
        let mut payload = plain.to_vec();
        let n = payload.len().div_ceil(chunk);
        let mut tags = Vec::with_capacity(n);
        let mut cvs = Vec::with_capacity(n);
        for (i, c) in payload.chunks_mut(chunk).enumerate() {
            let tag = cipher
                .encrypt_inout_detached(&nonce(i as u32, i + 1 == n).into(), &aad, c.into())
                .expect("seal");
            tags.push(tag.into());
            cvs.push(otaseal::tree::piece_cv(c, (i * chunk) as u64, n == 1));
        }
        Self {
            cipher,
            aad,
            chunk,
            payload,
            tags,
            cvs,
        }
    }

    /// Verifies and decrypts every chunk into `out` (one chunk long).
    pub fn run(&self, out: &mut [u8]) {
        self.run_as(out, Steps::Kernel)
    }

    /// [`run`](Self::run) with other per-chunk steps (see [`Steps`]).
    pub fn run_as(&self, out: &mut [u8], steps: Steps) {
        let (chunk, n) = (self.chunk, self.tags.len());
        for (i, c) in self.payload.chunks(chunk).enumerate() {
            let o = &mut out[..c.len()];
            let buf = if steps == Steps::Kernel {
                let cv = otaseal::tree::piece_cv(c, (i * chunk) as u64, n == 1);
                assert!(cv == self.cvs[i], "chunk {i} does not verify");
                InOutBuf::new(c, o).expect("same length")
            } else {
                if steps == Steps::AsSession {
                    let cv = otaseal::tree::piece_cv(c, (i * chunk) as u64, n == 1);
                    assert!(cv == self.cvs[i], "chunk {i} does not verify");
                }
                o.copy_from_slice(c);
                let cv = otaseal::tree::piece_cv(o, (i * chunk) as u64, n == 1);
                assert!(cv == self.cvs[i], "chunk {i} does not verify");
                InOutBuf::from(o)
            };
            self.cipher
                .decrypt_inout_detached(
                    &nonce(i as u32, i + 1 == n).into(),
                    &self.aad,
                    buf,
                    (&self.tags[i]).into(),
                )
                .expect("open");
        }
    }
}

/// What [`KernelFixture::run_as`] does per chunk. The variants other than
/// `Kernel` are not targets; they tell where the session's time goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steps {
    /// Hash the chunk, decrypt it out of place into the buffer.
    Kernel,
    /// What the session does today: hash the chunk (`feed`), then again
    /// (`decrypt_chunk` re-verifies), copy it into the buffer and decrypt
    /// it there in place.
    AsSession,
    /// One hash: copy the chunk into the buffer, hash the copy, decrypt it
    /// in place (a session that verifies and decrypts in one step, from a
    /// copy no one else can change in between).
    CopyHashOnce,
}

/// The session: one bundle sealed for a fixed device, and what a device
/// needs to open it.
#[derive(Debug)]
pub struct SessionFixture {
    sealed: SealedBundle,
    device: RecipientSecretKey,
    trust: TrustAnchor,
    opts: SessionOptions,
    chunk: usize,
}

impl SessionFixture {
    pub fn new(plain: &[u8], chunk_log2: u8) -> Self {
        let signer = SigningKey::from_bytes(&[7; 32]);
        let device =
            RecipientSecretKey::from_secret_bytes(KemId::X25519, &[9; 32]).expect("X25519 secret");
        let mut o = crate::options();
        o.chunk_size = ChunkSize::from_log2(chunk_log2).expect("chunk size");
        let sealed = seal(plain, &o, &[device.public_key().clone()], &signer).expect("seal");
        Self {
            sealed,
            device,
            trust: TrustAnchor::SigningKey(signer.verifying_key()),
            opts: SessionOptions::new(o.created),
            chunk: 1 << chunk_log2,
        }
    }

    /// `Session::new` (manifest verification), `unlock_with_backend`
    /// (`Backend::RustCrypto`), `feed_decrypt` of every chunk in order (one
    /// whole chunk per feed: copied into `out`, verified there, decrypted in
    /// place — each chunk hashed once, as a device streaming a download
    /// does), `finish`.
    pub fn run(&self, out: &mut [u8]) -> Finished {
        let mut s = Session::new(&self.sealed.manifest_bytes, &self.trust, self.opts.clone())
            .expect("session");
        s.unlock_with_backend(&self.device, Backend::RustCrypto)
            .expect("unlock");
        for (i, c) in self.sealed.payload.chunks(self.chunk).enumerate() {
            let at = (i * self.chunk) as u64;
            let fed = s
                .feed_decrypt(at, c, out, |_| Ok(()), |_, _| Ok(()))
                .expect("feed_decrypt");
            debug_assert_eq!(fed.verified, [i as u32]);
        }
        s.finish().expect("finish")
    }
}

/// The calling thread's CPU time (the wall clock where there is none).
pub fn thread_cpu() -> Duration {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }
    #[cfg(not(unix))]
    {
        use std::sync::OnceLock;
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed()
    }
}
