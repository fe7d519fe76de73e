//! The HTTP `Content-Range` header, parsed for any transport that speaks
//! HTTP range requests (the `otaseal` command's HTTP source uses it).

/// Parses `bytes START-END/TOTAL` (TOTAL may be `*`) into `START..END+1`.
pub fn parse_content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (s, e) = span.split_once('-')?;
    let (s, e): (u64, u64) = (s.trim().parse().ok()?, e.trim().parse().ok()?);
    if e < s {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    if total.is_some_and(|t| e >= t) {
        return None;
    }
    Some((s, e.checked_add(1)?, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        assert_eq!(
            parse_content_range("bytes 0-99/1000"),
            Some((0, 100, Some(1000)))
        );
        assert_eq!(parse_content_range("bytes 5-5/*"), Some((5, 6, None)));
        for bad in [
            "bytes 9-5/10",
            "bytes 0-10/10",
            "bytes */10",
            "items 0-1/2",
            "bytes 0-1",
            "bytes a-1/2",
            "bytes 0-18446744073709551615/*",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }
}
