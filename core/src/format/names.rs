//! Validated names carried in manifests. Untrusted strings become these types
//! only through [`FromStr`](core::str::FromStr), which enforces the character
//! set and length limits of `docs/FORMAT.md` §4.1.

use super::FormatError;
use crate::prelude::*;

macro_rules! validated_name {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal, $allowed:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = $max;

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub(crate) fn from_wire(bytes: &[u8]) -> Result<Self, FormatError> {
                let s = core::str::from_utf8(bytes)
                    .map_err(|_| FormatError::invalid($field, "not UTF-8"))?;
                s.parse()
            }
        }

        impl core::str::FromStr for $name {
            type Err = FormatError;

            fn from_str(s: &str) -> Result<Self, FormatError> {
                let allowed: fn(u8) -> bool = $allowed;
                if s.is_empty() || s.len() > $max {
                    return Err(FormatError::invalid(
                        $field,
                        format!("length {} is outside 1..={}", s.len(), $max),
                    ));
                }
                if let Some(bad) = s.bytes().find(|b| !allowed(*b)) {
                    return Err(FormatError::invalid(
                        $field,
                        format!("byte 0x{bad:02x} is not allowed ({})", $what),
                    ));
                }
                Ok(Self(s.to_owned()))
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

validated_name!(
    /// The application a bundle belongs to, e.g. `com.example.maps`.
    AppId, "app_id", 128,
    |b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'),
    "allowed: A-Z a-z 0-9 . _ -"
);
validated_name!(
    /// A release channel, e.g. `stable`, `beta`.
    Channel, "channel", 64,
    |b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'),
    "allowed: a-z 0-9 . _ -"
);
validated_name!(
    /// The human version label, e.g. `4.2.0-rc1`. Ordering uses the release
    /// sequence number, never this label.
    VersionLabel, "version", 64,
    |b| b.is_ascii_graphic(),
    "allowed: printable ASCII without spaces"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_enforce_charset_and_length() {
        assert!("com.example-app_1".parse::<AppId>().is_ok());
        assert!("".parse::<AppId>().is_err());
        assert!("a b".parse::<AppId>().is_err());
        assert!("x".repeat(129).parse::<AppId>().is_err());
        assert!("stable".parse::<Channel>().is_ok());
        assert!("Stable".parse::<Channel>().is_err());
        assert!("1.2.3+build.7".parse::<VersionLabel>().is_ok());
        assert!("1.2 3".parse::<VersionLabel>().is_err());
        assert!(AppId::from_wire(&[0xff]).is_err());
    }
}
