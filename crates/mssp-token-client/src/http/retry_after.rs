//! `Retry-After` (RFC 9110 10.2.3): a number of seconds, or an HTTP-date (`Wed, 21 Oct 2026
//! 07:28:00 GMT`, and the obsolete RFC 850 and asctime forms). A date in the past means "now".
//! The wait is capped at [`LONGEST`] so that no arithmetic on it can overflow; whether it fits
//! the retry budget is the caller's decision.

use std::time::{Duration, SystemTime};

/// The longest wait a Retry-After can ask for here (a day): beyond any retry budget, and far
/// from any overflow.
pub const LONGEST: Duration = Duration::from_secs(86400);

/// The wait a Retry-After value asks for, measured from `now`; `None` when it is neither form.
pub fn parse(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    let wait = if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds is still "a very long time".
        Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX).min(LONGEST.as_secs()))
    } else {
        let at = httpdate::parse_http_date(v).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(LONGEST))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
        assert_eq!(parse("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse("Wed, 21 Oct 2026 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse("Wednesday, 21-Oct-26 07:29:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse("Wed Oct 21 07:28:10 2026", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse("Tue, 20 Oct 2026 07:28:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse("Fri, 31 Dec 9999 23:59:59 GMT", now), Some(LONGEST));
        assert_eq!(parse("99999999999999999999999", now), Some(LONGEST));
        assert_eq!(parse("-5", now), None);
        assert_eq!(parse("soon", now), None);
        assert_eq!(parse("1.5", now), None);
    }
}
