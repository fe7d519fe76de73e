//! The bundle manifest (`docs/FORMAT.md` §4): canonical binary encoding.
//!
//! There is exactly one encoding of a given manifest (fixed field order,
//! fixed-width big-endian integers, no optional padding), so the bytes that
//! are signed are the bytes that are parsed.

use super::encoding::{self, PayloadEncoding};
use super::{
    AppId, Body, Channel, ChunkSize, FORMAT_VERSION, FormatError, KemId, KeyId, Reader, Signed,
    SignerInfo, VersionLabel, Writer, kind,
};
use crate::prelude::*;

/// The manifest version of a bundle sealed as an encoding of the bundle
/// (compressed or a patch: FORMAT.md §17). A bundle sealed as itself stays
/// version 1 ([`FORMAT_VERSION`]), byte for byte; readers that only know
/// version 1 refuse version 2, so they never install an encoding as if it
/// were the bundle.
pub const VERSION_ENCODED: u16 = 2;

/// Most recipient stanzas one manifest may carry.
pub const MAX_RECIPIENTS: usize = 1024;
/// Most certificates a signer chain may carry.
pub const MAX_CHAIN_LEN: usize = 8;
/// Largest single certificate in a chain.
pub const MAX_CERT_LEN: usize = 64 * 1024;
/// Bytes one chunk-table entry takes: 32-byte chaining value + 16-byte GCM tag.
pub const CHUNK_ENTRY_LEN: usize = 48;
/// Length of a wrapped data key: 32 bytes of ciphertext and a 16-byte tag.
pub const WRAPPED_KEY_LEN: usize = 48;
/// Largest manifest a reader accepts (64 MiB). The format bounds every field
/// but the chunk table, whose `u32` count allows a 200 GiB table; this cap
/// admits 1.39 million chunks (350 GiB of payload at the default 256 KiB
/// chunk size, 21 GiB at the smallest) plus 1,024 recipients and a full
/// chain, and keeps `/dev/zero` or a hostile server given as a manifest
/// from filling memory (FORMAT.md §4.4).
pub const MAX_LEN: u64 = 64 << 20;

/// Most chunks a manifest may have so that, with the largest header, 1,024
/// P-256 recipients and a full chain of 64 KiB certificates, it still fits
/// [`MAX_LEN`]: 1,384,349 (counting a version 2 encoding section, so one
/// bound serves both versions). Writers refuse larger bundles (use a larger
/// chunk size), so every manifest they make can be read back.
pub const MAX_CHUNKS: u32 = {
    let header = 4 + 4 + 2 + 2 + 16 + (1 + 128) + (1 + 64) + (1 + 64) + 8 * 4 + 1 + 4 + 32;
    let encoding = encoding::MAX_SECTION_LEN;
    let recipients = 2 + MAX_RECIPIENTS * (2 + 16 + 1 + 65 + WRAPPED_KEY_LEN);
    let signer = 1 + 16 + 1 + MAX_CHAIN_LEN * (4 + MAX_CERT_LEN) + 2 + 64;
    ((MAX_LEN as usize - header - recipients - encoding - signer) / CHUNK_ENTRY_LEN) as u32
};

/// One row of the chunk table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkEntry {
    /// BLAKE3 chaining value of the ciphertext chunk as a subtree of the
    /// payload (or, for a one-chunk payload, the root hash itself).
    pub cv: [u8; 32],
    /// AES-256-GCM tag of the chunk.
    pub tag: [u8; 16],
}

/// The data key wrapped to one recipient with HPKE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientStanza {
    pub kem: KemId,
    pub recipient: KeyId,
    /// HPKE encapsulated key (`enc`): 32 bytes for X25519, 65 for P-256.
    pub enc: Vec<u8>,
    pub wrapped_key: [u8; WRAPPED_KEY_LEN],
}

/// A manifest's fields (FORMAT.md §4.1) between the header and the signer.
/// Decoding checks syntax only; nothing in it is trusted until
/// `open::verify_manifest` has checked the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManifestBody {
    pub bundle_id: [u8; 16],
    pub app_id: AppId,
    pub channel: Channel,
    pub version: VersionLabel,
    pub sequence: u64,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds after which the manifest must be refused.
    pub expires: Option<u64>,
    pub plaintext_len: u64,
    pub chunk_size: ChunkSize,
    /// BLAKE3 hash of the whole payload file.
    pub root: [u8; 32],
    pub chunks: Vec<ChunkEntry>,
    pub recipients: Vec<RecipientStanza>,
    /// What the plaintext encodes (version 2); `None` for a bundle sealed
    /// as itself (version 1).
    pub encoding: Option<PayloadEncoding>,
}

/// A manifest: its body, signed by the key its [`SignerInfo`] names.
pub type Manifest = Signed<ManifestBody>;

impl Body for ManifestBody {
    const KIND: [u8; 4] = kind::MANIFEST;
    const NAME: &'static str = "manifest";
    type Signer = SignerInfo;

    fn version(&self) -> u16 {
        if self.encoding.is_some() {
            VERSION_ENCODED
        } else {
            FORMAT_VERSION
        }
    }

    fn reads_version(version: u16) -> bool {
        version == FORMAT_VERSION || version == VERSION_ENCODED
    }

    fn size_hint(&self) -> usize {
        256 + self.chunks.len() * CHUNK_ENTRY_LEN + self.recipients.len() * 140
    }

    fn encode(&self, signer: &SignerInfo, w: &mut Writer) {
        w.put(&self.bundle_id);
        w.bytes8(self.app_id.as_str().as_bytes());
        w.bytes8(self.channel.as_str().as_bytes());
        w.bytes8(self.version.as_str().as_bytes());
        w.u64(self.sequence);
        w.u64(self.created);
        w.u64(self.expires.unwrap_or(0));
        w.u64(self.plaintext_len);
        w.u8(self.chunk_size.log2());
        w.u32(u32::try_from(self.chunks.len()).expect("chunk count fits in u32"));
        w.put(&self.root);
        for c in &self.chunks {
            w.put(&c.cv);
            w.put(&c.tag);
        }
        w.u16(u16::try_from(self.recipients.len()).expect("recipient count fits in u16"));
        for s in &self.recipients {
            w.u16(s.kem.code());
            w.put(&s.recipient.0);
            w.bytes8(&s.enc);
            w.put(&s.wrapped_key);
        }
        if let Some(e) = &self.encoding {
            e.write(w);
        }
        signer.write(w);
    }

    /// Rejects (FORMAT.md §4.3), besides what every signed document rejects:
    /// invalid names, `expires` not after `created`, chunk sizes outside
    /// 16 KiB..16 MiB, a chunk count that does not match the plaintext
    /// length, zero or more than 1024 recipients, duplicate recipient key
    /// ids, unknown KEM or signature algorithms, `enc` lengths wrong for
    /// their KEM, and more than 8 certificates.
    /// Version 2 adds the encoding section after the recipients (§17.1).
    fn decode(r: &mut Reader<'_>, doc_version: u16) -> Result<(Self, SignerInfo), FormatError> {
        let bundle_id = r.array("bundle_id")?;
        let app_id = AppId::from_wire(r.bytes8("app_id")?)?;
        let channel = Channel::from_wire(r.bytes8("channel")?)?;
        let version = VersionLabel::from_wire(r.bytes8("version")?)?;
        let sequence = r.u64("sequence")?;
        let created = r.u64("created")?;
        let expires = match r.u64("expires")? {
            0 => None,
            e if e <= created => {
                return Err(FormatError::invalid("expires", "not after `created`"));
            }
            e => Some(e),
        };
        let plaintext_len = r.u64("plaintext_len")?;
        let chunk_size = ChunkSize::from_log2(r.u8("chunk_size_log2")?)?;
        let chunk_count = r.u32("chunk_count")?;
        if u64::from(chunk_count) != chunk_size.chunk_count(plaintext_len) {
            return Err(FormatError::invalid(
                "chunk_count",
                format!(
                    "{chunk_count} chunks do not fit a {plaintext_len}-byte payload of {chunk_size} chunks"
                ),
            ));
        }
        let root = r.array("root")?;
        let table_len =
            (chunk_count as usize)
                .checked_mul(CHUNK_ENTRY_LEN)
                .ok_or(FormatError::Truncated {
                    field: "chunk_table",
                })?;
        let mut table = Reader::new(r.take(table_len, "chunk_table")?);
        let mut chunks = Vec::with_capacity(chunk_count as usize);
        for _ in 0..chunk_count {
            chunks.push(ChunkEntry {
                cv: table.array("chunk_cv")?,
                tag: table.array("chunk_tag")?,
            });
        }

        let recipient_count = r.u16("recipient_count")? as usize;
        if recipient_count == 0 || recipient_count > MAX_RECIPIENTS {
            return Err(FormatError::invalid(
                "recipient_count",
                format!("{recipient_count} is outside 1..={MAX_RECIPIENTS}"),
            ));
        }
        let mut recipients: Vec<RecipientStanza> = Vec::with_capacity(recipient_count);
        for _ in 0..recipient_count {
            let kem = KemId::from_code(r.u16("recipient_kem")?)?;
            let recipient = KeyId(r.array("recipient_key_id")?);
            let enc = r.bytes8("recipient_enc")?;
            if enc.len() != kem.enc_len() {
                return Err(FormatError::invalid(
                    "recipient_enc",
                    format!("{} bytes, {kem} needs {}", enc.len(), kem.enc_len()),
                ));
            }
            if recipients.iter().any(|s| s.recipient == recipient) {
                return Err(FormatError::invalid(
                    "recipient_key_id",
                    "duplicate recipient",
                ));
            }
            let wrapped_key = r.array("recipient_wrapped_key")?;
            recipients.push(RecipientStanza {
                kem,
                recipient,
                enc: enc.to_vec(),
                wrapped_key,
            });
        }

        let encoding = (doc_version == VERSION_ENCODED)
            .then(|| PayloadEncoding::read(r))
            .transpose()?;
        let signer = SignerInfo::read(r)?;
        let body = Self {
            bundle_id,
            app_id,
            channel,
            version,
            sequence,
            created,
            expires,
            plaintext_len,
            chunk_size,
            root,
            chunks,
            recipients,
            encoding,
        };
        Ok((body, signer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::SigAlg;

    pub(crate) fn sample() -> Manifest {
        let body = ManifestBody {
            bundle_id: [7; 16],
            app_id: "com.example.app".parse().unwrap(),
            channel: "stable".parse().unwrap(),
            version: "1.0.0".parse().unwrap(),
            sequence: 42,
            created: 1_700_000_000,
            expires: Some(1_800_000_000),
            plaintext_len: 20_000,
            chunk_size: ChunkSize::from_log2(14).unwrap(),
            root: [1; 32],
            chunks: vec![
                ChunkEntry {
                    cv: [2; 32],
                    tag: [3; 16]
                };
                2
            ],
            recipients: vec![RecipientStanza {
                kem: KemId::X25519,
                recipient: KeyId([4; 16]),
                enc: vec![5; 32],
                wrapped_key: [6; 48],
            }],
            encoding: None,
        };
        let mut m = Manifest::unsigned(
            body,
            SignerInfo {
                alg: SigAlg::Ed25519,
                key_id: KeyId([8; 16]),
                chain: vec![vec![9; 10]],
            },
        )
        .unwrap();
        m.signature = vec![0xaa; 64];
        m
    }

    #[test]
    fn an_encoded_bundle_is_version_2_and_a_plain_one_stays_version_1() {
        use crate::format::encoding::{BaseRef, Encoding};
        let plain = sample();
        let bytes = plain.to_bytes();
        assert_eq!(&bytes[8..10], &1u16.to_be_bytes());
        let mut m = sample();
        m.body.encoding = Some(PayloadEncoding {
            encoding: Encoding::ZstdPatch,
            result_len: 30_000,
            result_digest: [0x11; 32],
            base: Some(BaseRef {
                sequence: 41,
                version: "0.9.0".parse().unwrap(),
                len: 25_000,
                digest: [0x22; 32],
            }),
        });
        let v2 = m.to_bytes();
        assert_eq!(&v2[8..10], &VERSION_ENCODED.to_be_bytes());
        let (back, _) = Manifest::parse(&v2).unwrap();
        assert_eq!(back, m);
        // The section sits between the recipients and the signer: the
        // version 1 bytes are a prefix of it up to there.
        let signer_at = bytes.len() - (1 + 16 + 1 + 4 + 10 + 2 + 64);
        assert_eq!(&v2[10..signer_at], &bytes[10..signer_at]);
        assert_eq!(v2.len() - bytes.len(), 1 + 8 + 32 + 8 + 1 + 5 + 8 + 32);
        // A version 1 header over the same bytes leaves the section unread:
        // rejected, never read as a plain bundle.
        let mut relabelled = v2.clone();
        relabelled[8..10].copy_from_slice(&1u16.to_be_bytes());
        assert!(Manifest::parse(&relabelled).is_err());
    }

    #[test]
    fn round_trip() {
        let m = sample();
        let bytes = m.to_bytes();
        assert_eq!(bytes.len(), m.encoded_len());
        let (back, signed_len) = Manifest::parse(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(&bytes[..signed_len], &m.signed_bytes()[..]);
    }

    #[test]
    fn every_truncation_is_rejected() {
        let bytes = sample().to_bytes();
        for len in 0..bytes.len() {
            assert!(
                Manifest::parse(&bytes[..len]).is_err(),
                "prefix of {len} bytes parsed"
            );
        }
    }

    #[test]
    fn structural_rejections() {
        let m = sample();
        let rejects = |edit: fn(&mut Manifest), field: &str| {
            let mut bad = sample();
            edit(&mut bad);
            match Manifest::parse(&bad.to_bytes()) {
                Err(FormatError::InvalidField { field: f, .. }) => assert_eq!(f, field),
                other => panic!("expected InvalidField({field}), got {other:?}"),
            }
        };
        rejects(|m| m.chunks.truncate(1), "chunk_count");
        rejects(|m| m.recipients.clear(), "recipient_count");
        rejects(
            |m| m.body.recipients.push(m.body.recipients[0].clone()),
            "recipient_key_id",
        );
        rejects(|m| m.expires = Some(m.created), "expires");
        rejects(|m| m.signature.truncate(63), "signature");
        rejects(|m| m.recipients[0].enc.push(0), "recipient_enc");
        let mut trailing = m.to_bytes();
        trailing.push(0);
        assert_eq!(
            Manifest::parse(&trailing),
            Err(FormatError::TrailingBytes { extra: 1 })
        );
    }

    /// The size FORMAT.md §4.4 promises for a 1 GiB bundle at the default
    /// chunk size, one X25519 recipient and no chain.
    #[test]
    fn one_gib_manifest_size() {
        let mut m = sample();
        m.app_id = "com.example.demo".parse().unwrap();
        m.version = "1.0.0".parse().unwrap();
        m.plaintext_len = 1 << 30;
        m.chunk_size = ChunkSize::DEFAULT;
        m.chunks = vec![
            ChunkEntry {
                cv: [0; 32],
                tag: [0; 16]
            };
            4096
        ];
        m.signer.chain.clear();
        assert_eq!(m.encoded_len(), 196_920);
        assert_eq!(Manifest::parse(&m.to_bytes()).unwrap().0, m);
        // FORMAT.md §4.4: `recipient_count` once, then 99 bytes per X25519
        // and 132 per P-256 recipient.
        for (kem, enc_len, id) in [(KemId::X25519, 32, 10), (KemId::P256, 65, 11)] {
            m.recipients.push(RecipientStanza {
                kem,
                recipient: KeyId([id; 16]),
                enc: vec![5; enc_len],
                wrapped_key: [6; 48],
            });
        }
        assert_eq!(m.encoded_len(), 196_920 + 99 + 132);
        assert_eq!(m.to_bytes().len(), m.encoded_len());
    }

    /// The largest manifest a writer may make fits what readers accept, and
    /// one chunk more would not (FORMAT.md §4.4).
    #[test]
    fn max_chunks_is_the_most_that_fits_max_len() {
        let mut m = sample();
        m.app_id = "a".repeat(128).parse().unwrap();
        m.channel = "c".repeat(64).parse().unwrap();
        m.version = "v".repeat(64).parse().unwrap();
        m.chunks = vec![
            ChunkEntry {
                cv: [0; 32],
                tag: [0; 16]
            };
            MAX_CHUNKS as usize
        ];
        m.recipients = (0..MAX_RECIPIENTS)
            .map(|i| RecipientStanza {
                kem: KemId::P256,
                recipient: KeyId((i as u128).to_be_bytes()),
                enc: vec![4; 65],
                wrapped_key: [6; 48],
            })
            .collect();
        m.signer.chain = vec![vec![0; MAX_CERT_LEN]; MAX_CHAIN_LEN];
        // With the largest version 2 encoding section (FORMAT.md §17.1).
        m.body.encoding = Some(PayloadEncoding {
            encoding: encoding::Encoding::Bsdiff,
            result_len: 1,
            result_digest: [0; 32],
            base: Some(encoding::BaseRef {
                sequence: 1,
                version: "v".repeat(64).parse().unwrap(),
                len: 1,
                digest: [0; 32],
            }),
        });
        let len = m.encoded_len() as u64;
        assert!(len <= MAX_LEN, "{len}");
        assert!(len + CHUNK_ENTRY_LEN as u64 > MAX_LEN, "{len}");
    }
}
