//! Clock and time formatting: epoch seconds, RFC 3339 in UTC, "in 42 min".

use std::time::Duration;

/// Seconds since the epoch, now.
pub fn now_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// RFC 3339 in UTC with a `Z`, to the second.
pub fn rfc3339(epoch: u64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_secs(epoch);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// "in 42 min", "in 3 h 5 min", "2 min ago".
pub fn relative(epoch: u64, now: u64) -> String {
    let (d, future) = if epoch >= now {
        (epoch - now, true)
    } else {
        (now - epoch, false)
    };
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
}
