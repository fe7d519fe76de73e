//! The device state file (`docs/FORMAT.md` §11): what a device has
//! installed, per application and channel, and the highest revocation-list
//! sequence it has seen. The anti-downgrade policy (`crate::policy`) reads and
//! updates it.
//!
//! The file ends with a BLAKE3 checksum over every byte before it, so a
//! damaged file is reported as corrupt instead of being read with, say, a
//! flipped bit in a sequence number. (The checksum detects accidents; an
//! attacker who can write the file can also recompute it. Protecting the file
//! from such an attacker is the platform's job: a protected partition, a
//! TPM-backed counter, ...)

use super::KeyId;
use super::{
    AppId, Channel, FormatError, Reader, VersionLabel, Writer, append_checksum, kind,
    read_header_and_flags, strip_checksum, write_header_and_flags,
};
use crate::prelude::*;
use alloc::collections::BTreeMap;

/// Most applications one state file may record.
pub const MAX_APPS: usize = 1024;
/// Most channels one application may record.
pub const MAX_CHANNELS: usize = 64;
/// Length of the trailing checksum.
pub use super::CHECKSUM_LEN;
/// BLAKE3 `derive_key` context of the checksum.
pub const CHECKSUM_CONTEXT: &str = "otaseal v1 device state checksum";
/// Largest device state (FORMAT.md §11.1), about 11 MiB: header, flags,
/// revocation sequence and trust pin 12 + 8 + 17, then 1,024 apps, each
/// with the longest app id and current channel and 64 channel records of
/// at most 1 + 64 + 8 + 1 + 64 + 16 + 8 + 8 bytes, and the checksum.
pub const MAX_LEN: u64 = 12
    + 8
    + 17
    + 2
    + MAX_APPS as u64
        * ((1 + AppId::MAX_LEN as u64)
            + (1 + Channel::MAX_LEN as u64)
            + 2
            + MAX_CHANNELS as u64
                * ((1 + Channel::MAX_LEN as u64)
                    + 8
                    + (1 + VersionLabel::MAX_LEN as u64)
                    + 16
                    + 16))
    + CHECKSUM_LEN as u64;

/// What is installed from one channel of one application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRecord {
    /// Release sequence of the installed bundle.
    pub sequence: u64,
    /// Its human version label (informational only).
    pub version: VersionLabel,
    /// Its bundle id.
    pub bundle_id: [u8; 16],
    /// Unix seconds when it was installed.
    pub installed_at: u64,
    /// `issued` time of the last rollback authorisation used on this channel,
    /// 0 if none. A rollback authorisation must be issued strictly later, so
    /// one authorisation cannot be replayed.
    pub last_rollback_issued: u64,
}

/// One application: the channel it follows and what each channel installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppState {
    /// The channel the device currently follows for this application. Always
    /// a key of `channels`.
    pub current: Channel,
    pub channels: BTreeMap<Channel, ChannelRecord>,
}

/// The whole device state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceState {
    /// Highest revocation-list sequence accepted so far (0: none yet).
    pub revocation_sequence: u64,
    /// When set, only this trust anchor (by key id) may be used with this state.
    pub trust_pin: Option<KeyId>,
    pub apps: BTreeMap<AppId, AppState>,
}

impl DeviceState {
    /// An empty state, optionally pinned to a trust anchor.
    pub fn new(trust_pin: Option<KeyId>) -> Self {
        Self {
            revocation_sequence: 0,
            trust_pin,
            apps: BTreeMap::new(),
        }
    }

    /// The canonical encoding. Maps are written in ascending key order, so a
    /// state has exactly one encoding.
    ///
    /// # Panics
    /// If the state holds more than [`MAX_APPS`] applications or more than
    /// [`MAX_CHANNELS`] channels for one application, or an application whose
    /// current channel has no record; the policy never builds such a state.
    pub fn to_bytes(&self) -> Vec<u8> {
        assert!(self.apps.len() <= MAX_APPS, "too many applications");
        let mut w = Writer::with_capacity(64 + self.apps.len() * 128);
        write_header_and_flags(&mut w, kind::DEVICE_STATE);
        w.u64(self.revocation_sequence);
        match &self.trust_pin {
            None => w.u8(0),
            Some(id) => {
                w.u8(1);
                w.put(&id.0);
            }
        }
        w.u16(self.apps.len() as u16);
        for (app, st) in &self.apps {
            assert!(
                (1..=MAX_CHANNELS).contains(&st.channels.len()),
                "channel count out of range"
            );
            assert!(
                st.channels.contains_key(&st.current),
                "current channel has no record"
            );
            w.bytes8(app.as_str().as_bytes());
            w.bytes8(st.current.as_str().as_bytes());
            w.u16(st.channels.len() as u16);
            for (ch, rec) in &st.channels {
                w.bytes8(ch.as_str().as_bytes());
                w.u64(rec.sequence);
                w.bytes8(rec.version.as_str().as_bytes());
                w.put(&rec.bundle_id);
                w.u64(rec.installed_at);
                w.u64(rec.last_rollback_issued);
            }
        }
        append_checksum(w.buf, CHECKSUM_CONTEXT)
    }

    /// Decodes a state file.
    ///
    /// Rejects (FORMAT.md §11.3): a checksum mismatch, bad magic, another
    /// document kind, any version but 1, non-zero flags, a trust-pin flag
    /// other than 0 or 1, more than 1024 applications or an application with
    /// zero or more than 64 channels, applications or channels not in strictly
    /// ascending byte order (which also rejects duplicates), invalid names, a
    /// current channel without a record, and trailing bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let body = strip_checksum(bytes, CHECKSUM_CONTEXT)?;
        let mut r = Reader::new(body);
        read_header_and_flags(&mut r, kind::DEVICE_STATE, "device state")?;
        let revocation_sequence = r.u64("revocation_sequence")?;
        let trust_pin = match r.u8("trust_pin_present")? {
            0 => None,
            1 => Some(KeyId(r.array("trust_pin")?)),
            other => {
                return Err(FormatError::invalid(
                    "trust_pin_present",
                    format!("{other} is neither 0 nor 1"),
                ));
            }
        };
        let app_count = r.u16("app_count")? as usize;
        if app_count > MAX_APPS {
            return Err(FormatError::invalid(
                "app_count",
                format!("{app_count} applications, at most {MAX_APPS}"),
            ));
        }
        let mut apps = BTreeMap::new();
        let mut prev_app: Option<AppId> = None;
        for _ in 0..app_count {
            let app = AppId::from_wire(r.bytes8("app_id")?)?;
            if prev_app
                .as_ref()
                .is_some_and(|p| p.as_str().as_bytes() >= app.as_str().as_bytes())
            {
                return Err(FormatError::invalid(
                    "app_id",
                    "applications are not in strictly ascending order",
                ));
            }
            let current = Channel::from_wire(r.bytes8("current_channel")?)?;
            let channel_count = r.u16("channel_count")? as usize;
            if !(1..=MAX_CHANNELS).contains(&channel_count) {
                return Err(FormatError::invalid(
                    "channel_count",
                    format!("{channel_count} is outside 1..={MAX_CHANNELS}"),
                ));
            }
            let mut channels = BTreeMap::new();
            let mut prev_ch: Option<Channel> = None;
            for _ in 0..channel_count {
                let ch = Channel::from_wire(r.bytes8("channel")?)?;
                if prev_ch
                    .as_ref()
                    .is_some_and(|p| p.as_str().as_bytes() >= ch.as_str().as_bytes())
                {
                    return Err(FormatError::invalid(
                        "channel",
                        "channels are not in strictly ascending order",
                    ));
                }
                let rec = ChannelRecord {
                    sequence: r.u64("sequence")?,
                    version: VersionLabel::from_wire(r.bytes8("version")?)?,
                    bundle_id: r.array("bundle_id")?,
                    installed_at: r.u64("installed_at")?,
                    last_rollback_issued: r.u64("last_rollback_issued")?,
                };
                prev_ch = Some(ch.clone());
                channels.insert(ch, rec);
            }
            if !channels.contains_key(&current) {
                return Err(FormatError::invalid(
                    "current_channel",
                    format!("`{current}` has no channel record"),
                ));
            }
            prev_app = Some(app.clone());
            apps.insert(app, AppState { current, channels });
        }
        r.finish()?;
        Ok(Self {
            revocation_sequence,
            trust_pin,
            apps,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Re-encodes `body` with a fresh checksum, so a test can reach the
    /// structural checks behind the checksum.
    pub(crate) fn reseal(body: &[u8]) -> Vec<u8> {
        append_checksum(body.to_vec(), CHECKSUM_CONTEXT)
    }

    pub(crate) fn sample() -> DeviceState {
        let mut s = DeviceState::new(Some(KeyId([0x11; 16])));
        s.revocation_sequence = 7;
        let rec = |seq, tag| ChannelRecord {
            sequence: seq,
            version: format!("1.{seq}.0").parse().unwrap(),
            bundle_id: [tag; 16],
            installed_at: 1_700_000_000 + seq,
            last_rollback_issued: 0,
        };
        let mut channels = BTreeMap::new();
        channels.insert("beta".parse().unwrap(), rec(12, 0xb0));
        let mut stable = rec(10, 0x5a);
        stable.last_rollback_issued = 1_699_000_000;
        channels.insert("stable".parse().unwrap(), stable);
        s.apps.insert(
            "com.example.app".parse().unwrap(),
            AppState {
                current: "stable".parse().unwrap(),
                channels,
            },
        );
        let mut one = BTreeMap::new();
        one.insert("stable".parse().unwrap(), rec(3, 0x03));
        s.apps.insert(
            "com.example.maps".parse().unwrap(),
            AppState {
                current: "stable".parse().unwrap(),
                channels: one,
            },
        );
        s
    }

    #[test]
    fn round_trip() {
        for s in [DeviceState::default(), sample()] {
            let bytes = s.to_bytes();
            assert_eq!(DeviceState::parse(&bytes).unwrap(), s);
        }
    }

    #[test]
    fn every_bit_flip_and_truncation_is_rejected() {
        let bytes = sample().to_bytes();
        for len in 0..bytes.len() {
            assert!(DeviceState::parse(&bytes[..len]).is_err(), "prefix {len}");
        }
        for i in 0..bytes.len() * 8 {
            let mut bad = bytes.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(DeviceState::parse(&bad).is_err(), "bit {i} flipped");
        }
    }

    fn body(s: &DeviceState) -> Vec<u8> {
        let b = s.to_bytes();
        b[..b.len() - CHECKSUM_LEN].to_vec()
    }

    #[test]
    fn structural_rejections_behind_a_valid_checksum() {
        let good = body(&sample());
        // Layout: header 10, flags 2, revocation 8, pin flag 1, pin 16, app_count 2.
        let mut flags = good.clone();
        flags[11] = 1;
        assert!(matches!(
            DeviceState::parse(&reseal(&flags)),
            Err(FormatError::InvalidField { field: "flags", .. })
        ));
        let mut pin = good.clone();
        pin[20] = 2;
        assert!(matches!(
            DeviceState::parse(&reseal(&pin)),
            Err(FormatError::InvalidField {
                field: "trust_pin_present",
                ..
            })
        ));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            DeviceState::parse(&reseal(&trailing)),
            Err(FormatError::TrailingBytes { extra: 1 })
        );
        // Swap the two applications' order by renaming the first to sort last.
        let text = String::from_utf8_lossy(&good).into_owned();
        let pos = text.find("com.example.app").unwrap();
        let mut unordered = good.clone();
        unordered[pos..pos + 15].copy_from_slice(b"com.example.zzz");
        assert!(matches!(
            DeviceState::parse(&reseal(&unordered)),
            Err(FormatError::InvalidField {
                field: "app_id",
                ..
            })
        ));
        // Point the current channel at a channel without a record.
        let pos = text.find("stable").unwrap();
        let mut dangling = good.clone();
        dangling[pos..pos + 6].copy_from_slice(b"stabla");
        assert!(matches!(
            DeviceState::parse(&reseal(&dangling)),
            Err(FormatError::InvalidField {
                field: "current_channel",
                ..
            })
        ));
        let mut other_kind = good;
        other_kind[4..8].copy_from_slice(b"MNFT");
        assert!(matches!(
            DeviceState::parse(&reseal(&other_kind)),
            Err(FormatError::WrongKind { .. })
        ));
    }
}
