//! Revocation lists (`docs/FORMAT.md` §10.3): the root says which
//! certificate serials and which keys must no longer be trusted. A sequence
//! number orders lists, so an older list can never replace a newer one.

use super::{Body, FormatError, KeyId, Reader, Signed, SignerId, Writer, kind};
use crate::prelude::*;

/// Most serials, and most key ids, one list may carry.
pub const MAX_REVOKED: usize = 65_536;

/// Largest revocation list (FORMAT.md §10.3.1): header and flags 12, issuer
/// 1 + 16, sequence and issued_at 16, two `u32` counts, 65,536 serials of 8
/// bytes and 65,536 key ids of 16, an Ed25519 signature 2 + 64.
pub const MAX_LEN: u64 =
    12 + 17 + 16 + 4 + 8 * MAX_REVOKED as u64 + 4 + 16 * MAX_REVOKED as u64 + 66;

/// What a revocation list says (FORMAT.md §10.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevocationBody {
    /// Starts at 1; every new list has a larger one.
    pub sequence: u64,
    /// Unix seconds.
    pub issued_at: u64,
    /// Revoked certificate serials, strictly ascending.
    pub serials: Vec<u64>,
    /// Revoked key ids, strictly ascending: every certificate for them is dead.
    pub key_ids: Vec<KeyId>,
}

/// A revocation list: its body, signed by the root its [`SignerId`] names;
/// the signature is checked by `keys::trust`.
pub type RevocationList = Signed<RevocationBody>;

impl RevocationBody {
    /// A list body; sorts and de-duplicates the entries.
    pub fn new(
        sequence: u64,
        issued_at: u64,
        mut serials: Vec<u64>,
        mut key_ids: Vec<KeyId>,
    ) -> Result<Self, FormatError> {
        serials.sort_unstable();
        serials.dedup();
        key_ids.sort_unstable();
        key_ids.dedup();
        let body = Self {
            sequence,
            issued_at,
            serials,
            key_ids,
        };
        body.check()?;
        Ok(body)
    }

    pub fn revokes_serial(&self, serial: u64) -> bool {
        self.serials.binary_search(&serial).is_ok()
    }

    pub fn revokes_key(&self, key_id: &KeyId) -> bool {
        self.key_ids.binary_search(key_id).is_ok()
    }
}

impl Body for RevocationBody {
    const KIND: [u8; 4] = kind::REVOCATION_LIST;
    const NAME: &'static str = "revocation list";
    type Signer = SignerId;

    fn check(&self) -> Result<(), FormatError> {
        if self.sequence == 0 {
            return Err(FormatError::invalid("sequence", "must be at least 1"));
        }
        if self.serials.len() > MAX_REVOKED || self.key_ids.len() > MAX_REVOKED {
            return Err(FormatError::invalid(
                "revoked_count",
                format!("more than {MAX_REVOKED} entries"),
            ));
        }
        Ok(())
    }

    fn size_hint(&self) -> usize {
        64 + self.serials.len() * 8 + self.key_ids.len() * 16
    }

    fn encode(&self, issuer: &SignerId, w: &mut Writer) {
        issuer.write(w);
        w.u64(self.sequence);
        w.u64(self.issued_at);
        w.u32(u32::try_from(self.serials.len()).expect("bounded by MAX_REVOKED"));
        for s in &self.serials {
            w.u64(*s);
        }
        w.u32(u32::try_from(self.key_ids.len()).expect("bounded by MAX_REVOKED"));
        for k in &self.key_ids {
            w.put(&k.0);
        }
    }

    /// Rejects (FORMAT.md §10.3.2), besides what every signed document
    /// rejects: an unknown algorithm, sequence 0, more than 65 536 serials
    /// or key ids, and entries not strictly ascending (which also rules out
    /// duplicates).
    fn decode(r: &mut Reader<'_>, _version: u16) -> Result<(Self, SignerId), FormatError> {
        let issuer = SignerId::read(r, ("issuer_alg", "issuer_key_id"))?;
        let sequence = r.u64("sequence")?;
        if sequence == 0 {
            return Err(FormatError::invalid("sequence", "must be at least 1"));
        }
        let issued_at = r.u64("issued_at")?;
        let serials = read_ascending(r, "serial_count", "serial", 8, |r| r.u64("serial"))?;
        let key_ids = read_ascending(r, "key_count", "key_id", 16, |r| {
            Ok(KeyId(r.array("key_id")?))
        })?;
        let body = Self {
            sequence,
            issued_at,
            serials,
            key_ids,
        };
        Ok((body, issuer))
    }
}

/// A `u32` count (at most [`MAX_REVOKED`]) and that many entries of `width`
/// bytes each, which MUST be strictly ascending (so also unique).
fn read_ascending<T: Ord>(
    r: &mut Reader<'_>,
    count_field: &'static str,
    field: &'static str,
    width: usize,
    read: impl Fn(&mut Reader<'_>) -> Result<T, FormatError>,
) -> Result<Vec<T>, FormatError> {
    let count = r.u32(count_field)? as usize;
    if count > MAX_REVOKED {
        return Err(FormatError::invalid(
            count_field,
            format!("{count} is more than {MAX_REVOKED}"),
        ));
    }
    // Bound the allocation by what the input can hold.
    let mut out: Vec<T> = Vec::with_capacity(count.min(r.remaining() / width));
    for _ in 0..count {
        let item = read(r)?;
        if out.last().is_some_and(|prev| *prev >= item) {
            return Err(FormatError::invalid(field, "not strictly ascending"));
        }
        out.push(item);
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> RevocationList {
        let body = RevocationBody::new(
            3,
            1_750_000_000,
            vec![9, 7, 7],
            vec![KeyId([0x55; 16]), KeyId([0x44; 16])],
        )
        .unwrap();
        let issuer = SignerId {
            alg: crate::format::SigAlg::Ed25519,
            key_id: KeyId([0x22; 16]),
        };
        let mut l = RevocationList::unsigned(body, issuer).unwrap();
        l.signature = vec![0x66; 64];
        l
    }

    #[test]
    fn round_trip_and_lookup() {
        let l = sample();
        assert_eq!(l.serials, [7, 9]);
        let bytes = l.to_bytes();
        let (back, signed_len) = RevocationList::parse(&bytes).unwrap();
        assert_eq!(back, l);
        assert_eq!(&bytes[..signed_len], &l.signed_bytes()[..]);
        assert!(l.revokes_serial(7) && !l.revokes_serial(8));
        assert!(l.revokes_key(&KeyId([0x44; 16])) && !l.revokes_key(&KeyId([0; 16])));
        for len in 0..bytes.len() {
            assert!(
                RevocationList::parse(&bytes[..len]).is_err(),
                "prefix {len}"
            );
        }
    }

    fn field_err(bytes: &[u8]) -> &'static str {
        match RevocationList::parse(bytes) {
            Err(FormatError::InvalidField { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn decoder_rejections() {
        let l = sample();
        let mut zero = l.clone();
        zero.sequence = 0;
        assert_eq!(field_err(&zero.to_bytes()), "sequence");
        let mut unsorted = l.clone();
        unsorted.serials = vec![9, 7];
        assert_eq!(field_err(&unsorted.to_bytes()), "serial");
        let mut dup = l.clone();
        dup.key_ids = vec![KeyId([1; 16]), KeyId([1; 16])];
        assert_eq!(field_err(&dup.to_bytes()), "key_id");
        let mut huge = l.signed_bytes();
        // serial_count sits after header(10) flags(2) alg(1) id(16) seq(8) at(8).
        huge[45..49].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(field_err(&huge), "serial_count");
        let mut trailing = l.to_bytes();
        trailing.push(1);
        assert!(matches!(
            RevocationList::parse(&trailing),
            Err(FormatError::TrailingBytes { .. })
        ));
    }
}
