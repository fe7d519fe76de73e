//! One shape for every signed document: the common header (magic, kind,
//! version, reserved flags), a body whose layout each kind defines, and a
//! signature over every byte before it (`docs/FORMAT.md` §2).
//!
//! A kind of document is a [`Body`]: its kind tag and versions, and how its
//! fields (with the signer section at its place in the layout) are encoded
//! and decoded. [`Signed`] wraps any body with its signer section and
//! signature, and is the only code that writes or reads the header and the
//! signature, as tough's `Signed<T>` is for TUF roles and rustls's `Codec`
//! for TLS messages. Checking who signed is `keys`' job
//! (`VerifyingKey::verify_document`); this module only knows the bytes.

use super::manifest::{MAX_CERT_LEN, MAX_CHAIN_LEN};
use super::{
    FORMAT_VERSION, FormatError, KeyId, Reader, SigAlg, Writer, read_flags, read_versioned_header,
    write_versioned_header,
};
use crate::prelude::*;

/// A kind of signed document: what comes between the header and the
/// signature.
pub trait Body: Sized {
    /// The four bytes after [`MAGIC`](super::MAGIC). Signatures cover them, so a signature
    /// over one kind of document never verifies as another.
    const KIND: [u8; 4];
    /// The document's name in errors, e.g. `manifest`.
    const NAME: &'static str;
    /// Who signed, as the signed bytes name them: a [`SignerInfo`], a
    /// [`SignerId`], or `()` for a document whose signers are its subject
    /// (a root rotation).
    type Signer: Clone + PartialEq + Eq + core::fmt::Debug;

    /// The version this body is written as.
    fn version(&self) -> u16 {
        FORMAT_VERSION
    }

    /// Whether this build reads `version` of this kind.
    fn reads_version(version: u16) -> bool {
        version == FORMAT_VERSION
    }

    /// Refuses, before anything is signed, a body the decoder would refuse,
    /// so every document a writer signs can be read back.
    fn check(&self) -> Result<(), FormatError> {
        Ok(())
    }

    /// A guess of the encoded body's length, to size the buffer once.
    fn size_hint(&self) -> usize {
        160
    }

    /// Writes the fields after the header, with the signer section at its
    /// place in this kind's layout.
    fn encode(&self, signer: &Self::Signer, w: &mut Writer);

    /// Reads what [`encode`](Self::encode) writes, with this kind's reject
    /// rules; `version` is one [`reads_version`](Self::reads_version)
    /// accepted.
    fn decode(r: &mut Reader<'_>, version: u16) -> Result<(Self, Self::Signer), FormatError>;
}

/// The section of a document's signed bytes that names its signer.
pub trait SignerSection {
    fn alg(&self) -> SigAlg;
    fn key_id(&self) -> KeyId;
    /// The section naming a signer with `alg`, `key_id` and certificate
    /// `chain` (leaf first); sections without a chain ignore it.
    fn for_signer(alg: SigAlg, key_id: KeyId, chain: &[Vec<u8>]) -> Self;
    /// Refuses a section the decoder would refuse.
    fn check(&self) -> Result<(), FormatError> {
        Ok(())
    }
}

/// A signer named by algorithm and key id: the issuer of a certificate or a
/// revocation list, the signer of a batch index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignerId {
    pub alg: SigAlg,
    pub key_id: KeyId,
}

impl SignerId {
    /// `u8` algorithm, then the 16-byte key id.
    pub(crate) fn write(&self, w: &mut Writer) {
        w.u8(self.alg.code());
        w.put(&self.key_id.0);
    }

    /// Reads the section; `fields` names the algorithm and key id fields of
    /// this kind for errors (e.g. `issuer_alg`, `issuer_key_id`).
    pub(crate) fn read(
        r: &mut Reader<'_>,
        fields: (&'static str, &'static str),
    ) -> Result<Self, FormatError> {
        let alg = SigAlg::from_code(r.u8(fields.0)?)?;
        let key_id = KeyId(r.array(fields.1)?);
        Ok(Self { alg, key_id })
    }
}

impl SignerSection for SignerId {
    fn alg(&self) -> SigAlg {
        self.alg
    }
    fn key_id(&self) -> KeyId {
        self.key_id
    }
    fn for_signer(alg: SigAlg, key_id: KeyId, _chain: &[Vec<u8>]) -> Self {
        Self { alg, key_id }
    }
}

/// Who signed a manifest or a rollback authorisation, and the certificates
/// that vouch for the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerInfo {
    pub alg: SigAlg,
    pub key_id: KeyId,
    /// Encoded certificates, leaf first. Empty when the verifier trusts the
    /// signing key directly.
    pub chain: Vec<Vec<u8>>,
}

impl SignerInfo {
    /// `u8` algorithm, 16-byte key id, `u8` count, then each certificate as
    /// `bytes32` (FORMAT.md §4.1).
    pub(crate) fn write(&self, w: &mut Writer) {
        SignerId::for_signer(self.alg, self.key_id, &[]).write(w);
        w.u8(u8::try_from(self.chain.len()).expect("chain length fits in u8"));
        for cert in &self.chain {
            w.bytes32(cert);
        }
    }

    /// Rejects an unknown algorithm, more than 8 certificates and any
    /// certificate over 64 KiB.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, FormatError> {
        let SignerId { alg, key_id } = SignerId::read(r, ("signature_alg", "signer_key_id"))?;
        let chain_len = r.u8("chain_count")? as usize;
        check_chain_len(chain_len)?;
        let mut chain = Vec::with_capacity(chain_len);
        for _ in 0..chain_len {
            let cert = r.bytes32("certificate")?;
            check_cert_len(cert)?;
            chain.push(cert.to_vec());
        }
        Ok(Self { alg, key_id, chain })
    }
}

fn check_chain_len(len: usize) -> Result<(), FormatError> {
    if len > MAX_CHAIN_LEN {
        return Err(FormatError::invalid(
            "chain_count",
            format!("{len} certificates, at most {MAX_CHAIN_LEN}"),
        ));
    }
    Ok(())
}

fn check_cert_len(cert: &[u8]) -> Result<(), FormatError> {
    if cert.len() > MAX_CERT_LEN {
        return Err(FormatError::invalid("certificate", "longer than 64 KiB"));
    }
    Ok(())
}

impl SignerSection for SignerInfo {
    fn alg(&self) -> SigAlg {
        self.alg
    }
    fn key_id(&self) -> KeyId {
        self.key_id
    }
    fn for_signer(alg: SigAlg, key_id: KeyId, chain: &[Vec<u8>]) -> Self {
        Self {
            alg,
            key_id,
            chain: chain.to_vec(),
        }
    }
    fn check(&self) -> Result<(), FormatError> {
        check_chain_len(self.chain.len())?;
        self.chain.iter().try_for_each(|c| check_cert_len(c))
    }
}

/// A signed document: its body, the signer section, and the signature over
/// every byte before it. Decoding checks syntax only; nothing in it is
/// trusted until its signature has been verified.
///
/// It reads as its body (`manifest.app_id`): a signed document *is* its
/// body plus the proof of who wrote it, and every reader wants the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed<T: Body> {
    pub body: T,
    pub signer: T::Signer,
    /// Empty until signed.
    pub signature: Vec<u8>,
}

impl<T: Body> core::ops::Deref for Signed<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.body
    }
}

impl<T: Body> core::ops::DerefMut for Signed<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.body
    }
}

impl<T: Body> Signed<T>
where
    T::Signer: SignerSection,
{
    /// An unsigned document (empty signature), to be signed over
    /// [`signed_bytes`](Self::signed_bytes). Checks what the decoder checks.
    pub fn unsigned(body: T, signer: T::Signer) -> Result<Self, FormatError> {
        signer.check()?;
        body.check()?;
        Ok(Self {
            body,
            signer,
            signature: Vec::new(),
        })
    }

    /// The bytes the signature covers: everything before the signature field.
    pub fn signed_bytes(&self) -> Vec<u8> {
        encode_unsigned(&self.body, &self.signer)
    }

    /// The complete encoding: signed bytes followed by the signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        with_signature(self.signed_bytes(), &self.signature)
    }

    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        self.signed_bytes().len() + 2 + self.signature.len()
    }

    /// Decodes a document, returning it and the length of its signed prefix.
    /// Besides the body's own rules, rejects bad magic, another kind, a
    /// version this build does not read, non-zero flags, a signature of the
    /// wrong length for the signer's algorithm, and any byte after it.
    pub fn parse(bytes: &[u8]) -> Result<(Self, usize), FormatError> {
        let mut r = Reader::new(bytes);
        let (body, signer) = decode_unsigned::<T>(&mut r)?;
        let signed_len = r.position();
        let signature = read_signature(&mut r, signer.alg(), "signature")?.to_vec();
        r.finish()?;
        Ok((
            Self {
                body,
                signer,
                signature,
            },
            signed_len,
        ))
    }
}

/// Header, flags and body with its signer section: a document's signed bytes.
pub(crate) fn encode_unsigned<T: Body>(body: &T, signer: &T::Signer) -> Vec<u8> {
    let mut w = Writer::with_capacity(12 + body.size_hint());
    write_versioned_header(&mut w, T::KIND, body.version());
    w.u16(0);
    body.encode(signer, &mut w);
    w.buf
}

/// Reads and checks the header and the reserved flags, then the body.
pub(crate) fn decode_unsigned<T: Body>(r: &mut Reader<'_>) -> Result<(T, T::Signer), FormatError> {
    let version = read_versioned_header(r, T::KIND, T::NAME, T::reads_version)?;
    read_flags(r)?;
    T::decode(r, version)
}

/// A signed document's encoding: its signed bytes, then the signature as
/// `bytes16`.
pub(crate) fn with_signature(signed: Vec<u8>, signature: &[u8]) -> Vec<u8> {
    let mut w = Writer { buf: signed };
    w.bytes16(signature);
    w.buf
}

/// Reads one `bytes16` signature (the field `field`) and rejects a length
/// wrong for `alg`.
pub(crate) fn read_signature<'a>(
    r: &mut Reader<'a>,
    alg: SigAlg,
    field: &'static str,
) -> Result<&'a [u8], FormatError> {
    let signature = r.bytes16(field)?;
    if signature.len() != alg.signature_len() {
        return Err(FormatError::invalid(
            field,
            format!(
                "{} bytes, {alg} needs {}",
                signature.len(),
                alg.signature_len()
            ),
        ));
    }
    Ok(signature)
}
