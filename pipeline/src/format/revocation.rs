//! Revocation lists (`docs/FORMAT.md` §10.3): the root says which
//! certificate serials and which keys must no longer be trusted. A sequence
//! number orders lists, so an older list can never replace a newer one.

use super::{
    FormatError, Reader, Writer, kind, read_final_signature, read_header_and_flags, with_signature,
    write_header_and_flags,
};
use crate::keys::{KeyId, SigAlg};

/// Most serials, and most key ids, one list may carry.
pub const MAX_REVOKED: usize = 65_536;

/// Largest revocation list (FORMAT.md §10.3.1): header and flags 12, issuer
/// 1 + 16, sequence and issued_at 16, two `u32` counts, 65,536 serials of 8
/// bytes and 65,536 key ids of 16, an Ed25519 signature 2 + 64.
pub const MAX_LEN: u64 =
    12 + 17 + 16 + 4 + 8 * MAX_REVOKED as u64 + 4 + 16 * MAX_REVOKED as u64 + 66;

/// A decoded revocation list; its signature is checked by `keys::trust`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevocationList {
    pub issuer_alg: SigAlg,
    pub issuer_key_id: KeyId,
    /// Starts at 1; every new list has a larger one.
    pub sequence: u64,
    /// Unix seconds.
    pub issued_at: u64,
    /// Revoked certificate serials, strictly ascending.
    pub serials: Vec<u64>,
    /// Revoked key ids, strictly ascending: every certificate for them is dead.
    pub key_ids: Vec<KeyId>,
    pub signature: Vec<u8>,
}

impl RevocationList {
    /// An unsigned list; sorts and de-duplicates the entries.
    pub fn unsigned(
        issuer_alg: SigAlg,
        issuer_key_id: KeyId,
        sequence: u64,
        issued_at: u64,
        mut serials: Vec<u64>,
        mut key_ids: Vec<KeyId>,
    ) -> Result<Self, FormatError> {
        if sequence == 0 {
            return Err(FormatError::invalid("sequence", "must be at least 1"));
        }
        serials.sort_unstable();
        serials.dedup();
        key_ids.sort_unstable();
        key_ids.dedup();
        if serials.len() > MAX_REVOKED || key_ids.len() > MAX_REVOKED {
            return Err(FormatError::invalid(
                "revoked_count",
                format!("more than {MAX_REVOKED} entries"),
            ));
        }
        Ok(Self {
            issuer_alg,
            issuer_key_id,
            sequence,
            issued_at,
            serials,
            key_ids,
            signature: Vec::new(),
        })
    }

    pub fn revokes_serial(&self, serial: u64) -> bool {
        self.serials.binary_search(&serial).is_ok()
    }

    pub fn revokes_key(&self, key_id: &KeyId) -> bool {
        self.key_ids.binary_search(key_id).is_ok()
    }

    /// The bytes the issuer signs: everything before the signature field.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64 + self.serials.len() * 8 + self.key_ids.len() * 16);
        write_header_and_flags(&mut w, kind::REVOCATION_LIST);
        w.u8(self.issuer_alg.code());
        w.put(&self.issuer_key_id.0);
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
        w.buf
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        with_signature(self.signed_bytes(), &self.signature)
    }

    /// Decodes a list, returning it and the length of its signed prefix.
    ///
    /// Rejects (FORMAT.md §10.3.2): bad magic, another kind, any version but 1,
    /// non-zero flags, an unknown algorithm, sequence 0, more than 65 536
    /// serials or key ids, entries not strictly ascending (which also rules
    /// out duplicates), a signature of the wrong length, trailing bytes.
    pub fn parse(bytes: &[u8]) -> Result<(Self, usize), FormatError> {
        let mut r = Reader::new(bytes);
        read_header_and_flags(&mut r, kind::REVOCATION_LIST, "revocation list")?;
        let issuer_alg = SigAlg::from_code(r.u8("issuer_alg")?)?;
        let issuer_key_id = KeyId(r.array("issuer_key_id")?);
        let sequence = r.u64("sequence")?;
        if sequence == 0 {
            return Err(FormatError::invalid("sequence", "must be at least 1"));
        }
        let issued_at = r.u64("issued_at")?;
        let serials = read_ascending(&mut r, "serial_count", "serial", 8, |r| r.u64("serial"))?;
        let key_ids = read_ascending(&mut r, "key_count", "key_id", 16, |r| {
            Ok(KeyId(r.array("key_id")?))
        })?;
        let (signed_len, signature) = read_final_signature(&mut r, issuer_alg)?;
        Ok((
            Self {
                issuer_alg,
                issuer_key_id,
                sequence,
                issued_at,
                serials,
                key_ids,
                signature: signature.to_vec(),
            },
            signed_len,
        ))
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
        let mut l = RevocationList::unsigned(
            SigAlg::Ed25519,
            KeyId([0x22; 16]),
            3,
            1_750_000_000,
            vec![9, 7, 7],
            vec![KeyId([0x55; 16]), KeyId([0x44; 16])],
        )
        .unwrap();
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
