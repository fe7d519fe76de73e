//! Argument helpers shared by subcommands: key arguments, sizes, ranges,
//! and printing JSON or human output.

use super::{CliError, CliResult};
use otaseal::keys::file::{AnyKey, read_key_file};
use otaseal::keys::{RecipientPublicKey, RecipientSecretKey, SigningKey, VerifyingKey};
use otaseal::open::TrustAnchor;
use std::ops::Range;
use std::path::Path;

/// A key given inline (`otaseal1:...`) or as a path to a key file.
pub(crate) fn load_key(arg: &str) -> CliResult<AnyKey> {
    if arg.starts_with(otaseal::format::keytext::PREFIX) {
        return Ok(AnyKey::parse(arg)?);
    }
    Ok(read_key_file(Path::new(arg))?)
}

fn wrong_kind(arg: &str, want: &str, got: &AnyKey) -> CliError {
    CliError::usage(format!(
        "{arg}: expected {want}, found a {}",
        got.to_text().label()
    ))
}

pub(crate) fn recipient(arg: &str) -> CliResult<RecipientPublicKey> {
    match load_key(arg)? {
        AnyKey::RecipientPublic(k) => Ok(k),
        AnyKey::RecipientSecret(k) => Ok(k.public_key().clone()),
        other => Err(wrong_kind(arg, "a device public key", &other)),
    }
}

pub(crate) fn device_key(arg: &str) -> CliResult<RecipientSecretKey> {
    match load_key(arg)? {
        AnyKey::RecipientSecret(k) => Ok(k),
        other => Err(wrong_kind(arg, "a device secret key", &other)),
    }
}

pub(crate) fn signing_key(arg: &str) -> CliResult<SigningKey> {
    match load_key(arg)? {
        AnyKey::SigningSecret(k) => Ok(k),
        other => Err(wrong_kind(arg, "a signing secret key", &other)),
    }
}

pub(crate) fn trust(arg: &str) -> CliResult<TrustAnchor> {
    let key: VerifyingKey = match load_key(arg)? {
        AnyKey::SigningPublic(k) => k,
        AnyKey::SigningSecret(k) => k.verifying_key(),
        other => return Err(wrong_kind(arg, "a signing public key", &other)),
    };
    Ok(TrustAnchor::SigningKey(key))
}

/// Parses sizes like `65536`, `64K`, `64KiB`, `1M`.
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("`{s}` is not a size"))?;
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use K, M or G)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// Parses a half-open byte range `A-B` (bytes A..B; B exclusive).
pub(crate) fn parse_range(s: &str) -> Result<Range<u64>, String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("`{s}`: expected START-END"))?;
    let start = parse_size(a)?;
    let end = parse_size(b)?;
    if start > end {
        return Err(format!("`{s}`: start is after end"));
    }
    Ok(start..end)
}

/// Prints one JSON value on its own line.
pub(crate) fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ranges() {
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("12"), Ok(12));
        assert!(parse_size("1X").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999999G").is_err());
        assert_eq!(parse_range("0-100"), Ok(0..100));
        assert_eq!(parse_range("1K-2K"), Ok(1024..2048));
        assert!(parse_range("5-1").is_err());
        assert!(parse_range("5").is_err());
    }
}
