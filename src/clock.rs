//! Wall-clock time, in one place: every timestamp git-publish records (deploys, claims, failures) and every
//! decision that depends on the date (the monthly invalidation budget, the claim lease) reads it from a
//! [`Clock`], so that tests can set the date instead of depending on the day they run.
//!
//! All times are UTC and formatted as RFC 3339 (`2027-12-31T23:59:59Z`); nothing is ever formatted in local
//! time, so the timezone and locale of the machine never change what is recorded or printed.
//!
//! `GIT_PUBLISH_NOW=<RFC 3339 UTC time>` fixes "now" for a whole run (a test hook, like `SOURCE_DATE_EPOCH`
//! for reproducible builds). It is read once, by [`Clock::from_env`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// The environment variable that fixes the clock (tests only).
pub const NOW_VAR: &str = "GIT_PUBLISH_NOW";

/// Where "now" comes from: the system clock, or a fixed instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Clock {
    fixed: Option<SystemTime>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock { fixed: None }
    }

    /// A clock that always reads `t`.
    pub fn fixed(t: SystemTime) -> Clock {
        Clock { fixed: Some(t) }
    }

    /// A clock that always reads the RFC 3339 UTC time `s` (`2028-02-29T12:00:00Z`; no other offset).
    pub fn at(s: &str) -> std::result::Result<Clock, humantime::TimestampError> {
        humantime::parse_rfc3339(s).map(Clock::fixed)
    }

    /// The system clock, unless `GIT_PUBLISH_NOW` fixes it.
    pub fn from_env() -> Result<Clock> {
        match std::env::var(NOW_VAR) {
            Err(_) => Ok(Clock::system()),
            Ok(s) if s.is_empty() => Ok(Clock::system()),
            Ok(s) => Clock::at(&s).map_err(|e| {
                Error::Usage(format!(
                    "{NOW_VAR}={s:?} is not an RFC 3339 time ({e}); use e.g. 2027-12-31T23:59:59Z, or unset it"
                ))
            }),
        }
    }

    pub fn now(&self) -> SystemTime {
        self.fixed.unwrap_or_else(SystemTime::now)
    }

    /// Seconds since the Unix epoch (0 for a clock set before it).
    pub fn unix(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// How long ago `unix` (seconds since the epoch) was; zero if it is in the future.
    pub fn since_unix(&self, unix: u64) -> Duration {
        Duration::from_secs(self.unix().saturating_sub(unix))
    }

    /// Now as RFC 3339 in UTC, to the second.
    pub fn rfc3339(&self) -> String {
        rfc3339(self.now())
    }

    /// The calendar month in UTC, `YYYY-MM`: the period of CloudFront's free invalidation paths.
    pub fn month(&self) -> String {
        month_of(self.now())
    }
}

/// `t` as RFC 3339 in UTC, to the second.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The UTC calendar month of `t`, `YYYY-MM`.
pub fn month_of(t: SystemTime) -> String {
    rfc3339(t)[..7].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_formats_in_utc() {
        let c = Clock::at("2027-12-31T23:59:59Z").unwrap();
        assert_eq!(c.rfc3339(), "2027-12-31T23:59:59Z");
        assert_eq!(c.month(), "2027-12");
        let leap = Clock::at("2028-02-29T12:00:00Z").unwrap();
        assert_eq!(leap.rfc3339(), "2028-02-29T12:00:00Z");
        assert_eq!(leap.month(), "2028-02");
        // Only UTC is taken: a local offset would make the month depend on where the test runs.
        assert!(Clock::at("2027-12-31T23:30:00-01:00").is_err());
    }

    #[test]
    fn month_rolls_over_at_midnight_utc() {
        let before = Clock::at("2027-12-31T23:59:59Z").unwrap();
        let after = Clock::fixed(before.now() + Duration::from_secs(1));
        assert_eq!(after.rfc3339(), "2028-01-01T00:00:00Z");
        assert_ne!(before.month(), after.month());
        let leap_end = Clock::at("2028-02-29T23:59:59Z").unwrap();
        let march = Clock::fixed(leap_end.now() + Duration::from_secs(1));
        assert_eq!(march.month(), "2028-03");
    }

    #[test]
    fn ages_never_go_negative() {
        let c = Clock::at("2028-02-29T00:00:00Z").unwrap();
        assert_eq!(c.since_unix(c.unix() - 90), Duration::from_secs(90));
        assert_eq!(c.since_unix(c.unix() + 90), Duration::ZERO);
    }

    #[test]
    fn bad_times_are_refused() {
        assert!(Clock::at("yesterday").is_err());
        assert!(Clock::at("2027-13-01T00:00:00Z").is_err());
        assert!(
            Clock::at("2027-02-29T00:00:00Z").is_err(),
            "2027 is not a leap year"
        );
    }
}
