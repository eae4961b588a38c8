//! Timestamp parsing without a date library: the corpora use a handful of fixed formats and the
//! hot path (19M Last.fm rows) must not allocate.

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of days since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
}

fn valid_date(y: i64, m: u32, d: u32) -> bool {
    (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (exactly the Last.fm form) to milliseconds since the epoch.
pub fn parse_iso_utc_seconds(b: &[u8]) -> Option<i64> {
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let y = i64::from(digits(&b[0..4])?);
    let (mo, d) = (digits(&b[5..7])?, digits(&b[8..10])?);
    let (h, mi, s) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if !valid_date(y, mo, d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    Some(((days * 86_400) + i64::from(h * 3600 + mi * 60 + s)) * 1000)
}

/// Parses a manifest timestamp: `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DDTHH:MM:SSZ`, or an
/// integer number of seconds since the epoch. Returns milliseconds.
pub fn parse_manifest_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return secs.checked_mul(1000);
    }
    let b = s.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        let y = i64::from(digits(&b[0..4])?);
        let (m, d) = (digits(&b[5..7])?, digits(&b[8..10])?);
        return valid_date(y, m, d).then(|| days_from_civil(y, m, d) * 86_400_000);
    }
    parse_iso_utc_seconds(b)
}

/// Parses the Last.fm profile date `Apr 27, 2005` to days since the epoch.
pub fn parse_month_day_year(s: &str) -> Option<i32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (mon, rest) = s.trim().split_once(' ')?;
    let m = MONTHS.iter().position(|x| *x == mon)? as u32 + 1;
    let (d, y) = rest.split_once(", ")?;
    let (d, y) = (digits(d.as_bytes())?, i64::from(digits(y.as_bytes())?));
    valid_date(y, m, d).then(|| days_from_civil(y, m, d) as i32)
}

/// Formats milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (sub-second part dropped).
pub fn format_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Formats days since the epoch as `Mon D, YYYY` (the Last.fm profile form).
pub fn format_month_day_year(days: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d) = civil_from_days(days);
    format!("{} {d}, {y}", MONTHS[(m - 1) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_roundtrip() {
        let ms = parse_iso_utc_seconds(b"2009-04-08T01:57:47Z").unwrap();
        assert_eq!(ms, 1_239_155_867_000);
        assert_eq!(format_ms(ms), "2009-04-08T01:57:47Z");
        assert_eq!(parse_iso_utc_seconds(b"2009-02-29T01:57:47Z"), None);
        assert_eq!(
            parse_iso_utc_seconds(b"2008-02-29T01:57:47Z")
                .map(format_ms)
                .unwrap(),
            "2008-02-29T01:57:47Z"
        );
        assert_eq!(parse_iso_utc_seconds(b"2009-04-08 01:57:47Z"), None);
        assert_eq!(parse_iso_utc_seconds(b"2009-13-08T01:57:47Z"), None);
    }

    #[test]
    fn civil_roundtrip() {
        for z in [-800_000i64, -1, 0, 1, 10_957, 14_000, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn profile_dates() {
        let d = parse_month_day_year("Apr 27, 2005").unwrap();
        assert_eq!(format_month_day_year(i64::from(d)), "Apr 27, 2005");
        assert_eq!(parse_month_day_year("Foo 27, 2005"), None);
        assert_eq!(parse_month_day_year("Feb 30, 2005"), None);
    }

    #[test]
    fn manifest_times() {
        assert_eq!(parse_manifest_time("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_manifest_time("86400"), Some(86_400_000));
        assert_eq!(
            parse_manifest_time("2009-04-08T01:57:47Z"),
            Some(1_239_155_867_000)
        );
        assert_eq!(parse_manifest_time("yesterday"), None);
    }
}
