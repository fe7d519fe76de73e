//! Release-key certificates (`docs/FORMAT.md` §10.2): a root (or an
//! intermediate with the `issue-certificates` usage) vouches for one signing
//! key, for some channels, for a time window, for some uses.
//!
//! One canonical encoding: fixed field order, fixed-width big-endian integers,
//! channel and app names sorted and unique, so the signed bytes are the
//! parsed bytes. A certificate for every application is version 1 (the
//! original layout, byte for byte); one restricted to some applications is
//! version 2, the version 1 layout followed by its app list, so a decoder
//! that knows only version 1 refuses it instead of ignoring the restriction.

use super::{
    AppId, Body, Channel, FormatError, KeyId, Reader, SigAlg, Signed, SignerId, Writer, kind,
};
use crate::prelude::*;

/// Most channels one certificate may list.
pub const MAX_CERT_CHANNELS: usize = 32;
/// Most applications one certificate may list.
pub const MAX_CERT_APPS: usize = 32;
/// A certificate for every application (`docs/FORMAT.md` §10.2.1).
pub const VERSION_ANY_APP: u16 = 1;
/// A certificate restricted to listed applications (§10.2.1).
pub const VERSION_APP_SCOPED: u16 = 2;

/// Largest certificate file a reader accepts: the per-certificate limit of
/// a manifest's chain (FORMAT.md §4.1, 64 KiB), which every valid
/// certificate fits several times over (at most 32 channels of 64 bytes and
/// 32 apps of 128 bytes: under 7 KiB).
pub const MAX_LEN: u64 = super::manifest::MAX_CERT_LEN as u64;

/// What the certified key may do. Unknown bits are rejected by the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KeyUsage(u16);

impl KeyUsage {
    /// Sign bundle manifests.
    pub const SIGN_MANIFESTS: Self = Self(1 << 0);
    /// Sign manifests that authorise a rollback to an older release.
    pub const AUTHORISE_ROLLBACK: Self = Self(1 << 1);
    /// Sign revocation lists on the root's behalf (reserved: v1 verifiers
    /// accept revocation lists from the pinned root only).
    pub const SIGN_REVOCATIONS: Self = Self(1 << 2);
    /// Issue certificates to other keys (an intermediate).
    pub const ISSUE_CERTIFICATES: Self = Self(1 << 3);
    const KNOWN: u16 = 0b1111;
    const NAMES: [(&'static str, Self); 4] = [
        ("sign-manifests", Self::SIGN_MANIFESTS),
        ("authorise-rollback", Self::AUTHORISE_ROLLBACK),
        ("sign-revocations", Self::SIGN_REVOCATIONS),
        ("issue-certificates", Self::ISSUE_CERTIFICATES),
    ];

    pub fn bits(self) -> u16 {
        self.0
    }

    pub fn from_bits(bits: u16) -> Result<Self, FormatError> {
        if bits & !Self::KNOWN != 0 {
            return Err(FormatError::invalid(
                "usage",
                format!("unknown usage bits 0x{:04x}", bits & !Self::KNOWN),
            ));
        }
        if bits == 0 {
            return Err(FormatError::invalid("usage", "no usage allowed"));
        }
        Ok(Self(bits))
    }

    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The names of the set bits, e.g. `["sign-manifests"]`.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .filter(|(_, u)| self.contains(*u))
            .map(|(n, _)| *n)
            .collect()
    }

    /// Parses one usage name.
    pub fn from_name(name: &str) -> Result<Self, FormatError> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, u)| *u)
            .ok_or_else(|| {
                FormatError::invalid(
                    "usage",
                    format!(
                        "unknown usage `{name}` (known: sign-manifests, authorise-rollback, sign-revocations, issue-certificates)"
                    ),
                )
            })
    }
}

impl core::fmt::Display for KeyUsage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

/// A name a certificate can be scoped to: channels (§10.2.1 `channels`) and,
/// in version 2, applications (`apps`). Both scopes are one shape: every
/// name, or a sorted list of 1..=32 unique names.
pub trait ScopeName: Clone + Ord + core::fmt::Debug {
    /// The wire field of the count, e.g. `channel_count`.
    const COUNT_FIELD: &'static str;
    /// The wire field of one name, e.g. `channel`.
    const ITEM_FIELD: &'static str;
    /// Most names one certificate may list.
    const MAX: usize;
    fn as_str(&self) -> &str;
    fn from_wire(bytes: &[u8]) -> Result<Self, FormatError>;
}

impl ScopeName for Channel {
    const COUNT_FIELD: &'static str = "channel_count";
    const ITEM_FIELD: &'static str = "channel";
    const MAX: usize = MAX_CERT_CHANNELS;
    fn as_str(&self) -> &str {
        Channel::as_str(self)
    }
    fn from_wire(bytes: &[u8]) -> Result<Self, FormatError> {
        Channel::from_wire(bytes)
    }
}

impl ScopeName for AppId {
    const COUNT_FIELD: &'static str = "app_count";
    const ITEM_FIELD: &'static str = "app_id";
    const MAX: usize = MAX_CERT_APPS;
    fn as_str(&self) -> &str {
        AppId::as_str(self)
    }
    fn from_wire(bytes: &[u8]) -> Result<Self, FormatError> {
        AppId::from_wire(bytes)
    }
}

/// What a certified key may sign for: every name, or only the listed ones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope<T> {
    /// Every name.
    #[default]
    Any,
    /// Only these, sorted and unique.
    Only(Vec<T>),
}

/// The channels a certified key may sign for (`channel_scope` 1 = any,
/// 0 = listed).
pub type ChannelScope = Scope<Channel>;
/// The applications a certified key may sign for: any in a version 1
/// certificate, listed in a version 2 one.
pub type AppScope = Scope<AppId>;

impl<T: ScopeName> Scope<T> {
    /// Builds a listed scope, sorting and de-duplicating.
    pub fn only(mut names: Vec<T>) -> Result<Self, FormatError> {
        names.sort();
        names.dedup();
        check_count::<T>(names.len())?;
        Ok(Self::Only(names))
    }

    pub fn allows(&self, name: &T) -> bool {
        match self {
            Self::Any => true,
            Self::Only(list) => list.binary_search(name).is_ok(),
        }
    }

    /// Writes `count` and the names of a listed scope.
    fn write_list(list: &[T], w: &mut Writer) {
        w.u8(u8::try_from(list.len()).expect("at most 32 names, checked when built"));
        for n in list {
            w.bytes8(n.as_str().as_bytes());
        }
    }

    /// Reads `count` (1..=MAX) and that many names, strictly ascending.
    fn read_list(r: &mut Reader<'_>) -> Result<Self, FormatError> {
        let count = r.u8(T::COUNT_FIELD)? as usize;
        check_count::<T>(count)?;
        let mut list: Vec<T> = Vec::with_capacity(count);
        for _ in 0..count {
            let n = T::from_wire(r.bytes8(T::ITEM_FIELD)?)?;
            if list.last().is_some_and(|prev| *prev >= n) {
                return Err(FormatError::invalid(
                    T::ITEM_FIELD,
                    "names are not strictly ascending",
                ));
            }
            list.push(n);
        }
        Ok(Self::Only(list))
    }
}

fn check_count<T: ScopeName>(count: usize) -> Result<(), FormatError> {
    if count == 0 || count > T::MAX {
        return Err(FormatError::invalid(
            T::COUNT_FIELD,
            format!("{count} names, need 1..={}", T::MAX),
        ));
    }
    Ok(())
}

impl<T: ScopeName> core::fmt::Display for Scope<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Only(list) => {
                let names: Vec<&str> = list.iter().map(T::as_str).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

/// What a certificate says (FORMAT.md §10.2.1): everything its issuer
/// chooses. The subject key id is derived from the subject key, and the
/// issuer is the signer section of the [`Certificate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateBody {
    pub serial: u64,
    pub subject_alg: SigAlg,
    pub subject_public_key: Vec<u8>,
    /// Unix seconds, inclusive.
    pub not_before: u64,
    /// Unix seconds, inclusive; always after `not_before`.
    pub not_after: u64,
    pub usage: KeyUsage,
    pub channels: ChannelScope,
    /// `Any` in a version 1 certificate; listed in version 2.
    pub apps: AppScope,
}

/// A certificate: its body, signed by the issuer its [`SignerId`] names.
/// Decoding checks syntax and internal consistency (the subject key id is
/// the hash of the subject key); the issuer's signature is checked by
/// `keys::trust`.
pub type Certificate = Signed<CertificateBody>;

impl CertificateBody {
    /// The encoding version: 1 for every application, 2 when restricted.
    pub fn version(&self) -> u16 {
        match self.apps {
            AppScope::Any => VERSION_ANY_APP,
            AppScope::Only(_) => VERSION_APP_SCOPED,
        }
    }

    /// The key id of the certified key.
    pub fn subject_key_id(&self) -> KeyId {
        KeyId::derive(u16::from(self.subject_alg.code()), &self.subject_public_key)
    }
}

/// A public key MUST be as long as its algorithm's keys.
fn check_subject_key(alg: SigAlg, key: &[u8]) -> Result<(), FormatError> {
    if key.len() != alg.public_key_len() {
        return Err(FormatError::invalid(
            "subject_public_key",
            format!("{} bytes, {alg} needs {}", key.len(), alg.public_key_len()),
        ));
    }
    Ok(())
}

fn check_validity(not_before: u64, not_after: u64) -> Result<(), FormatError> {
    if not_after <= not_before {
        return Err(FormatError::invalid("not_after", "not after `not_before`"));
    }
    Ok(())
}

impl Body for CertificateBody {
    const KIND: [u8; 4] = kind::CERTIFICATE;
    const NAME: &'static str = "certificate";
    type Signer = SignerId;

    fn version(&self) -> u16 {
        CertificateBody::version(self)
    }

    fn reads_version(version: u16) -> bool {
        version == VERSION_ANY_APP || version == VERSION_APP_SCOPED
    }

    /// Checks what the decoder checks, so an issued certificate always parses.
    fn check(&self) -> Result<(), FormatError> {
        check_subject_key(self.subject_alg, &self.subject_public_key)?;
        check_validity(self.not_before, self.not_after)?;
        if let ChannelScope::Only(list) = &self.channels {
            ChannelScope::only(list.clone())?;
        }
        if let AppScope::Only(list) = &self.apps {
            AppScope::only(list.clone())?;
        }
        Ok(())
    }

    fn encode(&self, issuer: &SignerId, w: &mut Writer) {
        w.u64(self.serial);
        w.u8(self.subject_alg.code());
        w.put(&self.subject_key_id().0);
        w.bytes16(&self.subject_public_key);
        issuer.write(w);
        w.u64(self.not_before);
        w.u64(self.not_after);
        w.u16(self.usage.bits());
        match &self.channels {
            ChannelScope::Any => {
                w.u8(1);
                w.u8(0);
            }
            ChannelScope::Only(list) => {
                w.u8(0);
                ChannelScope::write_list(list, w);
            }
        }
        if let AppScope::Only(list) = &self.apps {
            w.u8(0);
            AppScope::write_list(list, w);
        }
    }

    /// Rejects (FORMAT.md §10.2.3), besides what every signed document
    /// rejects: a version other than 1 or 2, unknown algorithms, a public
    /// key of the wrong length, a subject key id that is not the hash of the
    /// subject key, `not_after` not after `not_before`, zero or unknown
    /// usage bits, an unknown channel scope, an `any` scope with channels, a
    /// listed scope with 0 or more than 32 channels or channels not strictly
    /// ascending, invalid channel names, and in version 2 an `app_scope`
    /// other than 0, 0 or more than 32 apps, invalid or not strictly
    /// ascending app ids.
    fn decode(r: &mut Reader<'_>, version: u16) -> Result<(Self, SignerId), FormatError> {
        let serial = r.u64("serial")?;
        let subject_alg = SigAlg::from_code(r.u8("subject_alg")?)?;
        let subject_key_id = KeyId(r.array("subject_key_id")?);
        let subject_public_key = r.bytes16("subject_public_key")?;
        check_subject_key(subject_alg, subject_public_key)?;
        if KeyId::derive(u16::from(subject_alg.code()), subject_public_key) != subject_key_id {
            return Err(FormatError::invalid(
                "subject_key_id",
                "is not the key id of the subject public key",
            ));
        }
        let issuer = SignerId::read(r, ("issuer_alg", "issuer_key_id"))?;
        let not_before = r.u64("not_before")?;
        let not_after = r.u64("not_after")?;
        check_validity(not_before, not_after)?;
        let usage = KeyUsage::from_bits(r.u16("usage")?)?;
        let channels = match r.u8("channel_scope")? {
            1 if r.u8("channel_count")? == 0 => ChannelScope::Any,
            1 => {
                return Err(FormatError::invalid(
                    "channel_count",
                    "an `any` scope lists no channels",
                ));
            }
            0 => ChannelScope::read_list(r)?,
            other => {
                return Err(FormatError::invalid(
                    "channel_scope",
                    format!("unknown scope {other}"),
                ));
            }
        };
        let apps = if version == VERSION_APP_SCOPED {
            read_app_scope(r)?
        } else {
            AppScope::Any
        };
        let body = Self {
            serial,
            subject_alg,
            subject_public_key: subject_public_key.to_vec(),
            not_before,
            not_after,
            usage,
            channels,
            apps,
        };
        Ok((body, issuer))
    }
}

/// The version 2 app list: `app_scope` (0 = listed; "any" is written as
/// version 1, so one meaning has one encoding), `app_count` 1..=32, and the
/// app ids strictly ascending.
fn read_app_scope(r: &mut Reader<'_>) -> Result<AppScope, FormatError> {
    match r.u8("app_scope")? {
        0 => {}
        other => {
            return Err(FormatError::invalid(
                "app_scope",
                format!("scope {other}: a version 2 certificate lists its apps (0)"),
            ));
        }
    }
    AppScope::read_list(r)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Certificate {
        let mut c = Certificate::unsigned(
            CertificateBody {
                serial: 0x0102_0304_0506_0708,
                subject_alg: SigAlg::Ed25519,
                subject_public_key: vec![0x11; 32],
                not_before: 1_700_000_000,
                not_after: 1_800_000_000,
                usage: KeyUsage::SIGN_MANIFESTS,
                channels: ChannelScope::only(vec![
                    "stable".parse().unwrap(),
                    "beta".parse().unwrap(),
                ])
                .unwrap(),
                apps: AppScope::Any,
            },
            SignerId {
                alg: SigAlg::Ed25519,
                key_id: KeyId([0x22; 16]),
            },
        )
        .unwrap();
        c.signature = vec![0x33; 64];
        c
    }

    pub(crate) fn sample_v2() -> Certificate {
        let mut c = sample();
        c.apps = AppScope::only(vec![
            "com.example.maps".parse().unwrap(),
            "com.example.fw".parse().unwrap(),
        ])
        .unwrap();
        c
    }

    /// Issue 9 item 1: an app-scoped certificate is version 2 (v1 layout +
    /// app list); an any-app one keeps the version 1 bytes exactly.
    #[test]
    fn app_scope_is_version_2_and_any_app_stays_version_1() {
        let v1 = sample();
        let v1_bytes = v1.to_bytes();
        assert_eq!(&v1_bytes[8..10], &[0, 1]);
        let c = sample_v2();
        let bytes = c.to_bytes();
        assert_eq!(&bytes[8..10], &[0, 2]);
        let (back, signed_len) = Certificate::parse(&bytes).unwrap();
        assert_eq!(back, c);
        assert_eq!(&bytes[..signed_len], &c.signed_bytes()[..]);
        assert_eq!(c.apps.to_string(), "com.example.fw,com.example.maps");
        assert!(c.apps.allows(&"com.example.fw".parse().unwrap()));
        assert!(!c.apps.allows(&"com.example.other".parse().unwrap()));
        // The v2 bytes are the v1 signed bytes (header version aside)
        // followed by scope 0, count 2 and the two app ids.
        let v1_signed = v1.signed_bytes();
        let v2_signed = c.signed_bytes();
        assert_eq!(v2_signed[10..v1_signed.len()], v1_signed[10..]);
        assert_eq!(
            &v2_signed[v1_signed.len()..],
            b"\x00\x02\x0ecom.example.fw\x10com.example.maps"
        );
        for len in 0..bytes.len() {
            assert!(Certificate::parse(&bytes[..len]).is_err(), "prefix {len}");
        }
    }

    #[test]
    fn version_2_decoder_rejections() {
        let c = sample_v2();
        let good = c.to_bytes();
        let apps_at = sample().signed_bytes().len();
        let mut scope = good.clone();
        scope[apps_at] = 1;
        assert_eq!(field_err(&scope), "app_scope");
        let mut count = good.clone();
        count[apps_at + 1] = 0;
        assert_eq!(field_err(&count), "app_count");
        count[apps_at + 1] = 33;
        assert_eq!(field_err(&count), "app_count");
        let mut unsorted = c.clone();
        unsorted.apps = AppScope::Only(vec![
            "com.example.maps".parse().unwrap(),
            "com.example.fw".parse().unwrap(),
        ]);
        assert_eq!(field_err(&unsorted.to_bytes()), "app_id");
        let mut bad_name = good.clone();
        bad_name[apps_at + 3] = b' ';
        assert_eq!(field_err(&bad_name), "app_id");
        // A v1 certificate relabelled version 2 lacks its app list.
        let mut relabelled = sample().to_bytes();
        relabelled[9] = 2;
        assert!(Certificate::parse(&relabelled).is_err());
        let mut v3 = good;
        v3[9] = 3;
        assert_eq!(
            Certificate::parse(&v3),
            Err(FormatError::UnsupportedVersion { found: 3 })
        );
    }

    #[test]
    fn round_trip() {
        let c = sample();
        let bytes = c.to_bytes();
        let (back, signed_len) = Certificate::parse(&bytes).unwrap();
        assert_eq!(back, c);
        assert_eq!(&bytes[..signed_len], &c.signed_bytes()[..]);
        // Channels are stored sorted.
        assert_eq!(c.channels.to_string(), "beta,stable");
        let mut any = c.clone();
        any.channels = ChannelScope::Any;
        assert_eq!(Certificate::parse(&any.to_bytes()).unwrap().0, any);
    }

    #[test]
    fn every_truncation_is_rejected() {
        let bytes = sample().to_bytes();
        for len in 0..bytes.len() {
            assert!(Certificate::parse(&bytes[..len]).is_err(), "prefix {len}");
        }
    }

    fn field_err(bytes: &[u8]) -> &'static str {
        match Certificate::parse(bytes) {
            Err(FormatError::InvalidField { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn decoder_rejections() {
        let c = sample();
        let good = c.to_bytes();
        // Offsets: header 10, flags 2, serial 8, subject_alg 1, key id 16,
        // key len 2 + 32, issuer alg 1, issuer id 16, not_before 8, not_after 8.
        let mut flags = good.clone();
        flags[11] = 1;
        assert_eq!(field_err(&flags), "flags");
        let mut alg = good.clone();
        alg[20] = 9;
        assert_eq!(field_err(&alg), "signature_alg");
        let mut id = good.clone();
        id[21] ^= 1;
        assert_eq!(field_err(&id), "subject_key_id");

        let mut backwards = c.clone();
        backwards.not_after = backwards.not_before;
        assert_eq!(field_err(&backwards.to_bytes()), "not_after");

        let mut usage = c.clone();
        usage.usage = KeyUsage(0x10);
        assert_eq!(field_err(&usage.to_bytes()), "usage");
        usage.usage = KeyUsage(0);
        assert_eq!(field_err(&usage.to_bytes()), "usage");

        let mut unsorted = c.clone();
        unsorted.channels =
            ChannelScope::Only(vec!["stable".parse().unwrap(), "beta".parse().unwrap()]);
        assert_eq!(field_err(&unsorted.to_bytes()), "channel");
        let mut dup = c.clone();
        dup.channels = ChannelScope::Only(vec!["beta".parse().unwrap(); 2]);
        assert_eq!(field_err(&dup.to_bytes()), "channel");
        let mut empty = c.clone();
        empty.channels = ChannelScope::Only(vec![]);
        assert_eq!(field_err(&empty.to_bytes()), "channel_count");

        // The scope byte precedes the count and the channels "beta" and "stable".
        let scope_at = c.signed_bytes().len() - (1 + 6) - (1 + 4) - 1 - 1;
        let mut scope = good.clone();
        assert_eq!(scope[scope_at], 0);
        scope[scope_at] = 2;
        assert_eq!(field_err(&scope), "channel_scope");
        scope[scope_at] = 1;
        assert_eq!(field_err(&scope), "channel_count");

        let mut short_sig = c.clone();
        short_sig.signature.pop();
        assert_eq!(field_err(&short_sig.to_bytes()), "signature");
        let mut trailing = good;
        trailing.push(0);
        assert_eq!(
            Certificate::parse(&trailing),
            Err(FormatError::TrailingBytes { extra: 1 })
        );
    }

    #[test]
    fn unsigned_checks_like_the_decoder() {
        let issuer = SignerId {
            alg: SigAlg::Ed25519,
            key_id: KeyId([0; 16]),
        };
        let f = CertificateBody {
            serial: 1,
            subject_alg: SigAlg::Ed25519,
            subject_public_key: vec![0; 31],
            not_before: 1,
            not_after: 2,
            usage: KeyUsage::SIGN_MANIFESTS,
            channels: ChannelScope::Any,
            apps: AppScope::Any,
        };
        assert!(Certificate::unsigned(f.clone(), issuer).is_err());
        let mut g = f;
        g.subject_public_key = vec![0; 32];
        g.not_after = 1;
        assert!(Certificate::unsigned(g, issuer).is_err());
    }

    #[test]
    fn usage_names() {
        let u = KeyUsage::SIGN_MANIFESTS.union(KeyUsage::ISSUE_CERTIFICATES);
        assert_eq!(u.to_string(), "sign-manifests,issue-certificates");
        assert_eq!(
            KeyUsage::from_name("authorise-rollback").unwrap(),
            KeyUsage::AUTHORISE_ROLLBACK
        );
        assert!(KeyUsage::from_name("everything").is_err());
    }
}
