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
use super::{AppId, Body, Channel, FormatError, Reader, Signed, SignerInfo, Writer, kind};

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

/// What a rollback authorisation allows (FORMAT.md §12.1): the fields its
/// issuer chooses; the signer section names who issued it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackBody {
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
}

/// A rollback authorisation. Decoding checks syntax only; nothing in it is
/// trusted until `policy::verify_rollback` has checked the signature.
pub type RollbackAuthorisation = Signed<RollbackBody>;

impl Body for RollbackBody {
    const KIND: [u8; 4] = kind::ROLLBACK;
    const NAME: &'static str = "rollback authorisation";
    type Signer = SignerInfo;

    fn check(&self) -> Result<(), FormatError> {
        check_expiry(self.issued, self.expires)
    }

    fn encode(&self, signer: &SignerInfo, w: &mut Writer) {
        w.bytes8(self.app_id.as_str().as_bytes());
        w.bytes8(self.channel.as_str().as_bytes());
        w.u64(self.target_sequence);
        w.put(&self.bundle_id);
        w.u64(self.issued);
        w.u64(self.expires);
        signer.write(w);
    }

    /// Rejects (FORMAT.md §12.3), besides what every signed document
    /// rejects: invalid names, `expires` not after `issued`, an unknown
    /// signature algorithm, more than 8 certificates or one over 64 KiB.
    fn decode(r: &mut Reader<'_>, _version: u16) -> Result<(Self, SignerInfo), FormatError> {
        let app_id = AppId::from_wire(r.bytes8("app_id")?)?;
        let channel = Channel::from_wire(r.bytes8("channel")?)?;
        let target_sequence = r.u64("target_sequence")?;
        let bundle_id = r.array("bundle_id")?;
        let issued = r.u64("issued")?;
        let expires = r.u64("expires")?;
        check_expiry(issued, expires)?;
        let signer = SignerInfo::read(r)?;
        let body = Self {
            app_id,
            channel,
            target_sequence,
            bundle_id,
            issued,
            expires,
        };
        Ok((body, signer))
    }
}

fn check_expiry(issued: u64, expires: u64) -> Result<(), FormatError> {
    if expires <= issued {
        return Err(FormatError::invalid("expires", "not after `issued`"));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::format::{KeyId, SigAlg};
    use crate::prelude::*;

    pub(crate) fn sample() -> RollbackAuthorisation {
        let mut a = RollbackAuthorisation::unsigned(
            RollbackBody {
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
                RollbackBody {
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
