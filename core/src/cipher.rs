//! AES-256-GCM over one chunk, behind a small internal interface so the
//! kernel can be chosen by measurement (see `benches/`), and the per-chunk
//! nonce and associated data of FORMAT.md §5.2.

use crate::format::ChunkSize;
use crate::keys::DataKey;

/// Which AES-256-GCM implementation seals and opens chunks. All produce
/// byte-identical output; they differ only in speed and portability. The
/// default ([`Backend::default`]) is the fastest one compiled in for the CPU
/// it runs on, as measured in `benches/` (docs/PERFORMANCE.md, "Kernels").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// `aws-lc-rs`: AWS-LC's AES-NI/VAES + CLMUL assembly, with AVX-512
    /// code paths; the only one that encrypts out of place, so a chunk is
    /// read straight from the input mapping into the output buffer.
    #[cfg(feature = "aws-lc")]
    AwsLc,
    /// `ring`: hand-written AES-NI/VAES (AVX2) + CLMUL assembly.
    #[cfg(feature = "ring")]
    Ring,
    /// RustCrypto `aes-gcm`: pure Rust, portable (wasm, any target).
    RustCrypto,
}

impl Default for Backend {
    /// AWS-LC on CPUs with AVX-512 (its VAES-512 code is the fastest there:
    /// 9.9 against ring's 7.9 GiB/s), ring on x86-64 without it (ring's AVX2
    /// VAES code: 3.8 against AWS-LC's 2.4 GB/s on 2 threads), AWS-LC on
    /// other architectures, and RustCrypto when neither is compiled in.
    fn default() -> Self {
        Self::fastest(cpu_has_avx512())
    }
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
fn cpu_has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("vaes")
        && std::arch::is_x86_feature_detected!("vpclmulqdq")
}

#[cfg(not(all(target_arch = "x86_64", feature = "std")))]
fn cpu_has_avx512() -> bool {
    // Not x86 (the choice below prefers AWS-LC, as before), or no `std` to
    // detect CPU features with (then only RustCrypto is compiled in).
    true
}

impl Backend {
    pub const ALL: &'static [Backend] = &[
        #[cfg(feature = "aws-lc")]
        Backend::AwsLc,
        #[cfg(feature = "ring")]
        Backend::Ring,
        Backend::RustCrypto,
    ];

    /// The fastest backend compiled in, given whether the CPU has AVX-512.
    fn fastest(avx512: bool) -> Self {
        #[cfg(feature = "ring")]
        if !avx512 {
            return Self::Ring;
        }
        let _ = avx512;
        // `ALL` lists the backends fastest first (on AVX-512).
        Self::ALL[0]
    }

    pub fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "aws-lc")]
            Self::AwsLc => "aws-lc",
            #[cfg(feature = "ring")]
            Self::Ring => "ring",
            Self::RustCrypto => "aes-gcm",
        }
    }
}

/// An AES-256-GCM key schedule for one bundle's data key.
// One per bundle, read by every worker: the size difference costs nothing and
// boxing would add a pointer chase to every chunk.
#[allow(clippy::large_enum_variant)]
pub(crate) enum ChunkCipher {
    #[cfg(feature = "aws-lc")]
    AwsLc(aws_lc_rs::aead::LessSafeKey),
    #[cfg(feature = "ring")]
    Ring(ring::aead::LessSafeKey),
    RustCrypto(aes_gcm::Aes256Gcm),
}

/// The authenticated-decryption failure; deliberately carries no detail.
#[derive(Debug)]
pub(crate) struct TagMismatch;

impl ChunkCipher {
    pub(crate) fn new(backend: Backend, key: &DataKey) -> Self {
        match backend {
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => Self::AwsLc(aws_lc_rs::aead::LessSafeKey::new(
                aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, key.expose())
                    .expect("32-byte key"),
            )),
            #[cfg(feature = "ring")]
            Backend::Ring => Self::Ring(ring::aead::LessSafeKey::new(
                ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, key.expose())
                    .expect("32-byte key"),
            )),
            Backend::RustCrypto => {
                use aes_gcm::KeyInit;
                Self::RustCrypto(aes_gcm::Aes256Gcm::new(key.expose().into()))
            }
        }
    }

    // Sealing is the publisher's (`crate::seal`, with `std`).
    #[cfg(feature = "std")]
    /// Encrypts `plaintext` into `out` (same length) and returns the tag.
    /// The plaintext is read once: with AWS-LC directly by the cipher, else
    /// by a copy into `out` that the cipher then encrypts in place. Either
    /// way the tag covers exactly the ciphertext left in `out`, even if
    /// `plaintext` (a file mapping) changes meanwhile.
    pub(crate) fn seal_into(
        &self,
        nonce: [u8; 12],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> [u8; 16] {
        assert_eq!(
            plaintext.len(),
            out.len(),
            "sealing into a buffer of another length"
        );
        #[cfg(feature = "aws-lc")]
        if let Self::AwsLc(k) = self {
            let mut tag = [0u8; 16];
            k.seal_out_of_place_scatter(
                aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce),
                aws_lc_rs::aead::Aad::from(aad),
                plaintext,
                out,
                &[],
                &mut tag,
            )
            .expect("chunk within GCM's length limit");
            return tag;
        }
        out.copy_from_slice(plaintext);
        self.seal_in_place(nonce, aad, out)
    }

    #[cfg(feature = "std")]
    pub(crate) fn seal_in_place(&self, nonce: [u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; 16] {
        match self {
            #[cfg(feature = "aws-lc")]
            Self::AwsLc(k) => {
                let tag = k
                    .seal_in_place_separate_tag(
                        aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce),
                        aws_lc_rs::aead::Aad::from(aad),
                        buf,
                    )
                    .expect("chunk within GCM's length limit");
                tag.as_ref().try_into().expect("16-byte tag")
            }
            #[cfg(feature = "ring")]
            Self::Ring(k) => {
                let tag = k
                    .seal_in_place_separate_tag(
                        ring::aead::Nonce::assume_unique_for_key(nonce),
                        ring::aead::Aad::from(aad),
                        buf,
                    )
                    .expect("chunk within GCM's length limit");
                tag.as_ref().try_into().expect("16-byte tag")
            }
            Self::RustCrypto(k) => {
                use aes_gcm::AeadInOut;
                k.encrypt_inout_detached(&nonce.into(), aad, buf.into())
                    .expect("chunk within GCM's length limit")
                    .into()
            }
        }
    }

    pub(crate) fn open_in_place(
        &self,
        nonce: [u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), TagMismatch> {
        match self {
            #[cfg(feature = "aws-lc")]
            Self::AwsLc(k) => k
                .open_in_place_separate_tag(
                    aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce),
                    aws_lc_rs::aead::Aad::from(aad),
                    tag,
                    buf,
                )
                .map(|_| ())
                .map_err(|_| TagMismatch),
            #[cfg(feature = "ring")]
            Self::Ring(k) => k
                .open_in_place_separate_tag(
                    ring::aead::Nonce::assume_unique_for_key(nonce),
                    ring::aead::Aad::from(aad),
                    ring::aead::Tag::from(*tag),
                    buf,
                    0..,
                )
                .map(|_| ())
                .map_err(|_| TagMismatch),
            Self::RustCrypto(k) => {
                use aes_gcm::AeadInOut;
                k.decrypt_inout_detached(&nonce.into(), aad, buf.into(), tag.into())
                    .map_err(|_| TagMismatch)
            }
        }
    }
}

/// Chunk nonce: 7 zero bytes, the chunk index as a big-endian `u32`, and a
/// final byte that is 1 for the last chunk and 0 otherwise. A data key seals
/// exactly one bundle and each index once, so no nonce repeats under a key.
pub(crate) fn chunk_nonce(index: u32, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[7..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    n
}

/// Associated data shared by every chunk of a bundle (41 bytes):
/// `"otaseal v1 chunk" || bundle_id || be64(plaintext_len) || chunk_size_log2`.
pub(crate) fn chunk_aad(
    bundle_id: &[u8; 16],
    plaintext_len: u64,
    chunk_size: ChunkSize,
) -> [u8; 41] {
    let mut aad = [0u8; 41];
    aad[..16].copy_from_slice(CHUNK_AAD_LABEL);
    aad[16..32].copy_from_slice(bundle_id);
    aad[32..40].copy_from_slice(&plaintext_len.to_be_bytes());
    aad[40] = chunk_size.log2();
    aad
}

pub(crate) const CHUNK_AAD_LABEL: &[u8; 16] = b"otaseal v1 chunk";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    #[test]
    fn the_default_backend_follows_the_cpu() {
        #[cfg(all(feature = "aws-lc", feature = "ring"))]
        {
            assert_eq!(Backend::fastest(true), Backend::AwsLc);
            assert_eq!(Backend::fastest(false), Backend::Ring);
        }
        assert!(Backend::ALL.contains(&Backend::default()));
    }

    #[test]
    fn nonce_layout() {
        assert_eq!(chunk_nonce(0, false), [0; 12]);
        assert_eq!(
            chunk_nonce(0x0102_0304, true),
            [0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 1]
        );
    }

    #[test]
    fn backends_agree_and_reject_tampering() {
        let key = DataKey::from_bytes([0x42; 32]);
        let aad = chunk_aad(&[1; 16], 1000, ChunkSize::DEFAULT);
        let plain: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let mut outputs = Vec::new();
        for &b in Backend::ALL {
            let c = ChunkCipher::new(b, &key);
            let mut buf = plain.clone();
            let tag = c.seal_in_place(chunk_nonce(3, true), &aad, &mut buf);
            let mut out = vec![0u8; plain.len()];
            assert_eq!(
                c.seal_into(chunk_nonce(3, true), &aad, &plain, &mut out),
                tag
            );
            assert_eq!(out, buf, "{}: out of place differs from in place", b.name());
            outputs.push((buf.clone(), tag));
            let mut opened = buf.clone();
            c.open_in_place(chunk_nonce(3, true), &aad, &mut opened, &tag)
                .unwrap();
            assert_eq!(opened, plain);
            let mut wrong_nonce = buf.clone();
            assert!(
                c.open_in_place(chunk_nonce(3, false), &aad, &mut wrong_nonce, &tag)
                    .is_err()
            );
            let mut flipped = buf.clone();
            flipped[10] ^= 1;
            assert!(
                c.open_in_place(chunk_nonce(3, true), &aad, &mut flipped, &tag)
                    .is_err()
            );
        }
        assert!(outputs.windows(2).all(|w| w[0] == w[1]));
    }

    /// Wycheproof AES-GCM vectors with 256-bit keys, 96-bit nonces and
    /// 128-bit tags (the only parameters otaseal uses), through every backend.
    #[test]
    fn wycheproof_aes_256_gcm() {
        use wycheproof::TestResult;
        let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm).unwrap();
        let mut checked = 0;
        for group in set.test_groups {
            if (group.key_size, group.nonce_size, group.tag_size) != (256, 96, 128) {
                continue;
            }
            for t in group.tests {
                let key = DataKey::from_bytes(t.key[..].try_into().unwrap());
                let nonce: [u8; 12] = t.nonce[..].try_into().unwrap();
                let tag: [u8; 16] = t.tag[..].try_into().unwrap();
                for &backend in Backend::ALL {
                    let c = ChunkCipher::new(backend, &key);
                    let mut buf = t.ct.to_vec();
                    let opened = c.open_in_place(nonce, &t.aad, &mut buf, &tag);
                    match t.result {
                        TestResult::Valid | TestResult::Acceptable => {
                            assert!(opened.is_ok(), "tc {} via {}", t.tc_id, backend.name());
                            assert_eq!(buf, &t.pt[..], "tc {}", t.tc_id);
                            let mut sealed = t.pt.to_vec();
                            assert_eq!(c.seal_in_place(nonce, &t.aad, &mut sealed), tag);
                            assert_eq!(sealed, &t.ct[..], "tc {}", t.tc_id);
                            let mut out = vec![0u8; t.pt.len()];
                            assert_eq!(c.seal_into(nonce, &t.aad, &t.pt, &mut out), tag);
                            assert_eq!(out, &t.ct[..], "tc {} out of place", t.tc_id);
                        }
                        TestResult::Invalid => {
                            assert!(
                                opened.is_err(),
                                "tc {} accepted by {}",
                                t.tc_id,
                                backend.name()
                            )
                        }
                    }
                }
                checked += 1;
            }
        }
        assert!(
            checked > 50,
            "only {checked} Wycheproof vectors matched the parameters"
        );
    }
}
