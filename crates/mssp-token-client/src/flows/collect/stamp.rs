//! Update times as the APIs send them (`2026-11-30T10:00:00.1234567Z`, an offset, or no
//! fraction): kept as sent, for the next `$filter`, and compared as nanoseconds since 1970, so
//! that two spellings of one instant are equal and precision finer than milliseconds counts.

use std::cmp::Ordering;
use std::fmt;

/// One instant: the text the API sent and its value.
#[derive(Debug, Clone)]
pub struct Stamp {
    text: String,
    nanos: i128,
}

impl Stamp {
    /// Parses an RFC 3339 time (`T` or `t`, `Z` or `±HH:MM`, up to 9 fraction digits; more are
    /// cut). Anything else is `None`: a record whose time cannot be read is refused, and such
    /// text never reaches a query.
    pub fn parse(text: &str) -> Option<Stamp> {
        let nanos = parse_nanos(text.trim())?;
        Some(Stamp {
            text: text.trim().to_string(),
            nanos,
        })
    }

    /// An instant given as Unix seconds, written in UTC (`--since`).
    pub fn from_epoch(secs: i64) -> Stamp {
        let days = secs.div_euclid(86_400);
        let s = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let text = format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            s / 3600,
            (s / 60) % 60,
            s % 60
        );
        Stamp {
            text,
            nanos: secs as i128 * 1_000_000_000,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn nanos(&self) -> i128 {
        self.nanos
    }
}

impl PartialEq for Stamp {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}
impl Eq for Stamp {}
impl PartialOrd for Stamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Stamp {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}
impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_nanos(s: &str) -> Option<i128> {
    if s.len() < 20 || s.len() > 40 || !s.is_ascii() {
        return None;
    }
    let b = s.as_bytes();
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let year = digits(&s[0..4])?;
    let month = digits(&s[5..7])?;
    let day = digits(&s[8..10])?;
    let hour = digits(&s[11..13])?;
    let min = digits(&s[14..16])?;
    let sec = digits(&s[17..19])?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut frac: i128 = 0;
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let kept = &r[..n.min(9)];
        frac = kept.parse::<i128>().ok()? * 10i128.pow(9 - kept.len() as u32);
        rest = &r[n..];
    }
    let offset_secs: i64 = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let h = digits(&o[1..3])?;
            let m = digits(&o[4..6])?;
            if h > 23 || m > 59 {
                return None;
            }
            let v = h * 3600 + m * 60;
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec.min(59) - offset_secs;
    Some(secs as i128 * 1_000_000_000 + frac)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_instant_are_equal_and_order_is_by_time() {
        let a = Stamp::parse("2026-11-30T10:00:00Z").unwrap();
        let b = Stamp::parse("2026-11-30T10:00:00.0000000Z").unwrap();
        let c = Stamp::parse("2026-11-30T12:00:00+02:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(b.as_str(), "2026-11-30T10:00:00.0000000Z");
        let d = Stamp::parse("2026-11-30T10:00:00.0000001Z").unwrap();
        assert!(d > a, "100 ns later is later");
        assert_eq!(Stamp::from_epoch(0).as_str(), "1970-01-01T00:00:00Z");
        let e = Stamp::from_epoch(1_796_036_400);
        assert_eq!(Stamp::parse(e.as_str()).unwrap(), e);
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "2026-11-30",
            "2026-11-30 10:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-30T10:00:00",
            "2026-11-30T10:00:00.Z",
            "2026-11-30T10:00:00Z and 1 eq 1",
            "2026-11-30T10:00:00+2:00",
            "２026-11-30T10:00:00Z",
        ] {
            assert!(Stamp::parse(bad).is_none(), "{bad}");
        }
    }
}
