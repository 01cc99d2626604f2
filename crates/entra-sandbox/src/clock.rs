//! Calendar arithmetic without a date library: ISO 8601 parsing and formatting (the Defender
//! API's `2024-05-01T10:20:30.1234567Z` and OData `$filter` values) and X.509 times.

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Unix milliseconds as Defender's `YYYY-MM-DDTHH:MM:SS.fffffffZ` (seven fractional digits).
pub fn format_iso(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{frac:03}0000Z",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// Unix seconds as an HTTP-date in RFC 7231's IMF-fixdate form, e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT` (Retry-After, Date).
pub fn format_http_date(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs.div_euclid(86_400);
    let s = secs.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let wd = DAYS[(days + 4).rem_euclid(7) as usize];
    format!(
        "{wd}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        MONTHS[(mo - 1) as usize],
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// Parses ISO 8601 as OData and Defender accept it: `YYYY-MM-DD`, optionally followed by
/// `THH:MM[:SS[.fraction]]` and `Z` or `±HH:MM` (no zone = UTC). Returns Unix milliseconds.
pub fn parse_iso(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let y = num(0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let mo = u32::try_from(num(5, 2)?).ok()?;
    let d = u32::try_from(num(8, 2)?).ok()?;
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return None;
    }
    let mut ms = days_from_civil(y, mo, d) * 86_400_000;
    let mut i = 10;
    if i == b.len() {
        return Some(ms);
    }
    if !matches!(b.get(i), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let h = num(i + 1, 2)?;
    if b.get(i + 3) != Some(&b':') {
        return None;
    }
    let mi = num(i + 4, 2)?;
    i += 6;
    let mut sec = 0;
    if b.get(i) == Some(&b':') {
        sec = num(i + 1, 2)?;
        i += 3;
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            let mut end = start;
            while b.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
            if end == start || end - start > 9 {
                return None;
            }
            let mut frac = 0i64;
            for (k, c) in b[start..end].iter().enumerate() {
                if k < 3 {
                    frac = frac * 10 + i64::from(c - b'0');
                }
            }
            for _ in (end - start)..3 {
                frac *= 10;
            }
            ms += frac;
            i = end;
        }
    }
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    ms += (h * 3600 + mi * 60 + sec) * 1000;
    match b.get(i) {
        None => Some(ms),
        Some(b'Z' | b'z') if i + 1 == b.len() => Some(ms),
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b.get(i + 3) == Some(&b':') => {
            let oh = num(i + 1, 2)?;
            let om = num(i + 4, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let off = (oh * 60 + om) * 60_000;
            Some(if sign == b'+' { ms - off } else { ms + off })
        }
        _ => None,
    }
}

/// X.509 validity time: UTCTime (tag 0x17, years 1950-2049) or GeneralizedTime (0x18).
pub fn x509_time(secs: i64) -> (u8, String) {
    let iso = format_iso(secs.saturating_mul(1000));
    let digits: String = iso[..19].chars().filter(char::is_ascii_digit).collect();
    let year: i64 = iso[..4].parse().unwrap_or(2000);
    if (1950..2050).contains(&year) {
        (0x17, format!("{}Z", &digits[2..]))
    } else {
        (0x18, format!("{digits}Z"))
    }
}

/// Parses an X.509 UTCTime / GeneralizedTime (`Z` form only) into Unix seconds.
pub fn parse_x509_time(tag: u8, raw: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(raw).ok()?;
    let s = s.strip_suffix('Z')?;
    if !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let full = match (tag, s.len()) {
        (0x17, 12) => {
            let yy: i64 = s[..2].parse().ok()?;
            format!("{}{}", if yy < 50 { 2000 + yy } else { 1900 + yy }, &s[2..])
        }
        (0x18, 14) => s.to_string(),
        _ => return None,
    };
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &full[..4],
        &full[4..6],
        &full[6..8],
        &full[8..10],
        &full[10..12],
        &full[12..14]
    );
    parse_iso(&iso).map(|ms| ms / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trips_and_odata_forms() {
        let ms = parse_iso("2024-02-29T23:59:58.1234567Z").unwrap();
        assert_eq!(format_iso(ms), "2024-02-29T23:59:58.1230000Z");
        assert_eq!(parse_iso("1970-01-01"), Some(0));
        assert_eq!(parse_iso("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_iso("1970-01-01T00:00:00-00:30"), Some(1_800_000));
        assert_eq!(parse_iso("2019-10-20T00:00"), Some(1_571_529_600_000));
        for bad in [
            "",
            "2024-13-01",
            "2023-02-29",
            "2024-01-01T",
            "2024-01-01T25:00:00Z",
            "2024-01-01T00:00:00ZZ",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0100",
            "２０２４-01-01",
            "2024-01-01T00:00:00.1234567890Z",
        ] {
            assert_eq!(parse_iso(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            format_http_date(784_111_777),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        let leap = days_from_civil(2024, 2, 29) * 86_400 + 86_399;
        assert_eq!(format_http_date(leap), "Thu, 29 Feb 2024 23:59:59 GMT");
    }

    #[test]
    fn x509_times() {
        let (tag, s) = x509_time(1_571_529_600);
        assert_eq!((tag, s.as_str()), (0x17, "191020000000Z"));
        assert_eq!(parse_x509_time(tag, s.as_bytes()), Some(1_571_529_600));
        let far = days_from_civil(2060, 1, 1) * 86_400;
        let (tag, s) = x509_time(far);
        assert_eq!((tag, s.as_str()), (0x18, "20600101000000Z"));
        assert_eq!(parse_x509_time(tag, s.as_bytes()), Some(far));
        assert_eq!(parse_x509_time(0x17, b"19102000000"), None);
    }
}
