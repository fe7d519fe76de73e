//! The batch index (`docs/FORMAT.md` §15): one signed document per
//! batch run that lists every sealed bundle of the run.
//!
//! The encoding is canonical: entries are sorted by name (strictly ascending
//! byte order, so no duplicates), every integer is fixed-width big-endian and
//! nothing in it depends on when or how the batch was scheduled. Two runs that
//! sealed the same bundles therefore produce byte-identical indexes, and
//! merging the indexes of `N` shards yields exactly the index of one run over
//! all inputs.
//!
//! ```text
//! magic "OTAS" | kind "BIDX" | version u16 = 1 | flags u16 = 0
//! app_id bytes8 | channel bytes8 | version bytes8 | sequence u64
//! shard_index u32 | shard_count u32            (1-based; 1/1 = whole batch)
//! entry_count u32
//! entry_count x { name bytes16 | plaintext_len u64 | bundle_id [16]
//!                 | root [32] | manifest_len u32 | manifest_hash [32] }
//! signature_alg u8 | signer_key_id [16]
//! signature bytes16                            (covers every byte before it)
//! ```
//!
//! Version 2 (§15.8), written exactly when some entry is encoded or has
//! deltas, appends to every entry, after `manifest_hash`:
//!
//! ```text
//! encoding u8 (0 none, 1 zstd) | result_len u64 | delta_count u8
//! delta_count x { base_sequence u64 | base_version bytes8 | encoding u8 (2, 3, 4)
//!                 | payload_len u64 | bundle_id [16] | root [32]
//!                 | manifest_len u32 | manifest_hash [32] }   (ascending base_sequence)
//! ```

use super::encoding::Encoding;
use super::{
    AppId, Body, Channel, FORMAT_VERSION, FormatError, KeyId, Reader, SigAlg, Signed, SignerId,
    VersionLabel, Writer, kind,
};
use crate::prelude::*;

/// Most entries one index may hold (2^24).
pub const MAX_ENTRIES: u32 = 1 << 24;
/// Longest bundle name in bytes.
pub const MAX_NAME_LEN: usize = 1024;
/// Bytes of an entry besides its name (and the name's 2-byte length).
const ENTRY_FIXED_LEN: usize = 8 + 16 + 32 + 4 + 32;
/// The version written when some entry is encoded or has deltas.
pub const VERSION_DELTAS: u16 = 2;
/// Most deltas one entry may list.
pub const MAX_DELTAS: usize = 255;
/// Bytes a version 2 entry adds besides its deltas.
const V2_ENTRY_EXTRA: usize = 1 + 8 + 1;
/// Bytes of a delta besides its base version label (and its 1-byte length).
const DELTA_FIXED_LEN: usize = 8 + 1 + 8 + 16 + 32 + 4 + 32;
/// Longest delta.
const MAX_DELTA_LEN: usize = DELTA_FIXED_LEN + 1 + 255;

/// A bundle's name inside a batch: the input's path relative to the
/// directory it was found in (or its file name), `/`-separated.
///
/// Rules (FORMAT.md §15.2): valid UTF-8, 1..=1024 bytes, no leading `/`, every
/// `/`-separated component non-empty and neither `.` nor `..`, and no NUL,
/// control character or backslash. A consumer can therefore join a name onto
/// an output directory without escaping it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BundleName(String);

impl BundleName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn from_wire(bytes: &[u8]) -> Result<Self, FormatError> {
        let s = core::str::from_utf8(bytes)
            .map_err(|_| FormatError::invalid("entry_name", "not UTF-8"))?;
        s.parse()
    }
}

impl core::str::FromStr for BundleName {
    type Err = FormatError;

    fn from_str(s: &str) -> Result<Self, FormatError> {
        let bad = |reason: &str| FormatError::invalid("entry_name", format!("{s:?}: {reason}"));
        if s.is_empty() || s.len() > MAX_NAME_LEN {
            return Err(bad(&format!("length is outside 1..={MAX_NAME_LEN}")));
        }
        if s.chars().any(|c| c.is_control() || c == '\\') {
            return Err(bad("contains a control character or a backslash"));
        }
        if s.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            return Err(bad(
                "must be a relative path without empty, `.` or `..` components",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

impl core::fmt::Display for BundleName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which part of a batch an index covers: shard `index` of `count`, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShardId {
    index: u32,
    count: u32,
}

impl ShardId {
    /// The whole batch.
    pub const WHOLE: Self = Self { index: 1, count: 1 };

    /// Shard `index` of `count`; requires `1 <= index <= count`.
    pub fn new(index: u32, count: u32) -> Result<Self, FormatError> {
        if index == 0 || index > count {
            return Err(FormatError::invalid(
                "shard",
                format!("shard {index}/{count}: need 1 <= K <= N"),
            ));
        }
        Ok(Self { index, count })
    }

    pub fn index(self) -> u32 {
        self.index
    }

    pub fn count(self) -> u32 {
        self.count
    }

    pub fn is_whole(self) -> bool {
        self.count == 1
    }
}

impl core::fmt::Display for ShardId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl core::str::FromStr for ShardId {
    type Err = FormatError;

    /// Parses `K/N`, e.g. `3/8`.
    fn from_str(s: &str) -> Result<Self, FormatError> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| FormatError::invalid("shard", format!("`{s}`: expected K/N")))?;
        let num = |t: &str| {
            t.trim()
                .parse::<u32>()
                .map_err(|_| FormatError::invalid("shard", format!("`{s}`: expected K/N")))
        };
        Self::new(num(k)?, num(n)?)
    }
}

/// The release every bundle of a batch belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub app_id: AppId,
    pub channel: Channel,
    pub version: VersionLabel,
    pub sequence: u64,
}

/// One sealed bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub name: BundleName,
    /// Plaintext length, which is also the payload file's length.
    pub plaintext_len: u64,
    pub bundle_id: [u8; 16],
    /// The manifest's root: BLAKE3 of the payload file.
    pub root: [u8; 32],
    /// Length of the manifest file.
    pub manifest_len: u32,
    /// BLAKE3 of the manifest file's bytes.
    pub manifest_hash: [u8; 32],
    /// How the full bundle's payload is encoded: `None`, or
    /// [`Encoding::Zstd`] (`seal --compress`). Version 2 only.
    pub encoding: Option<Encoding>,
    /// Length of the bundle the payload decodes to (= `plaintext_len`
    /// when not encoded).
    pub result_len: u64,
    /// Delta bundles that install this bundle over an older release, by
    /// ascending base sequence (unique, at most [`MAX_DELTAS`]).
    pub deltas: Vec<DeltaEntry>,
}

impl IndexEntry {
    /// An entry for a full, unencoded bundle without deltas.
    pub fn full(
        name: BundleName,
        plaintext_len: u64,
        bundle_id: [u8; 16],
        root: [u8; 32],
        manifest_len: u32,
        manifest_hash: [u8; 32],
    ) -> Self {
        Self {
            name,
            plaintext_len,
            bundle_id,
            root,
            manifest_len,
            manifest_hash,
            encoding: None,
            result_len: plaintext_len,
            deltas: Vec::new(),
        }
    }

    /// Whether the entry needs a version 2 index.
    pub fn needs_v2(&self) -> bool {
        self.encoding.is_some() || !self.deltas.is_empty()
    }
}

/// A delta bundle: the same release as its entry's full bundle, sealed as a
/// patch (`zstd-patch`, `bsdiff` or `bsdiff-xz`) against the bundle of an older release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaEntry {
    /// The release sequence of the base the patch applies to.
    pub base_sequence: u64,
    pub base_version: VersionLabel,
    /// An encoding that [`Encoding::needs_base`]: [`Encoding::ZstdPatch`],
    /// [`Encoding::Bsdiff`] or [`Encoding::BsdiffXz`].
    pub encoding: Encoding,
    /// The delta's payload length (its sealed plaintext: the patch).
    pub payload_len: u64,
    pub bundle_id: [u8; 16],
    pub root: [u8; 32],
    pub manifest_len: u32,
    pub manifest_hash: [u8; 32],
}

/// Checks an entry's version 2 fields (FORMAT.md §15.8).
fn check_entry(e: &IndexEntry) -> Result<(), FormatError> {
    if let Some(enc) = e.encoding
        && enc != Encoding::Zstd
    {
        return Err(FormatError::invalid(
            "entry_encoding",
            format!("{}: a full bundle is not encoded as {enc}", e.name),
        ));
    }
    if e.encoding.is_none() && e.result_len != e.plaintext_len {
        return Err(FormatError::invalid(
            "entry_result_len",
            format!(
                "{}: differs from the plaintext length of an unencoded bundle",
                e.name
            ),
        ));
    }
    if e.deltas.len() > MAX_DELTAS {
        return Err(FormatError::invalid(
            "delta_count",
            format!(
                "{}: {} deltas, at most {MAX_DELTAS}",
                e.name,
                e.deltas.len()
            ),
        ));
    }
    for d in &e.deltas {
        if !d.encoding.needs_base() {
            return Err(FormatError::invalid(
                "delta_encoding",
                format!("{}: a delta is not encoded as {}", e.name, d.encoding),
            ));
        }
    }
    if e.deltas
        .windows(2)
        .any(|w| w[0].base_sequence >= w[1].base_sequence)
    {
        return Err(FormatError::invalid(
            "delta_base_sequence",
            format!("{}: deltas must be sorted by base sequence, unique", e.name),
        ));
    }
    Ok(())
}

/// What a batch index lists (FORMAT.md §15.1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchIndexBody {
    pub release: Release,
    pub shard: ShardId,
    /// Sorted by name, strictly ascending.
    pub entries: Vec<IndexEntry>,
}

/// A batch index, signed by the release key its [`SignerId`] names.
/// Decoding checks syntax only; nothing in it is trusted until its
/// signature has been verified (`batch::verify_index`).
pub type BatchIndex = Signed<BatchIndexBody>;

impl BatchIndexBody {
    /// An index body; sorts `entries` by name (and each entry's deltas by
    /// base sequence) and rejects duplicates and invalid version 2 fields.
    pub fn new(
        release: Release,
        shard: ShardId,
        mut entries: Vec<IndexEntry>,
    ) -> Result<Self, FormatError> {
        for e in &mut entries {
            e.deltas.sort_by_key(|d| d.base_sequence);
            check_entry(e)?;
        }
        if entries.len() > MAX_ENTRIES as usize {
            return Err(FormatError::invalid(
                "entry_count",
                format!("{} entries, at most {MAX_ENTRIES}", entries.len()),
            ));
        }
        entries.sort_by(|a, b| a.name.as_str().as_bytes().cmp(b.name.as_str().as_bytes()));
        if let Some(w) = entries.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(FormatError::invalid(
                "entry_name",
                format!("{} is listed twice", w[0].name),
            ));
        }
        Ok(Self {
            release,
            shard,
            entries,
        })
    }
}

impl BatchIndexBody {
    /// Whether this index is written as version 2 (§15.8).
    pub fn needs_v2(&self) -> bool {
        self.entries.iter().any(IndexEntry::needs_v2)
    }
}

impl BatchIndex {
    /// An unsigned index to be signed by `signer_alg` / `signer_key_id`;
    /// sorts `entries` by name and rejects duplicates.
    pub fn new(
        release: Release,
        shard: ShardId,
        entries: Vec<IndexEntry>,
        signer_alg: SigAlg,
        signer_key_id: KeyId,
    ) -> Result<Self, FormatError> {
        Self::unsigned(
            BatchIndexBody::new(release, shard, entries)?,
            SignerId {
                alg: signer_alg,
                key_id: signer_key_id,
            },
        )
    }
}

impl Body for BatchIndexBody {
    const KIND: [u8; 4] = kind::BATCH_INDEX;
    const NAME: &'static str = "batch index";
    type Signer = SignerId;

    fn version(&self) -> u16 {
        if self.needs_v2() {
            VERSION_DELTAS
        } else {
            FORMAT_VERSION
        }
    }

    fn reads_version(version: u16) -> bool {
        version == FORMAT_VERSION || version == VERSION_DELTAS
    }

    fn size_hint(&self) -> usize {
        let names: usize = self.entries.iter().map(|e| e.name.0.len()).sum();
        let deltas: usize = self.entries.iter().map(|e| e.deltas.len()).sum();
        128 + names
            + self.entries.len() * (2 + ENTRY_FIXED_LEN + V2_ENTRY_EXTRA)
            + deltas * MAX_DELTA_LEN
    }

    fn encode(&self, signer: &SignerId, w: &mut Writer) {
        w.bytes8(self.release.app_id.as_str().as_bytes());
        w.bytes8(self.release.channel.as_str().as_bytes());
        w.bytes8(self.release.version.as_str().as_bytes());
        w.u64(self.release.sequence);
        w.u32(self.shard.index);
        w.u32(self.shard.count);
        w.u32(u32::try_from(self.entries.len()).expect("entry count checked in new()"));
        let v2 = self.needs_v2();
        for e in &self.entries {
            w.bytes16(e.name.0.as_bytes());
            w.u64(e.plaintext_len);
            w.put(&e.bundle_id);
            w.put(&e.root);
            w.u32(e.manifest_len);
            w.put(&e.manifest_hash);
            if v2 {
                w.u8(e.encoding.map_or(0, Encoding::code));
                w.u64(e.result_len);
                w.u8(u8::try_from(e.deltas.len()).expect("delta count checked in new()"));
                for d in &e.deltas {
                    w.u64(d.base_sequence);
                    w.bytes8(d.base_version.as_str().as_bytes());
                    w.u8(d.encoding.code());
                    w.u64(d.payload_len);
                    w.put(&d.bundle_id);
                    w.put(&d.root);
                    w.u32(d.manifest_len);
                    w.put(&d.manifest_hash);
                }
            }
        }
        signer.write(w);
    }

    /// Rejects (FORMAT.md §15.4), besides what every signed document
    /// rejects: invalid release names, a shard outside `1 <= K <= N`, more
    /// than 2^24 entries, invalid entry names, entries not in strictly
    /// ascending name order (which includes duplicates), and an unknown
    /// signature algorithm.
    ///
    /// Version 2 also rejects: a full bundle encoding other than none or
    /// zstd, a result length unequal to the plaintext length of an
    /// unencoded bundle, a delta encoding that is unknown or needs no base (zstd),
    /// deltas not in strictly ascending base sequence order, and a version 2
    /// index none of whose entries is encoded or has a delta (it must be
    /// written as version 1: the encoding is canonical).
    fn decode(r: &mut Reader<'_>, version: u16) -> Result<(Self, SignerId), FormatError> {
        let v2 = version == VERSION_DELTAS;
        let (release, shard, count) = read_prefix(r)?;
        // Every entry takes at least this many bytes, so a hostile count
        // cannot make us allocate more than the input justifies.
        let min_entry = 2 + 1 + ENTRY_FIXED_LEN + if v2 { V2_ENTRY_EXTRA } else { 0 };
        if (count as usize).saturating_mul(min_entry) > r.remaining() {
            return Err(FormatError::Truncated { field: "entries" });
        }
        let mut entries: Vec<IndexEntry> = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let name = BundleName::from_wire(r.bytes16("entry_name")?)?;
            if let Some(prev) = entries.last()
                && prev.name.0.as_bytes() >= name.0.as_bytes()
            {
                return Err(FormatError::invalid(
                    "entry_name",
                    format!(
                        "{name} is not after {} (entries must be sorted, unique)",
                        prev.name
                    ),
                ));
            }
            let mut e = IndexEntry::full(
                name,
                r.u64("entry_plaintext_len")?,
                r.array("entry_bundle_id")?,
                r.array("entry_root")?,
                r.u32("entry_manifest_len")?,
                r.array("entry_manifest_hash")?,
            );
            if v2 {
                e.encoding = match r.u8("entry_encoding")? {
                    0 => None,
                    code => Some(Encoding::from_code(code).map_err(|_| {
                        FormatError::invalid("entry_encoding", format!("unknown encoding {code}"))
                    })?),
                };
                e.result_len = r.u64("entry_result_len")?;
                let n = r.u8("delta_count")?;
                for _ in 0..n {
                    let base_sequence = r.u64("delta_base_sequence")?;
                    let base_version = VersionLabel::from_wire(r.bytes8("delta_base_version")?)?;
                    let code = r.u8("delta_encoding")?;
                    let encoding = Encoding::from_code(code).map_err(|_| {
                        FormatError::invalid("delta_encoding", format!("unknown encoding {code}"))
                    })?;
                    e.deltas.push(DeltaEntry {
                        base_sequence,
                        base_version,
                        encoding,
                        payload_len: r.u64("delta_payload_len")?,
                        bundle_id: r.array("delta_bundle_id")?,
                        root: r.array("delta_root")?,
                        manifest_len: r.u32("delta_manifest_len")?,
                        manifest_hash: r.array("delta_manifest_hash")?,
                    });
                }
                check_entry(&e)?;
            }
            entries.push(e);
        }
        if v2 && !entries.iter().any(IndexEntry::needs_v2) {
            return Err(FormatError::invalid(
                "version",
                "a version 2 index lists an encoded bundle or a delta",
            ));
        }
        let signer = SignerId::read(r, ("signature_alg", "signer_key_id"))?;
        let body = Self {
            release,
            shard,
            entries,
        };
        Ok((body, signer))
    }
}

/// Bytes before the entries at most: header and flags, three `bytes8`
/// names, sequence, shard, entry count.
pub const MAX_PREFIX_LEN: usize = 12 + 3 * (1 + 255) + 8 + 4 + 4 + 4;

/// The most bytes an index can take whose encoding starts with `head` (its
/// first [`MAX_PREFIX_LEN`] bytes, or all of it if shorter), going by the
/// `entry_count` it declares: a reader needs no more. Fails, like
/// [`BatchIndex::parse`], on a header that is already invalid, so garbage
/// (`/dev/zero`) is refused after a few bytes.
pub fn max_len(head: &[u8]) -> Result<u64, FormatError> {
    let mut r = Reader::new(head);
    let version = super::read_versioned_header(
        &mut r,
        kind::BATCH_INDEX,
        BatchIndexBody::NAME,
        BatchIndexBody::reads_version,
    )?;
    super::read_flags(&mut r)?;
    let (_, _, count) = read_prefix(&mut r)?;
    let max_entry = if version == VERSION_DELTAS {
        (2 + MAX_NAME_LEN + ENTRY_FIXED_LEN + V2_ENTRY_EXTRA + MAX_DELTAS * MAX_DELTA_LEN) as u64
    } else {
        (2 + MAX_NAME_LEN + ENTRY_FIXED_LEN) as u64
    };
    // signature_alg, signer_key_id, and a signature of any bytes16 length.
    let trailer = 1 + 16 + 2 + u64::from(u16::MAX);
    Ok(r.position() as u64 + u64::from(count) * max_entry + trailer)
}

/// Reads everything between the header and the entries; checks the entry
/// count's bound.
fn read_prefix(r: &mut Reader<'_>) -> Result<(Release, ShardId, u32), FormatError> {
    let release = Release {
        app_id: AppId::from_wire(r.bytes8("app_id")?)?,
        channel: Channel::from_wire(r.bytes8("channel")?)?,
        version: VersionLabel::from_wire(r.bytes8("version")?)?,
        sequence: r.u64("sequence")?,
    };
    let shard = ShardId::new(r.u32("shard_index")?, r.u32("shard_count")?)?;
    let count = r.u32("entry_count")?;
    if count > MAX_ENTRIES {
        return Err(FormatError::invalid(
            "entry_count",
            format!("{count} entries, at most {MAX_ENTRIES}"),
        ));
    }
    Ok((release, shard, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn entry(name: &str, n: u8) -> IndexEntry {
        IndexEntry::full(
            name.parse().unwrap(),
            1000 * u64::from(n),
            [n; 16],
            [n.wrapping_add(1); 32],
            300 + u32::from(n),
            [n.wrapping_add(2); 32],
        )
    }

    fn delta(base: u64, n: u8) -> DeltaEntry {
        DeltaEntry {
            base_sequence: base,
            base_version: format!("4.{base}.0").parse().unwrap(),
            encoding: match n % 3 {
                0 => Encoding::ZstdPatch,
                1 => Encoding::Bsdiff,
                _ => Encoding::BsdiffXz,
            },
            payload_len: 100 * u64::from(n),
            bundle_id: [n ^ 0x55; 16],
            root: [n ^ 0x66; 32],
            manifest_len: 500 + u32::from(n),
            manifest_hash: [n ^ 0x77; 32],
        }
    }

    /// `sample()` with the first entry compressed and two deltas (given
    /// out of order) on the second.
    pub(crate) fn sample_v2() -> BatchIndex {
        let mut idx = sample();
        let mut entries = idx.body.entries.clone();
        entries[0].encoding = Some(Encoding::Zstd);
        entries[0].result_len = 5000;
        entries[1].deltas = vec![delta(41, 2), delta(40, 3)];
        let sig = idx.signature.clone();
        idx = BatchIndex::new(
            idx.release.clone(),
            idx.shard,
            entries,
            idx.signer.alg,
            idx.signer.key_id,
        )
        .unwrap();
        idx.signature = sig;
        idx
    }

    #[test]
    fn v1_stays_v1_and_v2_round_trips() {
        let v1 = sample().to_bytes();
        assert_eq!(u16::from_be_bytes([v1[8], v1[9]]), 1);
        let idx = sample_v2();
        assert_eq!(idx.entries[1].deltas[0].base_sequence, 40);
        let bytes = idx.to_bytes();
        assert_eq!(u16::from_be_bytes([bytes[8], bytes[9]]), 2);
        let (back, _) = BatchIndex::parse(&bytes).unwrap();
        assert_eq!(back, idx);
        let head = &bytes[..bytes.len().min(MAX_PREFIX_LEN)];
        assert!(bytes.len() as u64 <= max_len(head).unwrap());
        for len in 0..bytes.len() {
            assert!(BatchIndex::parse(&bytes[..len]).is_err(), "prefix {len}");
        }
    }

    #[test]
    fn v2_rules() {
        let base = sample_v2();
        let build = |f: &dyn Fn(&mut Vec<IndexEntry>)| {
            let mut entries = base.entries.clone();
            f(&mut entries);
            BatchIndex::new(
                base.release.clone(),
                base.shard,
                entries,
                SigAlg::Ed25519,
                KeyId([9; 16]),
            )
        };
        let field = |r: Result<BatchIndex, FormatError>| match r {
            Err(FormatError::InvalidField { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(build(&|e| e[1].deltas[1].base_sequence = 40)),
            "delta_base_sequence"
        );
        assert_eq!(
            field(build(&|e| e[1].deltas[0].encoding = Encoding::Zstd)),
            "delta_encoding"
        );
        assert_eq!(
            field(build(&|e| e[0].encoding = Some(Encoding::Bsdiff))),
            "entry_encoding"
        );
        assert_eq!(field(build(&|e| e[2].result_len += 1)), "entry_result_len");
        assert_eq!(
            field(build(
                &|e| e[2].deltas = (0..256).map(|b| delta(b, 2)).collect()
            )),
            "delta_count"
        );
        // Decoding: corrupt the encoded v2 bytes.
        let bytes = base.to_bytes();
        // The second entry's first delta's encoding byte: find it by its
        // unique neighbourhood (base version "4.40.0" then the code).
        let label = b"\x064.40.0";
        let at = bytes.windows(label.len()).position(|w| w == label).unwrap() + label.len();
        let mut b = bytes.clone();
        b[at] = 9;
        assert!(matches!(
            BatchIndex::parse(&b),
            Err(FormatError::InvalidField {
                field: "delta_encoding",
                ..
            })
        ));
        // Base sequences 40 then 41: make the first 41 (a duplicate).
        let mut b = bytes.clone();
        b[at - label.len() - 1] = 41;
        assert!(matches!(
            BatchIndex::parse(&b),
            Err(FormatError::InvalidField {
                field: "delta_base_sequence",
                ..
            })
        ));
        // A version 2 header on an index without anything encoded.
        let mut b = sample().to_bytes();
        b[9] = 2;
        assert!(BatchIndex::parse(&b).is_err());
        let mut b = sample().to_bytes();
        b[9] = 3;
        assert!(matches!(
            BatchIndex::parse(&b),
            Err(FormatError::UnsupportedVersion { found: 3 })
        ));
    }

    pub(crate) fn sample() -> BatchIndex {
        let mut idx = BatchIndex::new(
            Release {
                app_id: "com.example.maps".parse().unwrap(),
                channel: "stable".parse().unwrap(),
                version: "4.2.0".parse().unwrap(),
                sequence: 42,
            },
            ShardId::new(2, 3).unwrap(),
            vec![
                entry("web/b.zip", 2),
                entry("a.img", 1),
                entry("web/a.zip", 3),
            ],
            SigAlg::Ed25519,
            KeyId([9; 16]),
        )
        .unwrap();
        idx.signature = vec![0xaa; 64];
        idx
    }

    #[test]
    fn max_len_bounds_every_index_and_refuses_garbage_early() {
        let bytes = sample().to_bytes();
        let head = &bytes[..bytes.len().min(MAX_PREFIX_LEN)];
        let max = max_len(head).unwrap();
        assert!(bytes.len() as u64 <= max);
        // Two entries of at most 1024-byte names: a few KiB, not gigabytes.
        assert!(max < 80 * 1024, "{max}");
        assert!(max_len(&[0u8; MAX_PREFIX_LEN]).is_err());
        assert!(max_len(&bytes[..20]).is_err());
    }

    #[test]
    fn round_trip_and_sorted() {
        let idx = sample();
        let names: Vec<_> = idx.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a.img", "web/a.zip", "web/b.zip"]);
        let bytes = idx.to_bytes();
        let (back, signed_len) = BatchIndex::parse(&bytes).unwrap();
        assert_eq!(back, idx);
        assert_eq!(&bytes[..signed_len], &idx.signed_bytes()[..]);
    }

    #[test]
    fn empty_index_round_trips() {
        let mut idx = sample();
        idx.entries.clear();
        assert_eq!(BatchIndex::parse(&idx.to_bytes()).unwrap().0, idx);
    }

    #[test]
    fn every_truncation_is_rejected() {
        let bytes = sample().to_bytes();
        for len in 0..bytes.len() {
            assert!(
                BatchIndex::parse(&bytes[..len]).is_err(),
                "prefix {len} parsed"
            );
        }
    }

    #[test]
    fn names_are_validated() {
        for ok in ["a", "a/b/c.zip", "dir with space/ü.bin", ".hidden/x"] {
            assert!(ok.parse::<BundleName>().is_ok(), "{ok}");
        }
        let long = "x".repeat(MAX_NAME_LEN + 1);
        for bad in [
            "", "/abs", "a//b", "a/./b", "../x", "a/..", "a/", "a\\b", "a\nb", "a\0b", &long,
        ] {
            assert!(bad.parse::<BundleName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn duplicates_are_refused_when_building() {
        let r = BatchIndex::new(
            sample().body.release,
            ShardId::WHOLE,
            vec![entry("a", 1), entry("a", 2)],
            SigAlg::Ed25519,
            KeyId([0; 16]),
        );
        assert!(matches!(
            r,
            Err(FormatError::InvalidField {
                field: "entry_name",
                ..
            })
        ));
    }

    #[test]
    fn shard_ids() {
        assert_eq!(
            "3/8".parse::<ShardId>().unwrap(),
            ShardId::new(3, 8).unwrap()
        );
        for bad in ["0/3", "4/3", "1/0", "3", "a/b", "-1/2"] {
            assert!(bad.parse::<ShardId>().is_err(), "{bad}");
        }
    }

    /// Offsets into `sample().to_bytes()` used to corrupt single fields.
    fn corrupt(f: impl FnOnce(&mut Vec<u8>)) -> Result<(BatchIndex, usize), FormatError> {
        let mut b = sample().to_bytes();
        f(&mut b);
        BatchIndex::parse(&b)
    }

    #[test]
    fn decoder_rejects() {
        // Fixed prefix: magic 4, kind 4, version 2, flags 2.
        assert!(matches!(
            corrupt(|b| b[11] = 1),
            Err(FormatError::InvalidField { field: "flags", .. })
        ));
        assert!(matches!(
            corrupt(|b| b[0] = b'X'),
            Err(FormatError::BadMagic)
        ));
        assert!(matches!(
            corrupt(|b| b[4..8].copy_from_slice(b"MNFT")),
            Err(FormatError::WrongKind { .. })
        ));
        // Release: app 1+16, channel 1+6, version 1+5, sequence 8 -> shard at 12+46.
        let shard_at = 12 + 17 + 7 + 6 + 8;
        assert!(matches!(
            corrupt(|b| b[shard_at..shard_at + 4].copy_from_slice(&0u32.to_be_bytes())),
            Err(FormatError::InvalidField { field: "shard", .. })
        ));
        assert!(matches!(
            corrupt(|b| b[shard_at..shard_at + 4].copy_from_slice(&4u32.to_be_bytes())),
            Err(FormatError::InvalidField { field: "shard", .. })
        ));
        let count_at = shard_at + 8;
        assert!(matches!(
            corrupt(|b| b[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_be_bytes())),
            Err(FormatError::InvalidField {
                field: "entry_count",
                ..
            })
        ));
        assert!(matches!(
            corrupt(|b| b[count_at..count_at + 4].copy_from_slice(&1000u32.to_be_bytes())),
            Err(FormatError::Truncated { field: "entries" })
        ));
        // First entry name "a.img" at count_at + 4 + 2: make it "../mg".
        let name_at = count_at + 6;
        assert!(matches!(
            corrupt(|b| b[name_at..name_at + 3].copy_from_slice(b"../")),
            Err(FormatError::InvalidField {
                field: "entry_name",
                ..
            })
        ));
        // Out of order: rename "a.img" to "z.img".
        assert!(matches!(
            corrupt(|b| b[name_at] = b'z'),
            Err(FormatError::InvalidField {
                field: "entry_name",
                ..
            })
        ));
        let len = sample().to_bytes().len();
        assert!(matches!(
            corrupt(|b| b[len - 83] = 9),
            Err(FormatError::InvalidField {
                field: "signature_alg",
                ..
            })
        ));
        assert!(matches!(
            corrupt(|b| {
                b.truncate(len - 66);
                b.extend_from_slice(&[0, 63]);
                b.extend_from_slice(&[0; 63]);
            }),
            Err(FormatError::InvalidField {
                field: "signature",
                ..
            })
        ));
        assert!(matches!(
            corrupt(|b| b.push(0)),
            Err(FormatError::TrailingBytes { extra: 1 })
        ));
    }
}
