//! The one source of "now": wall-clock time in Unix seconds.
//!
//! Every time otaseal stamps or checks — a manifest's `created`, an audit
//! entry's `ts`, a certificate's validity at the verifier's clock, a
//! manifest's expiry, a revocation list's or rotation statement's `issued` —
//! is read from a [`Clock`]. Production code uses [`Clock::System`]; tests,
//! and the CLI's hidden `--now` flag, pass [`Clock::Fixed`] so a run sees one
//! time throughout. Durations (deadlines, rates) use `std::time::Instant`
//! and are not this module's concern.

/// Where "now" comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "std", derive(Default))]
pub enum Clock {
    /// The system clock (with `std`; without it a device passes the time
    /// from its own trusted source as `Fixed`).
    #[cfg(feature = "std")]
    #[cfg_attr(feature = "std", default)]
    System,
    /// A fixed time in Unix seconds (tests, or a device with a trusted clock
    /// source of its own).
    Fixed(u64),
}

impl Clock {
    /// `Fixed(t)` when a time is given, else the system clock.
    #[cfg(feature = "std")]
    pub fn fixed_or_system(t: Option<u64>) -> Self {
        t.map_or(Self::System, Self::Fixed)
    }

    /// Seconds since the Unix epoch (0 if the system clock is before it).
    pub fn now(self) -> u64 {
        match self {
            #[cfg(feature = "std")]
            Self::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            Self::Fixed(t) => t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_is_fixed_and_system_moves_forward_from_the_epoch() {
        assert_eq!(Clock::Fixed(17).now(), 17);
        assert_eq!(Clock::fixed_or_system(Some(5)), Clock::Fixed(5));
        assert_eq!(Clock::fixed_or_system(None), Clock::System);
        // 2023-11-14: any real system clock is past it.
        assert!(Clock::System.now() > 1_700_000_000);
        assert_eq!(Clock::default(), Clock::System);
    }
}
