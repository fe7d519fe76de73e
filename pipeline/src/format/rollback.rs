//! The rollback authorisation (`docs/FORMAT.md` §12): a signed statement
//! that lets devices install one named older bundle of one application and
//! channel until an expiry. Without one, devices refuse anything whose
//! sequence is not above what they run.
//!
//! The signer field has the same shape as a manifest's (algorithm, key id,
//! certificate chain), so a rollback signed by a release key that carries a
//! certificate with an "authorise-rollback" usage can later be verified
//! through that chain; today verifiers trust a dedicated rollback key directly
//! and require the chain to be empty.

use super::manifest::{MAX_CERT_LEN, MAX_CHAIN_LEN};
use super::{
    AppId, Channel, FormatError, Reader, SignerInfo, Writer, kind, read_final_signature,
    read_header_and_flags, with_signature, write_header_and_flags,
};

/// Largest rollback authorisation (FORMAT.md §12.1): header and flags 12,
/// app id and channel with their lengths, sequence 8, bundle id 16, issued
/// and expires 16, signer 1 + 16 + 1 and a full chain of 8 certificates of
/// 64 KiB with their `u32` lengths, an Ed25519 signature 2 + 64.
pub const MAX_LEN: u64 = 12
    + (1 + AppId::MAX_LEN as u64)
    + (1 + Channel::MAX_LEN as u64)
    + 8
    + 16
    + 16
    + 18
    + MAX_CHAIN_LEN as u64 * (4 + MAX_CERT_LEN as u64)
    + 66;

/// A decoded rollback authorisation. Decoding checks syntax only; nothing in
/// it is trusted until `policy::verify_rollback` has checked the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RollbackAuthorisation {
    pub app_id: AppId,
    pub channel: Channel,
    /// The release sequence devices may go back to.
    pub target_sequence: u64,
    /// The bundle (manifest `bundle_id`) they may install at that sequence.
    pub bundle_id: [u8; 16],
    /// Unix seconds. Devices record the latest `issued` they used per channel
    /// and refuse authorisations not issued after it.
    pub issued: u64,
    /// Unix seconds; refused at or after this time. Always after `issued`.
    pub expires: u64,
    pub signer: SignerInfo,
    pub signature: Vec<u8>,
}

/// The fields an issuer chooses; the rest comes from the signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackFields {
    pub app_id: AppId,
    pub channel: Channel,
    pub target_sequence: u64,
    pub bundle_id: [u8; 16],
    pub issued: u64,
    pub expires: u64,
}

impl RollbackAuthorisation {
    /// An unsigned authorisation (empty signature) to be signed over
    /// [`signed_bytes`](Self::signed_bytes).
    pub fn unsigned(fields: RollbackFields, signer: SignerInfo) -> Result<Self, FormatError> {
        if fields.expires <= fields.issued {
            return Err(FormatError::invalid("expires", "not after `issued`"));
        }
        if signer.chain.len() > MAX_CHAIN_LEN {
            return Err(FormatError::invalid("chain_count", "too many certificates"));
        }
        Ok(Self {
            app_id: fields.app_id,
            channel: fields.channel,
            target_sequence: fields.target_sequence,
            bundle_id: fields.bundle_id,
            issued: fields.issued,
            expires: fields.expires,
            signer,
            signature: Vec::new(),
        })
    }

    /// The bytes the signature covers: everything before the signature field.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(160);
        write_header_and_flags(&mut w, kind::ROLLBACK);
        w.bytes8(self.app_id.as_str().as_bytes());
        w.bytes8(self.channel.as_str().as_bytes());
        w.u64(self.target_sequence);
        w.put(&self.bundle_id);
        w.u64(self.issued);
        w.u64(self.expires);
        self.signer.write(&mut w);
        w.buf
    }

    /// The complete encoding: signed bytes followed by the signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        with_signature(self.signed_bytes(), &self.signature)
    }

    /// Decodes an authorisation, returning it and the length of its signed
    /// prefix.
    ///
    /// Rejects (FORMAT.md §12.3): bad magic, another document kind, any version
    /// but 1, non-zero flags, invalid names, `expires` not after `issued`, an
    /// unknown signature algorithm, more than 8 certificates or one over
    /// 64 KiB, a signature of the wrong length for its algorithm, and any byte
    /// after the signature.
    pub fn parse(bytes: &[u8]) -> Result<(Self, usize), FormatError> {
        let mut r = Reader::new(bytes);
        read_header_and_flags(&mut r, kind::ROLLBACK, "rollback authorisation")?;
        let app_id = AppId::from_wire(r.bytes8("app_id")?)?;
        let channel = Channel::from_wire(r.bytes8("channel")?)?;
        let target_sequence = r.u64("target_sequence")?;
        let bundle_id = r.array("bundle_id")?;
        let issued = r.u64("issued")?;
        let expires = r.u64("expires")?;
        if expires <= issued {
            return Err(FormatError::invalid("expires", "not after `issued`"));
        }
        let signer = SignerInfo::read(&mut r)?;
        let (signed_len, signature) = read_final_signature(&mut r, signer.alg)?;
        Ok((
            Self {
                app_id,
                channel,
                target_sequence,
                bundle_id,
                issued,
                expires,
                signer,
                signature: signature.to_vec(),
            },
            signed_len,
        ))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::keys::{KeyId, SigAlg};

    pub(crate) fn sample() -> RollbackAuthorisation {
        let mut a = RollbackAuthorisation::unsigned(
            RollbackFields {
                app_id: "com.example.app".parse().unwrap(),
                channel: "stable".parse().unwrap(),
                target_sequence: 41,
                bundle_id: [0x42; 16],
                issued: 1_700_000_000,
                expires: 1_700_086_400,
            },
            SignerInfo {
                alg: SigAlg::Ed25519,
                key_id: KeyId([0x77; 16]),
                chain: vec![],
            },
        )
        .unwrap();
        a.signature = vec![0xcc; 64];
        a
    }

    #[test]
    fn round_trip() {
        let mut a = sample();
        for chain in [vec![], vec![vec![1, 2, 3], vec![]]] {
            a.signer.chain = chain;
            let bytes = a.to_bytes();
            let (back, signed) = RollbackAuthorisation::parse(&bytes).unwrap();
            assert_eq!(back, a);
            assert_eq!(&bytes[..signed], &a.signed_bytes()[..]);
        }
    }

    #[test]
    fn every_truncation_is_rejected() {
        let bytes = sample().to_bytes();
        for len in 0..bytes.len() {
            assert!(RollbackAuthorisation::parse(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn structural_rejections() {
        let good = sample();
        let mut bad_expiry = good.clone();
        bad_expiry.expires = bad_expiry.issued;
        assert!(matches!(
            RollbackAuthorisation::parse(&bad_expiry.to_bytes()),
            Err(FormatError::InvalidField {
                field: "expires",
                ..
            })
        ));
        let mut long_chain = good.clone();
        long_chain.signer.chain = vec![vec![0]; MAX_CHAIN_LEN + 1];
        assert!(matches!(
            RollbackAuthorisation::parse(&long_chain.to_bytes()),
            Err(FormatError::InvalidField {
                field: "chain_count",
                ..
            })
        ));
        let mut short_sig = good.clone();
        short_sig.signature.pop();
        assert!(matches!(
            RollbackAuthorisation::parse(&short_sig.to_bytes()),
            Err(FormatError::InvalidField {
                field: "signature",
                ..
            })
        ));
        let mut flags = good.to_bytes();
        flags[11] = 0x80;
        assert!(matches!(
            RollbackAuthorisation::parse(&flags),
            Err(FormatError::InvalidField { field: "flags", .. })
        ));
        let mut alg = good.to_bytes();
        let alg_pos = good.signed_bytes().len() - 1 - 16 - 1;
        alg[alg_pos] = 9;
        assert!(matches!(
            RollbackAuthorisation::parse(&alg),
            Err(FormatError::InvalidField {
                field: "signature_alg",
                ..
            })
        ));
        let mut trailing = good.to_bytes();
        trailing.push(0);
        assert_eq!(
            RollbackAuthorisation::parse(&trailing),
            Err(FormatError::TrailingBytes { extra: 1 })
        );
        let mut manifest_kind = good.to_bytes();
        manifest_kind[4..8].copy_from_slice(b"MNFT");
        assert!(matches!(
            RollbackAuthorisation::parse(&manifest_kind),
            Err(FormatError::WrongKind { .. })
        ));
        assert!(
            RollbackAuthorisation::unsigned(
                RollbackFields {
                    app_id: good.app_id.clone(),
                    channel: good.channel.clone(),
                    target_sequence: 1,
                    bundle_id: [0; 16],
                    issued: 5,
                    expires: 5,
                },
                good.signer.clone(),
            )
            .is_err()
        );
    }
}
