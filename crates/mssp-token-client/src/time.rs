//! Clock and time formatting: epoch seconds, RFC 3339 in UTC, "in 42 min". Every function here
//! takes any `u64` without panicking or wrapping: a hostile token can carry `exp` = 2^64-1.

use std::time::Duration;

/// Last second of year 9999, the latest instant RFC 3339 can write.
const LAST_RFC3339_SECOND: u64 = 253_402_300_799;

/// Seconds since the epoch, now.
pub fn now_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// RFC 3339 in UTC with a `Z`, to the second. An instant after year 9999 (which no real token
/// carries) is described instead of formatted.
pub fn rfc3339(epoch: u64) -> String {
    if epoch > LAST_RFC3339_SECOND {
        return format!("(not a date: epoch {epoch} is after the year 9999)");
    }
    let t = std::time::UNIX_EPOCH + Duration::from_secs(epoch);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// "in 42 min", "in 3 h 5 min", "2 min ago".
pub fn relative(epoch: u64, now: u64) -> String {
    let future = epoch >= now;
    let d = epoch.abs_diff(now);
    let text = if d < 60 {
        format!("{d} s")
    } else if d < 3600 {
        format!("{} min", d / 60)
    } else if d < 86400 * 2 {
        format!("{} h {} min", d / 3600, (d % 3600) / 60)
    } else {
        format!("{} days", d / 86400)
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        assert_eq!(relative(100 + 42 * 60, 100), "in 42 min");
        assert_eq!(relative(100, 220), "2 min ago");
    }

    #[test]
    fn absurd_instants_are_described_not_panics() {
        assert_eq!(rfc3339(LAST_RFC3339_SECOND), "9999-12-31T23:59:59Z");
        for epoch in [LAST_RFC3339_SECOND + 1, 1_000_000_000_000, u64::MAX] {
            assert!(rfc3339(epoch).contains("not a date"), "{epoch}");
            assert!(relative(epoch, 1_700_000_000).ends_with("days"));
            assert!(relative(0, epoch).ends_with("ago"));
        }
    }
}
