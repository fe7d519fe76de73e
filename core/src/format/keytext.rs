//! Text encoding of key files (FORMAT.md §3.3): one line
//! `otaseal1:<alg>-<public|secret>:<lowercase hex>`, optionally preceded by
//! `#` comment lines and blank lines. Public keys in this form can be pasted on a command line.

use super::FormatError;
use crate::prelude::*;
use zeroize::Zeroizing;

/// Prefix of every key line; the `1` is the key-text format version.
pub const PREFIX: &str = "otaseal1:";

/// A decoded key line. Secret variants zeroize on drop.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyText {
    Ed25519Public([u8; 32]),
    Ed25519Secret(Zeroizing<[u8; 32]>),
    X25519Public([u8; 32]),
    X25519Secret(Zeroizing<[u8; 32]>),
    P256Public(Vec<u8>),
    P256Secret(Zeroizing<[u8; 32]>),
}

impl core::fmt::Debug for KeyText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.label())
    }
}

impl KeyText {
    /// The `<alg>-<public|secret>` label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Ed25519Public(_) => "ed25519-public",
            Self::Ed25519Secret(_) => "ed25519-secret",
            Self::X25519Public(_) => "x25519-public",
            Self::X25519Secret(_) => "x25519-secret",
            Self::P256Public(_) => "p256-public",
            Self::P256Secret(_) => "p256-secret",
        }
    }

    pub fn is_secret(&self) -> bool {
        matches!(
            self,
            Self::Ed25519Secret(_) | Self::X25519Secret(_) | Self::P256Secret(_)
        )
    }

    fn material(&self) -> &[u8] {
        match self {
            Self::Ed25519Public(k) | Self::X25519Public(k) => k,
            Self::Ed25519Secret(k) | Self::X25519Secret(k) | Self::P256Secret(k) => &k[..],
            Self::P256Public(k) => k,
        }
    }

    /// The key line, without a newline. Zeroized on drop, as it may be secret.
    pub fn encode(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{PREFIX}{}:{}",
            self.label(),
            hex::encode(self.material())
        ))
    }

    /// Decodes a key file (FORMAT.md §3.3): blank and `#` lines, then the
    /// key line, then at most its line break. Lines end in LF or CRLF. The
    /// key line has no surrounding whitespace and its hex is lowercase:
    /// one spelling per key, nothing after it that a reader might take for
    /// part of it.
    pub fn parse(text: &str) -> Result<Self, FormatError> {
        let mut rest = text;
        let line = loop {
            let (line, after, ended) = match rest.split_once('\n') {
                Some((line, after)) => (line.strip_suffix('\r').unwrap_or(line), after, true),
                None => (rest, "", false),
            };
            if !line.is_empty() && !line.starts_with('#') {
                if !after.is_empty() {
                    return Err(FormatError::invalid(
                        "key",
                        "text after the key line (comments and blank lines go before it)",
                    ));
                }
                break line;
            }
            if !ended {
                return Err(FormatError::invalid("key", "no key line"));
            }
            rest = after;
        };
        let rest = line.strip_prefix(PREFIX).ok_or_else(|| {
            FormatError::invalid("key", format!("does not start with `{PREFIX}`"))
        })?;
        let (label, hex_part) = rest
            .split_once(':')
            .ok_or_else(|| FormatError::invalid("key", "missing `:`"))?;
        if !hex_part
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(FormatError::invalid(
                "key",
                "key material must be lowercase hex",
            ));
        }
        let bytes = Zeroizing::new(
            hex::decode(hex_part).map_err(|_| FormatError::invalid("key", "invalid hex"))?,
        );
        let fixed = || -> Result<[u8; 32], FormatError> {
            bytes.as_slice().try_into().map_err(|_| {
                FormatError::invalid(
                    "key",
                    format!("{label} needs 32 bytes, got {}", bytes.len()),
                )
            })
        };
        Ok(match label {
            "ed25519-public" => Self::Ed25519Public(fixed()?),
            "ed25519-secret" => Self::Ed25519Secret(Zeroizing::new(fixed()?)),
            "x25519-public" => Self::X25519Public(fixed()?),
            "x25519-secret" => Self::X25519Secret(Zeroizing::new(fixed()?)),
            "p256-secret" => Self::P256Secret(Zeroizing::new(fixed()?)),
            "p256-public" if bytes.len() == 65 && bytes[0] == 4 => Self::P256Public(bytes.to_vec()),
            "p256-public" => {
                return Err(FormatError::invalid(
                    "key",
                    "p256-public needs a 65-byte SEC1 point",
                ));
            }
            other => {
                return Err(FormatError::invalid(
                    "key",
                    format!("unknown key type `{other}`"),
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_comments() {
        let k = KeyText::X25519Public([0xab; 32]);
        let text = format!("# a comment\n\n{}\n", k.encode().as_str());
        assert_eq!(KeyText::parse(&text).unwrap(), k);
        let p = KeyText::P256Public([4; 65].to_vec());
        assert_eq!(KeyText::parse(&p.encode()).unwrap(), p);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "# only a comment",
            "otaseal1:ed25519-public:zz",
            "otaseal1:ed25519-public:abcd",
            "otaseal2:ed25519-public:00",
            "otaseal1:rsa-public:00",
            "otaseal1:p256-public:0011",
            "otaseal1:ed25519-public",
        ] {
            assert!(KeyText::parse(bad).is_err(), "{bad:?} parsed");
        }
        let one = KeyText::Ed25519Public([1; 32]).encode();
        assert!(KeyText::parse(&format!("{}\n{}", one.as_str(), one.as_str())).is_err());
    }

    #[test]
    fn only_the_specified_form_is_read() {
        let line = KeyText::Ed25519Public([0xab; 32]).encode();
        let line = line.as_str();
        // Accepted: comments and blank lines before; LF or CRLF line ends.
        for ok in [
            line.to_owned(),
            format!("{line}\n"),
            format!("{line}\r\n"),
            format!("# c\r\n\r\n{line}\r\n"),
        ] {
            assert!(KeyText::parse(&ok).is_ok(), "{ok:?} refused");
        }
        // Refused: uppercase hex, anything after the key line, whitespace
        // around it, a bare CR, more than one line break after it.
        for bad in [
            line.to_uppercase()
                .replace("OTASEAL1:ED25519-PUBLIC", "otaseal1:ed25519-public"),
            format!("{line}\n# trailing comment\n"),
            format!("{line}\n\n"),
            format!(" {line}"),
            format!("{line} "),
            format!("{line}\t\n"),
            format!("{line}\r"),
            format!("# c\r{line}"),
        ] {
            assert!(KeyText::parse(&bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn debug_hides_material() {
        let s = KeyText::Ed25519Secret(Zeroizing::new([0x5a; 32]));
        assert_eq!(format!("{s:?}"), "ed25519-secret");
    }
}
